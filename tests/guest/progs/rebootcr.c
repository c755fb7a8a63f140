// SPDX-License-Identifier: GPL-2.0
/*
 * rebootcr: the two phases of the two-boot cr tests (tests/guest/
 * *.reboot.sh), run as "rebootcr KIND phase1|phase2 DIR" with DIR on the
 * disk that both boots share. Exit 0 all well, 77 does not apply, 1 not.
 *
 * counter (cr_reboot; cr_reboot_flavor with "other-flavor"): phase 1
 * counts diskcount to 5, checkpoints it with cr -p in kernel mode
 * (DIR/k.kckpt) and in --userspace mode (DIR/u.kckpt), has the original
 * count on to 7 and kills it. Phase 2 finds the images, count.log and
 * shared.dat as boot 1 left them, cr --compare's the images again, and
 * restarts each (cr -r, cr -r --userspace): the count goes on at 6, the
 * log grows, the cwd, the shared mapping and the vDSO work (diskcount's
 * check). "other-flavor" checks that boot 2 runs another kernel build
 * (/proc/version differs), "counter" that it runs the same.
 *
 * xstate (cr_reboot_cpu): phase 1 checkpoints progs/xstate, asleep with
 * AVX patterns in ymm0-7, both ways (skipped without AVX). Phase 2, on
 * a CPU without AVX and XSAVE, must see both restarts refused before the
 * point of no return: cr -r exits 7 with the kernel's binfmt_cr refusal
 * in the kernel log, cr -r --userspace exits 7 naming XSAVE, and no
 * restarted process is left.
 */
#define _GNU_SOURCE
#include <sys/klog.h>
#include "crpair.h"

#define CKPT_AT 5	/* the count at which phase 1 checkpoints */
#define KILLED_AT 7	/* and at which the original is killed */

static char dir[400], kimg[512], uimg[512];

static void slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

	buf[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
}

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	check(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text) && !close(fd), "wrote %s", path);
}

/* "count 1\n" ... "count N\n" */
static void counts(char *buf, size_t size, int from, int to)
{
	buf[0] = 0;
	for (int i = from; i <= to; i++)
		snprintf(buf + strlen(buf), size - strlen(buf), "count %d\n", i);
}

/* The line at byte 64 of shared.dat (what the counter wrote through its mapping). */
static void mapped_line(char *line, size_t size)
{
	char page[128];
	char *nl;

	slurp("shared.dat", page, sizeof(page));
	snprintf(line, size, "%s", page + 64);
	nl = strchr(line, '\n');
	if (nl)
		*nl = 0;
}

static int count_to(struct child *c, int n)
{
	char line[256], want[32];

	snprintf(want, sizeof(want), "count %d", n);
	return write(c->in, "n", 1) == 1 && read_line(c, line, sizeof(line), 10000) && !strcmp(line, want);
}

/* Run @argv to its end with its output in @out; its exit status (128 + signal). */
static int run_capture(char *const argv[], char *out, size_t size)
{
	struct child c;
	size_t len = 0;
	ssize_t n;
	int st;

	if (spawn(&c, argv, 0))
		return -1;
	while (len < size - 1 && (n = read(c.out, out + len, size - 1 - len)) > 0)
		len += n;
	out[len] = 0;
	close(c.out);
	waitpid(c.pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int have_images(void)
{
	int ok = !access(kimg, R_OK) && !access(uimg, R_OK);

	check(ok, "boot 1's images %s and %s are on the disk", kimg, uimg);
	return ok;
}

static void counter_phase1(void)
{
	const char *imgs[2] = { kimg, uimg };
	char log[256], want[256], line[64], version[512];
	struct child c;
	int n;

	slurp("/proc/version", version, sizeof(version));
	put("kernel.txt", version);
	start_ready(&c, (char *[]){ "/bin/diskcount", NULL });
	for (n = 1; n <= CKPT_AT && count_to(&c, n); n++)
		;
	check(n > CKPT_AT, "diskcount counted to %d", CKPT_AT);
	check(self_check(&c), "diskcount checks itself before the checkpoint");
	checkpoint_both_ways(c.pid, imgs);
	for (n = CKPT_AT + 1; n <= KILLED_AT && count_to(&c, n); n++)
		;
	check(n > KILLED_AT, "the original counts on to %d after both checkpoints", KILLED_AT);
	reap(&c);
	slurp("count.log", log, sizeof(log));
	counts(want, sizeof(want), 1, KILLED_AT);
	check(!strcmp(log, want), "count.log holds counts 1 to %d", KILLED_AT);
	mapped_line(line, sizeof(line));
	check(!strcmp(line, "count 7"), "shared.dat holds \"%s\" written through the mapping", line);
}

/* Restart @img (@user: cr -r --userspace) detached, with stdin and stdout ours. */
static void restart_counter(const char *img, int user)
{
	const char *how = user ? "cr -r --userspace" : "cr -r";
	char line[256], log[512], want[512];
	struct child r;
	pid_t pid = 0;

	slurp("count.log", log, sizeof(log));
	if (user)
		spawn(&r, (char *[]){ "/bin/cr", "-r", "--userspace", "-f", (char *)img, "--detach", NULL }, 1);
	else
		spawn(&r, (char *[]){ "/bin/cr", "-r", "-f", (char *)img, "--detach", NULL }, 1);
	while (!pid && read_line(&r, line, sizeof(line), 10000))
		if (sscanf(line, "cr: restarted %*s as pid %d", &pid) != 1)
			printf("%s: %s\n", how, line);
	waitpid(r.pid, NULL, 0);	/* cr itself */
	check(pid > 0, "%s -f %s --detach: restarted as pid %d", how, img, pid);
	if (pid <= 0) {
		r.pid = 0;
		reap(&r);
		return;
	}
	r.pid = pid;	/* reap() kills the restarted process; init reaps it */
	check(self_check(&r), "%s: the cwd, count.log, the shared mapping and the vDSO are back", how);
	check(count_to(&r, CKPT_AT + 1), "%s: the count goes on at %d (checkpointed at %d)", how, CKPT_AT + 1, CKPT_AT);
	counts(want, sizeof(want), CKPT_AT + 1, CKPT_AT + 1);
	memmove(want + strlen(log), want, strlen(want) + 1);
	memcpy(want, log, strlen(log));
	slurp("count.log", log, sizeof(log));
	check(!strcmp(log, want), "%s: count.log grew by \"count %d\"", how, CKPT_AT + 1);
	mapped_line(line, sizeof(line));
	check(!strcmp(line, "count 6"), "%s: the store through the mapping reached shared.dat: \"%s\"", how, line);
	check(count_to(&r, CKPT_AT + 2) && self_check(&r), "%s: counts on to %d and checks itself again", how, CKPT_AT + 2);
	reap(&r);
}

static void counter_phase2(int other_kernel)
{
	char log[256], want[256], line[64], before[512], now[512];
	int rc;

	if (!have_images())
		return;
	slurp("kernel.txt", before, sizeof(before));
	slurp("/proc/version", now, sizeof(now));
	now[strcspn(now, "\n")] = 0;
	before[strcspn(before, "\n")] = 0;
	if (other_kernel)
		check(before[0] && strcmp(before, now), "boot 2 runs another kernel build: %s", now);
	else
		check(!strcmp(before, now), "boot 2 runs boot 1's kernel: %s", now);
	slurp("count.log", log, sizeof(log));
	counts(want, sizeof(want), 1, KILLED_AT);
	check(!strcmp(log, want), "count.log still holds counts 1 to %d", KILLED_AT);
	mapped_line(line, sizeof(line));
	check(!strcmp(line, "count 7"), "shared.dat still holds \"%s\"", line);
	rc = run((char *[]){ "/bin/cr", "--compare", kimg, uimg, NULL });
	check(rc == 0, "cr --compare of the two images read back from the disk: exit %d", rc);
	restart_counter(kimg, 0);
	restart_counter(uimg, 1);
}

static int cpu_has(const char *flag)
{
	char info[8192], word[32];

	slurp("/proc/cpuinfo", info, sizeof(info));
	snprintf(word, sizeof(word), " %s", flag);
	for (char *p = strstr(info, word); p; p = strstr(p + 1, word))
		if (p[strlen(word)] == ' ' || p[strlen(word)] == '\n')
			return 1;
	return 0;
}

static int xstate_phase1(void)
{
	const char *imgs[2] = { kimg, uimg };
	char line[64] = "";
	struct child c;

	spawn(&c, (char *[]){ "/bin/xstate", NULL }, 1);
	if (read_line(&c, line, sizeof(line), 5000) && !strcmp(line, "# no AVX")) {
		printf("boot 1's CPU has no AVX\n");
		reap(&c);
		return 77;
	}
	check(!strcmp(line, "ready"), "xstate: \"%s\"", line);
	checkpoint_both_ways(c.pid, imgs);
	check(self_check(&c), "xstate keeps its ymm0-7 through both checkpoints");
	reap(&c);
	return 0;
}

/* No process runs the image: it was not restarted half-way. */
static int none_running(const char *comm)
{
	char path[64], name[64];
	int found = 0;

	for (int pid = 2; pid < 32768; pid++) {
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		if (access(path, F_OK))
			continue;
		slurp(path, name, sizeof(name));
		if (!strncmp(name, comm, strlen(comm)))
			found = 1;
	}
	return !found;
}

static void xstate_phase2(void)
{
	char out[2048], klog[16384], *l;
	int rc, seen = 0;

	check(!cpu_has("xsave") && !cpu_has("avx"), "boot 2's CPU has neither XSAVE nor AVX");
	if (!have_images())
		return;
	klogctl(5, NULL, 0);	/* SYSLOG_ACTION_CLEAR: this restart's lines only */
	rc = run_capture((char *[]){ "/bin/cr", "-r", "-f", kimg, NULL }, out, sizeof(out));
	printf("cr -r: %s", out);
	check(rc == 7 && strstr(out, "refused"), "cr -r of the AVX image is refused: exit %d (want 7)", rc);
	rc = klogctl(3, klog, sizeof(klog) - 1);	/* SYSLOG_ACTION_READ_ALL */
	klog[rc > 0 ? rc : 0] = 0;
	for (l = strtok(klog, "\n"); l; l = strtok(NULL, "\n")) {
		if (strstr(l, "binfmt_cr") && (strstr(l, "refused") || strstr(l, "XSAVE"))) {
			printf("kernel: %s\n", l);
			seen = 1;
		}
	}
	check(seen, "the kernel log has binfmt_cr's refusal naming XSAVE");
	check(none_running("k.kckpt"), "no process was left half-restored from k.kckpt");
	rc = run_capture((char *[]){ "/bin/cr", "-r", "--userspace", "-f", uimg, NULL }, out, sizeof(out));
	printf("cr -r --userspace: %s", out);
	check(rc == 7 && strstr(out, "XSAVE"), "cr -r --userspace of the AVX image is refused naming XSAVE: exit %d (want 7)", rc);
	check(none_running("xstate"), "no process was left half-restored from u.kckpt");
}

int main(int argc, char **argv)
{
	int p1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 4 || (strcmp(argv[2], "phase1") && strcmp(argv[2], "phase2")) ||
	    (strcmp(argv[1], "counter") && strcmp(argv[1], "other-flavor") && strcmp(argv[1], "xstate"))) {
		fprintf(stderr, "usage: rebootcr counter|other-flavor|xstate phase1|phase2 DIR\n");
		return 2;
	}
	p1 = !strcmp(argv[2], "phase1");
	snprintf(dir, sizeof(dir), "%s", argv[3]);
	snprintf(kimg, sizeof(kimg), "%s/k.kckpt", dir);
	snprintf(uimg, sizeof(uimg), "%s/u.kckpt", dir);
	if (chdir(dir)) {
		printf("FAIL: chdir %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (!strcmp(argv[1], "xstate")) {
		if (p1 && xstate_phase1() == 77)
			return 77;
		if (!p1)
			xstate_phase2();
	} else if (p1) {
		counter_phase1();
	} else {
		counter_phase2(!strcmp(argv[1], "other-flavor"));
	}
	return failures ? 1 : 0;
}
