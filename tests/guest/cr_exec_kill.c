// SPDX-License-Identifier: GPL-2.0
/*
 * cr_exec_kill: exec of an image with a huge, sparse stack segment stays
 * killable: SIGKILL ends it in well under a second instead of after the
 * copy of every page of the segment (12 s here before patch 0021).
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <sys/time.h>

#include "guest.h"
#include "image.h"

#define PH(i, f) (52 + 32 * (i) + (f))	/* Elf32_Phdr field offset */

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void)
{
	unsigned int phnum, last, start, size, prev_end, new_start, delta;
	struct img m = { 0 };
	double t0, t1;
	pid_t pid;
	int st, fd;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (make_image("s.kckpt", 42, NULL) || img_load(&m, "s.kckpt")) {
		check(0, "checkpoint made and parsed");
		return 1;
	}
	phnum = m.buf[44] | m.buf[45] << 8;
	last = phnum - 1;
	start = img_get(&m, PH(last, 8));
	size = img_get(&m, PH(last, 20));
	prev_end = img_get(&m, PH(last - 1, 8)) + img_get(&m, PH(last - 1, 20));
	check(img_get(&m, m.state + ST_FIXED + 16 * (last - 1) + 8) & 1,
	      "the last segment is the stack");
	/* grow the stack down to 64 MiB above the segment below it */
	new_start = prev_end + (64u << 20);
	delta = start - new_start;
	check(delta > (1u << 30), "stack grown by %u MiB of holes", delta >> 20);
	img_put(&m, PH(last, 8), new_start);
	img_put(&m, PH(last, 16), size + delta);
	img_put(&m, PH(last, 20), size + delta);
	img_put(&m, m.state + ST_FIXED + 16 * (last - 1), new_start);
	img_put(&m, m.state + ST_VDSO, 0);	/* the vDSO was in that range */
	check(img_write(&m, "big.kckpt") == 0, "big.kckpt written");
	fd = open("big.kckpt", O_WRONLY);
	check(ftruncate(fd, img_get(&m, PH(last, 4)) + size + delta) == 0, "big.kckpt extended sparse");
	close(fd);

	/* the segment is all holes: no memory is used, allow mapping it */
	write_file("/proc/sys/vm/overcommit_memory", "1");
	/*
	 * Without preemption an exec that never yields keeps the parent from
	 * running at all (the child may even run first): measure from the
	 * time the kill is due, taken before the fork.
	 */
	t0 = now() + 0.3;
	pid = fork();
	if (!pid) {
		execl("./big.kckpt", "./big.kckpt", (char *)NULL);
		_exit(127);
	}
	usleep(300000);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	t1 = now();
	write_file("/proc/sys/vm/overcommit_memory", "0");
	printf("# SIGKILL due to reaped: %.3f s (%u pages of stack)\n", t1 - t0, (size + delta) >> 12);
	/*
	 * Killed in the copy, or done copying (holes are skipped) and dead
	 * of its missing vDSO: either way within 0.5 s of the kill.
	 */
	check(WIFSIGNALED(st), "the exec ended by a signal (status %#x)", st);
	check(t1 - t0 < 0.5, "reaped within 0.5 s of the kill (%.3f s)", t1 - t0);
	return failures ? 1 : 0;
}
