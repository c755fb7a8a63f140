// SPDX-License-Identifier: GPL-2.0
/*
 * cr_unknown: an image of a format this loader does not know is refused
 * cleanly by both restart paths, before anything changes (issue 16 item
 * 5): binfmt_cr fails the exec with ENOEXEC and one log line, cr -r
 * --userspace exits 7. /bin/xstate is checkpointed (kernel mode); copies
 * of its image with the KCKPT version 3 (a future format) and with an
 * extras bit no loader knows (0x80000000, an optional note of a future
 * format) are refused, and the image itself still restarts both ways.
 */
#include "refusal.h"

#define EXTRA_UNKNOWN	0x80000000u

/* Write @src with the KCKPT note's u32 at @off or'ed/set to @v as @dst */
static int mutant(const char *src, const char *dst, size_t off, uint32_t v, int set)
{
	struct img m;
	uint32_t size;
	int count;
	size_t st;

	if (img_load(&m, src) || img_index(&m))
		return -1;
	st = img_find_note(&m, "KCKPT", 1, &size, &count);
	if (!st || size < ST_FIXED)
		return -1;
	img_put(&m, st + off, set ? v : img_get(&m, st + off) | v);
	unlink(dst);
	return img_write(&m, dst);
}

int main(void)
{
	const char *img = "u.kckpt";
	struct child c;
	int rc;

	unlink(img);
	start_ready(&c, (char *[]){ "/bin/xstate", NULL });
	rc = cr_p(c.pid, img, 0);
	check(rc == 0, "cr -p: exit %d", rc);
	reap(&c);

	check(!mutant(img, "v3.kckpt", 4, 3, 1), "image with KCKPT version 3 written");
	refused_restart("v3.kckpt", "unsupported KCKPT version", "3", "KCKPT version 3");
	check(!mutant(img, "x.kckpt", ST_EXTRAS, EXTRA_UNKNOWN, 0), "image with an unknown extras bit written");
	refused_restart("x.kckpt", "bad attribute flags, dumpable, extras", "", "extras bit 0x80000000");
	restarts_both(img, "the unmodified image");
	return failures ? 1 : 0;
}
