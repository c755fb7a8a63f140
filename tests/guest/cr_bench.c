// SPDX-License-Identifier: GPL-2.0
/*
 * Figures: checkpoint and restart of a process with 64 MiB of touched
 * memory (/bin/holder -m 64), kernel mode and --userspace, as "# bench:"
 * lines. Restart time is from starting it to the restarted process's first
 * line of output (it resumes in read() and answers one byte).
 */
#include "guest.h"

static long blocks_kib(const char *f)
{
	struct stat st;

	return stat(f, &st) ? -1 : (long)(st.st_blocks / 2);
}

static void restart(const char *what, char *const argv[])
{
	struct child r;
	char line[256];
	double t = now_ms();
	int ok;

	spawn(&r, argv, 1);
	ok = write(r.in, "x", 1) == 1 && read_line(&r, line, sizeof(line), 60000) && !strcmp(line, "tick 1");
	t = now_ms() - t;
	check(ok, "%s restart answered: \"%s\"", what, ok ? line : "");
	if (ok)
		printf("bench: restart %s 64MiB: %.0f ms\n", what, t);
	reap(&r);
}

int main(void)
{
	struct child c;
	char p[16], line[256];
	double t;
	int rc;

	t = now_ms();
	spawn(&c, (char *[]){ "/bin/holder", "-m", "64", NULL }, 1);
	check(read_line(&c, line, sizeof(line), 60000) && !strncmp(line, "ready", 5), "64 MiB holder: \"%s\"", line);
	printf("bench: start and touch 64MiB: %.0f ms\n", now_ms() - t);
	snprintf(p, sizeof(p), "%d", c.pid);

	t = now_ms();
	rc = run((char *[]){ "/bin/cr", "-p", p, "-f", "k.kckpt", NULL });
	t = now_ms() - t;
	check(rc == 0, "cr -p: exit %d", rc);
	printf("bench: checkpoint kernel 64MiB: %.0f ms, image %ld KiB on disk\n", t, blocks_kib("k.kckpt"));

	t = now_ms();
	rc = run((char *[]){ "/bin/cr", "-p", p, "--userspace", "-f", "u.kckpt", NULL });
	t = now_ms() - t;
	check(rc == 0, "cr -p --userspace: exit %d", rc);
	printf("bench: checkpoint userspace 64MiB: %.0f ms, image %ld KiB on disk\n", t, blocks_kib("u.kckpt"));
	reap(&c);

	restart("kernel (binfmt_cr, exec k.kckpt)", (char *[]){ "./k.kckpt", NULL });
	restart("kernel (binfmt_cr, exec u.kckpt)", (char *[]){ "./u.kckpt", NULL });
	restart("userspace (cr -r --userspace, u.kckpt)", (char *[]){ "/bin/cr", "-r", "--userspace", "-f", "u.kckpt", NULL });
	restart("userspace (cr -r --userspace, k.kckpt)", (char *[]){ "/bin/cr", "-r", "--userspace", "-f", "k.kckpt", NULL });
	unlink("k.kckpt");
	unlink("u.kckpt");
	return failures ? 1 : 0;
}
