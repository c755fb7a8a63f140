// SPDX-License-Identifier: GPL-2.0
/*
 * cr_eventfd: eventfds through cr -p in both modes. /bin/evfd holds an
 * EFD_SEMAPHORE|EFD_NONBLOCK eventfd with counter 5 and a plain one with
 * counter 2^40 + 7, dup'ed to fd 200 with FD_CLOEXEC. Looking ("c",
 * fdinfo) consumes nothing: the checkpoints leave the counters alone, the
 * two images are the same state (cr --compare), and each image restarts
 * through binfmt_cr and through cr -r --userspace with both eventfds back:
 * the semaphore reads 1 five times then EAGAIN, the other its whole
 * counter, the dup shares it (written through one, read through the
 * other), flags and FD_CLOEXEC as they were ("v"). A counter above
 * INT64_MAX is refused by both modes (EOVERFLOW, exit 1), the target
 * unharmed.
 */
#include "crpair.h"

int main(void)
{
	const char *const imgs[2] = { "e-k.kckpt", "e-u.kckpt" };
	struct child c;
	char line[64];

	unlink(imgs[0]);
	unlink(imgs[1]);
	spawn(&c, (char *[]){ "/bin/evfd", NULL }, 1);
	check(read_line(&c, line, sizeof(line), 5000) && !strcmp(line, "ready"), "evfd: \"%s\"", line);
	check(self_check(&c), "the original has its eventfds before the checkpoint");
	checkpoint_both_ways(c.pid, imgs);
	check(self_check(&c), "the checkpoints left the counters alone");
	check(ask_check(&c, 'v'), "the original's eventfds read as they should (and are set back)");
	reap(&c);

	restart_both_ways_asking(imgs, "cv", "eventfds back: counters, semaphore, shared dup, flags, FD_CLOEXEC");

	unlink(imgs[0]);
	unlink(imgs[1]);
	spawn(&c, (char *[]){ "/bin/evfd", "-o", NULL }, 1);
	check(read_line(&c, line, sizeof(line), 5000) && !strcmp(line, "ready"), "evfd -o: \"%s\"", line);
	refused_both_ways(c.pid, imgs, 1, "eventfd counter above INT64_MAX");
	check(self_check(&c), "the refused target runs on unharmed");
	reap(&c);

	/* shared with a child: restart would split it in two */
	spawn(&c, (char *[]){ "/bin/evfd", "-f", NULL }, 1);
	check(read_line(&c, line, sizeof(line), 5000) && !strcmp(line, "ready"), "evfd -f: \"%s\"", line);
	refused_both_ways(c.pid, imgs, 1, "eventfd held by a child too");
	check(self_check(&c), "the refused target runs on unharmed");
	reap(&c);
	return failures ? 1 : 0;
}
