// SPDX-License-Identifier: GPL-2.0
/*
 * cr -r --userspace: restart without binfmt_cr. Images of /bin/holder
 * (kernel-mode and --userspace) restarted by cr's restorer must report the
 * same state line as the original (umask, cwd, SIGUSR1 action, blocked
 * SIGUSR2, file offset, TLS, x87 value, working brk and vDSO clock) and
 * answer; a running counter resumes counting from its checkpoint; the
 * kernel restart (binfmt_cr) of the same images is checked alike.
 */
#include "crpair.h"

static int state_of(struct child *c, char *line, size_t n)
{
	return write(c->in, "s", 1) == 1 && expect_line(c, "state", line, n, 10000);
}

int main(void)
{
	struct child c, r;
	char p[16], want[256], line[256];
	int rc, first = -1, lo = -1;

	/* informative: is the vDSO placed per process (then the restorer moves it)? */
	run((char *[]){ "/bin/sh", "-c", "echo vdso placement: $(cat /proc/sys/kernel/randomize_va_space) "
			"$(grep vdso /proc/self/maps | cut -d- -f1) $(grep vdso /proc/self/maps | cut -d- -f1)", NULL });
	spawn(&c, (char *[]){ "/bin/holder", NULL }, 1);
	check(read_line(&c, line, sizeof(line), 5000) && !strncmp(line, "ready", 5), "holder: \"%s\"", line);
	check(state_of(&c, want, sizeof(want)), "original: %s", want);
	usleep(100 * 1000);
	snprintf(p, sizeof(p), "%d", c.pid);
	rc = run((char *[]){ "/bin/cr", "-p", p, "-f", "k.kckpt", NULL });
	check(rc == 0, "cr -p: exit %d", rc);
	rc = run((char *[]){ "/bin/cr", "-p", p, "--userspace", "-f", "u.kckpt", NULL });
	check(rc == 0, "cr -p --userspace: exit %d", rc);
	reap(&c);

	for (int i = 0; i < 4; i++) {
		const char *img = i & 1 ? "u.kckpt" : "k.kckpt";
		const char *how = i & 2 ? "binfmt_cr" : "cr -r --userspace";

		spawn_restart(&r, img, i & 2);
		check(state_of(&r, line, sizeof(line)) && !strcmp(line, want), "%s %s: \"%s\"", how, img, line);
		/* every byte read counts: "s" before the checkpoint, "s", "x" */
		check(write(r.in, "x", 1) == 1 && read_line(&r, line, sizeof(line), 5000) && !strcmp(line, "tick 3"),
		      "%s %s answers: \"%s\"", how, img, line);
		reap(&r);
	}

	/* a running counter: the restart resumes from the checkpointed count */
	spawn(&c, (char *[]){ "/bin/counter", NULL }, 0);
	while (read_line(&c, line, sizeof(line), 5000) && sscanf(line, "count %d", &lo) == 1 && lo < 3)
		;
	snprintf(p, sizeof(p), "%d", c.pid);
	rc = run((char *[]){ "/bin/cr", "-p", p, "--userspace", "-f", "run.kckpt", NULL });
	check(rc == 0, "cr -p --userspace of a running counter: exit %d", rc);
	reap(&c);
	spawn(&r, (char *[]){ "/bin/cr", "-r", "--userspace", "-f", "run.kckpt", NULL }, 0);
	rc = read_line(&r, line, sizeof(line), 5000) && sscanf(line, "count %d", &first) == 1;
	check(rc && first > lo && first < lo + 10, "restored counter resumes at %d (checkpointed after %d)", first, lo);
	check(read_line(&r, line, sizeof(line), 5000) && !strcmp(line, (snprintf(want, sizeof(want), "count %d", first + 1), want)),
	      "and counts on: \"%s\"", line);
	reap(&r);

	/* refused before the point of no return: invalid image, exit 7 */
	rc = run((char *[]){ "/bin/cr", "-r", "--userspace", "-f", "/init", NULL });
	check(rc == 7, "cr -r --userspace -f /init: exit %d (want 7)", rc);
	return failures ? 1 : 0;
}
