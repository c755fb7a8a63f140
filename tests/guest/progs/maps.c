// SPDX-License-Identifier: GPL-2.0
/*
 * maps N: a process with at least N VMAs. One anonymous region of N
 * pages whose odd pages are made read-only, so no two neighbours merge;
 * every 16th even page is written with its index, the rest left
 * untouched (holes in an image). Prints "ready VMAS" with the count from
 * /proc/self/maps; on each "c" on stdin checks the contents, the
 * protections (mincore is not needed: a read-only page must fault on
 * write, checked in a child) and the count, and prints "check MASK";
 * EOF ends it.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

static long n;
static char *region;

static int count_vmas(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int c, lines = 0;

	if (!f)
		return -1;
	while ((c = getc(f)) != EOF)
		lines += c == '\n';
	fclose(f);
	return lines;
}

static int check(void)
{
	int bad = 0, st;
	pid_t c;

	for (long i = 0; i < n; i += 2) {
		unsigned int v;

		memcpy(&v, region + i * 4096, sizeof(v));
		if (v != (i % 32 ? 0 : (unsigned int)i | 0x80000000u))
			bad |= 1;
	}
	c = fork();
	if (!c) {
		region[4096] = 1;	/* read-only: must die of SIGSEGV */
		_exit(0);
	}
	waitpid(c, &st, 0);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSEGV)
		bad |= 2;
	if (count_vmas() < n)
		bad |= 4;
	return bad;
}

int main(int argc, char **argv)
{
	char c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	n = argc > 1 ? atol(argv[1]) : 1000;
	region = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED)
		return 1;
	for (long i = 0; i < n; i += 2) {
		if (i % 32 == 0) {
			unsigned int v = (unsigned int)i | 0x80000000u;

			memcpy(region + i * 4096, &v, sizeof(v));
		}
		if (i + 1 < n && mprotect(region + (i + 1) * 4096, 4096, PROT_READ))
			return 1;
	}
	printf("ready %d\n", count_vmas());
	while (read(0, &c, 1) == 1)
		if (c == 'c')
			printf("check %d\n", check());
	return 0;
}
