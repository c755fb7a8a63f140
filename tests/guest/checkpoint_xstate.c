// SPDX-License-Identifier: GPL-2.0
/*
 * checkpoint_xstate: the whole XSAVE state through checkpoint() itself.
 * A child loads patterns into ymm0..ymm7 and calls checkpoint() through a
 * raw int $0x80 (no libc in between to clobber them): the original gets
 * 0, the executed image 1, and both find all 256 bits of every register
 * as they were right after the call. The image has one NT_386_XSTATE
 * note (extras bit 1) with the pattern. Skipped on a CPU without AVX.
 */
#include "guest.h"
#include "image.h"
#include "xstate.h"

#define IMG "/tmp/checkpoint_xstate.kckpt"
#define ROUND 5

static unsigned char want[XS_BYTES] __attribute__((aligned(32)));
static unsigned char got[XS_BYTES] __attribute__((aligned(32)));

int main(void)
{
	int st, r;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);	/* the child's lines before its _exit */
	if (!xs_have_avx()) {
		printf("# no AVX (CPUID/XCR0): nothing to test\n");
		return 77;
	}
	unlink(IMG);
	pid = fork();
	if (!pid) {
		long ret;
		int bad;

		xs_pattern(ROUND, want);
		ret = xs_syscall(want, got, KCKPT_NR_CHECKPOINT, (long)IMG, 0, 0);
		bad = xs_diff(want, got);
		if (ret == 0)
			_exit(bad ? 1 : 0);	/* the original */
		if (ret == 1)
			_exit(bad ? 3 : 2);	/* the executed image */
		printf("# checkpoint: %s\n", strerror((int)-ret));
		_exit(100);
	}
	waitpid(pid, &st, 0);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "checkpoint() returns 0 with ymm0..7 intact (status %#x)", st);
	if (access(IMG, F_OK)) {
		check(0, "no image");
		return 1;
	}
	r = xs_image_check(IMG, ROUND);
	check(r == 0, "NT_386_XSTATE holds ymm0..7 (%#x)", r);
	chmod(IMG, 0755);
	r = exec_image(IMG, 0);
	check(r == 1002, "the executed image gets 1 and ymm0..7 back, upper halves too (result %d)", r);
	return failures ? 1 : 0;
}
