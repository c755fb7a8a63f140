// SPDX-License-Identifier: GPL-2.0
/*
 * cr's remaining error cases, kernel mode and --userspace alike, each with
 * its exit code and nothing left behind:
 *  - not permitted to trace: cr run as uid 65534 against a root process
 *    exits 4, writes no file, and the target runs on;
 *  - the target exits during the checkpoint (SIGKILLed as soon as cr has
 *    seized it; a 64 MiB target so that the checkpoint takes a while):
 *    exit 5, no file;
 *  - invalid images: exit 7 for -r and --compare.
 */
#include <sys/types.h>
#include "guest.h"

static int exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

/* cr as uid/gid 65534 */
static int run_as_nobody(char *const argv[])
{
	int st;
	pid_t p = fork();

	if (p == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	if (p < 0 || waitpid(p, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int tracer_of(pid_t pid)
{
	char path[64], line[256];
	int t = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %d", &t) == 1)
			break;
	fclose(f);
	return t;
}

static void not_permitted(const char *mode)
{
	struct child c;
	char p[16], line[256];
	int rc;

	spawn(&c, (char *[]){ "/bin/counter", "-b", NULL }, 1);
	snprintf(p, sizeof(p), "%d", c.pid);
	rc = run_as_nobody(mode ? (char *[]){ "/bin/cr", "-p", p, (char *)mode, "-f", "/tmp/nobody/x.kckpt", NULL }
				: (char *[]){ "/bin/cr", "-p", p, "-f", "/tmp/nobody/x.kckpt", NULL });
	check(rc == 4, "uid 65534 cr -p %s root's pid: exit %d (want 4)", mode ? mode : "", rc);
	check(!exists("/tmp/nobody/x.kckpt"), "%s: no image left", mode ? mode : "kernel mode");
	check(write(c.in, "x", 1) == 1 && read_line(&c, line, sizeof(line), 5000) && !strcmp(line, "count 1"),
	      "%s: target untouched: \"%s\"", mode ? mode : "kernel mode", line);
	reap(&c);
}

static void target_exits(const char *mode)
{
	struct child c, cr;
	char p[16], line[256];
	int st, rc, seen = 0;
	double t;

	spawn(&c, (char *[]){ "/bin/holder", "-m", "64", NULL }, 1);
	check(read_line(&c, line, sizeof(line), 20000) && !strncmp(line, "ready", 5), "64 MiB holder: \"%s\"", line);
	snprintf(p, sizeof(p), "%d", c.pid);
	spawn(&cr, mode ? (char *[]){ "/bin/cr", "-p", p, (char *)mode, "-f", "dying.kckpt", NULL }
			: (char *[]){ "/bin/cr", "-p", p, "-f", "dying.kckpt", NULL }, 0);
	for (t = now_ms(); now_ms() - t < 10000;)
		if (tracer_of(c.pid) > 0) {
			seen = 1;
			break;
		}
	kill(c.pid, SIGKILL);
	check(seen, "%s: cr seized the target", mode ? mode : "kernel mode");
	waitpid(cr.pid, &st, 0);
	rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	while (read_line(&cr, line, sizeof(line), 100))
		printf("# cr: %s\n", line);
	cr.pid = 0;
	reap(&cr);
	check(rc == 5, "%s: target killed during the checkpoint: exit %d (want 5)", mode ? mode : "kernel mode", rc);
	check(!exists("dying.kckpt"), "%s: no image left", mode ? mode : "kernel mode");
	unlink("dying.kckpt");
	reap(&c);
}

static void invalid_images(void)
{
	struct child c;
	char p[16], line[256];
	int rc, fd;

	spawn(&c, (char *[]){ "/bin/counter", "-b", NULL }, 1);
	snprintf(p, sizeof(p), "%d", c.pid);
	usleep(100 * 1000);
	rc = run((char *[]){ "/bin/cr", "-p", p, "-f", "good.kckpt", NULL });
	check(rc == 0, "cr -p for the invalid-image cases: exit %d", rc);
	reap(&c);
	/* truncated: the segments lie beyond the end of the file */
	run((char *[]){ "/bin/sh", "-c", "head -c 8192 good.kckpt > trunc.kckpt && chmod 700 trunc.kckpt", NULL });
	/* e_phnum 0xffff */
	run((char *[]){ "/bin/sh", "-c", "cp good.kckpt phnum.kckpt", NULL });
	fd = open("phnum.kckpt", O_WRONLY);
	check(fd >= 0 && pwrite(fd, "\xff\xff", 2, 44) == 2, "corrupted e_phnum");
	close(fd);
	for (int i = 0; i < 2; i++) {
		const char *f = i ? "phnum.kckpt" : "trunc.kckpt";

		rc = run((char *[]){ "/bin/cr", "-r", "-f", (char *)f, NULL });
		check(rc == 7, "cr -r -f %s: exit %d (want 7)", f, rc);
		rc = run((char *[]){ "/bin/cr", "--compare", "good.kckpt", (char *)f, NULL });
		check(rc == 7, "cr --compare good.kckpt %s: exit %d (want 7)", f, rc);
	}
	(void)line;
}

int main(void)
{
	mkdir("/tmp/nobody", 0777);
	chmod("/tmp/nobody", 0777);
	not_permitted(NULL);
	not_permitted("--userspace");
	target_exits(NULL);
	target_exits("--userspace");
	invalid_images();
	return failures ? 1 : 0;
}
