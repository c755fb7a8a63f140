// SPDX-License-Identifier: GPL-2.0
/*
 * tiny: the smallest real kckpt image, the checked-in seed of the fuzz test
 * in `cargo xtask test-vm`. No libc: one text page, a stack and nothing
 * else. It checkpoints itself into tiny.kckpt (in its cwd) and exits 0; the
 * restarted image writes "restarted uid N" and exits 42 (43 if it finds
 * itself running as root, which a fuzz run as nobody must never see).
 *
 * Built by `cargo xtask fuzz-images --refresh-seeds` with
 *   gcc -m32 -static -nostdlib -fno-pie -no-pie -O2 -fno-stack-protector
 * and run in the guest from /tmp, so the image's cwd exists in every boot.
 */
#include "kckpt_syscall.h"

static long sc(long nr, long a, long b, long c)
{
	long r;

	asm volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return r;
}

void __attribute__((noreturn, used)) tiny_main(void)
{
	long r = sc(KCKPT_NR_CHECKPOINT, (long)"tiny.kckpt", 0, 0);

	if (r == 1) {
		long uid = sc(199 /* getuid32 */, 0, 0, 0);
		int i, root = uid == 0;
		char msg[] = "restarted uid 00000\n";

		for (i = 18; i >= 14; i--, uid /= 10)
			msg[i] = '0' + uid % 10;
		sc(4 /* write */, 1, (long)msg, sizeof(msg) - 1);
		sc(1 /* exit */, root ? 43 : 42, 0, 0);
	}
	sc(1, r == 0 ? 0 : 1, 0, 0);
	for (;;)
		;
}

asm(".globl _start\n_start:\n\tandl $-16, %esp\n\tcall tiny_main\n");
