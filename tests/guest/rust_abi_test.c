// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace test for the i386 rust_abi_test syscall (CONFIG_RUST_ABI_TEST).
 * Build: gcc -m32 -static -O2 -o rust_abi_test rust_abi_test.c
 * When run as PID 1 it exits QEMU through isa-debug-exit (port 0xf4):
 * writes 0x10 on success (QEMU status 33), 0x11 on failure (status 35).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/io.h>
#include <sys/syscall.h>

#define NR_rust_abi_test 463

static uint32_t mix(uint32_t h, uint32_t v)
{
	return (h ^ v) * 0x01000193u;
}

static uint32_t callback(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	return (a + 2 * b + 3 * c + 4 * d) ^ 0x5a5a5a5au;
}

/* Reference implementation of lib/rust_abi_test.rs + lib/test_rust_abi.c. */
static uint32_t expected(uint32_t a, uint32_t b, uint32_t c, uint64_t v,
			 uint64_t *out)
{
	uint32_t d = a ^ c, e = (uint16_t)(b >> 3), f = (uint8_t)(c + 1);
	uint32_t args[] = { a, b, c, d, e, f, (uint32_t)v, (uint32_t)(v >> 32) };
	uint32_t h = 0x811c9dc5u;
	char digits[32];
	size_t i;

	for (i = 0; i < sizeof(args) / sizeof(args[0]); i++)
		h = mix(h, args[i]);
	h = mix(h, callback(a, b, c, d));
	snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
	for (i = 0; digits[i]; i++)
		h = mix(h, (unsigned char)digits[i]);
	*out = ((v << 7) | (v >> 57)) ^ (((uint64_t)a << 32) | b);
	return h & 0x7fffffffu;
}

struct vec {
	uint32_t a, b, c;
	uint64_t v;
};

static const struct vec vecs[] = {
	{ 1, 2, 3, 4 },
	{ 0xdeadbeef, 0xcafebabe, 0x12345678, 0xfedcba9876543210ull },
	{ 0xffffffff, 0, 0x80000000, 18446744073709551615ull },
	{ 7, 0x1000, 0xff, 0 },
	{ 42, 4242, 424242, 12345678901234567890ull },
};

static void finish(int ok)
{
	fflush(stdout);
	if (getpid() == 1) {
		if (ioperm(0xf4, 1, 1) == 0)
			outb(ok ? 0x10 : 0x11, 0xf4);
		for (;;)
			pause();
	}
}

int main(void)
{
	int n = sizeof(vecs) / sizeof(vecs[0]), failed = 0, i;

	printf("KTAP version 1\n1..%d\n", n);
	for (i = 0; i < n; i++) {
		const struct vec *t = &vecs[i];
		uint64_t v = t->v, out = 0, want_out;
		uint32_t want = expected(t->a, t->b, t->c, v, &want_out);
		long ret = syscall(NR_rust_abi_test, t->a, t->b, t->c, &v, &out);

		if (ret < 0) {
			printf("not ok %d rust_abi_test_%d # syscall: %s\n",
			       i + 1, i, strerror(errno));
			failed++;
		} else if ((uint32_t)ret != want || out != want_out) {
			printf("not ok %d rust_abi_test_%d # got %#lx/%#llx want %#x/%#llx\n",
			       i + 1, i, ret, (unsigned long long)out, want,
			       (unsigned long long)want_out);
			failed++;
		} else {
			printf("ok %d rust_abi_test_%d # hash=%#x out=%#llx\n",
			       i + 1, i, want, (unsigned long long)out);
		}
	}
	printf("# rust_abi_test: %s (%d/%d passed)\n",
	       failed ? "FAIL" : "PASS", n - failed, n);
	finish(!failed);
	return failed ? 1 : 0;
}
