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
#include <sys/syscall.h>
#include "guest.h"

static int checks(struct child *c)
{
	char line[64];

	line[0] = 0;
	if (write(c->in, "c", 1) == 1 && expect_line(c, "check", line, sizeof(line), 10000) &&
	    !strcmp(line, "check 0"))
		return 1;
	printf("# got \"%s\"\n", line);
	return 0;
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
	const char *imgs[2] = { "a-k.kckpt", "a-u.kckpt" };
	struct child c, r;
	char line[64];
	int rc;

	unlink(imgs[0]);
	unlink(imgs[1]);
	spawn(&c, (char *[]){ "/bin/attrs", NULL }, 1);
	check(read_line(&c, line, sizeof(line), 5000) && !strcmp(line, "ready"), "attrs: \"%s\"", line);
	check(checks(&c), "the original has it all before the checkpoint");
	for (int u = 0; u < 2; u++) {
		rc = cr_p(c.pid, imgs[u], u);
		check(rc == 0, "cr -p%s: exit %d", u ? " --userspace" : "", rc);
	}
	rc = run((char *[]){ "/bin/cr", "--compare", (char *)imgs[0], (char *)imgs[1], NULL });
	check(rc == 0, "cr --compare kernel-mode and userspace images: exit %d", rc);
	check(checks(&c), "the original still has it all");
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

	/* not dumpable: both modes refuse (EPERM, exit 4), the target runs on */
	unlink(imgs[0]);
	unlink(imgs[1]);
	spawn(&c, (char *[]){ "/bin/attrs", "-n", NULL }, 1);
	check(read_line(&c, line, sizeof(line), 5000) && !strcmp(line, "ready"), "attrs -n: \"%s\"", line);
	for (int u = 0; u < 2; u++) {
		rc = cr_p(c.pid, imgs[u], u);
		check(rc == 4 && access(imgs[u], F_OK), "not dumpable: cr -p%s refuses (exit %d), no image",
		      u ? " --userspace" : "", rc);
	}
	check(checks(&c), "the refused target runs on unharmed");
	reap(&c);
	return failures ? 1 : 0;
}
