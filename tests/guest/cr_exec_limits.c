// SPDX-License-Identifier: GPL-2.0
/*
 * cr_exec_limits: images the loader must refuse with ENOEXEC before the
 * point of no return, because the kernel would refuse the same values
 * elsewhere (and the task would die half restored): duplicate or
 * unordered descriptor records, LDT and kernel segment selectors, mm
 * fields below mmap_min_addr, brk and segments beyond RLIMIT_DATA and
 * RLIMIT_AS (the image's own, which restart installs), and a vDSO when
 * vm.vdso_enabled is 0; and one it must not refuse: an image whose hard
 * limit the restarting user could not raise restarts with it lowered.
 */
#define _GNU_SOURCE
#include <sys/resource.h>

#include "guest.h"
#include "image.h"

static struct img base;

static void two_files(void)
{
	open("a.txt", O_RDWR | O_CREAT, 0644);
	open("b.txt", O_RDWR | O_CREAT, 0644);
}

struct limit {
	int res;
	rlim_t lim;
};

static int set_limit(void *arg)
{
	const struct limit *l = arg;
	struct rlimit rl = { l->lim, l->lim };

	return l->res >= 0 && setrlimit(l->res, &rl);
}

/*
 * Write @m as @name with the image's own limit @res (if >= 0) set to @lim,
 * soft and hard: format v2 restores the image's limits and checks its
 * memory against them.
 */
static int run_variant(struct img *m, const char *name, int res, rlim_t lim)
{
	struct limit l = { -1, 0 };
	size_t off = m->state + ST_RLIM + 16 * res;

	if (res >= 0) {
		img_put(m, off, lim);
		img_put(m, off + 4, 0);
		img_put(m, off + 8, lim);
		img_put(m, off + 12, 0);
	}
	if (img_write(m, name))
		return -1;
	return exec_image_with(name, set_limit, &l);
}

/* As nobody, with a hard RLIMIT_NOFILE of 64 */
static int low_nofile_nobody(void *arg)
{
	struct rlimit rl = { 64, 64 };

	(void)arg;
	return setrlimit(RLIMIT_NOFILE, &rl) || setgid(65534) || setuid(65534);
}

static struct img copy(void)
{
	struct img m = base;

	m.buf = malloc(base.len);
	memcpy(m.buf, base.buf, base.len);
	return m;
}

int main(void)
{
	struct img m;
	size_t f0, f1;
	int r;

	setvbuf(stdout, NULL, _IONBF, 0);
	check(make_image("base.kckpt", 42, two_files) == 0, "checkpoint with two files open");
	check(img_load(&base, "base.kckpt") == 0, "image parsed");
	check(img_get(&base, base.state + ST_NR_FDS) >= 2, "image has %u fd records",
	      img_get(&base, base.state + ST_NR_FDS));
	r = run_variant(&base, "ok.kckpt", -1, 0);
	check(r == 1042, "the unmodified image restarts (%d)", r);

	m = copy();
	f0 = img_fd_rec(&m, 0);
	f1 = img_fd_rec(&m, 1);
	img_put(&m, f1, img_get(&m, f0));
	r = run_variant(&m, "dup.kckpt", -1, 0);
	check(r == ENOEXEC, "two records for one fd: ENOEXEC (%d)", r);

	m = copy();
	img_put(&m, f0, img_get(&base, f1));
	img_put(&m, f1, img_get(&base, f0));
	r = run_variant(&m, "order.kckpt", -1, 0);
	check(r == ENOEXEC, "fd records out of order: ENOEXEC (%d)", r);

	m = copy();
	img_put(&m, m.regs + 4 * R_CS, 0x7);	/* LDT entry 0, RPL 3 */
	r = run_variant(&m, "ldt.kckpt", -1, 0);
	check(r == ENOEXEC, "LDT code selector: ENOEXEC (%d)", r);

	m = copy();
	img_put(&m, m.regs + 4 * R_SS, 0x63);	/* kernel CS with RPL 3 */
	r = run_variant(&m, "gdt.kckpt", -1, 0);
	check(r == ENOEXEC, "kernel GDT entry as stack selector: ENOEXEC (%d)", r);

	m = copy();
	img_put(&m, m.state + ST_START_CODE, 0);
	r = run_variant(&m, "mm0.kckpt", -1, 0);
	check(r == ENOEXEC, "start_code below mmap_min_addr: ENOEXEC (%d)", r);

	chmod(".", 0777);
	check(make_image("nofile.kckpt", 43, NULL) == 0, "checkpoint without files");
	r = exec_image("nofile.kckpt", 65534);
	check(r == 1043, "restarts as nobody (%d)", r);
	/* its RLIMIT_NOFILE (1024/4096) is lowered to the restarter's 64, not refused */
	r = exec_image_with("nofile.kckpt", low_nofile_nobody, NULL);
	check(r == 1043, "a hard limit its restarter cannot raise is lowered, not raised (%d)", r);

	m = copy();
	r = run_variant(&m, "data.kckpt", RLIMIT_DATA, 64 << 10);
	check(r == ENOEXEC, "RLIMIT_DATA 64 KiB: ENOEXEC (%d)", r);

	m = copy();
	r = run_variant(&m, "as.kckpt", RLIMIT_AS, 512 << 10);
	check(r == ENOEXEC, "RLIMIT_AS 512 KiB: ENOEXEC (%d)", r);

	if (img_get(&base, base.state + ST_VDSO)) {
		write_file("/proc/sys/vm/vdso_enabled", "0");
		r = run_variant(&base, "novdso.kckpt", -1, 0);
		write_file("/proc/sys/vm/vdso_enabled", "1");
		check(r == ENOEXEC, "vm.vdso_enabled=0 and the image has a vDSO: ENOEXEC (%d)", r);
		r = run_variant(&base, "vdso.kckpt", -1, 0);
		check(r == 1042, "vm.vdso_enabled=1 again: restarts (%d)", r);
	} else {
		check(0, "the image records a vDSO");
	}
	return failures ? 1 : 0;
}
