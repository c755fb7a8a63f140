// SPDX-License-Identifier: GPL-2.0
/*
 * Guest time works: nanosleep sleeps (not ENOSYS) and CLOCK_MONOTONIC moves
 * by about as much. The counter and cr tests depend on both.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static long ms_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

int main(void)
{
	struct timespec a, req = { 0, 200 * 1000 * 1000 };
	long dt;

	clock_gettime(CLOCK_MONOTONIC, &a);
	if (nanosleep(&req, NULL)) {
		printf("nanosleep: %s\n", strerror(errno));
		return 1;
	}
	dt = ms_since(&a);
	printf("nanosleep(200 ms) took %ld ms\n", dt);
	return dt >= 190 && dt < 5000 ? 0 : 1;
}
