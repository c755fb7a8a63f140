// SPDX-License-Identifier: GPL-2.0
/* errors: EEXIST, EFAULT, EPERM, EBUSY, and ENOEXEC for truncated and
 * corrupted images; a short fuzz run that must never oops. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kckpt_syscall.h"

static int fails;

#define CHECK(cond, what) do { \
	if (cond) printf("# ok: %s\n", what); \
	else { printf("# FAIL: %s (errno %d)\n", what, errno); fails++; } } while (0)

static long ckpt(const char *p)
{
	return syscall(KCKPT_NR_CHECKPOINT, p);
}

static void *sleeper(void *a)
{
	pause();
	return a;
}

/* run fn in a child, return its exit status (or 128+sig) */
static int in_child(int (*fn)(void *), void *arg)
{
	int st;
	pid_t pid = fork();

	if (!pid)
		_exit(fn(arg));
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int do_eperm(void *a)
{
	prctl(PR_SET_DUMPABLE, 0);
	return ckpt("eperm.kckpt") == -1 && errno == EPERM ? 0 : 1;
}

static int do_ebusy(void *a)
{
	pthread_t t;

	pthread_create(&t, NULL, sleeper, NULL);
	return ckpt("ebusy.kckpt") == -1 && errno == EBUSY ? 0 : 1;
}

static int do_good(void *a)
{
	long r = ckpt("good.kckpt");

	if (r == 1)
		return 42;	/* we are the restarted image */
	return r == 0 ? 0 : 1;
}

/* checkpoint as root, optionally holding a root-only file open */
static int do_priv(void *a)
{
	long r;

	if (a && open("secret", O_RDONLY) < 0)
		return 2;
	r = ckpt(a ? "priv1.kckpt" : "priv2.kckpt");
	if (r == 1)	/* restarted: by whom? */
		return getuid() == 65534 && geteuid() == 65534 &&
		       getgid() == 65534 ? 43 : 44;
	return r == 0 ? 0 : 1;
}

static uid_t run_as = 0;

/* exec the image; returns errno of a failed exec, or 1000+status */
static int run_image(const char *path)
{
	int st, p[2];
	pid_t pid;
	int err = 0;

	pipe(p);
	pid = fork();
	if (!pid) {
		close(p[0]);
		fcntl(p[1], F_SETFD, FD_CLOEXEC);
		alarm(20);	/* a fuzzed image must not hang the test */
		if (run_as && (setgid(run_as) || setuid(run_as)))
			_exit(126);
		execl(path, path, (char *)NULL);
		err = errno;
		write(p[1], &err, sizeof(err));
		_exit(127);
	}
	close(p[1]);
	if (read(p[0], &err, sizeof(err)) != sizeof(err))
		err = 0;
	close(p[0]);
	waitpid(pid, &st, 0);
	if (err)
		return err;
	return 1000 + (WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static char *img;
static size_t img_len;

static int write_variant(const char *name, size_t len, size_t off,
			 const void *patch, size_t plen)
{
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	char *copy = malloc(img_len);

	memcpy(copy, img, img_len);
	if (patch)
		memcpy(copy + off, patch, plen);
	write(fd, copy, len);
	close(fd);
	free(copy);
	return 0;
}

static size_t find(const char *needle, size_t n)
{
	size_t i;

	for (i = 0; i + n <= img_len && i < 65536; i++)
		if (!memcmp(img + i, needle, n))
			return i;
	return 0;
}

int main(void)
{
	struct stat sb;
	int fd, r, i, ok_fuzz = 1;
	char buf[16];

	setvbuf(stdout, NULL, _IONBF, 0);
	mkdir("/tmp/errdir", 0755);
	chdir("/tmp/errdir");

	fd = open("exists.kckpt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	write(fd, "keep", 4);
	close(fd);
	errno = 0;
	CHECK(ckpt("exists.kckpt") == -1 && errno == EEXIST, "EEXIST");
	fd = open("exists.kckpt", O_RDONLY);
	CHECK(read(fd, buf, 16) == 4 && !memcmp(buf, "keep", 4), "existing file untouched");
	close(fd);

	errno = 0;
	CHECK(ckpt((char *)1) == -1 && errno == EFAULT, "EFAULT");
	memset(img = malloc(8192), 'a', 8192);
	img[8191] = 0;
	errno = 0;
	CHECK(ckpt(img) == -1 && errno == ENAMETOOLONG, "ENAMETOOLONG");
	free(img);

	CHECK(in_child(do_eperm, NULL) == 0, "EPERM when not dumpable");
	CHECK(access("eperm.kckpt", F_OK) == -1, "no file left after EPERM");
	CHECK(in_child(do_ebusy, NULL) == 0, "EBUSY with a second thread");
	CHECK(access("ebusy.kckpt", F_OK) == -1, "no file left after EBUSY");

	umask(022);
	CHECK(in_child(do_good, NULL) == 0, "checkpoint in child");
	CHECK(stat("good.kckpt", &sb) == 0 && (sb.st_mode & 0777) == 0700 &&
	      sb.st_uid == getuid(), "image mode 0700 & ~umask, owned by caller");
	chmod("good.kckpt", 0755);
	r = run_image("./good.kckpt");
	printf("# good.kckpt -> %d\n", r);
	CHECK(r == 1042, "good image restarts (exit 42)");

	fd = open("good.kckpt", O_RDONLY);
	fstat(fd, &sb);
	img_len = sb.st_size;
	img = malloc(img_len);
	read(fd, img, img_len);
	close(fd);

	write_variant("t1.kckpt", img_len / 2, 0, NULL, 0);
	CHECK(run_image("./t1.kckpt") == ENOEXEC, "truncated (half) -> ENOEXEC");
	write_variant("t2.kckpt", 100, 0, NULL, 0);
	CHECK(run_image("./t2.kckpt") == ENOEXEC, "truncated (100 bytes) -> ENOEXEC");
	write_variant("t3.kckpt", 4096 - 16, 0, NULL, 0);
	CHECK(run_image("./t3.kckpt") == ENOEXEC, "truncated (in notes) -> ENOEXEC");
	{
		unsigned int v = 53;
		write_variant("c1.kckpt", img_len, 28, &v, 4);	/* e_phoff */
		CHECK(run_image("./c1.kckpt") == ENOEXEC, "bad e_phoff -> ENOEXEC");
	}
	{
		unsigned short v = 0xffff;
		write_variant("c2.kckpt", img_len, 44, &v, 2);	/* e_phnum */
		CHECK(run_image("./c2.kckpt") == ENOEXEC, "bad e_phnum -> ENOEXEC");
	}
	{
		/* the descriptor follows the 12-byte header and "KCKPT\0\0\0" */
		size_t m = find("KCKPT", 6) + 8;
		unsigned int v = 3;	/* a version this kernel does not know */
		CHECK(m != 8 && !memcmp(img + m, "KCKP", 4), "found kckpt magic");
		write_variant("c3.kckpt", img_len, m, "XXXX", 4);
		CHECK(run_image("./c3.kckpt") == ENOEXEC, "bad kckpt magic -> ENOEXEC");
		write_variant("c4.kckpt", img_len, m + 4, &v, 4);
		CHECK(run_image("./c4.kckpt") == ENOEXEC, "kckpt version 3 -> ENOEXEC");
		v = 0xc0000000;	/* vdso_base in kernel space */
		write_variant("c5.kckpt", img_len, m + 60, &v, 4);
		CHECK(run_image("./c5.kckpt") == ENOEXEC, "bad vdso_base -> ENOEXEC");
	}
	{
		unsigned int v = 0xbffff001;	/* PT_LOAD[1].p_vaddr unaligned */
		write_variant("c6.kckpt", img_len, 52 + 32 + 8, &v, 4);
		CHECK(run_image("./c6.kckpt") == ENOEXEC, "bad p_vaddr -> ENOEXEC");
	}
	{
		/* pr_reg cs = 0x10 (kernel data) must be refused */
		size_t n = find("CORE", 5);
		unsigned int v = 0x10;
		CHECK(n != 0, "found CORE note");
		write_variant("c7.kckpt", img_len, n + 8 + 72 + 13 * 4, &v, 4);
		CHECK(run_image("./c7.kckpt") == ENOEXEC, "kernel %cs -> ENOEXEC");
	}
	write_variant("s1.kckpt", img_len, 0, NULL, 0);
	chmod("s1.kckpt", 04755);
	CHECK(run_image("./s1.kckpt") == ENOEXEC, "setuid image -> ENOEXEC");

	/* an image made by root, run by nobody, gets nothing */
	fd = open("secret", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	close(fd);
	CHECK(in_child(do_priv, "x") == 0 && in_child(do_priv, NULL) == 0,
	      "root checkpoints priv1 (with a root-only fd) and priv2");
	chmod("priv1.kckpt", 0755);
	chmod("priv2.kckpt", 0755);
	run_as = 65534;
	r = run_image("./priv1.kckpt");
	printf("# priv1.kckpt as nobody -> %d\n", r);
	CHECK(r == ENOEXEC, "nobody cannot reopen root's file -> ENOEXEC");
	r = run_image("./priv2.kckpt");
	printf("# priv2.kckpt as nobody -> %d\n", r);
	CHECK(r == 1043, "root's image run by nobody runs as nobody");
	run_as = 0;

	/* fuzz: random bytes in headers/notes; must not oops */
	srand(1234);
	for (i = 0; i < 150; i++) {
		unsigned char b[4];
		size_t off = rand() % 4096;
		int j;

		for (j = 0; j < 4; j++)
			b[j] = rand();
		write_variant("fz.kckpt", img_len, off, b, 1 + rand() % 4);
		r = run_image("./fz.kckpt");
		/* refused, or ran and exited/died: anything but another errno */
		if (r != ENOEXEC && r < 1000) {
			printf("# fuzz %d: off %zu -> %d\n", i, off, r);
			ok_fuzz = 0;
		}
	}
	CHECK(ok_fuzz, "fuzz: 150 corrupted images refused or contained");

	if (fails) {
		printf("%d failures\n", fails);
		return 1;
	}
	printf("all checks passed\n");
	return 0;
}
