// SPDX-License-Identifier: GPL-2.0
/*
 * cr_many_vmas: a process with 10 000 VMAs (/bin/maps) is checkpointed
 * by cr -p in both modes (the images are the same state for cr
 * --compare) and restarted four ways (each image through binfmt_cr and
 * through cr -r --userspace); each time all its pages, protections and
 * VMAs are back. Reports the image's size per VMA and checkpoint times.
 */
#include <sys/stat.h>
#include "crpair.h"

#define NVMAS "10000"

int main(void)
{
	const char *const imgs[2] = { "m-k.kckpt", "m-u.kckpt" };
	struct child c;
	struct stat st;
	char line[64];
	int rc, vmas = 0;

	spawn(&c, (char *[]){ "/bin/maps", NVMAS, NULL }, 1);
	check(read_line(&c, line, sizeof(line), 20000) && sscanf(line, "ready %d", &vmas) == 1 && vmas >= 10000,
	      "maps: \"%s\"", line);
	check(self_check(&c), "the original checks out");
	for (int u = 0; u < 2; u++) {
		double t0;

		unlink(imgs[u]);
		t0 = now_ms();
		rc = cr_p(c.pid, imgs[u], u);
		check(rc == 0, "cr -p%s of %d VMAs: exit %d", u ? " --userspace" : "", vmas, rc);
		if (!stat(imgs[u], &st))
			printf("# %s: %.0f ms, %lld bytes allocated, %lld bytes per VMA\n", imgs[u], now_ms() - t0,
			       (long long)st.st_blocks * 512, (long long)st.st_blocks * 512 / vmas);
	}
	rc = run((char *[]){ "/bin/cr", "--compare", (char *)imgs[0], (char *)imgs[1], NULL });
	check(rc == 0, "cr --compare kernel-mode and userspace images: exit %d", rc);
	reap(&c);
	restart_both_ways(imgs, "pages, protections and VMAs back");
	unlink(imgs[0]);
	unlink(imgs[1]);
	return failures ? 1 : 0;
}
