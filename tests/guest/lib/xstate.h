/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The AVX state tests (progs/xstate.c, cr_xstate.c, checkpoint_xstate.c):
 * a pattern per round for ymm0..ymm7, a system call made with them
 * loaded (raw int $0x80: no libc call between loading and reading back,
 * glibc's AVX2 string functions would clobber them), the comparison, and
 * the check of an image's NT_X86_XSTATE note against the pattern (for
 * the tests, which include image.h first; the program does not, it builds
 * on kernels without a checkpoint syscall too).
 */
#ifndef KCKPT_XSTATE_H
#define KCKPT_XSTATE_H

#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define XS_REGS		8
#define XS_BYTES	(XS_REGS * 32)
#define NT_X86_XSTATE	0x202
#define KCKPT_EXTRA_XSTATE 1
#define XS_YMMH_OFF	576	/* AVX upper halves in the standard XSAVE layout */
#define XS_XMM_OFF	160	/* xmm0..7 in the legacy (fxsave) area */

/* AVX usable: CPUID.1:ECX AVX and OSXSAVE, and XCR0 enables SSE and AVX state */
static __attribute__((unused)) int xs_have_avx(void)
{
	unsigned int a, b, c, d, lo, hi;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 28)) || !(c & (1u << 27)))
		return 0;
	asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	(void)hi;
	return (lo & 6) == 6;
}

/*
 * The pattern of round @round: 32 bytes per register, every byte
 * different from its neighbours, the upper halves different from the
 * lower ones and from zero (the init state a lost upper half reads as).
 */
static __attribute__((unused)) void xs_pattern(unsigned int round, unsigned char p[XS_BYTES])
{
	for (int i = 0; i < XS_BYTES; i++) {
		unsigned char v = (unsigned char)(0x11 * (i / 32 + 1) + 3 * (i % 32) + 29 * round);

		p[i] = (i % 32) >= 16 ? (unsigned char)(v ^ 0xa5) | 1 : v;
	}
}

/*
 * System call @nr(@a, @b, @c) with ymm0..ymm7 loaded from @in, and
 * stored to @out right after it returns. Returns what eax holds.
 */
static inline long xs_syscall(const unsigned char *in, unsigned char *out, long nr, long a, long b, long c)
{
	long ret;

	asm volatile("vmovdqu 0(%[in]), %%ymm0\n\t"
		     "vmovdqu 32(%[in]), %%ymm1\n\t"
		     "vmovdqu 64(%[in]), %%ymm2\n\t"
		     "vmovdqu 96(%[in]), %%ymm3\n\t"
		     "vmovdqu 128(%[in]), %%ymm4\n\t"
		     "vmovdqu 160(%[in]), %%ymm5\n\t"
		     "vmovdqu 192(%[in]), %%ymm6\n\t"
		     "vmovdqu 224(%[in]), %%ymm7\n\t"
		     "int $0x80\n\t"
		     "vmovdqu %%ymm0, 0(%[out])\n\t"
		     "vmovdqu %%ymm1, 32(%[out])\n\t"
		     "vmovdqu %%ymm2, 64(%[out])\n\t"
		     "vmovdqu %%ymm3, 96(%[out])\n\t"
		     "vmovdqu %%ymm4, 128(%[out])\n\t"
		     "vmovdqu %%ymm5, 160(%[out])\n\t"
		     "vmovdqu %%ymm6, 192(%[out])\n\t"
		     "vmovdqu %%ymm7, 224(%[out])\n\t"
		     "vzeroupper"
		     : "=a"(ret)
		     : "0"(nr), "b"(a), "c"(b), "d"(c), [in] "S"(in), [out] "D"(out)
		     : "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
	return ret;
}

static __attribute__((unused)) void xs_hex(char *s, const unsigned char *p)
{
	for (int i = 15; i >= 0; i--)
		s += sprintf(s, "%02x", p[i]);
}

/* Say what differs between two 16-byte halves; 1 if they do. */
static __attribute__((unused)) int xs_half_differs(const char *what, int reg, const unsigned char *got,
						   const unsigned char *want)
{
	char g[40], w[40];

	if (!memcmp(got, want, 16))
		return 0;
	xs_hex(g, got);
	xs_hex(w, want);
	printf("# %s %d: %s, want %s\n", what, reg, g, w);
	return 1;
}

/* Bit i: xmm i (lower half of ymm i) differs; bit 8 + i: its upper half. */
static __attribute__((unused)) int xs_diff(const unsigned char *want, const unsigned char *got)
{
	int bad = 0;

	for (int r = 0; r < XS_REGS; r++) {
		if (xs_half_differs("xmm", r, got + 32 * r, want + 32 * r))
			bad |= 1 << r;
		if (xs_half_differs("ymm upper half", r, got + 32 * r + 16, want + 32 * r + 16))
			bad |= 1 << (8 + r);
	}
	return bad;
}

#ifdef KCKPT_IMAGE_H
/*
 * The image @path holds the pattern of round @round in its XSAVE note:
 * extras bit 1 and exactly one NT_X86_XSTATE note, the producer's XCR0
 * at 464 as ptrace writes it (x87, SSE and AVX enabled), AVX state in
 * its header's xfeatures, xcomp_bv 0 (the
 * standard layout), xmm0..7 in the legacy area and the upper halves at
 * 576. 0 if all is there; says what is not.
 */
static __attribute__((unused)) int xs_image_check(const char *path, unsigned int round)
{
	unsigned char want[XS_BYTES];
	struct img m;
	uint32_t size;
	size_t d;
	int count, bad = 0;

	if (img_load(&m, path)) {
		printf("# %s: cannot load it\n", path);
		return -1;
	}
	xs_pattern(round, want);
	if (!(img_get(&m, m.state + ST_EXTRAS) & KCKPT_EXTRA_XSTATE)) {
		printf("# %s: extras %#x lacks KCKPT_EXTRA_XSTATE\n", path, img_get(&m, m.state + ST_EXTRAS));
		bad |= 1;
	}
	d = img_find_note(&m, "LINUX", NT_X86_XSTATE, &size, &count);
	if (count != 1 || size < XS_YMMH_OFF + 256) {
		printf("# %s: %d NT_X86_XSTATE notes, %u bytes\n", path, count, size);
		free(m.buf);
		return bad | 2;
	}
	if ((img_get(&m, d + 464) & 7) != 7) {
		printf("# %s: xcr0 %#x%08x lacks x87, SSE or AVX (note %u bytes)\n", path, img_get(&m, d + 468),
		       img_get(&m, d + 464), size);
		bad |= 4;
	}
	if (!(img_get(&m, d + 512) & 4) || img_get(&m, d + 520) || img_get(&m, d + 524)) {
		printf("# %s: xfeatures %#x, xcomp_bv %#x%08x\n", path, img_get(&m, d + 512), img_get(&m, d + 524),
		       img_get(&m, d + 520));
		bad |= 8;
	}
	for (int r = 0; r < XS_REGS; r++) {
		if (xs_half_differs("image xmm", r, m.buf + d + XS_XMM_OFF + 16 * r, want + 32 * r))
			bad |= 16;
		if (xs_half_differs("image ymm upper half", r, m.buf + d + XS_YMMH_OFF + 16 * r, want + 32 * r + 16))
			bad |= 32;
	}
	free(m.buf);
	return bad;
}
#endif

#endif /* KCKPT_XSTATE_H */
