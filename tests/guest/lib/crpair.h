/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The shape the cr_* tests of a self-checking program share: the program
 * (tests/guest/progs) prints "ready", answers each "c" on stdin with
 * "check MASK" (0: all there) and waits in read(0) otherwise. A program
 * may know other command letters, answered the same way ("v": consume
 * and verify what "c" only looks at, for instance). It is
 * checkpointed by cr -p in kernel mode and in --userspace mode, the two
 * images compared, and each restarted through binfmt_cr and through
 * cr -r --userspace.
 */
#ifndef KCKPT_CRPAIR_H
#define KCKPT_CRPAIR_H

#include <sys/syscall.h>
#include "guest.h"

/*
 * Send @c the command letter @cmd, which it answers with "check MASK": 1
 * if it answers "check 0"; says what it did, and passes on the lines it
 * printed before (what its check found wrong).
 */
static __attribute__((unused)) int ask_check(struct child *c, char cmd)
{
	char line[256] = "";

	if (write(c->in, &cmd, 1) != 1)
		return 0;
	while (read_line(c, line, sizeof(line), 60000)) {
		if (!strncmp(line, "check", 5)) {
			if (!strcmp(line, "check 0"))
				return 1;
			printf("# '%c': got \"%s\"\n", cmd, line);
			return 0;
		}
		printf("%s%s\n", line[0] == '#' ? "" : "# ", line);
	}
	printf("# '%c': no answer\n", cmd);
	return 0;
}

/*
 * Spawn the self-checking program @argv into @c and wait for its "ready";
 * says which program and what it printed if it is not ready.
 */
static __attribute__((unused)) void start_ready(struct child *c, char *const argv[])
{
	char line[64] = "", what[64];
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

	snprintf(what, sizeof(what), "%s%s%s", name, argv[1] ? " " : "", argv[1] ? argv[1] : "");
	spawn(c, argv, 1);
	check(read_line(c, line, sizeof(line), 5000) && !strcmp(line, "ready"), "%s: \"%s\"", what, line);
}

/* Ask @c to check itself ("c"): 1 if it answers "check 0"; says what it did. */
static __attribute__((unused)) int self_check(struct child *c)
{
	return ask_check(c, 'c');
}

/*
 * cr -p @pid -f @img, in --userspace mode if @user, once @pid sleeps in
 * read(0): where the other mode's image caught it too, not on its way
 * back in (cr --compare would see other registers). cr's exit status.
 */
static __attribute__((unused)) int cr_p(pid_t pid, const char *img, int user)
{
	char p[16];

	snprintf(p, sizeof(p), "%d", (int)pid);
	wait_in_syscall(pid, SYS_read);
	if (user)
		return run((char *[]){ "/bin/cr", "-p", p, "--userspace", "-f", (char *)img, NULL });
	return run((char *[]){ "/bin/cr", "-p", p, "-f", (char *)img, NULL });
}

/*
 * cr -p @pid in kernel mode into imgs[0] and in --userspace mode into
 * imgs[1], then cr --compare the two: the same state, seen both ways.
 */
static __attribute__((unused)) void checkpoint_both_ways(pid_t pid, const char *const imgs[2])
{
	int rc;

	for (int u = 0; u < 2; u++) {
		rc = cr_p(pid, imgs[u], u);
		check(rc == 0, "cr -p%s: exit %d", u ? " --userspace" : "", rc);
	}
	rc = run((char *[]){ "/bin/cr", "--compare", (char *)imgs[0], (char *)imgs[1], NULL });
	check(rc == 0, "cr --compare kernel-mode and userspace images: exit %d", rc);
}

/* Restart @img (in the cwd) into @r: executed (binfmt_cr) or by cr -r --userspace */
static __attribute__((unused)) void spawn_restart(struct child *r, const char *img, int binfmt)
{
	char path[64];

	snprintf(path, sizeof(path), "./%s", img);
	if (binfmt)
		spawn(r, (char *[]){ path, NULL }, 1);
	else
		spawn(r, (char *[]){ "/bin/cr", "-r", "--userspace", "-f", (char *)img, NULL }, 1);
}

/*
 * Restart each of the two images @imgs through cr -r --userspace and
 * through binfmt_cr, and send every restarted process the command letters
 * @cmds in turn, each to be answered "check 0" (up to the first that is not).
 */
static __attribute__((unused)) void restart_both_ways_asking(const char *const imgs[2], const char *cmds,
							      const char *what)
{
	struct child r;

	for (int i = 0; i < 4; i++) {
		const char *img = imgs[i & 1];
		const char *p = cmds;

		spawn_restart(&r, img, i & 2);
		while (*p && ask_check(&r, *p))
			p++;
		check(!*p, "%s %s: %s", i & 2 ? "binfmt_cr" : "cr -r --userspace", img, what);
		reap(&r);
	}
}

/*
 * Restart each of the two images @imgs through cr -r --userspace and
 * through binfmt_cr, and have every restarted process check itself.
 */
static __attribute__((unused)) void restart_both_ways(const char *const imgs[2], const char *what)
{
	restart_both_ways_asking(imgs, "c", what);
}

/* Both modes refuse to checkpoint @pid (cr exits @code) and leave no image */
static __attribute__((unused)) void refused_both_ways(pid_t pid, const char *const imgs[2], int code,
						       const char *why)
{
	for (int u = 0; u < 2; u++) {
		int rc = cr_p(pid, imgs[u], u);

		check(rc == code && access(imgs[u], F_OK), "%s: cr -p%s refuses (exit %d), no image", why,
		      u ? " --userspace" : "", rc);
	}
}

/*
 * The program @argv, started afresh, is refused by both modes (cr exits
 * @code, no image left, see refused_both_ways()) and then still passes
 * its own check.
 */
static __attribute__((unused)) void refused_target(char *const argv[], const char *const imgs[2], int code,
						    const char *why)
{
	struct child c;

	unlink(imgs[0]);
	unlink(imgs[1]);
	start_ready(&c, argv);
	refused_both_ways(c.pid, imgs, code, why);
	check(self_check(&c), "%s: the refused target runs on unharmed", why);
	reap(&c);
}

#endif /* KCKPT_CRPAIR_H */
