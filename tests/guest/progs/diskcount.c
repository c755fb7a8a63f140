// SPDX-License-Identifier: GPL-2.0
/*
 * diskcount: the counter of the two-boot tests (tests/guest/NAME.reboot.sh),
 * started in a directory on the disk (its cwd, which it keeps). It holds
 * count.log open for appending, and shared.dat (one page, "diskcount-map"
 * at its start) mapped MAP_SHARED read-write with its descriptor closed.
 * Prints "ready", then waits in read(0). Each "n" counts one (from 1):
 * "count N" appended to count.log, written at byte 64 of the mapping and
 * printed. Each "c" checks the process and prints "check MASK" (0: all
 * well), after "# " lines saying what is wrong:
 *   1  the cwd is not the directory it started in
 *   2  the log descriptor is not count.log of the cwd, or not O_APPEND
 *   4  the mapping is not shared.dat's page (contents differ, or not in
 *      /proc/self/maps)
 *   8  a byte stored through the mapping does not reach the file
 *  16  clock_gettime through glibc (the vDSO) fails, goes back, or is
 *      more than 2 s off the clock_gettime system call
 *  32  __vdso_clock_gettime, looked up in the mapped vDSO, does the same
 *  64  __kernel_vsyscall (AT_SYSINFO) called directly gives another
 *      getpid() than the system call, or the vDSO (AT_SYSINFO_EHDR) is
 *      not mapped as [vdso]
 * EOF ends it.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "diskcount-map"

static char home[512];
static int logfd = -1;
static unsigned char *map;
static unsigned int round_no;

/* The address of @name in the vDSO mapped at @base (0 if not there). */
static void *vdso_sym(unsigned long base, const char *name)
{
	Elf32_Ehdr *eh = (Elf32_Ehdr *)base;
	Elf32_Shdr *sh;
	Elf32_Phdr *ph;
	unsigned long load = 0;

	if (!base || memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return NULL;
	ph = (Elf32_Phdr *)(base + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD) {
			load = ph[i].p_vaddr;
			break;
		}
	sh = (Elf32_Shdr *)(base + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++) {
		Elf32_Sym *sym;
		const char *str;

		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		sym = (Elf32_Sym *)(base + sh[i].sh_offset);
		str = (const char *)(base + sh[sh[i].sh_link].sh_offset);
		for (unsigned int k = 0; k < sh[i].sh_size / sizeof(*sym); k++)
			if (sym[k].st_name && !strcmp(str + sym[k].st_name, name))
				return (void *)(base + sym[k].st_value - load);
	}
	return NULL;
}

/* getpid through __kernel_vsyscall at @entry. */
static long vsyscall_getpid(unsigned long entry)
{
	long r;

	asm volatile("call *%1" : "=a"(r) : "r"(entry), "0"((long)SYS_getpid) : "memory", "ecx", "edx");
	return r;
}

static int mapped_as(unsigned long addr, const char *what)
{
	char line[256], want[32];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	snprintf(want, sizeof(want), "%08lx-", addr);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)) && strstr(line, what))
			found = 1;
	if (f)
		fclose(f);
	return found;
}

static int time_ok(int (*gettime)(clockid_t, struct timespec *), const char *how)
{
	struct timespec a, b, sys;

	if (gettime(CLOCK_MONOTONIC, &a) || gettime(CLOCK_MONOTONIC, &b) || gettime(CLOCK_REALTIME, &a) ||
	    syscall(SYS_clock_gettime, CLOCK_REALTIME, &sys)) {
		printf("# %s: clock_gettime failed\n", how);
		return 0;
	}
	if (llabs((long long)a.tv_sec - sys.tv_sec) > 2) {
		printf("# %s: CLOCK_REALTIME %ld, the system call says %ld\n", how, (long)a.tv_sec, (long)sys.tv_sec);
		return 0;
	}
	return 1;
}

static int check(void)
{
	char cwd[512], page[4096];
	struct stat a, b;
	unsigned long ehdr = getauxval(AT_SYSINFO_EHDR), entry = getauxval(AT_SYSINFO);
	int (*vdso_gettime)(clockid_t, struct timespec *) = vdso_sym(ehdr, "__vdso_clock_gettime");
	int fd = open("shared.dat", O_RDWR), bad = 0;
	unsigned char v = 'A' + round_no++ % 26;

	if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, home)) {
		printf("# cwd %s, started in %s\n", cwd, home);
		bad |= 1;
	}
	if (fstat(logfd, &a) || stat("count.log", &b) || a.st_ino != b.st_ino || a.st_dev != b.st_dev ||
	    !(fcntl(logfd, F_GETFL) & O_APPEND)) {
		printf("# the log descriptor is not count.log opened for appending\n");
		bad |= 2;
	}
	if (fd < 0 || pread(fd, page, sizeof(page), 0) != sizeof(page) || memcmp(page, map, sizeof(page)) ||
	    memcmp(map, MAGIC, sizeof(MAGIC)) || !mapped_as((unsigned long)map, "/shared.dat")) {
		printf("# the mapping is not shared.dat's page\n");
		bad |= 4;
	}
	map[4000] = v;
	if (fd < 0 || pread(fd, page, 1, 4000) != 1 || page[0] != (char)v)
		bad |= 8;
	if (fd >= 0)
		close(fd);
	if (!time_ok(clock_gettime, "glibc"))
		bad |= 16;
	if (!vdso_gettime || !time_ok(vdso_gettime, "__vdso_clock_gettime"))
		bad |= 32;
	if (!entry || vsyscall_getpid(entry) != syscall(SYS_getpid) || !mapped_as(ehdr, "[vdso]")) {
		printf("# __kernel_vsyscall at %#lx, vDSO at %#lx\n", entry, ehdr);
		bad |= 64;
	}
	return bad;
}

int main(void)
{
	char c;
	long n = 0;
	int fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	logfd = open("count.log", O_WRONLY | O_APPEND | O_CREAT, 0644);
	fd = open("shared.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (!getcwd(home, sizeof(home)) || logfd < 0 || fd < 0 || ftruncate(fd, 4096) ||
	    pwrite(fd, MAGIC, sizeof(MAGIC), 0) != sizeof(MAGIC))
		return 1;
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return 1;
	printf("ready\n");
	while (read(0, &c, 1) == 1) {
		if (c == 'n') {
			char line[32];
			int l = snprintf(line, sizeof(line), "count %ld\n", ++n);

			if (write(logfd, line, l) != l)
				printf("# count.log: short write\n");
			memcpy(map + 64, line, l);
			printf("%s", line);
		} else if (c == 'c') {
			printf("check %d\n", check());
		}
	}
	return 0;
}
