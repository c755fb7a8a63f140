// SPDX-License-Identifier: GPL-2.0
/*
 * cr_xstate: the whole XSAVE state through cr -p in both modes. /bin/xstate
 * sleeps in read(0) with patterns in ymm0..ymm7 (not only their xmm
 * halves); both images carry them in one NT_X86_XSTATE note (extras bit
 * 1, standard layout, AVX in xfeatures), are the same state (cr
 * --compare), the original keeps its registers, and each image restarts
 * through binfmt_cr and through cr -r --userspace with all 256 bits of
 * each register back. Skipped on a CPU without AVX.
 */
#include "crpair.h"
#include "image.h"
#include "xstate.h"

int main(void)
{
	const char *const imgs[2] = { "x-k.kckpt", "x-u.kckpt" };
	struct child c;
	int rc;

	if (!xs_have_avx()) {
		printf("# no AVX (CPUID/XCR0): nothing to test\n");
		return 77;
	}
	unlink(imgs[0]);
	unlink(imgs[1]);
	start_ready(&c, (char *[]){ "/bin/xstate", NULL });
	/* round 0 checked; the checkpoints catch round 1's pattern */
	check(self_check(&c), "the original has its ymm registers before the checkpoint");
	for (int u = 0; u < 2; u++) {
		rc = cr_p(c.pid, imgs[u], u);
		check(rc == 0, "cr -p%s: exit %d", u ? " --userspace" : "", rc);
		rc = xs_image_check(imgs[u], 1);
		check(rc == 0, "%s: NT_X86_XSTATE holds ymm0..7 (%#x)", imgs[u], rc);
	}
	rc = run((char *[]){ "/bin/cr", "--compare", (char *)imgs[0], (char *)imgs[1], NULL });
	check(rc == 0, "cr --compare kernel-mode and userspace images: exit %d", rc);
	check(self_check(&c), "the original still has its ymm registers");
	reap(&c);

	restart_both_ways(imgs, "ymm0..7 back, upper halves too");
	return failures ? 1 : 0;
}
