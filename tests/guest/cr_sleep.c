// SPDX-License-Identifier: GPL-2.0
/*
 * The seed's cryo scenario, without its two bugs: cr -p checkpoints a
 * running counter, which keeps counting unharmed (no signal, no gap); it
 * is killed and cr -r restarts the image, which resumes from the
 * checkpointed count. Also with the target blocked in read() on a pipe,
 * and a chain of three (checkpointing each restarted process again).
 */
#include "guest.h"

static int count_of(const char *line)
{
	int n = -1;

	sscanf(line, "count %d", &n);
	return n;
}

/* Running or sleeping: not stopped, not a zombie, not gone. */
static int alive(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	return p && (p[2] == 'R' || p[2] == 'S');
}

/* Drain the lines already written; returns the last count seen. */
static int drain(struct child *c, int last)
{
	char line[256];

	while (read_line(c, line, sizeof(line), 50))
		if (count_of(line) > 0)
			last = count_of(line);
	return last;
}

static int cr_checkpoint(pid_t pid, const char *file)
{
	char p[16];

	snprintf(p, sizeof(p), "%d", pid);
	return run((char *[]){ "/bin/cr", "-p", p, "-f", (char *)file, NULL });
}

/* Checkpoint a counting process; check it keeps counting for 2 s. */
static int checkpoint_running(struct child *c, const char *file, int *lo, int *hi)
{
	char line[256];
	int last = -1, prev, st, rc;
	double t;

	while (last < 3 && read_line(c, line, sizeof(line), 5000))
		last = count_of(line) > 0 ? count_of(line) : last;
	*lo = last = drain(c, last);
	rc = cr_checkpoint(c->pid, file);
	check(rc == 0, "cr -p %d -f %s: exit %d", c->pid, file, rc);
	*hi = last = drain(c, last);
	prev = last;
	for (t = now_ms(); now_ms() - t < 2000;) {
		if (!read_line(c, line, sizeof(line), 2000))
			break;
		if (count_of(line) != prev + 1) {
			check(0, "original after checkpoint: \"%s\" after count %d", line, prev);
			break;
		}
		prev++;
	}
	check(prev > last + 3, "original kept counting after cr -p: %d -> %d in 2 s", last, prev);
	check(alive(c->pid) && waitpid(c->pid, &st, WNOHANG) <= 0, "original still alive, no signal");
	return rc;
}

/* Restart with cr -r --detach; returns the restarted pid, checks the count. */
static pid_t restart(struct child *c, const char *file, int lo, int hi)
{
	char line[256];
	pid_t pid = 0;
	int first = -1;

	spawn(c, (char *[]){ "/bin/cr", "-r", "-f", (char *)file, "--detach", NULL }, 0);
	while (read_line(c, line, sizeof(line), 5000)) {
		if (sscanf(line, "cr: restarted %*s as pid %d", &pid) == 1)
			continue;
		first = count_of(line);
		if (first > 0)
			break;
	}
	check(pid > 0, "cr -r --detach reported the restarted pid %d", pid);
	if (pid <= 0)
		pid = -1;
	check(first >= lo + 1 && first <= hi + 1, "restarted %s resumes at %d (checkpointed between %d and %d)",
	      file, first, lo, hi);
	waitpid(c->pid, NULL, 0);	/* cr itself */
	c->pid = pid;	/* reap() kills the restarted process; init reaps it */
	return pid;
}

/* The chain: checkpoint, kill, restart; then the same on the restarted one. */
static void sleeping(void)
{
	const char *files[] = { "a.kckpt", "b.kckpt", "c.kckpt" };
	struct child c;
	int lo, hi, i;

	spawn(&c, (char *[]){ "/bin/counter", NULL }, 0);
	for (i = 0; i < 3; i++) {
		if (checkpoint_running(&c, files[i], &lo, &hi) != 0) {
			reap(&c);
			return;
		}
		reap(&c);
		if (restart(&c, files[i], lo, hi) <= 0)
			return;
	}
	reap(&c);
}

static void blocked_in_read(void)
{
	struct child c, r;
	char line[256];
	int i, rc;

	spawn(&c, (char *[]){ "/bin/counter", "-b", NULL }, 1);
	for (i = 0; i < 3; i++)
		if (write(c.in, "x", 1) != 1 || !read_line(&c, line, sizeof(line), 5000))
			break;
	check(!strcmp(line, "count 3"), "reader counted to 3: \"%s\"", line);
	usleep(200 * 1000);	/* it is now blocked in read() */
	rc = cr_checkpoint(c.pid, "r.kckpt");
	check(rc == 0, "cr -p of a process blocked in read(): exit %d", rc);
	check(write(c.in, "x", 1) == 1 && read_line(&c, line, sizeof(line), 5000) && !strcmp(line, "count 4"),
	      "original's read() carries on: \"%s\"", line);
	reap(&c);
	/* The image is executed with a new pipe as stdin: that is what it reads. */
	spawn(&r, (char *[]){ "./r.kckpt", NULL }, 1);
	check(write(r.in, "x", 1) == 1 && read_line(&r, line, sizeof(line), 5000) && !strcmp(line, "count 4"),
	      "restarted reader resumes its read() on the new pipe: \"%s\"", line);
	reap(&r);
}

int main(void)
{
	sleeping();
	blocked_in_read();
	return failures ? 1 : 0;
}
