// SPDX-License-Identifier: GPL-2.0
/*
 * cr_exec_files: descriptors come back with their FD_CLOEXEC flag; a
 * descriptor path that became a symlink is not followed, one that became
 * a FIFO is refused without blocking; a path with a newline and an escape
 * sequence reaches the kernel log escaped.
 */
#define _GNU_SOURCE
#include <sys/klog.h>

#include "guest.h"
#include "image.h"

#define EVIL "e\n\033[31mX"

/* checkpoint with x.txt open as fd 7 (no FD_CLOEXEC) and fd 8 (FD_CLOEXEC) */
static int make_fd_image(const char *path)
{
	int st;
	pid_t pid;

	unlink(path);
	pid = fork();
	if (!pid) {
		int a = open("x.txt", O_RDWR | O_CREAT, 0644);
		int b = open("x.txt", O_RDONLY | O_CLOEXEC);
		long r;

		if (a < 0 || b < 0 || dup2(a, 7) != 7 || dup3(b, 8, O_CLOEXEC) != 8)
			_exit(100);
		close(a);
		close(b);
		/* set after open: only the descriptor flag knows it */
		fcntl(7, F_SETFD, 0);
		r = ckpt(path);
		if (r == 1)
			_exit(fcntl(7, F_GETFD) == 0 && fcntl(8, F_GETFD) == FD_CLOEXEC ? 42 : 43);
		_exit(r == 0 ? 0 : 101);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	chmod(path, 0755);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int make_evil_image(const char *path)
{
	int st;
	pid_t pid;

	unlink(path);
	pid = fork();
	if (!pid) {
		int fd = open(EVIL, O_RDWR | O_CREAT, 0644);
		long r;

		if (fd < 0)
			_exit(100);
		r = ckpt(path);
		_exit(r == 0 ? 0 : r == 1 ? 42 : 101);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	chmod(path, 0755);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(void)
{
	static char log[1 << 17];
	int r, n, ok_raw = 1, seen = 0;
	char *p;

	setvbuf(stdout, NULL, _IONBF, 0);
	check(make_fd_image("fd.kckpt") == 0, "checkpoint with fds 7 and 8 open");
	r = exec_image("./fd.kckpt", 0);
	check(r == 1042, "FD_CLOEXEC comes back on fd 8 only (exit %d)", r - 1000);

	/* x.txt becomes a symlink to a regular file: not followed */
	rename("x.txt", "y.txt");
	symlink("y.txt", "x.txt");
	r = exec_image("./fd.kckpt", 0);
	check(r == ENOEXEC, "fd path now a symlink: ENOEXEC (%d)", r);

	/* x.txt becomes a FIFO with no writer: refused, and no hang */
	unlink("x.txt");
	mkfifo("x.txt", 0644);
	r = exec_image("./fd.kckpt", 0);
	check(r == ENOEXEC, "fd path now a FIFO: ENOEXEC without blocking (%d)", r);

	check(make_evil_image("evil.kckpt") == 0, "checkpoint with a file named e\\n\\033[31mX open");
	unlink(EVIL);
	sleep(6);	/* let the refusal ratelimit of earlier tests expire */
	klogctl(5, NULL, 0);	/* clear */
	r = exec_image("./evil.kckpt", 0);
	check(r == ENOEXEC, "its file is gone: ENOEXEC (%d)", r);
	n = klogctl(3, log, sizeof(log) - 1);
	log[n > 0 ? n : 0] = 0;
	for (p = strstr(log, "binfmt_cr"); p; p = strstr(p + 1, "binfmt_cr")) {
		char *eol = strchr(p, '\n');

		if (eol && strstr(p, "evil.kckpt: fd ") && strstr(p, "evil.kckpt: fd ") < eol) {
			seen = 1;
			printf("# log: %.*s\n", (int)(eol - p), p);
		}
	}
	if (strchr(log, '\033') || strstr(log, "\n\033[31mX") || strstr(log, "\n[31mX"))
		ok_raw = 0;
	check(seen, "the refusal is in the kernel log");
	check(ok_raw, "no raw newline or ESC from the path in the log");
	return failures ? 1 : 0;
}
