// SPDX-License-Identifier: GPL-2.0
/*
 * sigpend: a process with signals pending, blocked, in both queues:
 *   SIGUSR1       kill() to itself                 process  SI_USER
 *   SIGUSR2       tgkill() to itself               thread   SI_TKILL
 *   SIGRTMIN+1 x3 sigqueue() values 101, 102, 103   process  SI_QUEUE
 *   SIGRTMIN+2    rt_tgsigqueueinfo() value 201     thread   SI_QUEUE
 *   SIGRTMIN+2    sigqueue() value 202             process  SI_QUEUE
 * all sent by itself (si_pid its pid then, kept in memory as "sender").
 * SIGUSR2 has an SA_SIGINFO handler. Prints "ready", then answers:
 *   "c" (look, consume nothing): sigpending() is exactly those four
 *       signals, /proc/self/status SigPnd (the thread's) and ShdPnd (the
 *       process's) exactly theirs; "check MASK" (bits 1, 2, 4).
 *   "v" (consume and verify): "c"'s checks, then sigtimedwait() takes
 *       SIGUSR1 (8), the three SIGRTMIN+1 in order (16), the two
 *       SIGRTMIN+2, thread's first (32), each with its si_code, si_value,
 *       si_pid and si_uid; unblocking SIGUSR2 runs its handler with
 *       SI_TKILL from the sender (64); nothing is left pending (128).
 *       Then it makes the same signals pending again (sent by itself as it
 *       is now) and prints "check MASK".
 * EOF ends it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static int rta, rtb;
static pid_t sender;
static uid_t uid;
static volatile sig_atomic_t usr2_runs;
static siginfo_t usr2_info;

static void on_usr2(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	usr2_info = *si;
	usr2_runs++;
}

static unsigned long long bit(int sig)
{
	return 1ULL << (sig - 1);
}

static int make_pending(void)
{
	pid_t pid = getpid(), tid = (pid_t)syscall(SYS_gettid);
	siginfo_t si;
	int err = 0;

	sender = pid;
	err |= kill(pid, SIGUSR1);
	err |= (int)syscall(SYS_tgkill, pid, tid, SIGUSR2);
	for (int i = 0; i < 3; i++)
		err |= sigqueue(pid, rta, (union sigval){ .sival_int = 101 + i });
	memset(&si, 0, sizeof(si));
	si.si_signo = rtb;
	si.si_code = SI_QUEUE;
	si.si_pid = pid;
	si.si_uid = uid;
	si.si_value.sival_int = 201;
	err |= (int)syscall(SYS_rt_tgsigqueueinfo, pid, tid, rtb, &si);
	err |= sigqueue(pid, rtb, (union sigval){ .sival_int = 202 });
	return err;
}

/* SigPnd or ShdPnd of /proc/self/status; ~0 if not there */
static unsigned long long status_mask(const char *key)
{
	char line[256];
	unsigned long long m = ~0ULL;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			m = strtoull(line + strlen(key), NULL, 16);
	if (f)
		fclose(f);
	return m;
}

static int look(void)
{
	unsigned long long want_thr = bit(SIGUSR2) | bit(rtb);
	unsigned long long want_shd = bit(SIGUSR1) | bit(rta) | bit(rtb);
	unsigned long long all = want_thr | want_shd, have = 0, m;
	sigset_t set;
	int bad = 0;

	sigpending(&set);
	for (int s = 1; s < 65; s++)
		if (sigismember(&set, s) == 1)
			have |= bit(s);
	if (have != all) {
		printf("# sigpending %#llx, want %#llx\n", have, all);
		bad |= 1;
	}
	m = status_mask("SigPnd:");
	if (m != want_thr) {
		printf("# SigPnd (thread) %#llx, want %#llx\n", m, want_thr);
		bad |= 2;
	}
	m = status_mask("ShdPnd:");
	if (m != want_shd) {
		printf("# ShdPnd (process) %#llx, want %#llx\n", m, want_shd);
		bad |= 4;
	}
	return bad;
}

/* Take one @sig (or none: @code -2) and check its siginfo; 1 if wrong */
static int take(int sig, int code, int value)
{
	struct timespec zero = { 0, 0 };
	siginfo_t si;
	sigset_t set;
	int r;

	sigemptyset(&set);
	sigaddset(&set, sig);
	memset(&si, 0, sizeof(si));
	r = sigtimedwait(&set, &si, &zero);
	if (code == -2) {
		if (r < 0 && errno == EAGAIN)
			return 0;
		printf("# signal %d once more (si_value %d)\n", sig, si.si_value.sival_int);
		return 1;
	}
	if (r != sig) {
		printf("# signal %d not pending (%d: %s)\n", sig, r, r < 0 ? strerror(errno) : "?");
		return 1;
	}
	if (si.si_signo != sig || si.si_code != code || si.si_pid != sender || si.si_uid != uid ||
	    (code == SI_QUEUE && si.si_value.sival_int != value)) {
		printf("# signal %d: signo %d code %d pid %d uid %d value %d, want code %d pid %d uid %d value %d\n",
		       sig, si.si_signo, si.si_code, (int)si.si_pid, (int)si.si_uid, si.si_value.sival_int, code,
		       (int)sender, (int)uid, code == SI_QUEUE ? value : si.si_value.sival_int);
		return 1;
	}
	return 0;
}

static int verify(void)
{
	int bad = look();
	sigset_t u2;

	if (take(SIGUSR1, SI_USER, 0) | take(SIGUSR1, -2, 0))
		bad |= 8;
	for (int i = 0; i < 3; i++)
		if (take(rta, SI_QUEUE, 101 + i))
			bad |= 16;
	if (take(rta, -2, 0))
		bad |= 16;
	if (take(rtb, SI_QUEUE, 201) | take(rtb, SI_QUEUE, 202) | take(rtb, -2, 0))
		bad |= 32;
	usr2_runs = 0;
	sigemptyset(&u2);
	sigaddset(&u2, SIGUSR2);
	sigprocmask(SIG_UNBLOCK, &u2, NULL);	/* the handler runs on the way out */
	sigprocmask(SIG_BLOCK, &u2, NULL);
	if (usr2_runs != 1 || usr2_info.si_signo != SIGUSR2 || usr2_info.si_code != SI_TKILL ||
	    usr2_info.si_pid != sender || usr2_info.si_uid != uid) {
		printf("# SIGUSR2 handler ran %d times: signo %d code %d pid %d uid %d, want code %d pid %d\n",
		       (int)usr2_runs, usr2_info.si_signo, usr2_info.si_code, (int)usr2_info.si_pid,
		       (int)usr2_info.si_uid, SI_TKILL, (int)sender);
		bad |= 64;
	}
	if (status_mask("SigPnd:") | status_mask("ShdPnd:")) {
		printf("# left pending: SigPnd %#llx ShdPnd %#llx\n", status_mask("SigPnd:"), status_mask("ShdPnd:"));
		bad |= 128;
	}
	if (make_pending())
		bad |= 256;
	return bad;
}

int main(void)
{
	struct sigaction sa;
	sigset_t set;
	char c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rta = SIGRTMIN + 1;
	rtb = SIGRTMIN + 2;
	uid = getuid();
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr2;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, rta);
	sigaddset(&set, rtb);
	if (sigaction(SIGUSR2, &sa, NULL) || sigprocmask(SIG_BLOCK, &set, NULL) || make_pending())
		return 1;
	printf("ready\n");
	while (read(0, &c, 1) == 1) {
		if (c == 'c')
			printf("check %d\n", look());
		else if (c == 'v')
			printf("check %d\n", verify());
	}
	return 0;
}
