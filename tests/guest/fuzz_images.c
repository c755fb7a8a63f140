// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_images: execute host-mutated kckpt images, each in a fresh process
 * running as nobody (uid/gid 65534), and classify what happened.
 *
 * Input: /fuzz/mutants.kfz, written by `cargo xtask fuzz-images` (or by
 * test-vm for its short run): the seed images once, then per mutant only
 * (seed, length, byte patches), so 10000 mutants of a 1 MiB image fit.
 *
 *   "KFZ1" u32 nseeds u32 nmut u32 timeout_ms
 *   nseeds x { u32 len, u32 expect_exit, bytes padded to 4 }
 *   nmut   x { u32 seed, u32 len, u32 npatch,
 *              npatch x { u32 off, u32 len, bytes padded to 4 } }
 *
 * Codes, one character per mutant, 64 per "fz START CODES" line:
 *   R exec failed with ENOEXEC (rejected cleanly)   E another errno
 *   X ran and exited          S ran and died by a signal (user crash)
 *   T ran past the per-image timeout and died by SIGKILL (user loop)
 *   H could not be reaped 5 s after SIGKILL (hang: a kernel bug)
 *   P ran with uid, gid or capabilities of root (privilege: a kernel bug)
 * The uid check is made by the kernel's view (/proc/PID/status) at the
 * exec's SIGTRAP, the exit ptrace stop and the timeout, which the image cannot fake. After each
 * image a change of /proc/sys/kernel/tainted (an Oops or WARNING) prints
 * "fz-taint IDX VALUE". Exit status 0 unless H, P, taint or a seed that
 * does not restart as expected.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534
#define IMG "/tmp/fz/img.kckpt"

struct seed {
	uint32_t len, expect;
	const unsigned char *data;
};

static unsigned char *kfz;
static size_t kfz_len, pos;
static int timeout_ms = 2000;

static uint32_t get32(void)
{
	uint32_t v = 0;

	if (pos + 4 <= kfz_len)
		memcpy(&v, kfz + pos, 4);
	pos += 4;
	return v;
}

static const unsigned char *getbytes(uint32_t n)
{
	const unsigned char *p = kfz + pos;

	pos += (n + 3) & ~3u;
	return pos <= kfz_len ? p : NULL;
}

static void on_alarm(int s)
{
	(void)s;
}

static void arm(int ms)
{
	struct itimerval it = { { 0, 0 }, { ms / 1000, (ms % 1000) * 1000 } };

	setitimer(ITIMER_REAL, &it, NULL);
}

/* 1 if /proc/PID/status shows a root uid/gid or any effective capability */
static int privileged(pid_t pid)
{
	char path[64], buf[2048], *l;
	int fd, n, bad = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	for (l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
		unsigned a, b, c, d;
		unsigned long long cap;

		if ((!strncmp(l, "Uid:", 4) || !strncmp(l, "Gid:", 4)) &&
		    sscanf(l + 4, "%u %u %u %u", &a, &b, &c, &d) == 4 &&
		    (!a || !b || !c || !d))
			bad = 1;
		if ((!strncmp(l, "CapEff:", 7) || !strncmp(l, "CapPrm:", 7)) &&
		    sscanf(l + 7, "%llx", &cap) == 1 && cap)
			bad = 1;
	}
	return bad;
}

static long tainted(void)
{
	char buf[32] = "";
	int fd = open("/proc/sys/kernel/tainted", O_RDONLY);

	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) < 0)
			buf[0] = 0;
		close(fd);
	}
	return atol(buf);
}

/* Exec IMG as nobody under ptrace; returns the code, *status the exit. */
static char run_one(int *status, int *err)
{
	int p[2], st, killed = 0, priv = 0, exec_trap = 0;
	pid_t pid;

	*err = 0;
	*status = 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return 'E';
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(p[0]);
		if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
			_exit(126);
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		execl(IMG, IMG, (char *)NULL);
		*err = errno;
		if (write(p[1], err, sizeof(*err)) < 0)
			_exit(125);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return 'E';
	}
	/*
	 * The SIGSTOP before exec. No PTRACE_O_TRACEEXEC: its stop runs
	 * pending task work inside execve, before execve stores its return
	 * value, and binfmt_cr restores eax from task work (the restarted
	 * process would see checkpoint() return 0). The legacy SIGTRAP after
	 * exec is delivered after that, from get_signal().
	 */
	if (waitpid(pid, &st, 0) == pid && WIFSTOPPED(st))
		ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL);
	ptrace(PTRACE_CONT, pid, 0, 0);
	arm(timeout_ms);
	for (;;) {
		pid_t r = waitpid(pid, &st, __WALL);

		if (r < 0 && errno == EINTR) {
			if (killed) {
				/* not reaped 5 s after SIGKILL */
				close(p[0]);
				return 'H';
			}
			priv |= privileged(pid);
			kill(pid, SIGKILL);
			killed = 1;
			arm(5000);
			continue;
		}
		if (r < 0)
			break;
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		if (WIFSTOPPED(st)) {
			int ev = st >> 16, sig = WSTOPSIG(st);

			if (ev == PTRACE_EVENT_EXIT) {
				priv |= privileged(pid);
				sig = 0;
			} else if (sig == SIGTRAP && !exec_trap) {
				/* the exec's own SIGTRAP: the image is running */
				exec_trap = 1;
				priv |= privileged(pid);
				sig = 0;
			} else if (sig == SIGSTOP) {
				sig = 0;
			}
			ptrace(PTRACE_CONT, pid, 0, sig);
		}
	}
	arm(0);
	if (read(p[0], err, sizeof(*err)) != sizeof(*err))
		*err = 0;
	close(p[0]);
	*status = st;
	if (priv)
		return 'P';
	if (*err)
		return *err == ENOEXEC ? 'R' : 'E';
	if (killed)
		return 'T';
	if (WIFSIGNALED(st))
		return 'S';
	return 'X';
}

static int write_image(const struct seed *s, uint32_t len, uint32_t npatch, size_t ppos)
{
	static unsigned char *buf;
	static size_t cap;
	size_t save = pos;
	uint32_t i;
	int fd;

	if (len > (64u << 20))
		len = 64u << 20;
	if (len > cap) {
		free(buf);
		cap = len;
		buf = malloc(cap);
		if (!buf)
			return -1;
	}
	memcpy(buf, s->data, len < s->len ? len : s->len);
	if (len > s->len)
		memset(buf + s->len, 0, len - s->len);
	pos = ppos;
	for (i = 0; i < npatch; i++) {
		uint32_t off = get32(), n = get32();
		const unsigned char *b = getbytes(n);

		if (b && off < len)
			memcpy(buf + off, b, n < len - off ? n : len - off);
	}
	pos = save;
	unlink(IMG);
	fd = open(IMG, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (fd < 0)
		return -1;
	if (write(fd, buf, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *file = argc > 1 ? argv[1] : "/fuzz/mutants.kfz";
	struct sigaction sa = { .sa_handler = on_alarm };
	unsigned long counts[128] = { 0 };
	int errnos[256] = { 0 }, sigs[65] = { 0 };
	struct seed *seeds;
	uint32_t nseeds, nmut, i;
	char line[80];
	int fd, n = 0, bad = 0;
	long taint;
	struct stat sb;

	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGALRM, &sa, NULL);
	fd = open(file, O_RDONLY);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		printf("FAIL: %s: %s\n", file, strerror(errno));
		return 1;
	}
	kfz_len = sb.st_size;
	kfz = malloc(kfz_len);
	if (!kfz || read(fd, kfz, kfz_len) != (ssize_t)kfz_len || memcmp(kfz, "KFZ1", 4)) {
		printf("FAIL: %s is not a KFZ1 file\n", file);
		return 1;
	}
	close(fd);
	pos = 4;
	nseeds = get32();
	nmut = get32();
	timeout_ms = get32();
	seeds = calloc(nseeds, sizeof(*seeds));
	for (i = 0; i < nseeds; i++) {
		seeds[i].len = get32();
		seeds[i].expect = get32();
		seeds[i].data = getbytes(seeds[i].len);
		if (!seeds[i].data) {
			printf("FAIL: seed %u truncated\n", i);
			return 1;
		}
	}
	mkdir("/tmp/fz", 0755);
	chmod("/tmp/fz", 0755);
	taint = tainted();
	printf("fz-begin seeds %u mutants %u timeout_ms %d tainted %ld\n", nseeds, nmut, timeout_ms, taint);

	/* every seed, unmutated, must restart as nobody and exit as expected */
	for (i = 0; i < nseeds; i++) {
		int st, err;
		char c;

		if (write_image(&seeds[i], seeds[i].len, 0, pos) < 0) {
			printf("FAIL: writing seed %u: %s\n", i, strerror(errno));
			return 1;
		}
		c = run_one(&st, &err);
		printf("fz-seed %u %c exit %d errno %d\n", i, c,
		       WIFEXITED(st) ? WEXITSTATUS(st) : -1, err);
		if (c != 'X' || (WEXITSTATUS(st) != seeds[i].expect && seeds[i].expect != 0xffffffffu))
			bad = 1;
	}

	for (i = 0; i < nmut; i++) {
		uint32_t s = get32(), len = get32(), np = get32(), k;
		size_t ppos = pos;
		int st, err;
		long t;
		char c;

		for (k = 0; k < np; k++) {
			get32();
			getbytes(get32());
		}
		if (pos > kfz_len || s >= nseeds) {
			printf("FAIL: mutant %u malformed\n", i);
			return 1;
		}
		if (write_image(&seeds[s], len, np, ppos) < 0) {
			printf("FAIL: writing mutant %u: %s\n", i, strerror(errno));
			return 1;
		}
		c = run_one(&st, &err);
		counts[(int)c]++;
		if (c == 'E')
			errnos[err & 255]++;
		if (c == 'S')
			sigs[WTERMSIG(st) & 63]++;
		if (c == 'H' || c == 'P') {
			printf("fz-bad %u %c\n", i, c);
			bad = 1;
		}
		t = tainted();
		if (t != taint) {
			printf("fz-taint %u %ld\n", i, t);
			taint = t;
			bad = 1;
		}
		line[n++] = c;
		if (n == 64 || i + 1 == nmut) {
			printf("fz %u %.*s\n", i + 1 - n, n, line);
			n = 0;
		}
	}
	printf("fz-errno");
	for (i = 0; i < 256; i++)
		if (errnos[i])
			printf(" %u:%d", i, errnos[i]);
	printf("\nfz-signal");
	for (i = 0; i < 65; i++)
		if (sigs[i])
			printf(" %u:%d", i, sigs[i]);
	printf("\nfz-end R %lu E %lu X %lu S %lu T %lu H %lu P %lu\n", counts['R'], counts['E'],
	       counts['X'], counts['S'], counts['T'], counts['H'], counts['P']);
	return bad;
}
