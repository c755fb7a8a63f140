// SPDX-License-Identifier: GPL-2.0
/*
 * checkpoint_v2: what format version 2 adds, through checkpoint() and
 * binfmt_cr directly: a MAP_SHARED|MAP_ANONYMOUS page (shared with a child
 * forked after restart), a pipe to itself with unread bytes, its capacity
 * and O_NONBLOCK, a file unlinked while open (contents, position, mode),
 * /dev/null and a directory fd, a raised soft and a lowered hard rlimit,
 * umask 0777 (the image is still 0700 and restarts), and an inotify
 * instance that makes checkpoint() fail with EBUSY and leave no image.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include "guest.h"
#include "image.h"

#define IMG "/tmp/checkpoint_v2.kckpt"
static char *shm;

static int restored(int pr, int pw, int uf, int nullfd, int dirfd)
{
	struct rlimit rl;
	struct stat st;
	char buf[64];
	int bad = 0, n;
	pid_t c;

	if (memcmp(shm, "shared!", 8)) { printf("# shm lost\n"); bad |= 1; }
	c = fork();
	if (!c) { strcpy(shm, "child!"); _exit(0); }
	waitpid(c, NULL, 0);
	if (strcmp(shm, "child!")) { printf("# shm not shared with child: %s\n", shm); bad |= 2; }
	if (fcntl(pr, F_GETPIPE_SZ) != 131072) { printf("# pipe size %d\n", fcntl(pr, F_GETPIPE_SZ)); bad |= 4; }
	if (!(fcntl(pw, F_GETFL) & O_NONBLOCK)) { printf("# pipe O_NONBLOCK lost\n"); bad |= 4; }
	if (write(pw, "+more", 5) != 5) { printf("# pipe write: %s\n", strerror(errno)); bad |= 4; }
	n = read(pr, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	if (strcmp(buf, "hello pipe+more")) { printf("# pipe data '%s'\n", buf); bad |= 8; }
	if (fstat(uf, &st) || st.st_nlink != 0 || st.st_size != 13 || (st.st_mode & 07777) != 0640) {
		printf("# unlinked stat: nlink %d size %d mode %o\n", (int)st.st_nlink, (int)st.st_size, st.st_mode); bad |= 16;
	}
	n = read(uf, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	if (strcmp(buf, "nked data")) { printf("# unlinked data/pos '%s'\n", buf); bad |= 32; }
	if (fstat(nullfd, &st) || !S_ISCHR(st.st_mode)) { printf("# /dev/null lost\n"); bad |= 64; }
	if (fstat(dirfd, &st) || !S_ISDIR(st.st_mode)) { printf("# dir fd lost\n"); bad |= 64; }
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur != 200) { printf("# NOFILE cur %lu\n", rl.rlim_cur); bad |= 128; }
	getrlimit(RLIMIT_CORE, &rl);
	if (rl.rlim_max != 1000000) { printf("# CORE max %lu\n", rl.rlim_max); bad |= 128; }
	if (umask(0) != 0777) { printf("# umask\n"); bad |= 128; }
	return bad;
}

int main(void)
{
	int pfd[2], uf, nullfd, dirfd, ifd, ok = 1, r;
	struct rlimit rl;
	struct stat st;
	pid_t pid;

	unlink(IMG);
	pid = fork();
	if (!pid) {
		shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		strcpy(shm, "shared!");
		pipe(pfd);
		fcntl(pfd[0], F_SETPIPE_SZ, 131072);
		fcntl(pfd[1], F_SETFL, O_NONBLOCK);
		write(pfd[1], "hello pipe", 10);
		uf = open("/tmp/checkpoint_v2.tmp", O_RDWR | O_CREAT | O_TRUNC, 0640);
		write(uf, "unlinked data", 13);
		lseek(uf, 4, SEEK_SET);
		unlink("/tmp/checkpoint_v2.tmp");
		nullfd = open("/dev/null", O_WRONLY);
		dirfd = open("/tmp", O_RDONLY | O_DIRECTORY);
		getrlimit(RLIMIT_NOFILE, &rl); rl.rlim_cur = 200; setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_CORE, &rl); rl.rlim_max = 1000000; if (rl.rlim_cur > rl.rlim_max) rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_CORE, &rl);
		umask(0777);
		r = ckpt(IMG);
		if (r == 1)
			_exit(restored(pfd[0], pfd[1], uf, nullfd, dirfd));
		if (r)
			printf("# checkpoint: %s\n", strerror(errno));
		_exit(r == 0 ? 0 : 100);
	}
	waitpid(pid, &r, 0);
	if (!WIFEXITED(r) || WEXITSTATUS(r)) { printf("not ok 1 checkpoint %x\n", r); return 1; }
	stat(IMG, &st);
	printf("%s 1 image mode %o whatever the umask\n", (st.st_mode & 07777) == 0700 ? "ok" : "not ok", st.st_mode & 07777);
	ok &= (st.st_mode & 07777) == 0700;
	r = exec_image(IMG, 0);
	printf("%s 2 restart (result %d)\n", r == 1000 ? "ok" : "not ok", r);
	ok &= r == 1000;
	/* inotify: EBUSY (an anonymous inode no record kind describes) */
	unlink(IMG);
	pid = fork();
	if (!pid) {
		ifd = inotify_init1(0);
		(void)ifd;
		r = ckpt(IMG);
		_exit(r < 0 && errno == EBUSY ? 0 : 1);
	}
	waitpid(pid, &r, 0);
	ok &= WIFEXITED(r) && !WEXITSTATUS(r) && access(IMG, F_OK);
	printf("%s 3 inotify refused with EBUSY, no image left (%d)\n", WIFEXITED(r) && !WEXITSTATUS(r) && access(IMG, F_OK) ? "ok" : "not ok", r);
	return ok ? 0 : 1;
}
