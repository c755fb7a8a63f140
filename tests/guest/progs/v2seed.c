// SPDX-License-Identifier: GPL-2.0
/*
 * v2seed: a fuzz seed (cargo xtask fuzz-images) whose image holds the
 * records format version 2 added, so that their mutators have something
 * to mutate: a shared anonymous page, a pipe to itself with unread bytes,
 * a file unlinked while open, /dev/null and a directory open, a lowered
 * RLIMIT_NOFILE, a task name and an alternate signal stack. It writes
 * v2.kckpt in its cwd; restarted (even as nobody), it checks all of that
 * and exits 43, or 44 if something is missing.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "kckpt_syscall.h"

static char alt[16384];

int main(void)
{
	stack_t ss = { .ss_sp = alt, .ss_size = sizeof(alt) }, got;
	struct rlimit rl = { 100, 100 };
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
	_exit(43);
}
