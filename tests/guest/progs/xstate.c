// SPDX-License-Identifier: GPL-2.0
/*
 * xstate: a process whose AVX state is live while it sleeps. Each round
 * loads the round's pattern into ymm0..ymm7 and waits in read(0) through
 * a raw int $0x80 (lib/xstate.h: no libc call between loading the
 * registers and storing them right after the call), so a checkpoint
 * catches the pattern in the registers themselves. Prints "ready"; on "c"
 * compares what it stored with the pattern and prints "check MASK" (bit
 * i: xmm i lost, bit 8 + i: the upper half of ymm i lost; 0 all there),
 * then starts the next round with the next pattern. EOF ends it. Without
 * AVX it says "# no AVX" and exits 77.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include "xstate.h"

static unsigned char want[XS_BYTES] __attribute__((aligned(32)));
static unsigned char got[XS_BYTES] __attribute__((aligned(32)));

int main(void)
{
	char c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!xs_have_avx()) {
		printf("# no AVX\n");
		return 77;
	}
	printf("ready\n");
	for (unsigned int round = 0;; round++) {
		long r;

		xs_pattern(round, want);
		memset(got, 0, sizeof(got));
		r = xs_syscall(want, got, SYS_read, 0, (long)&c, 1);
		if (r == -EINTR)
			continue;
		if (r != 1)
			return r == 0 ? 0 : 1;
		if (c == 'c')
			printf("check %d\n", xs_diff(want, got));
	}
}
