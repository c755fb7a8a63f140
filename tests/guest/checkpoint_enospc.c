// SPDX-License-Identifier: GPL-2.0
/*
 * checkpoint_enospc: a checkpoint that fails half written removes its
 * image, and removing it leaves the file system sound. A process with
 * 1 MiB touched checkpoints 20 times into a 64 KiB tmpfs: every call
 * fails with ENOSPC, leaves no file, and gives all blocks and inodes
 * back (statfs); the tmpfs then unmounts. Before patch 0033 the unlink
 * of the half-written image dropped the inode under the open file: on
 * a kernel with fsnotify that was an Oops in __fput on the first try.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include "guest.h"
#include "image.h"

#define DIR "/tmp/small"
#define IMG DIR "/x.kckpt"

int main(void)
{
	struct statfs before, after;
	int i, st;

	mkdir(DIR, 0755);
	check(!mount("tmpfs", DIR, "tmpfs", 0, "size=64k"), "mount a 64 KiB tmpfs: %s", strerror(errno));
	check(!statfs(DIR, &before), "statfs");
	for (i = 0; i < 20; i++) {
		pid_t pid = fork();

		if (!pid) {
			char *m = malloc(1 << 20);
			long r;

			for (int k = 0; m && k < 1 << 20; k += 4096)
				m[k] = k >> 12 | 1;
			r = ckpt(IMG);
			_exit(r == -1 && errno == ENOSPC ? 0 : r == -1 ? errno : 100 + (int)r);
		}
		waitpid(pid, &st, 0);
		statfs(DIR, &after);
		if (!WIFEXITED(st) || WEXITSTATUS(st) || !access(IMG, F_OK) ||
		    after.f_bfree != before.f_bfree || after.f_ffree != before.f_ffree)
			break;
	}
	check(i == 20, "20 checkpoints into a full tmpfs: ENOSPC, no image, blocks %lu/%lu and inodes %lu/%lu back (stopped at %d, status %#x)",
	      (unsigned long)after.f_bfree, (unsigned long)before.f_bfree, (unsigned long)after.f_ffree,
	      (unsigned long)before.f_ffree, i, st);
	check(!umount(DIR), "the tmpfs unmounts: %s", strerror(errno));
	return failures ? 1 : 0;
}
