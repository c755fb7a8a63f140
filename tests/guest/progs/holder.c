// SPDX-License-Identifier: GPL-2.0
/*
 * holder: a process with state in every kckpt field, then blocked in
 * read(0) so that it holds still: a SIGUSR1 handler (SA_RESTART, a mask),
 * SIGUSR2 blocked, SIGPIPE ignored, umask 027, cwd /tmp/holder, a regular
 * file open at offset 5, a privately mapped file, a grown brk, live SSE
 * and x87 values, TLS. "-m MIB" also mallocs and touches MIB MiB. Prints
 * "ready" when set up; each byte read prints "tick N".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

static __thread int tls_var = 7;

static void on_usr1(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t set;
	volatile float f = 1.25f;
	long mib = 0, n;
	char *big = NULL, c;
	int fd, opt;

	while ((opt = getopt(argc, argv, "m:")) != -1)
		if (opt == 'm')
			mib = atol(optarg);
	setvbuf(stdout, NULL, _IOLBF, 0);
	mkdir("/tmp/holder", 0755);
	if (chdir("/tmp/holder"))
		return 1;
	tls_var = 4242;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	umask(027);
	fd = open("data.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "hello world\n", 12) != 12 || lseek(fd, 5, SEEK_SET) != 5)
		return 1;
	if (mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED)
		return 1;
	sbrk(3 * 4096 + 100);
	if (mib) {
		big = malloc(mib << 20);
		if (!big)
			return 1;
		for (n = 0; n < mib << 20; n += 4096)
			big[n] = (char)(n >> 12) | 1;
	}
	f = f * 3.0f;
	printf("ready %d %g\n", tls_var, (double)f);
	for (n = 1; read(0, &c, 1) == 1; n++) {
		if (c == 's') {
			/* one line with the state, for restart tests */
			struct sigaction cur;
			struct timespec ts;
			sigset_t blk;
			char cwd[64];
			mode_t um = umask(0);

			umask(um);
			sigaction(SIGUSR1, NULL, &cur);
			sigprocmask(SIG_BLOCK, NULL, &blk);
			clock_gettime(CLOCK_MONOTONIC, &ts);
			printf("state umask %03o cwd %s usr1 %s%s blocked-usr2 %d pos %ld tls %d f %g brk-ok %d clock %d\n",
			       (unsigned)um, getcwd(cwd, sizeof(cwd)) ? cwd : "?",
			       cur.sa_handler == on_usr1 ? "handler" : "other",
			       (cur.sa_flags & SA_RESTART) && sigismember(&cur.sa_mask, SIGTERM) ? "+restart+mask" : "",
			       sigismember(&blk, SIGUSR2), (long)lseek(fd, 0, SEEK_CUR), tls_var, (double)f,
			       sbrk(4096) != (void *)-1, ts.tv_sec > 0 || ts.tv_nsec > 0);
			continue;
		}
		printf("tick %ld%s\n", n, big && big[4096] != 1 ? " bad" : "");
	}
	return 0;
}
