// SPDX-License-Identifier: GPL-2.0
/*
 * cr_v2: what format version 2 saves, through cr -p in both modes. The
 * kernel-mode image (checkpoint() injected) and the --userspace one of
 * /bin/owner are the same state (cr --compare), both 0700 whatever the
 * umask, the original keeps all it had (its pipe's unread bytes too), a
 * memfd is saved as an unlinked file in both modes, and
 * each image restarts through binfmt_cr and through cr -r --userspace
 * with everything back (owner's own check). An inotify instance makes
 * both modes refuse with an error naming it, leave no image and the
 * target running.
 */
#include <sys/stat.h>
#include "crpair.h"

int main(void)
{
	const char *const imgs[2] = { "k2.kckpt", "u2.kckpt" };
	struct child c;
	struct stat st;
	int rc;

	unlink(imgs[0]);
	unlink(imgs[1]);
	start_ready(&c, (char *[]){ "/bin/owner", NULL });
	check(self_check(&c), "the original has it all before the checkpoint");
	umask(0777);
	for (int u = 0; u < 2; u++) {
		rc = cr_p(c.pid, imgs[u], u);
		check(rc == 0, "cr -p%s: exit %d", u ? " --userspace" : "", rc);
		check(!stat(imgs[u], &st) && (st.st_mode & 07777) == 0700, "%s is 0700 with umask 0777 (%o)",
		      imgs[u], st.st_mode & 07777);
	}
	umask(022);
	rc = run((char *[]){ "/bin/cr", "--compare", (char *)imgs[0], (char *)imgs[1], NULL });
	check(rc == 0, "cr --compare kernel-mode and userspace images: exit %d", rc);
	check(self_check(&c), "the original still has it all (pipe bytes not consumed)");
	reap(&c);

	restart_both_ways(imgs, "all back");

	refused_target((char *[]){ "/bin/owner", "-i", NULL }, imgs, 1, "inotify");
	return failures ? 1 : 0;
}
