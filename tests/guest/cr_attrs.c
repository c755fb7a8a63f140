// SPDX-License-Identifier: GPL-2.0
/*
 * cr_attrs: the attributes exec resets (task name, personality,
 * no_new_privs, dumpable, sigaltstack) through cr -p in both modes: the
 * two images are the same state (cr --compare), and each restarts
 * through binfmt_cr and through cr -r --userspace with all of them back
 * (/bin/attrs checks itself, its SIGUSR1 handler on the alternate stack).
 * A process that is not dumpable is refused by both modes.
 */
#include <sys/stat.h>
#include "crpair.h"

int main(void)
{
	const char *const imgs[2] = { "a-k.kckpt", "a-u.kckpt" };
	struct child c;
	char line[64];

	unlink(imgs[0]);
	unlink(imgs[1]);
	spawn(&c, (char *[]){ "/bin/attrs", NULL }, 1);
	check(read_line(&c, line, sizeof(line), 5000) && !strcmp(line, "ready"), "attrs: \"%s\"", line);
	check(self_check(&c), "the original has it all before the checkpoint");
	checkpoint_both_ways(c.pid, imgs);
	check(self_check(&c), "the original still has it all");
	reap(&c);

	restart_both_ways(imgs, "all back");

	/* not dumpable: both modes refuse (EPERM, exit 4), the target runs on */
	unlink(imgs[0]);
	unlink(imgs[1]);
	spawn(&c, (char *[]){ "/bin/attrs", "-n", NULL }, 1);
	check(read_line(&c, line, sizeof(line), 5000) && !strcmp(line, "ready"), "attrs -n: \"%s\"", line);
	refused_both_ways(c.pid, imgs, 4, "not dumpable");
	check(self_check(&c), "the refused target runs on unharmed");
	reap(&c);
	return failures ? 1 : 0;
}
