// SPDX-License-Identifier: GPL-2.0
/*
 * cr_shared_file: shared mappings of a file (read-write and read-only)
 * through cr -p in both modes: the images agree (cr --compare), hold no
 * copy of the file's data, and each restarts through binfmt_cr and cr -r
 * --userspace with mappings that are the file's again (/bin/shfile checks
 * both directions). A shared memfd mapping is refused in both modes and
 * the target keeps running.
 */
#include <sys/stat.h>
#include "crpair.h"

int main(void)
{
	const char *const imgs[2] = { "f-k.kckpt", "f-u.kckpt" };
	struct child c;
	struct stat st;
	int rc;

	unlink(imgs[0]);
	unlink(imgs[1]);
	start_ready(&c, (char *[]){ "/bin/shfile", NULL });
	check(self_check(&c), "the original has it all before the checkpoint");
	for (int u = 0; u < 2; u++) {
		rc = cr_p(c.pid, imgs[u], u);
		check(rc == 0, "cr -p%s: exit %d", u ? " --userspace" : "", rc);
		/* the 8 KiB of file data are not in the image */
		check(!stat(imgs[u], &st), "%s: %lld bytes allocated", imgs[u], (long long)st.st_blocks * 512);
	}
	rc = run((char *[]){ "/bin/cr", "--compare", (char *)imgs[0], (char *)imgs[1], NULL });
	check(rc == 0, "cr --compare kernel-mode and userspace images: exit %d", rc);
	check(self_check(&c), "the original still maps the file");
	reap(&c);

	restart_both_ways(imgs, "all back");

	refused_target((char *[]){ "/bin/shfile", "-m", NULL }, imgs, 1, "shared memfd");
	return failures ? 1 : 0;
}
