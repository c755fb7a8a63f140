// SPDX-License-Identifier: GPL-2.0
/*
 * cr_v2: what format version 2 saves, through cr -p in both modes. The
 * kernel-mode image (checkpoint() injected) and the --userspace one of
 * /bin/owner are the same state (cr --compare), both 0700 whatever the
 * umask, the original keeps all it had (its pipe's unread bytes too), a
 * memfd is saved as an unlinked file in both modes, and
 * each image restarts through binfmt_cr and through cr -r --userspace
 * with everything back (owner's own check). An eventfd makes both modes
 * refuse with an error naming it, leave no image and the target running.
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
	const char *imgs[2] = { "k2.kckpt", "u2.kckpt" };
	struct child c, r;
	struct stat st;
	char line[64];
	int rc;

	unlink(imgs[0]);
	unlink(imgs[1]);
	spawn(&c, (char *[]){ "/bin/owner", NULL }, 1);
	check(read_line(&c, line, sizeof(line), 5000) && !strcmp(line, "ready"), "owner: \"%s\"", line);
	check(checks(&c), "the original has it all before the checkpoint");
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
	check(checks(&c), "the original still has it all (pipe bytes not consumed)");
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
	spawn(&c, (char *[]){ "/bin/owner", "-e", NULL }, 1);
	check(read_line(&c, line, sizeof(line), 5000) && !strcmp(line, "ready"), "owner -e: \"%s\"", line);
	for (int u = 0; u < 2; u++) {
		rc = cr_p(c.pid, imgs[u], u);
		check(rc == 1 && access(imgs[u], F_OK), "eventfd: cr -p%s refuses (exit %d), no image",
		      u ? " --userspace" : "", rc);
	}
	check(checks(&c), "the refused target runs on unharmed");
	reap(&c);
	return failures ? 1 : 0;
}
