// SPDX-License-Identifier: GPL-2.0
/*
 * bench_cr: checkpoint/restart figures for `cargo xtask bench cr`, all on
 * the same tmpfs (/tmp). For each size (MiB of touched anonymous memory)
 * and repetition, one child touches its memory and then, on command:
 *   ckpt   checkpoint(2) of itself, timed inside the child
 *   restart exec of that image until the restarted code runs (fork+exec)
 *   cr_p   `cr -p PID -f FILE` of the child from outside
 *   core   the kernel's ELF coredump (SIGQUIT, RLIMIT_CORE unlimited,
 *          core_pattern /tmp/b/core), from the raise() to the parent's
 *          waitpid (includes the exit's teardown of the memory)
 * and the parent also times `dd if=/dev/zero of=/tmp/b/dd bs=1M count=N`
 * and fork+exec of a static ELF (this program, until its main() runs),
 * and `dd if=IMAGE of=/dev/null bs=1M` (reading the image once).
 * Incremental checkpoints (INC_MIB, 256 MiB): after a full `cr -p
 * --userspace` (the parent) the child dirties 1%, 10% or 100% of its
 * pages ('1', '2', '3'), then, side by side, a full `cr -p --userspace`
 * (what=ufullP), a full kernel-mode `cr -p` (what=kfullP) and `cr -p
 * --parent` (what=incP) with CR_TIMES=1: its phase times become keys
 * (start open_parent state compare write, ms).
 * One line per measurement: "bench size=N rep=R key=value ...".
 * Usage: bench_cr [REPS [SIZE...]] (REPS also from kckpt.bench_reps= on the
 * kernel command line); `bench_cr stamp` writes CLOCK_MONOTONIC, binary.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kckpt_syscall.h"

#define DIR "/tmp/b"
#define INC_MIB 256

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int writeall(int fd, const void *b, size_t n)
{
	return write(fd, b, n) == (ssize_t)n ? 0 : -1;
}

static int readall(int fd, void *b, size_t n)
{
	return read(fd, b, n) == (ssize_t)n ? 0 : -1;
}

/* The child: touch @mib MiB, then obey commands on @cmd, answer on @res. */
static void child(int mib, int cmd, int res)
{
	size_t len = (size_t)mib << 20;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char c;

	if (m == MAP_FAILED)
		_exit(2);
	/*
	 * The command pipes on fds 0 and 1: checkpoint refuses a pipe with
	 * an end in another process (EBUSY) but on fds 0-2, which it leaves
	 * to the restarter (the restarted child's fd 1 is then its stdout).
	 */
	if (dup2(cmd, 0) < 0 || dup2(res, 1) < 0)
		_exit(2);
	close(cmd);
	close(res);
	cmd = 0;
	res = 1;
	for (size_t i = 0; i < len; i += 4096)
		memset(m + i, 0x5a ^ (i >> 12), 4096);
	c = 'r';
	writeall(res, &c, 1);
	while (readall(cmd, &c, 1) == 0) {
		if (c == 'c') {
			double t0 = now(), t1;
			long r = syscall(KCKPT_NR_CHECKPOINT, DIR "/img.kckpt");

			if (r == 1) {
				/* restarted: stdout is the parent's pipe */
				double t = now();

				writeall(1, &t, sizeof(t));
				_exit(0);
			}
			t1 = now() - t0;
			if (r != 0)
				t1 = -1;
			writeall(res, &t1, sizeof(t1));
		} else if (c >= '1' && c <= '3') {
			/* dirty 1%, 10%, 100% of the pages */
			size_t every = c == '1' ? 100 : c == '2' ? 10 : 1;

			for (size_t i = 0; i < len; i += 4096 * every)
				m[i] ^= 0x77;
			writeall(res, &c, 1);
		} else if (c == 'q') {
			struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
			double t;

			setrlimit(RLIMIT_CORE, &rl);
			t = now();
			writeall(res, &t, sizeof(t));
			raise(SIGQUIT);
			_exit(3);
		}
	}
	_exit(0);
}

static long long file_bytes(const char *p, long long *alloc)
{
	struct stat sb;

	*alloc = -1;
	if (stat(p, &sb) < 0)
		return -1;
	*alloc = (long long)sb.st_blocks * 512;
	return sb.st_size;
}

static int run(char *const argv[])
{
	int st;
	pid_t p = fork();

	if (p == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	waitpid(p, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* fork+exec @path until its code writes a timestamp on stdout */
static double time_to_run(const char *path, char *const argv[])
{
	int p[2], st;
	double t0 = now(), t = -1;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execv(path, argv);
		_exit(127);
	}
	close(p[1]);
	if (readall(p[0], &t, sizeof(t)) < 0)
		t = -1;
	close(p[0]);
	waitpid(pid, &st, 0);
	return t < 0 ? -1 : t - t0;
}

/* run @argv with CR_TIMES=1, stderr into @log; its exit status */
static int run_timed(char *const argv[], const char *log)
{
	int st;
	pid_t p = fork();

	if (p == 0) {
		int fd = open("/dev/null", O_WRONLY);
		int e = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, 1);
		dup2(e, 2);
		setenv("CR_TIMES", "1", 1);
		execv(argv[0], argv);
		_exit(127);
	}
	waitpid(p, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* "cr: time PHASE MS" lines of @log as " PHASE=MS" */
static void phases(const char *log, char *out, size_t size)
{
	char line[256], name[64];
	double ms;
	FILE *f = fopen(log, "r");
	size_t n = 0;

	out[0] = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "cr: time %63s %lf", name, &ms) == 2 && n < size)
			n += snprintf(out + n, size - n, " %s=%.1f", name, ms);
	if (f)
		fclose(f);
	for (char *p = out; *p; p++)
		if (*p == '-')
			*p = '_';
}

/* One measurement of `cr ARGS... -f DIR/@img` on @pid as what=@what. */
static void timed_cr(const char *what, int rep, char *const args[], const char *img)
{
	char *argv[12], ph[512];
	long long sz, alloc;
	double t0, t;
	int n = 0, st;

	argv[n++] = "/bin/cr";
	while (*args && n < 9)
		argv[n++] = *args++;
	argv[n++] = "-f";
	argv[n++] = (char *)img;
	argv[n] = NULL;
	t0 = now();
	st = run_timed(argv, DIR "/times");
	t = now() - t0;
	phases(DIR "/times", ph, sizeof(ph));
	sz = file_bytes(img, &alloc);
	printf("bench size=%d rep=%d what=%s secs=%.6f bytes=%lld alloc=%lld status=%d%s\n", INC_MIB, rep, what,
	       st ? -1 : t, sz, alloc, st, ph);
}

/*
 * Fork child(@mib) talking over @cmd/@res and wait for its first byte:
 * its pid, or -1 (reported) if it did not start.
 */
static pid_t start_child(int mib, int rep, int cmd[2], int res[2])
{
	pid_t pid;
	char c;

	mkdir(DIR, 0755);
	if (pipe(cmd) < 0 || pipe(res) < 0)
		exit(1);
	pid = fork();
	if (pid == 0) {
		close(cmd[1]);
		close(res[0]);
		child(mib, cmd[0], res[1]);
	}
	close(cmd[0]);
	close(res[1]);
	if (readall(res[0], &c, 1) < 0) {
		printf("bench size=%d rep=%d error=child\n", mib, rep);
		return -1;
	}
	return pid;
}

/* Incremental checkpoints of an INC_MIB process after 1%, 10%, 100% of its pages changed. */
static void incremental(int rep)
{
	static const char *const pct[] = { "1", "10", "100" };
	int cmd[2], res[2], st;
	char c, pidbuf[16], what[32];
	pid_t pid;

	pid = start_child(INC_MIB, rep, cmd, res);
	if (pid < 0)
		return;
	snprintf(pidbuf, sizeof(pidbuf), "%d", pid);
	for (int k = 0; k < 3; k++) {
		st = run((char *[]){ "/bin/cr", "-p", pidbuf, "--userspace", "-f", DIR "/par.kckpt", NULL });
		c = '1' + k;
		if (st || writeall(cmd[1], &c, 1) || readall(res[0], &c, 1)) {
			printf("bench size=%d rep=%d error=parent status=%d\n", INC_MIB, rep, st);
			break;
		}
		snprintf(what, sizeof(what), "ufull%s", pct[k]);
		timed_cr(what, rep, (char *[]){ "-p", pidbuf, "--userspace", NULL }, DIR "/full.kckpt");
		unlink(DIR "/full.kckpt");
		snprintf(what, sizeof(what), "inc%s", pct[k]);
		timed_cr(what, rep, (char *[]){ "-p", pidbuf, "--parent", DIR "/par.kckpt", NULL }, DIR "/inc.kckpt");
		unlink(DIR "/inc.kckpt");
		snprintf(what, sizeof(what), "kfull%s", pct[k]);
		timed_cr(what, rep, (char *[]){ "-p", pidbuf, NULL }, DIR "/full.kckpt");
		unlink(DIR "/full.kckpt");
		unlink(DIR "/par.kckpt");
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(cmd[1]);
	close(res[0]);
	fflush(stdout);
}

static void one(int mib, int rep, const char *self)
{
	int cmd[2], res[2], st;
	long long sz, alloc = 0;
	double t, t0;
	char c, cnt[16], pidbuf[16];
	pid_t pid;

	pid = start_child(mib, rep, cmd, res);
	if (pid < 0)
		return;

	c = 'c';
	writeall(cmd[1], &c, 1);
	readall(res[0], &t, sizeof(t));
	sz = file_bytes(DIR "/img.kckpt", &alloc);
	printf("bench size=%d rep=%d what=ckpt secs=%.6f bytes=%lld alloc=%lld\n", mib, rep, t, sz, alloc);
	t = time_to_run(DIR "/img.kckpt", (char *[]){ "img.kckpt", NULL });
	printf("bench size=%d rep=%d what=restart secs=%.6f\n", mib, rep, t);
	/* restart copies the image's data in: compare with reading it once */
	t0 = now();
	st = run((char *[]){ "/bin/busybox", "dd", "if=" DIR "/img.kckpt", "of=/dev/null", "bs=1M", NULL });
	t = now() - t0;
	printf("bench size=%d rep=%d what=dd_read secs=%.6f\n", mib, rep, st ? -1 : t);
	unlink(DIR "/img.kckpt");

	snprintf(pidbuf, sizeof(pidbuf), "%d", pid);
	t0 = now();
	st = run((char *[]){ "/bin/cr", "-p", pidbuf, "-f", DIR "/crp.kckpt", NULL });
	t = now() - t0;
	sz = file_bytes(DIR "/crp.kckpt", &alloc);
	printf("bench size=%d rep=%d what=cr_p secs=%.6f bytes=%lld alloc=%lld status=%d\n", mib, rep, st ? -1 : t, sz, alloc, st);
	unlink(DIR "/crp.kckpt");

	c = 'q';
	writeall(cmd[1], &c, 1);
	readall(res[0], &t0, sizeof(t0));
	waitpid(pid, &st, 0);
	t = now() - t0;
	sz = file_bytes(DIR "/core", &alloc);
	printf("bench size=%d rep=%d what=core secs=%.6f bytes=%lld alloc=%lld dumped=%d\n", mib, rep,
	       WIFSIGNALED(st) && WCOREDUMP(st) ? t : -1, sz, alloc, WIFSIGNALED(st) && WCOREDUMP(st));
	unlink(DIR "/core");
	close(cmd[1]);
	close(res[0]);

	snprintf(cnt, sizeof(cnt), "count=%d", mib);
	t0 = now();
	st = run((char *[]){ "/bin/busybox", "dd", "if=/dev/zero", "of=" DIR "/dd", "bs=1M", cnt, NULL });
	t = now() - t0;
	sz = file_bytes(DIR "/dd", &alloc);
	printf("bench size=%d rep=%d what=dd secs=%.6f bytes=%lld alloc=%lld\n", mib, rep, st ? -1 : t, sz, alloc);
	unlink(DIR "/dd");

	t = time_to_run(self, (char *[]){ "bench_cr", "stamp", NULL });
	printf("bench size=%d rep=%d what=exec secs=%.6f\n", mib, rep, t);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int sizes[16] = { 4, 64, 256 }, nsizes = 3, reps = 3, i, r, fd;

	if (argc > 1 && !strcmp(argv[1], "stamp")) {
		double t = now();

		return writeall(1, &t, sizeof(t)) ? 1 : 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1) {
		reps = atoi(argv[1]);
	} else {
		/* as a guest test it gets no arguments: kckpt.bench_reps=N */
		char buf[4096], *p;
		ssize_t n;

		fd = open("/proc/cmdline", O_RDONLY);
		n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = 0;
			p = strstr(buf, "kckpt.bench_reps=");
			if (p)
				reps = atoi(p + 17);
		}
		if (fd >= 0)
			close(fd);
	}
	if (argc > 2) {
		for (nsizes = 0; nsizes + 2 < argc && nsizes < 16; nsizes++)
			sizes[nsizes] = atoi(argv[nsizes + 2]);
	}
	fd = open("/proc/sys/kernel/core_pattern", O_WRONLY);
	if (fd < 0 || writeall(fd, DIR "/core", strlen(DIR "/core")) < 0) {
		printf("cannot set core_pattern: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	for (i = 0; i < nsizes; i++)
		for (r = 0; r < reps; r++)
			one(sizes[i], r, "/proc/self/exe");
	for (r = 0; r < reps; r++)
		incremental(r);
	printf("bench done\n");
	return 0;
}
