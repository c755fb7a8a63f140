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
#include <sys/syscall.h>
#include "guest.h"

static int checks(struct child *c)
{
	char line[64];

	return write(c->in, "c", 1) == 1 && expect_line(c, "check", line, sizeof(line), 10000) &&
	       !strcmp(line, "check 0");
}

static int cr_p(int pid, const char *img, int user)
{
	char p[16];

	snprintf(p, sizeof(p), "%d", pid);
	/* in read(0), where the other mode's image caught it too */
	wait_in_syscall(pid, SYS_read);
	if (user)
		return run((char *[]){ "/bin/cr", "-p", p, "--userspace", "-f", (char *)img, NULL });
	return run((char *[]){ "/bin/cr", "-p", p, "-f", (char *)img, NULL });
}

int main(void)
{
	const char *imgs[2] = { "f-k.kckpt", "f-u.kckpt" };
	struct child c, r;
	struct stat st;
	char line[64];
	int rc;

	unlink(imgs[0]);
	unlink(imgs[1]);
	spawn(&c, (char *[]){ "/bin/shfile", NULL }, 1);
	check(read_line(&c, line, sizeof(line), 5000) && !strcmp(line, "ready"), "shfile: \"%s\"", line);
	check(checks(&c), "the original has it all before the checkpoint");
	for (int u = 0; u < 2; u++) {
		rc = cr_p(c.pid, imgs[u], u);
		check(rc == 0, "cr -p%s: exit %d", u ? " --userspace" : "", rc);
		/* the 8 KiB of file data are not in the image */
		check(!stat(imgs[u], &st), "%s: %lld bytes allocated", imgs[u], (long long)st.st_blocks * 512);
	}
	rc = run((char *[]){ "/bin/cr", "--compare", (char *)imgs[0], (char *)imgs[1], NULL });
	check(rc == 0, "cr --compare kernel-mode and userspace images: exit %d", rc);
	check(checks(&c), "the original still maps the file");
	reap(&c);

	for (int i = 0; i < 4; i++) {
		const char *img = imgs[i & 1];

		if (i & 2) {
			char path[32];

			snprintf(path, sizeof(path), "./%s", img);
			spawn(&r, (char *[]){ path, NULL }, 1);
		} else {
			spawn(&r, (char *[]){ "/bin/cr", "-r", "--userspace", "-f", (char *)img, NULL }, 1);
		}
		check(checks(&r), "%s %s: all back", i & 2 ? "binfmt_cr" : "cr -r --userspace", img);
		reap(&r);
	}

	unlink(imgs[0]);
	unlink(imgs[1]);
	spawn(&c, (char *[]){ "/bin/shfile", "-m", NULL }, 1);
	check(read_line(&c, line, sizeof(line), 5000) && !strcmp(line, "ready"), "shfile -m: \"%s\"", line);
	for (int u = 0; u < 2; u++) {
		rc = cr_p(c.pid, imgs[u], u);
		check(rc == 1 && access(imgs[u], F_OK), "shared memfd: cr -p%s refuses (exit %d), no image",
		      u ? " --userspace" : "", rc);
	}
	check(checks(&c), "the refused target runs on unharmed");
	reap(&c);
	return failures ? 1 : 0;
}
