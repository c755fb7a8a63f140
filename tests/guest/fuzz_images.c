// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_images: execute host-mutated kckpt images, each in a fresh process
 * running as nobody (uid/gid 65534), twice: once under ptrace and once
 * untraced, and classify what happened in each mode.
 *
 * Why both: a traced exec never gains privilege (LSM_UNSAFE_PTRACE: the
 * tracer is nobody's own TRACEME), so the traced run alone is blind to a
 * loader bug that hands out credentials; the untraced run sees it.
 *
 * Input: /fuzz/mutants.kfz, written by `cargo xtask fuzz-images` (or by
 * test-vm for its short run): the seed images once, then per mutant only
 * (seed, length, file mode, byte patches), so 10000 mutants of a 1 MiB
 * image fit.
 *
 *   "KFZ2" u32 nseeds u32 nmut u32 timeout_ms
 *   nseeds x { u32 len, u32 expect_exit, bytes padded to 4 }
 *   nmut   x { u32 seed, u32 len, u32 npatch, u32 mode,
 *              npatch x { u32 off, u32 len, bytes padded to 4 } }
 *
 * mode: the image file's permission bits (0: 0755). The file is always
 * root:root, so 04755/02755 make a setuid/setgid-root image file.
 *
 * Codes, one character per mutant, 64 per "fz START CODES" line (traced)
 * and "fzu START CODES" line (untraced):
 *   R exec failed with ENOEXEC (rejected cleanly)   E another errno
 *   X ran and exited          S ran and died by a signal (user crash)
 *   T ran past the per-image timeout and died by SIGKILL (user loop)
 *   H could not be reaped 5 s after SIGKILL (hang: a kernel bug)
 *   P ran with uid, gid, a group or capabilities of root (privilege)
 * Credentials are read where the image cannot fake them, the kernel's
 * /proc/PID/status: traced, at the exec's SIGTRAP, the exit ptrace stop
 * and the timeout; untraced, of the zombie (waitid WEXITED|WNOWAIT, before
 * it is reaped) and of the live process at the timeout. An untraced
 * status that cannot be read is counted ("fzu-blind") and fails the run.
 *
 * Before any mutant the detector checks itself (positive control): this
 * very binary, copied to /tmp/fz as a setuid-root and a setgid-root file
 * and run as nobody untraced, must be flagged P (once exiting, once
 * still running at the timeout), and as a plain file must not be.
 *
 * After each run a change of /proc/sys/kernel/tainted (an Oops or
 * WARNING) prints "fz-taint IDX VALUE t|u" ("fz-seeds-taint VALUE" if it
 * changed while the unmutated seeds ran). Exit status 0 unless the
 * self-check fails, H, P, taint, blind reads, or a seed that does not
 * restart as expected in either mode.
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
#define PROBE_EXIT "/tmp/fz/fz-probe-exit"
#define PROBE_LOOP "/tmp/fz/fz-probe-loop"
#define PROBE_STATUS 42

struct seed {
	uint32_t len, expect;
	const unsigned char *data;
};

static unsigned char *kfz;
static size_t kfz_len, pos;
static int timeout_ms = 2000;
/* untraced credential reads that failed: the detector was blind */
static unsigned long blind;

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

/*
 * 1 if /proc/PID/status shows a root uid/gid (real, effective, saved or
 * fs), group 0 among the supplementary groups, or any permitted or
 * effective capability; 0 if none; -1 if the status could not be read.
 */
static int privileged(pid_t pid)
{
	char path[64], buf[2048], *l, *save;
	int fd, n, bad = 0, seen = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	for (l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		unsigned a, b, c, d;
		unsigned long long cap;

		if ((!strncmp(l, "Uid:", 4) || !strncmp(l, "Gid:", 4)) &&
		    sscanf(l + 4, "%u %u %u %u", &a, &b, &c, &d) == 4) {
			seen++;
			if (!a || !b || !c || !d)
				bad = 1;
		}
		if ((!strncmp(l, "CapEff:", 7) || !strncmp(l, "CapPrm:", 7)) &&
		    sscanf(l + 7, "%llx", &cap) == 1) {
			seen++;
			if (cap)
				bad = 1;
		}
		if (!strncmp(l, "Groups:", 7)) {
			char *g = l + 7, *e;

			for (;;) {
				unsigned long v = strtoul(g, &e, 10);

				if (e == g)
					break;
				if (!v)
					bad = 1;
				g = e;
			}
		}
	}
	return seen == 4 ? bad : -1;
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

/* fork a child that becomes nobody and execs path; *p gets the errno pipe */
static pid_t spawn_nobody(const char *path, int traced, int *rd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR), err;

		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(p[0]);
		if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
			_exit(126);
		if (traced) {
			ptrace(PTRACE_TRACEME, 0, 0, 0);
			raise(SIGSTOP);
		}
		execl(path, path, (char *)NULL);
		err = errno;
		if (write(p[1], &err, sizeof(err)) < 0)
			_exit(125);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -1;
	}
	*rd = p[0];
	return pid;
}

static char classify(int priv, int err, int killed, int st)
{
	if (priv)
		return 'P';
	if (err)
		return err == ENOEXEC ? 'R' : 'E';
	if (killed)
		return 'T';
	if (WIFSIGNALED(st))
		return 'S';
	return 'X';
}

/* Exec path as nobody under ptrace; returns the code, *status the exit. */
static char run_traced(const char *path, int *status, int *err)
{
	int rd, st = 0, killed = 0, priv = 0, exec_trap = 0;
	pid_t pid;

	*err = 0;
	*status = 0;
	pid = spawn_nobody(path, 1, &rd);
	if (pid < 0)
		return 'E';
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
				close(rd);
				return 'H';
			}
			priv |= privileged(pid) > 0;
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
				priv |= privileged(pid) > 0;
				sig = 0;
			} else if (sig == SIGTRAP && !exec_trap) {
				/* the exec's own SIGTRAP: the image is running */
				exec_trap = 1;
				priv |= privileged(pid) > 0;
				sig = 0;
			} else if (sig == SIGSTOP) {
				sig = 0;
			}
			ptrace(PTRACE_CONT, pid, 0, sig);
		}
	}
	arm(0);
	if (read(rd, err, sizeof(*err)) != sizeof(*err))
		*err = 0;
	close(rd);
	*status = st;
	return classify(priv, *err, killed, st);
}

/*
 * Exec path as nobody, untraced: the exec gets whatever credentials the
 * kernel gives it. Read them from the live process at the timeout and
 * from the zombie (WNOWAIT keeps it unreaped), then reap.
 */
static char run_untraced(const char *path, int *status, int *err)
{
	int rd, st = 0, killed = 0, priv = 0, v;
	siginfo_t si;
	pid_t pid;

	*err = 0;
	*status = 0;
	pid = spawn_nobody(path, 0, &rd);
	if (pid < 0)
		return 'E';
	arm(timeout_ms);
	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, pid, &si, WEXITED | WNOWAIT) == 0)
			break;
		if (errno != EINTR) {
			blind++;
			break;
		}
		if (killed) {
			close(rd);
			return 'H';
		}
		/* the live process at the per-image timeout */
		v = privileged(pid);
		if (v < 0)
			blind++;
		priv |= v > 0;
		kill(pid, SIGKILL);
		killed = 1;
		arm(5000);
	}
	arm(0);
	/* the zombie: the credentials it ran and exited with */
	v = privileged(pid);
	if (v < 0)
		blind++;
	priv |= v > 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (read(rd, err, sizeof(*err)) != sizeof(*err))
		*err = 0;
	close(rd);
	*status = st;
	return classify(priv, *err, killed, st);
}

static char run_one(const char *path, int traced, int *status, int *err)
{
	return traced ? run_traced(path, status, err) : run_untraced(path, status, err);
}

/* A root:root file with these permission bits. */
static int set_mode(int fd, uint32_t mode)
{
	return fchown(fd, 0, 0) || fchmod(fd, mode ? mode & 07777 : 0755) ? -1 : 0;
}

/*
 * The detector's positive control: this binary as a setuid-root and a
 * setgid-root file, run as nobody untraced, must be flagged P both when
 * it exits (zombie) and when it is still running at the timeout (live);
 * as a plain file it must not be. Traced, the setuid file is reported
 * only: that a traced exec gains nothing is why the untraced run exists.
 */
static int self_check(void)
{
	static const struct {
		const char *path;
		uint32_t mode;
		int traced;
		char want;
	} probe[] = {
		{ PROBE_EXIT, 04755, 0, 'P' },
		{ PROBE_LOOP, 04755, 0, 'P' },
		{ PROBE_EXIT, 02755, 0, 'P' },
		{ PROBE_LOOP, 02755, 0, 'P' },
		{ PROBE_EXIT, 0755, 0, 'X' },
		{ PROBE_LOOP, 0755, 0, 'T' },
		{ PROBE_EXIT, 04755, 1, 0 },
	};
	static unsigned char buf[1 << 16];
	int in, out, ok = 1;
	unsigned i;
	ssize_t n;

	unlink(PROBE_EXIT);
	unlink(PROBE_LOOP);
	in = open("/proc/self/exe", O_RDONLY);
	out = open(PROBE_EXIT, O_WRONLY | O_CREAT | O_TRUNC, 0700);
	if (in < 0 || out < 0) {
		printf("FAIL: self-check: copying /proc/self/exe: %s\n", strerror(errno));
		return 0;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			n = -1;
	close(in);
	if (n < 0 || close(out) < 0 || link(PROBE_EXIT, PROBE_LOOP) < 0) {
		printf("FAIL: self-check: writing %s: %s\n", PROBE_EXIT, strerror(errno));
		return 0;
	}
	for (i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		int st, err, fd = open(PROBE_EXIT, O_RDONLY);
		char c;

		if (fd < 0 || set_mode(fd, probe[i].mode) < 0) {
			printf("FAIL: self-check: chmod %s: %s\n", PROBE_EXIT, strerror(errno));
			return 0;
		}
		close(fd);
		c = run_one(probe[i].path, probe[i].traced, &st, &err);
		printf("fz-probe %s %04o %s: %c exit %d, want %c\n", strrchr(probe[i].path, '/') + 1,
		       (unsigned)probe[i].mode, probe[i].traced ? "traced" : "untraced", c,
		       WIFEXITED(st) ? WEXITSTATUS(st) : -1, probe[i].want ? probe[i].want : '-');
		if (probe[i].want && c != probe[i].want)
			ok = 0;
		if (c == 'X' && WEXITSTATUS(st) != PROBE_STATUS)
			ok = 0;
	}
	unlink(PROBE_EXIT);
	unlink(PROBE_LOOP);
	if (!ok)
		printf("FAIL: self-check: the privilege detector does not see a setuid/setgid-root exec\n");
	return ok;
}

static int write_image(const struct seed *s, uint32_t len, uint32_t npatch, size_t ppos, uint32_t mode)
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
	fd = open(IMG, O_WRONLY | O_CREAT | O_TRUNC, 0700);
	if (fd < 0)
		return -1;
	if (write(fd, buf, len) != (ssize_t)len || set_mode(fd, mode) < 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* Counts of one mode, and its line of codes. */
struct tally {
	const char *tag;	/* "fz" traced, "fzu" untraced */
	int traced;
	unsigned long counts[128], oops;
	int errnos[256], sigs[65];
	char line[64];
	int n;
};

static void summary(const struct tally *t, uint32_t nmut, unsigned long suid)
{
	unsigned i;

	printf("%s-errno", t->tag);
	for (i = 0; i < 256; i++)
		if (t->errnos[i])
			printf(" %u:%d", i, t->errnos[i]);
	printf("\n%s-signal", t->tag);
	for (i = 0; i < 65; i++)
		if (t->sigs[i])
			printf(" %u:%d", i, t->sigs[i]);
	printf("\n%s-end R %lu E %lu X %lu S %lu T %lu H %lu P %lu\n", t->tag, t->counts['R'],
	       t->counts['E'], t->counts['X'], t->counts['S'], t->counts['T'], t->counts['H'],
	       t->counts['P']);
	printf("summary: fuzz %-8s %u mutants (%lu setuid/setgid-root files): rejected %lu, "
	       "other errno %lu, ran %lu, crash %lu, loop %lu, oops %lu, hang %lu, privilege %lu\n",
	       t->traced ? "traced" : "untraced", nmut, suid, t->counts['R'], t->counts['E'],
	       t->counts['X'], t->counts['S'], t->counts['T'], t->oops, t->counts['H'],
	       t->counts['P']);
}

int main(int argc, char **argv)
{
	const char *file = argc > 1 ? argv[1] : "/fuzz/mutants.kfz";
	const char *self = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	struct sigaction sa = { .sa_handler = on_alarm };
	static struct tally tally[2] = { { .tag = "fz", .traced = 1 }, { .tag = "fzu", .traced = 0 } };
	struct seed *seeds;
	uint32_t nseeds, nmut, i;
	unsigned long suid = 0;
	int fd, bad = 0;
	long taint;
	struct stat sb;

	/* the self-check's probe: this binary under another name */
	if (!strcmp(self, "fz-probe-exit"))
		return PROBE_STATUS;
	if (!strcmp(self, "fz-probe-loop"))
		for (;;)
			pause();

	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGALRM, &sa, NULL);
	fd = open(file, O_RDONLY);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		printf("FAIL: %s: %s\n", file, strerror(errno));
		return 1;
	}
	kfz_len = sb.st_size;
	kfz = malloc(kfz_len);
	if (!kfz || read(fd, kfz, kfz_len) != (ssize_t)kfz_len || memcmp(kfz, "KFZ2", 4)) {
		printf("FAIL: %s is not a KFZ2 file\n", file);
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
	if (!self_check())
		return 1;
	printf("fz-probe ok\n");

	/* every seed, unmutated, must restart as nobody and exit as expected */
	for (i = 0; i < nseeds; i++) {
		int st, err, m;
		char c;

		if (write_image(&seeds[i], seeds[i].len, 0, pos, 0) < 0) {
			printf("FAIL: writing seed %u: %s\n", i, strerror(errno));
			return 1;
		}
		for (m = 0; m < 2; m++) {
			c = run_one(IMG, tally[m].traced, &st, &err);
			printf("%s-seed %u %c exit %d errno %d\n", tally[m].tag, i, c,
			       WIFEXITED(st) ? WEXITSTATUS(st) : -1, err);
			if (c != 'X' || (WEXITSTATUS(st) != seeds[i].expect && seeds[i].expect != 0xffffffffu))
				bad = 1;
		}
	}
	/* a WARNING while the seeds ran is no mutant's doing */
	if (tainted() != taint) {
		taint = tainted();
		printf("fz-seeds-taint %ld\n", taint);
		bad = 1;
	}

	for (i = 0; i < nmut; i++) {
		uint32_t s = get32(), len = get32(), np = get32(), mode = get32(), k;
		size_t ppos = pos;
		int m;

		for (k = 0; k < np; k++) {
			get32();
			getbytes(get32());
		}
		if (pos > kfz_len || s >= nseeds) {
			printf("FAIL: mutant %u malformed\n", i);
			return 1;
		}
		if (write_image(&seeds[s], len, np, ppos, mode) < 0) {
			printf("FAIL: writing mutant %u: %s\n", i, strerror(errno));
			return 1;
		}
		if (mode & 06000)
			suid++;
		for (m = 0; m < 2; m++) {
			struct tally *t = &tally[m];
			int st, err;
			long tt;
			char c;

			c = run_one(IMG, t->traced, &st, &err);
			t->counts[(int)c]++;
			if (c == 'E')
				t->errnos[err & 255]++;
			if (c == 'S')
				t->sigs[WTERMSIG(st) & 63]++;
			if (c == 'H' || c == 'P') {
				printf("%s-bad %u %c\n", t->tag, i, c);
				bad = 1;
			}
			tt = tainted();
			if (tt != taint) {
				printf("fz-taint %u %ld %c\n", i, tt, t->traced ? 't' : 'u');
				taint = tt;
				t->oops++;
				bad = 1;
			}
			t->line[t->n++] = c;
			if (t->n == 64 || i + 1 == nmut) {
				printf("%s %u %.*s\n", t->tag, i + 1 - t->n, t->n, t->line);
				t->n = 0;
			}
		}
	}
	summary(&tally[0], nmut, suid);
	summary(&tally[1], nmut, suid);
	printf("fzu-blind %lu\n", blind);
	if (blind) {
		printf("FAIL: %lu untraced credential reads failed: the privilege check was blind\n", blind);
		bad = 1;
	}
	return bad;
}
