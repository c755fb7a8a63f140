/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the guest tests: spawn a program with its stdout (and
 * optionally stdin) on pipes, read its lines with a timeout, run a command.
 */
#ifndef KCKPT_GUEST_H
#define KCKPT_GUEST_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct child {
	pid_t pid;
	int out;		/* its stdout+stderr */
	int in;			/* its stdin, or -1 */
	char buf[4096];
	size_t len;
};

static int failures __attribute__((unused));

static __attribute__((unused)) void check(int ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("%s: ", ok ? "ok" : "FAIL");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
	if (!ok)
		failures++;
}

static __attribute__((unused)) int spawn(struct child *c, char *const argv[], int with_stdin)
{
	int o[2], i[2] = { -1, -1 };

	memset(c, 0, sizeof(*c));
	if (pipe(o) || (with_stdin && pipe(i)))
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (c->pid == 0) {
		dup2(o[1], 1);
		dup2(o[1], 2);
		if (with_stdin)
			dup2(i[0], 0);
		else
			close(0);
		for (int fd = 3; fd < 64; fd++)
			close(fd);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(o[1]);
	c->out = o[0];
	c->in = -1;
	if (with_stdin) {
		close(i[0]);
		c->in = i[1];
	}
	return 0;
}

/* One line of the child's output into @line; 0 on timeout or EOF. */
static __attribute__((unused)) int read_line(struct child *c, char *line, size_t size, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd p = { .fd = c->out, .events = POLLIN };
		ssize_t n;

		if (nl) {
			size_t l = nl - c->buf;

			snprintf(line, size, "%.*s", (int)l, c->buf);
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return 1;
		}
		if (poll(&p, 1, timeout_ms) <= 0)
			return 0;
		n = read(c->out, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (n <= 0)
			return 0;
		c->len += n;
	}
}

/* Read lines until one starts with @prefix; returns 1 if seen in time. */
static __attribute__((unused)) int expect_line(struct child *c, const char *prefix, char *line, size_t size, int timeout_ms)
{
	while (read_line(c, line, size, timeout_ms)) {
		if (!strncmp(line, prefix, strlen(prefix)))
			return 1;
	}
	return 0;
}

static __attribute__((unused)) void reap(struct child *c)
{
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
	}
	if (c->out >= 0)
		close(c->out);
	if (c->in >= 0)
		close(c->in);
	c->pid = 0;
}

/* Run a command to completion; returns its exit status (or 128+signal). */
static __attribute__((unused)) int run(char *const argv[])
{
	int st;
	pid_t p = fork();

	if (p == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	if (p < 0 || waitpid(p, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Wait (up to 10 s) until @pid sleeps in system call @nr (/proc/PID/syscall
 * starts with it): two checkpoints of a process that waits for input are
 * only the same state if both catch it there, not on its way back in.
 */
static __attribute__((unused)) int wait_in_syscall(pid_t pid, int nr)
{
	char path[64], buf[64];

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	for (int i = 0; i < 1000; i++) {
		FILE *f = fopen(path, "r");
		int n = -1;

		if (f) {
			if (fgets(buf, sizeof(buf), f))
				n = atoi(buf);
			fclose(f);
		}
		if (n == nr)
			return 1;
		usleep(10 * 1000);
	}
	return 0;
}

static __attribute__((unused)) double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#endif
