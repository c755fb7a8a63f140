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

	unlink(imgs[0]);
	unlink(imgs[1]);
	start_ready(&c, (char *[]){ "/bin/evfd", NULL });
	check(self_check(&c), "the original has its eventfds before the checkpoint");
	checkpoint_both_ways(c.pid, imgs);
	check(self_check(&c), "the checkpoints left the counters alone");
	check(ask_check(&c, 'v'), "the original's eventfds read as they should (and are set back)");
	reap(&c);

	restart_both_ways_asking(imgs, "cv", "eventfds back: counters, semaphore, shared dup, flags, FD_CLOEXEC");

	refused_target((char *[]){ "/bin/evfd", "-o", NULL }, imgs, 1, "eventfd counter above INT64_MAX");

	/* shared with a child: restart would split it in two */
	refused_target((char *[]){ "/bin/evfd", "-f", NULL }, imgs, 1, "eventfd held by a child too");
	return failures ? 1 : 0;
}
