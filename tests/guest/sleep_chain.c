// SPDX-License-Identifier: GPL-2.0
/*
 * The sleep scenario, self-checkpointing: a counter (a line every 100 ms)
 * checkpoints itself at 5, is killed, and its image resumes at 6 with the
 * syscall returning 1; the restarted process checkpoints at 10, and so on:
 * a chain of three restarts. The image is executed with a new pipe as its
 * stdout, and that is where the restarted process writes.
 */
#include "guest.h"

int main(void)
{
	char line[256], img[64], want[64];
	struct child c;
	int n;

	spawn(&c, (char *[]){ "/bin/counter", "-c", "5", NULL }, 0);
	check(expect_line(&c, "checkpoint 5 ", line, sizeof(line), 10000), "original: %s", line);
	check(!strcmp(line, "checkpoint 5 ret 0"), "original gets 0 from checkpoint");
	reap(&c);
	for (n = 5; n <= 15; n += 5) {
		snprintf(img, sizeof(img), "./ckpt%d.kckpt", n);
		check(access(img, X_OK) == 0, "%s exists and is executable", img);
		spawn(&c, (char *[]){ img, NULL }, 0);
		snprintf(want, sizeof(want), "resumed %d", n);
		check(read_line(&c, line, sizeof(line), 10000) && !strcmp(line, want),
		      "restart %d: first line \"%s\" (want \"%s\")", n / 5, line, want);
		snprintf(want, sizeof(want), "count %d", n + 1);
		check(read_line(&c, line, sizeof(line), 10000) && !strcmp(line, want),
		      "restart %d carries on: \"%s\"", n / 5, line);
		snprintf(want, sizeof(want), "checkpoint %d ret 0", n + 5);
		check(expect_line(&c, want, line, sizeof(line), 10000), "restart %d checkpoints again at %d", n / 5, n + 5);
		reap(&c);
	}
	return failures ? 1 : 0;
}
