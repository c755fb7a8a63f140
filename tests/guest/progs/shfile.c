// SPDX-License-Identifier: GPL-2.0
/*
 * shfile: a process with shared mappings of a file: two pages of
 * /tmp/shfile.dat mapped MAP_SHARED read-write, and its second page
 * mapped MAP_SHARED read-only from an O_RDONLY descriptor; both
 * descriptors closed. "-m" also maps a memfd shared, which no image can
 * hold. Prints "ready"; on each "c" read from stdin checks that the
 * mappings are the file's (a byte stored through the writable mapping
 * is in the file, a byte written to the file shows in both mappings,
 * /proc/self/maps names the file) and prints "check MASK"; EOF ends it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#define DAT "/tmp/shfile.dat"
static unsigned char *rw, *ro;
static unsigned int round_no;

static int mapped_file_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[256];
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, DAT) && strstr(line, " rw-s ") ? 1 : strstr(line, DAT) && strstr(line, " r--s ") ? 10 : 0;
	if (f)
		fclose(f);
	return n;
}

static int check(void)
{
	unsigned char v = 0x41 + (getpid() + round_no++) % 50, w = v + 1, b = 0;
	int fd = open(DAT, O_RDWR), bad = 0;

	if (fd < 0)
		return 64;
	if (memcmp(rw, "file-data", 9) || memcmp(rw + 4096, "page1", 5) || memcmp(ro, "page1", 5))
		bad |= 1;
	rw[100] = v;
	if (pread(fd, &b, 1, 100) != 1 || b != v)
		bad |= 2;
	if (pwrite(fd, &w, 1, 4096 + 200) != 1 || ro[200] != w || rw[4096 + 200] != w)
		bad |= 4;
	if (mapped_file_count() != 11)
		bad |= 8;
	close(fd);
	return bad;
}

int main(int argc, char **argv)
{
	int fd;
	char c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = open(DAT, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, 8192) || pwrite(fd, "file-data", 9, 0) != 9 ||
	    pwrite(fd, "page1", 5, 4096) != 5)
		return 1;
	rw = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	fd = open(DAT, O_RDONLY);
	ro = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 4096);
	close(fd);
	if (rw == MAP_FAILED || ro == MAP_FAILED)
		return 1;
	if (argc > 1 && !strcmp(argv[1], "-m")) {
		int m = memfd_create("shfile", 0);
		char *p;

		if (m < 0 || ftruncate(m, 4096))
			return 1;
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
		if (p == MAP_FAILED)
			return 1;
		p[0] = 1;
		close(m);
	}
	printf("ready\n");
	while (read(0, &c, 1) == 1)
		if (c == 'c')
			printf("check %d\n", check());
	return 0;
}
