/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An image that both restart paths must refuse, or both must restart:
 * binfmt_cr (execve of the image; a refusal is ENOEXEC and one
 * "binfmt_cr:" line in the kernel log) and cr -r --userspace (a refusal
 * is exit 7, "invalid image").
 */
#ifndef KCKPT_REFUSAL_H
#define KCKPT_REFUSAL_H

#include <sys/klog.h>
#include "crpair.h"
#include "image.h"

/* Is there a binfmt_cr line in the kernel log holding @a and, after it, @b? */
static __attribute__((unused)) int klog_has(const char *a, const char *b)
{
	static char log[1 << 16];
	int n = klogctl(3, log, sizeof(log) - 1), seen = 0;

	log[n > 0 ? n : 0] = 0;
	for (char *p = strstr(log, "binfmt_cr"); p; p = strstr(p + 1, "binfmt_cr")) {
		char *eol = strchr(p, '\n'), *q = strstr(p, a);

		if (eol && q && q < eol && strstr(q, b) && strstr(q, b) < eol) {
			printf("# log: %.*s\n", (int)(eol - p), p);
			seen = 1;
		}
	}
	return seen;
}

/* Both paths refuse @img (in the cwd); binfmt_cr logs "@a ... @b" */
static __attribute__((unused)) void refused_restart(const char *img, const char *a, const char *b, const char *why)
{
	char path[64];
	int r;

	sleep(6);	/* the refusal log line is ratelimited */
	klogctl(5, NULL, 0);
	snprintf(path, sizeof(path), "./%s", img);
	r = exec_image(path, 0);
	check(r == ENOEXEC, "%s: binfmt_cr refuses with ENOEXEC (%d)", why, r);
	check(klog_has(a, b), "%s: the kernel log says \"%s ... %s\"", why, a, b);
	r = run((char *[]){ "/bin/cr", "-r", "--userspace", "-f", (char *)img, NULL });
	check(r == 7, "%s: cr -r --userspace refuses, exit 7 (%d)", why, r);
}

/* @img (in the cwd, of a self-checking program) restarts both ways and passes its check */
static __attribute__((unused)) void restarts_both(const char *img, const char *why)
{
	struct child r;

	for (int binfmt = 0; binfmt < 2; binfmt++) {
		spawn_restart(&r, img, binfmt);
		check(self_check(&r), "%s: %s restarts", why, binfmt ? "binfmt_cr" : "cr -r --userspace");
		reap(&r);
	}
}

#endif /* KCKPT_REFUSAL_H */
