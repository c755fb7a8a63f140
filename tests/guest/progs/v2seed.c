// SPDX-License-Identifier: GPL-2.0
/*
 * v2seed: a fuzz seed (cargo xtask fuzz-images) whose image holds the
 * records format version 2 added, so that their mutators have something
 * to mutate: a shared anonymous page, a pipe to itself with unread bytes,
 * a file unlinked while open, /dev/null and a directory open, a lowered
 * RLIMIT_NOFILE, a task name and an alternate signal stack; and the
 * optional notes and kinds after them: an eventfd (counter 7), a blocked
 * SIGUSR1 and a queued real-time signal pending (NT_KCKPT_SIGPENDING), an
 * armed ITIMER_VIRTUAL (NT_KCKPT_ITIMERS) and, on an XSAVE CPU, the
 * XSAVE state. It writes v2.kckpt in its cwd; restarted (even as
 * nobody), it checks all of that and exits 43, or 44 if something is
 * missing.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "kckpt_syscall.h"

static char alt[16384];

int main(void)
{
	stack_t ss = { .ss_sp = alt, .ss_size = sizeof(alt) }, got;
	struct rlimit rl = { 100, 100 };
	struct itimerval it = { { 100, 0 }, { 1000, 0 } };
	union sigval sv = { .sival_int = 7 };
	sigset_t set, pend;
	uint64_t cnt = 0;
	int ev;
	char *shm, buf[16] = "", name[16] = "";
	int p[2], uf, nul, dir;
	long r;

	shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED || pipe(p) || write(p[1], "pipe", 4) != 4)
		return 1;
	strcpy(shm, "shm");
	uf = open("v2seed.tmp", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (uf < 0 || write(uf, "unlinked", 8) != 8 || unlink("v2seed.tmp"))
		return 1;
	nul = open("/dev/null", O_RDONLY);
	dir = open(".", O_RDONLY | O_DIRECTORY);
	if (nul < 0 || dir < 0 || setrlimit(RLIMIT_NOFILE, &rl) ||
	    prctl(PR_SET_NAME, "v2seed") || sigaltstack(&ss, NULL))
		return 1;
	ev = eventfd(7, EFD_NONBLOCK);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGRTMIN + 1);
	if (ev < 0 || sigprocmask(SIG_BLOCK, &set, NULL) || raise(SIGUSR1) ||
	    sigqueue(getpid(), SIGRTMIN + 1, sv) || setitimer(ITIMER_VIRTUAL, &it, NULL))
		return 1;
	r = syscall(KCKPT_NR_CHECKPOINT, "v2.kckpt");
	if (r == 0) {
		printf("v2seed: checkpointed\n");
		return 0;
	}
	if (r != 1)
		return 1;
	prctl(PR_GET_NAME, name);
	if (strcmp(shm, "shm") || read(p[0], buf, 4) != 4 || memcmp(buf, "pipe", 4) ||
	    pread(uf, buf, 8, 0) != 8 || memcmp(buf, "unlinked", 8) || fcntl(nul, F_GETFD) < 0 ||
	    fcntl(dir, F_GETFD) < 0 || getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur != 100 ||
	    strcmp(name, "v2seed") || sigaltstack(NULL, &got) || got.ss_sp != alt)
		_exit(44);
	if (read(ev, &cnt, 8) != 8 || cnt != 7 || sigpending(&pend) || !sigismember(&pend, SIGUSR1) ||
	    !sigismember(&pend, SIGRTMIN + 1) || getitimer(ITIMER_VIRTUAL, &it) || it.it_interval.tv_sec != 100 ||
	    !it.it_value.tv_sec)
		_exit(44);
	_exit(43);
}
