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

	unlink(imgs[0]);
	unlink(imgs[1]);
	start_ready(&c, (char *[]){ "/bin/attrs", NULL });
	check(self_check(&c), "the original has it all before the checkpoint");
	checkpoint_both_ways(c.pid, imgs);
	check(self_check(&c), "the original still has it all");
	reap(&c);

	restart_both_ways(imgs, "all back");

	/* not dumpable: both modes refuse (EPERM, exit 4), the target runs on */
	refused_target((char *[]){ "/bin/attrs", "-n", NULL }, imgs, 4, "not dumpable");
	return failures ? 1 : 0;
}
