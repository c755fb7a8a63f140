// SPDX-License-Identifier: GPL-2.0
/*
 * cr_anon_memory: memory that was anonymous comes back anonymous, in both
 * modes (binfmt_cr and cr -r --userspace).  After restart the heap, an anonymous mapping and the stack are not mappings of
 * the image file (/proc/self/maps), their data is intact, MADV_DONTNEED
 * on them reads zeros (not the checkpointed bytes) and MADV_FREE works.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "guest.h"
#include "image.h"

#define NPAGES 16

/* Does the maps line containing @addr name a file? 0 no, 1 yes, -1 none. */
static int backed_by_file(const void *addr, char *line, size_t size)
{
	unsigned long a = (unsigned long)addr, lo, hi, ino;
	FILE *f = fopen("/proc/self/maps", "r");
	int r = -1;

	while (f && fgets(line, size, f)) {
		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &lo, &hi, &ino) == 3 && a >= lo && a < hi) {
			r = ino != 0;
			break;
		}
	}
	if (f)
		fclose(f);
	return r;
}

static int check_region(const char *what, unsigned char *p, unsigned char fill)
{
	char line[512];
	int bad = 0, i, r;

	for (i = 0; i < NPAGES * 4096; i++)
		bad |= p[i] != (unsigned char)(fill + i / 4096);
	printf("# %s: data %s\n", what, bad ? "CHANGED" : "intact");
	r = backed_by_file(p, line, sizeof(line));
	printf("# %s: %s", what, r < 0 ? "not mapped\n" : line);
	if (bad || r != 0)
		return 1;
	if (madvise(p, 4096, MADV_DONTNEED)) {
		printf("# %s: madvise(MADV_DONTNEED): %s\n", what, strerror(errno));
		return 1;
	}
	for (i = 0; i < 4096; i++)
		bad |= p[i] != 0;
	printf("# %s: after MADV_DONTNEED the page reads %s\n", what, bad ? "the old bytes" : "zeros");
	if (bad)
		return 1;
	if (madvise(p + 4096, 4096, MADV_FREE)) {
		printf("# %s: madvise(MADV_FREE): %s\n", what, strerror(errno));
		return 1;
	}
	return 0;
}

int main(void)
{
	static char line[512];
	unsigned char *heap, *anon, stack[NPAGES * 4096];
	int st, r, i;
	pid_t pid;

	setvbuf(stdout, NULL, _IONBF, 0);
	unlink("a.kckpt");
	pid = fork();
	if (!pid) {
		heap = malloc(NPAGES * 4096 + 4096);
		heap = (unsigned char *)(((unsigned long)heap + 4095) & ~4095ul);
		anon = mmap(NULL, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		for (i = 0; i < NPAGES * 4096; i++) {
			heap[i] = 0x10 + i / 4096;
			anon[i] = 0x40 + i / 4096;
			stack[i] = 0x70 + i / 4096;
		}
		r = ckpt("a.kckpt");
		if (r == 0)
			_exit(0);
		if (r != 1)
			_exit(100);
		r = check_region("heap", heap, 0x10);
		r |= check_region("anonymous mmap", anon, 0x40);
		/* the stack: its data and its backing; no madvise under our feet */
		for (i = 0; i < NPAGES * 4096; i++)
			r |= stack[i] != (unsigned char)(0x70 + i / 4096);
		i = backed_by_file(stack, line, sizeof(line));
		printf("# stack: %s", line);
		r |= i != 0;
		_exit(r ? 43 : 42);
	}
	waitpid(pid, &st, 0);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "checkpoint made a.kckpt");
	chmod("a.kckpt", 0755);
	r = exec_image("./a.kckpt", 0);
	check(r == 1042, "binfmt_cr: heap, anonymous mmap and stack are anonymous memory (%d)", r);
	pid = fork();
	if (!pid) {
		execl("/bin/cr", "cr", "-r", "--userspace", "-f", "./a.kckpt", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	r = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	check(r == 42, "cr -r --userspace: the same (exit %d)", r);
	return failures ? 1 : 0;
}
