/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the loader tests: make a real image with checkpoint(2), find
 * its KCKPT note and registers, patch fields, write variants, exec them.
 */
#ifndef KCKPT_IMAGE_H
#define KCKPT_IMAGE_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kckpt_syscall.h"

/* struct kckpt_state offsets (include/uapi/linux/kckpt.h) */
#define ST_START_CODE	16
#define ST_START_BRK	32
#define ST_BRK		36
#define ST_VDSO		60
#define ST_NR_VMAS	68
#define ST_NR_FDS	72
#define ST_RLIM		1624
#define ST_ATTRS	1880
#define ST_EXTRAS	1920	/* kckpt_attrs.extras: which optional notes follow */
#define ST_FIXED	1928
/* struct kckpt_fd: fixed part, then path and data, each padded to 4 */
#define FD_REC		36
/* user_regs_struct word indices in NT_PRSTATUS */
#define R_EAX		6
#define R_CS		13
#define R_SS		16
#define R_GS		10

struct img {
	unsigned char *buf;
	size_t len;
	size_t state;		/* offset of the KCKPT descriptor */
	size_t regs;		/* offset of pr_reg in NT_PRSTATUS */
};

static __attribute__((unused)) long ckpt(const char *p)
{
	return syscall(KCKPT_NR_CHECKPOINT, p);
}

static __attribute__((unused)) uint32_t img_get(const struct img *m, size_t off)
{
	uint32_t v;

	memcpy(&v, m->buf + off, 4);
	return v;
}

static __attribute__((unused)) void img_put(struct img *m, size_t off, uint32_t v)
{
	memcpy(m->buf + off, &v, 4);
}

/* Parse the notes of a loaded image; 0 on success. */
static __attribute__((unused)) int img_index(struct img *m)
{
	uint32_t phoff = img_get(m, 28), noff, nsz, pos = 0;

	m->state = m->regs = 0;
	if (m->len < 52 + 32 || phoff != 52)
		return -1;
	noff = img_get(m, 52 + 4);
	nsz = img_get(m, 52 + 16);
	while (pos + 12 <= nsz && noff + nsz <= m->len) {
		size_t n = noff + pos;
		uint32_t namesz = img_get(m, n), descsz = img_get(m, n + 4);
		uint32_t type = img_get(m, n + 8);
		size_t desc = n + 12 + ((namesz + 3) & ~3u);

		if (!strcmp((char *)m->buf + n + 12, "KCKPT") && type == 1)
			m->state = desc;
		if (!strcmp((char *)m->buf + n + 12, "CORE") && type == 1)
			m->regs = desc + 72;
		pos += 12 + ((namesz + 3) & ~3u) + ((descsz + 3) & ~3u);
	}
	return m->state && m->regs ? 0 : -1;
}

/*
 * The descriptor of the note @name/@type of a loaded image: its offset
 * (0 if there is none), its size in *@size; *@count says how many there are.
 */
static __attribute__((unused)) size_t img_find_note(const struct img *m, const char *name, uint32_t type,
						   uint32_t *size, int *count)
{
	uint32_t noff = img_get(m, 52 + 4), nsz = img_get(m, 52 + 16), pos = 0;
	size_t found = 0;

	*count = 0;
	*size = 0;
	while (pos + 12 <= nsz && noff + nsz <= m->len) {
		size_t n = noff + pos;
		uint32_t namesz = img_get(m, n), descsz = img_get(m, n + 4);
		size_t desc = n + 12 + ((namesz + 3) & ~3u);

		if (desc + descsz > m->len)
			break;
		if (namesz == strlen(name) + 1 && !memcmp(m->buf + n + 12, name, namesz) &&
		    img_get(m, n + 8) == type) {
			if (!found) {
				found = desc;
				*size = descsz;
			}
			++*count;
		}
		pos += 12 + ((namesz + 3) & ~3u) + ((descsz + 3) & ~3u);
	}
	return found;
}

static __attribute__((unused)) int img_load(struct img *m, const char *path)
{
	struct stat sb;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &sb))
		return -1;
	m->len = sb.st_size;
	m->buf = malloc(m->len);
	if (!m->buf || read(fd, m->buf, m->len) != (ssize_t)m->len) {
		close(fd);
		return -1;
	}
	close(fd);
	return img_index(m);
}

static __attribute__((unused)) int img_write(const struct img *m, const char *path)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (fd < 0 || write(fd, m->buf, m->len) != (ssize_t)m->len)
		return -1;
	return close(fd);
}

/* Offset of the fd record @i in the KCKPT note. */
static __attribute__((unused)) size_t img_fd_rec(const struct img *m, unsigned int i)
{
	size_t off = m->state + ST_FIXED + 16 * img_get(m, m->state + ST_NR_VMAS);

	while (i--)
		off += FD_REC + ((img_get(m, off + 32) + 3) & ~3u) + ((img_get(m, off + 28) + 3) & ~3u);
	return off;
}

/*
 * Checkpoint a child into @path; the restarted image exits with @code.
 * @prep runs in the child first (may be NULL). Returns 0 when made.
 */
static __attribute__((unused)) int make_image(const char *path, int code, void (*prep)(void))
{
	int st;
	pid_t pid;

	unlink(path);
	pid = fork();
	if (!pid) {
		long r;

		if (prep)
			prep();
		r = ckpt(path);
		if (r == 1)
			_exit(code);
		_exit(r == 0 ? 0 : 100);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	chmod(path, 0755);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Write @v to the file @path (a sysctl); 0 on success. */
static __attribute__((unused)) int write_file(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	int ok = fd >= 0 && write(fd, v, strlen(v)) == (ssize_t)strlen(v);

	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/*
 * Fork; the child runs @prep(@arg) (nonzero: exit 126) and execs @path.
 * Returns the child's pid, unreaped; *err is the errno of a failed exec,
 * or 0 once the exec succeeded.
 */
static __attribute__((unused)) pid_t exec_spawn(const char *path, int (*prep)(void *), void *arg, int *err)
{
	int p[2];
	pid_t pid;

	*err = 0;
	if (pipe(p))
		return -1;
	pid = fork();
	if (!pid) {
		close(p[0]);
		fcntl(p[1], F_SETFD, FD_CLOEXEC);
		alarm(30);
		if (prep && prep(arg))
			_exit(126);
		execl(path, path, (char *)NULL);
		*err = errno;
		write(p[1], err, sizeof(*err));
		_exit(127);
	}
	close(p[1]);
	if (read(p[0], err, sizeof(*err)) != sizeof(*err))
		*err = 0;
	close(p[0]);
	return pid;
}

/* A failed exec's errno, or 1000 + exit status, or 1128 + signal. */
static __attribute__((unused)) int exec_result(int err, int st)
{
	if (err)
		return err;
	return 1000 + (WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

/* exec_spawn() and reap: the exec_result() of the child. */
static __attribute__((unused)) int exec_image_with(const char *path, int (*prep)(void *), void *arg)
{
	int err, st;
	pid_t pid = exec_spawn(path, prep, arg, &err);

	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return exec_result(err, st);
}

static int become_uid(void *uid)
{
	uid_t u = *(uid_t *)uid;

	return setgid(u) || setuid(u);
}

/* Exec @path in a child as uid @uid (0: unchanged): exec_result(). */
static __attribute__((unused)) int exec_image(const char *path, uid_t uid)
{
	return exec_image_with(path, uid ? become_uid : NULL, &uid);
}

#endif
