// SPDX-License-Identifier: GPL-2.0
/*
 * counter: the "sleep" program of the checkpoint tests. Prints "count N"
 * every 100 ms (or, with -b, after reading one byte from stdin, so that it
 * sits blocked in read()). With -c EVERY it checkpoints itself whenever N
 * is a multiple of EVERY, into ckpt<N>.kckpt, and says what the call
 * returned: "checkpoint N ret 0" in the original, "resumed N" in a restart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "kckpt_syscall.h"

int main(int argc, char **argv)
{
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	int opt, every = 0, block = 0, max = 0;
	long n;

	while ((opt = getopt(argc, argv, "bc:n:")) != -1) {
		switch (opt) {
		case 'b':
			block = 1;
			break;
		case 'c':
			every = atoi(optarg);
			break;
		case 'n':
			max = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: counter [-b] [-c EVERY] [-n MAX]\n");
			return 2;
		}
	}
#ifndef KCKPT_NR_CHECKPOINT
	if (every) {
		fprintf(stderr, "counter: this kernel has no checkpoint syscall\n");
		return 2;
	}
#endif
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (n = 1; !max || n <= max; n++) {
		if (block) {
			char c;

			if (read(0, &c, 1) != 1)
				return 0;
		} else {
			nanosleep(&tick, NULL);
		}
		printf("count %ld\n", n);
#ifdef KCKPT_NR_CHECKPOINT
		if (every && n % every == 0) {
			char path[64];
			long ret;

			snprintf(path, sizeof(path), "ckpt%ld.kckpt", n);
			ret = syscall(KCKPT_NR_CHECKPOINT, path);
			if (ret == 1)
				printf("resumed %ld\n", n);
			else if (ret == 0)
				printf("checkpoint %ld ret 0\n", n);
			else
				printf("checkpoint %ld failed: %s\n", n, strerror(errno));
		}
#endif
	}
	return 0;
}
