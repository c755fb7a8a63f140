// SPDX-License-Identifier: GPL-2.0
/* state: FPU/SSE, TLS, vDSO, signals, file offset, brk, mmap'd file,
 * umask, cwd - set up, checkpoint (via int $0x80 with live xmm/x87
 * values), and check everything after the restart. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "kckpt_syscall.h"

static __thread int tls_var = 7;
static volatile sig_atomic_t got_usr1;
static int fails;

static void on_usr1(int sig)
{
	got_usr1 = sig;
}

#define CHECK(cond, what) do { \
	if (cond) printf("# ok: %s\n", what); \
	else { printf("# FAIL: %s\n", what); fails++; } } while (0)

int main(void)
{
	static const float xin[4] = { 1.5f, -2.25f, 3.125f, 1e10f };
	static const double din = 2.718281828459045;
	float xout[4] = { 0 }, xout2[4] = { 0 };
	double dout = 0;
	struct sigaction sa;
	struct timespec ts;
	sigset_t set, old;
	char *heap, *map, c;
	int fd, mfd, ret, i;
	mode_t um;
	static struct {
		float xin[4];
		double din;
		float xout[4];
		float xout2[4];
		double dout;
	} __attribute__((packed)) io;

	setvbuf(stdout, NULL, _IONBF, 0);
	mkdir("/tmp/statedir", 0755);
	if (chdir("/tmp/statedir"))
		return 1;

	tls_var = 4242;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGRTMIN + 3);
	sigprocmask(SIG_BLOCK, &set, NULL);
	umask(027);

	fd = open("state.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
	write(fd, "0123456789", 10);
	lseek(fd, 4, SEEK_SET);

	mfd = open("map.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
	for (i = 0; i < 3 * 4096; i++)
		write(mfd, "m", 1);
	map = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE, mfd, 0);
	close(mfd);

	heap = sbrk(64 * 1024);
	for (i = 0; i < 64 * 1024; i++)
		heap[i] = (char)(i * 7);

	/* live FPU/SSE state across the syscall itself */
	io.din = din;
	memcpy(io.xin, xin, 16);
	asm volatile("movups 0(%2), %%xmm5\n\t"
		     "movups 0(%2), %%xmm6\n\t"
		     "fldl 16(%2)\n\t"
		     "int $0x80\n\t"
		     "movups %%xmm5, 24(%2)\n\t"
		     "movups %%xmm6, 40(%2)\n\t"
		     "fstpl 56(%2)\n\t"
		     : "=a"(ret)
		     : "0"(KCKPT_NR_CHECKPOINT), "r"(&io), "b"("state.kckpt")
		     : "memory", "xmm5", "xmm6", "st");
	memcpy(xout, io.xout, 16);
	memcpy(xout2, io.xout2, 16);
	dout = io.dout;
	if (ret == 0) {
		struct stat st;
		char line[128];
		FILE *f = fopen("/proc/self/status", "r");

		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "VmRSS", 5) || !strncmp(line, "VmSize", 6))
				printf("# %s", line);
		if (f)
			fclose(f);
		if (!stat("state.kckpt", &st))
			printf("# image: size %lld bytes, allocated %lld bytes\n",
			       (long long)st.st_size, (long long)st.st_blocks * 512);
		printf("# state: checkpoint written\n");
		return 0;
	}
	if (ret != 1) {
		printf("checkpoint returned %d\n", ret);
		return 1;
	}
	printf("# state: restarted\n");
	CHECK(!memcmp(xin, xout, 16) && !memcmp(xin, xout2, 16), "xmm5/xmm6");
	CHECK(dout == din, "x87 st(0)");
	CHECK(tls_var == 4242, "__thread variable");
	tls_var++;
	CHECK(tls_var == 4243, "__thread variable writable");
	CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0 && ts.tv_sec + ts.tv_nsec > 0,
	      "vDSO clock_gettime");
	raise(SIGUSR1);
	CHECK(got_usr1 == SIGUSR1, "signal handler");
	sigprocmask(SIG_BLOCK, NULL, &old);
	CHECK(sigismember(&old, SIGUSR2) && sigismember(&old, SIGRTMIN + 3) &&
	      !sigismember(&old, SIGUSR1), "blocked mask");
	CHECK(read(fd, &c, 1) == 1 && c == '4', "file offset");
	CHECK(lseek(fd, 0, SEEK_CUR) == 5, "file position");
	CHECK(map[0] == 'm' && map[3 * 4096 - 1] == 'm', "mmap'd file");
	for (i = 0; i < 64 * 1024; i++)
		if (heap[i] != (char)(i * 7))
			break;
	CHECK(i == 64 * 1024, "brk memory");
	heap = sbrk(128 * 1024);
	CHECK(heap != (void *)-1, "sbrk grows");
	if (heap != (void *)-1) {
		memset(heap, 1, 128 * 1024);
		CHECK(sbrk(-128 * 1024) != (void *)-1, "sbrk shrinks");
	}
	heap = malloc(1 << 20);
	CHECK(heap != NULL, "malloc");
	if (heap)
		memset(heap, 2, 1 << 20);
	um = umask(0);
	CHECK(um == 027, "umask");
	{
		char cwd[256];

		CHECK(getcwd(cwd, sizeof(cwd)) && !strcmp(cwd, "/tmp/statedir"), "cwd");
	}
	if (fails) {
		printf("%d failures\n", fails);
		return 1;
	}
	printf("all state restored\n");
	return 0;
}
