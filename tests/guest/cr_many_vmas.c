// SPDX-License-Identifier: GPL-2.0
/*
 * cr_many_vmas: a process with 10 000 VMAs (/bin/maps) is checkpointed
 * by cr -p in both modes (the images are the same state for cr
 * --compare) and restarted four ways (each image through binfmt_cr and
 * through cr -r --userspace); each time all its pages, protections and
 * VMAs are back. Reports the image's size per VMA and checkpoint times.
 */
#include <sys/stat.h>
#include <sys/syscall.h>
#include "guest.h"

#define NVMAS "10000"

static int checks(struct child *c)
{
	char line[64];

	return write(c->in, "c", 1) == 1 && expect_line(c, "check", line, sizeof(line), 60000) &&
	       !strcmp(line, "check 0");
}

int main(void)
{
	const char *imgs[2] = { "m-k.kckpt", "m-u.kckpt" };
	struct child c, r;
	struct stat st;
	char line[64], p[16];
	int rc, vmas = 0;

	spawn(&c, (char *[]){ "/bin/maps", NVMAS, NULL }, 1);
	check(read_line(&c, line, sizeof(line), 20000) && sscanf(line, "ready %d", &vmas) == 1 && vmas >= 10000,
	      "maps: \"%s\"", line);
	check(checks(&c), "the original checks out");
	snprintf(p, sizeof(p), "%d", c.pid);
	for (int u = 0; u < 2; u++) {
		double t0;

		unlink(imgs[u]);
		/* in read(0), where the other mode's image caught it too */
		wait_in_syscall(c.pid, SYS_read);
		t0 = now_ms();
		if (u)
			rc = run((char *[]){ "/bin/cr", "-p", p, "--userspace", "-f", (char *)imgs[u], NULL });
		else
			rc = run((char *[]){ "/bin/cr", "-p", p, "-f", (char *)imgs[u], NULL });
		check(rc == 0, "cr -p%s of %d VMAs: exit %d", u ? " --userspace" : "", vmas, rc);
		if (!stat(imgs[u], &st))
			printf("# %s: %.0f ms, %lld bytes allocated, %lld bytes per VMA\n", imgs[u], now_ms() - t0,
			       (long long)st.st_blocks * 512, (long long)st.st_blocks * 512 / vmas);
	}
	rc = run((char *[]){ "/bin/cr", "--compare", (char *)imgs[0], (char *)imgs[1], NULL });
	check(rc == 0, "cr --compare kernel-mode and userspace images: exit %d", rc);
	reap(&c);
	for (int i = 0; i < 4; i++) {
		const char *img = imgs[i & 1];
		char path[32];

		snprintf(path, sizeof(path), "./%s", img);
		if (i & 2)
			spawn(&r, (char *[]){ path, NULL }, 1);
		else
			spawn(&r, (char *[]){ "/bin/cr", "-r", "--userspace", "-f", (char *)img, NULL }, 1);
		check(checks(&r), "%s %s: pages, protections and VMAs back", i & 2 ? "binfmt_cr" : "cr -r --userspace", img);
		reap(&r);
	}
	unlink(imgs[0]);
	unlink(imgs[1]);
	return failures ? 1 : 0;
}
