// SPDX-License-Identifier: GPL-2.0
/*
 * pager: a process whose output depends on all of its memory, for
 * incremental checkpoints. It touches MIB MiB ("-m MIB", default 16) of
 * anonymous memory with a pattern, prints "ready", then for each byte
 * read on stdin changes a few pages ("-p PAGES" per step, default 4;
 * which pages and what goes in them depend only on the step number) and
 * prints "step N sum S", S a checksum over every page. So a restarted
 * copy fed the same bytes prints exactly what the original prints, and
 * only if every page came back. 'q' exits. "-n": no checksum ("step N"),
 * for benchmarks, where summing 256 MiB per step would cost seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/mman.h>

int main(int argc, char **argv)
{
	size_t mib = 16, per = 4, npages, words;
	uint32_t *m, step = 0;
	char c;
	int opt, nosum = 0;

	while ((opt = getopt(argc, argv, "m:p:n")) != -1) {
		if (opt == 'n')
			nosum = 1;
		if (opt == 'm')
			mib = strtoul(optarg, NULL, 0);
		else if (opt == 'p')
			per = strtoul(optarg, NULL, 0);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	npages = mib << 8;
	words = npages * 1024;
	m = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 1;
	for (size_t i = 0; i < words; i++)
		m[i] = (uint32_t)i * 2654435761u | 1;
	printf("ready\n");
	while (read(0, &c, 1) == 1 && c != 'q') {
		uint32_t sum = 0;

		step++;
		for (size_t j = 0; j < per; j++) {
			size_t page = ((size_t)step * 7919 + j * 104729) % npages;

			m[page * 1024 + (step + j) % 1024] ^= step * 40503u + (uint32_t)j;
		}
		if (nosum) {
			printf("step %u\n", step);
			continue;
		}
		for (size_t i = 0; i < words; i++)
			sum = (sum ^ m[i]) * 16777619u;
		printf("step %u sum %08x\n", step, sum);
	}
	return 0;
}
