// SPDX-License-Identifier: GPL-2.0
/*
 * evfd: a process holding eventfds:
 *   sem   eventfd(5, EFD_SEMAPHORE | EFD_NONBLOCK)
 *   big   eventfd(0, 0) then written 2^40 + 7: a counter above 32 bits
 *   dup   big dup'ed to fd 200 with FD_CLOEXEC (big and sem without)
 * "-o": big's counter is 0xfffffffffffffffe instead, more than a kckpt
 * record's pos can hold (checkpoint refuses it: EOVERFLOW).
 * "-f": a forked child holds sem too (checkpoint refuses it: EBUSY).
 * Prints "ready", then answers:
 *   "c" (look, consume nothing): /proc/self/fdinfo shows each counter
 *       (bits 1, 4), sem's EFD_SEMAPHORE and O_NONBLOCK, big's neither
 *       (2, 8), dup the same eventfd as big (eventfd-id) and not sem's
 *       (16), FD_CLOEXEC on dup only (32), all three anon_inode:[eventfd]
 *       (512); "check MASK".
 *   "v" (consume and verify): "c"'s checks, then sem reads 1 five times
 *       and EAGAIN (64), big reads its counter once (128), what is
 *       written through dup is read through big and the other way round
 *       (256); then the counters are set back and "check MASK".
 * EOF ends it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#define DUPFD 200
#define BIG ((1ULL << 40) + 7)
#define HUGE 0xfffffffffffffffeULL

static int sem, big, dup_fd;
static uint64_t big_count = BIG;

struct fdinfo {
	unsigned long long count;
	int id, semaphore, flags;
};

static int get_fdinfo(int fd, struct fdinfo *fi)
{
	char path[64], line[128];
	FILE *f;
	int seen = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "flags:", 6))
			fi->flags = (int)strtol(line + 6, NULL, 8), seen |= 1;
		else if (!strncmp(line, "eventfd-count:", 14))
			fi->count = strtoull(line + 14, NULL, 16), seen |= 2;
		else if (!strncmp(line, "eventfd-id:", 11))
			fi->id = atoi(line + 11), seen |= 4;
		else if (!strncmp(line, "eventfd-semaphore:", 18))
			fi->semaphore = atoi(line + 18), seen |= 8;
	}
	fclose(f);
	return seen == 15 ? 0 : -1;
}

static int is_eventfd(int fd)
{
	char path[64], target[64] = "";

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (readlink(path, target, sizeof(target) - 1) < 0 || strcmp(target, "anon_inode:[eventfd]")) {
		printf("# fd %d is \"%s\"\n", fd, target);
		return 0;
	}
	return 1;
}

static int look(void)
{
	struct fdinfo s, b, d;
	int bad = 0;

	if (!is_eventfd(sem) || !is_eventfd(big) || !is_eventfd(dup_fd))
		return 512;
	if (get_fdinfo(sem, &s) || get_fdinfo(big, &b) || get_fdinfo(dup_fd, &d)) {
		printf("# fdinfo lacks eventfd lines\n");
		return 512;
	}
	if (s.count != 5) {
		printf("# sem counter %llu, want 5\n", s.count);
		bad |= 1;
	}
	if (!s.semaphore || !(fcntl(sem, F_GETFL) & O_NONBLOCK) || (fcntl(sem, F_GETFL) & O_ACCMODE) != O_RDWR) {
		printf("# sem: semaphore %d, flags %#x\n", s.semaphore, fcntl(sem, F_GETFL));
		bad |= 2;
	}
	if (b.count != big_count || d.count != big_count) {
		printf("# big counter %#llx (dup %#llx), want %#llx\n", b.count, d.count, (unsigned long long)big_count);
		bad |= 4;
	}
	if (b.semaphore || (fcntl(big, F_GETFL) & O_NONBLOCK) || (fcntl(big, F_GETFL) & O_ACCMODE) != O_RDWR) {
		printf("# big: semaphore %d, flags %#x\n", b.semaphore, fcntl(big, F_GETFL));
		bad |= 8;
	}
	if (d.id != b.id || d.id == s.id || d.semaphore != b.semaphore || fcntl(dup_fd, F_GETFL) != fcntl(big, F_GETFL)) {
		printf("# eventfd-id sem %d big %d dup %d; flags big %#x dup %#x\n", s.id, b.id, d.id,
		       fcntl(big, F_GETFL), fcntl(dup_fd, F_GETFL));
		bad |= 16;
	}
	if (fcntl(sem, F_GETFD) != 0 || fcntl(big, F_GETFD) != 0 || fcntl(dup_fd, F_GETFD) != FD_CLOEXEC) {
		printf("# FD_CLOEXEC: sem %d big %d dup %d, want 0 0 1\n", fcntl(sem, F_GETFD), fcntl(big, F_GETFD),
		       fcntl(dup_fd, F_GETFD));
		bad |= 32;
	}
	return bad;
}

/* Read @fd's counter if it is readable now: 0 and errno if not */
static uint64_t take(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v = 0;

	if (poll(&p, 1, 0) != 1) {
		errno = EAGAIN;
		return 0;
	}
	if (read(fd, &v, 8) != 8)
		return 0;
	return v;
}

static int verify(void)
{
	int bad = look();
	uint64_t v;

	if (bad & 512)
		return bad;
	for (int i = 0; i < 5; i++) {
		v = 0;
		if (read(sem, &v, 8) != 8 || v != 1) {
			printf("# sem read %d: %llu (%s)\n", i + 1, (unsigned long long)v, strerror(errno));
			bad |= 64;
			break;
		}
	}
	if (read(sem, &v, 8) != -1 || errno != EAGAIN) {
		printf("# sem: a sixth read does not fail with EAGAIN\n");
		bad |= 64;
	}
	v = take(big);
	if (v != big_count || take(big)) {
		printf("# big read %#llx, want %#llx once\n", (unsigned long long)v, (unsigned long long)big_count);
		bad |= 128;
	}
	v = 3;
	if (write(dup_fd, &v, 8) != 8 || take(big) != 3 || take(dup_fd)) {
		printf("# 3 written through dup, not read through big\n");
		bad |= 256;
	}
	v = 4;
	if (write(big, &v, 8) != 8 || take(dup_fd) != 4 || take(big)) {
		printf("# 4 written through big, not read through dup\n");
		bad |= 256;
	}
	/* set back: sem 5, big its counter */
	v = 5;
	if (write(sem, &v, 8) != 8 || write(big, &big_count, 8) != 8)
		bad |= 1024;
	return bad;
}

int main(int argc, char **argv)
{
	char c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "-o"))
		big_count = HUGE;
	sem = eventfd(5, EFD_SEMAPHORE | EFD_NONBLOCK);
	big = eventfd(0, 0);
	if (sem < 0 || big < 0 || write(big, &big_count, 8) != 8)
		return 1;
	dup_fd = fcntl(big, F_DUPFD_CLOEXEC, DUPFD);
	if (dup_fd != DUPFD)
		return 1;
	if (argc > 1 && !strcmp(argv[1], "-f")) {
		pid_t kid = fork();

		if (kid < 0)
			return 1;
		if (kid == 0) {	/* holds sem until the parent goes */
			while (getppid() != 1)
				usleep(20000);
			_exit(0);
		}
	}

	printf("ready\n");
	while (read(0, &c, 1) == 1) {
		if (c == 'c')
			printf("check %d\n", look());
		else if (c == 'v')
			printf("check %d\n", verify());
	}
	return 0;
}
