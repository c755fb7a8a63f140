// SPDX-License-Identifier: GPL-2.0
/*
 * owner: a process owning what format version 2 saves, for cr -p in both
 * modes: a MAP_SHARED|MAP_ANONYMOUS page and a shared /dev/zero page, a
 * pipe to itself (capacity 128 KiB, O_NONBLOCK write end, unread bytes),
 * a file unlinked while open (mode 0640, position 4), /dev/null
 * (close-on-exec) and a directory open, a memfd (contents, position 2), RLIMIT_NOFILE soft 200 and
 * RLIMIT_CORE hard 1000000, umask 0777. "-i" also holds an inotify
 * instance, which no checkpoint can represent. Prints "ready"; on each "c" read
 * from stdin it checks all of that without changing it (a child forked
 * now shares the shared page) and prints "check MASK", 0 when all is
 * there; EOF ends it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define TMP "/tmp/owner.unlinked"
static char *shm, *zero;
static int pr, pw, uf, nullfd, dirfd, mfd;

static int check(void)
{
	struct rlimit rl;
	struct stat st;
	char buf[64];
	int bad = 0, n;
	mode_t m;
	pid_t c;

	if (strcmp(shm, "shared!") || strcmp(zero, "zero!"))
		bad |= 1;
	c = fork();
	if (!c) {
		strcpy(shm, "child!");
		strcpy(zero, "zchild!");
		_exit(0);
	}
	waitpid(c, NULL, 0);
	if (strcmp(shm, "child!") || strcmp(zero, "zchild!"))
		bad |= 2;
	strcpy(shm, "shared!");
	strcpy(zero, "zero!");
	if (fcntl(pr, F_GETPIPE_SZ) != 131072 || !(fcntl(pw, F_GETFL) & O_NONBLOCK))
		bad |= 4;
	n = read(pr, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	if (strcmp(buf, "hello pipe"))
		bad |= 8;
	if (write(pw, "hello pipe", 10) != 10)
		bad |= 8;
	if (fstat(uf, &st) || st.st_nlink || st.st_size != 13 || (st.st_mode & 07777) != 0640)
		bad |= 16;
	n = read(uf, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	if (strcmp(buf, "nked data") || lseek(uf, 4, SEEK_SET) != 4)
		bad |= 32;
	if (fstat(nullfd, &st) || !S_ISCHR(st.st_mode) || fcntl(nullfd, F_GETFD) != FD_CLOEXEC)
		bad |= 64;
	if (fstat(dirfd, &st) || !S_ISDIR(st.st_mode) || fcntl(dirfd, F_GETFD) != 0)
		bad |= 64;
	n = pread(mfd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	if (strcmp(buf, "memfd data") || lseek(mfd, 0, SEEK_CUR) != 2)
		bad |= 512;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur != 200)
		bad |= 128;
	getrlimit(RLIMIT_CORE, &rl);
	if (rl.rlim_max != 1000000)
		bad |= 128;
	m = umask(0);
	umask(m);
	if (m != 0777)
		bad |= 256;
	return bad;
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	int p[2], z;
	char c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	z = open("/dev/zero", O_RDWR);
	zero = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, z, 0);
	close(z);
	if (shm == MAP_FAILED || zero == MAP_FAILED || pipe(p))
		return 1;
	strcpy(shm, "shared!");
	strcpy(zero, "zero!");
	pr = p[0];
	pw = p[1];
	fcntl(pr, F_SETPIPE_SZ, 131072);
	fcntl(pw, F_SETFL, O_NONBLOCK);
	if (write(pw, "hello pipe", 10) != 10)
		return 1;
	uf = open(TMP, O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (uf < 0 || write(uf, "unlinked data", 13) != 13)
		return 1;
	lseek(uf, 4, SEEK_SET);
	unlink(TMP);
	nullfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	dirfd = open("/tmp", O_RDONLY | O_DIRECTORY);
	mfd = memfd_create("owner", 0);
	if (mfd < 0 || write(mfd, "memfd data", 10) != 10 || lseek(mfd, 2, SEEK_SET) != 2)
		return 1;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = 200;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_CORE, &rl);
	rl.rlim_max = 1000000;
	if (rl.rlim_cur > rl.rlim_max)
		rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_CORE, &rl);
	umask(0777);
	if (argc > 1 && !strcmp(argv[1], "-i") && inotify_init1(0) < 0)
		return 1;
	printf("ready\n");
	while (read(0, &c, 1) == 1)
		if (c == 'c')
			printf("check %d\n", check());
	return 0;
}
