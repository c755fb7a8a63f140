// SPDX-License-Identifier: GPL-2.0
/*
 * cr_exec_creds: an image never runs with more than its caller has, and a
 * refusal leaves no lock behind.  Root that dropped its permitted
 * capabilities (capset, bounding set kept) and nobody running an image
 * that carries file capabilities get ENOEXEC; the caller's
 * exec_update_lock is free afterwards (opening /proc/PID/mem of the
 * zombie does not block).  A setuid program (euid root, ruid nobody) gains
 * nothing from exec and restarts the image.
 */
#define _GNU_SOURCE
#include <linux/capability.h>
#include <sys/xattr.h>

#include "guest.h"
#include "image.h"

static int drop_caps(void *unused)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = { 0 };

	return syscall(SYS_capset, &h, d);
}

static int nobody(void *unused)
{
	return setgid(65534) || setuid(65534);
}

/* ruid nobody, euid root: what a setuid-root program runs with */
static int setuid_root(void *unused)
{
	return setreuid(65534, 0);
}

/*
 * Exec @path in a child (as root with no permitted capabilities if @drop,
 * else as nobody); leave the child unreaped and check that its
 * exec_update_lock is free; return errno of the exec, or 1000+status.
 */
static int run_checked(const char *path, int drop, int *lock_free)
{
	int err, st;
	siginfo_t si;
	pid_t pid, chk;

	pid = exec_spawn(path, drop ? drop_caps : nobody, NULL, &err);
	if (pid < 0)
		return -1;
	/* a zombie, not reaped yet: its signal struct and locks still exist */
	waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
	chk = fork();
	if (!chk) {
		char mem[64];

		alarm(5);	/* a leaked lock blocks the open forever */
		snprintf(mem, sizeof(mem), "/proc/%d/mem", pid);
		open(mem, O_RDONLY);
		_exit(0);
	}
	waitpid(chk, &st, 0);
	*lock_free = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	waitpid(pid, &st, 0);
	return exec_result(err, st);
}

int main(void)
{
	/* VFS_CAP_REVISION_2 | effective, permitted = CAP_NET_RAW */
	unsigned int fcaps[5] = { 0x02000001, 1u << CAP_NET_RAW, 0, 0, 0 };
	int r, free_lock;

	setvbuf(stdout, NULL, _IONBF, 0);
	chmod(".", 0777);
	check(make_image("c.kckpt", 42, NULL) == 0, "root checkpoints c.kckpt");
	r = exec_image("./c.kckpt", 0);
	check(r == 1042, "root with its capabilities restarts it (%d)", r);

	/* a setuid-root program (ruid nobody, euid root) gains nothing: runs */
	r = exec_image_with("./c.kckpt", setuid_root, NULL);
	check(r == 1042, "ruid nobody, euid root (a setuid program) restarts it (%d)", r);

	r = run_checked("./c.kckpt", 1, &free_lock);
	check(r == ENOEXEC, "root without permitted capabilities: ENOEXEC (%d)", r);
	check(free_lock, "no lock left held by the refused exec");

	check(make_image("f.kckpt", 42, NULL) == 0, "root checkpoints f.kckpt");
	check(setxattr("f.kckpt", "security.capability", fcaps, 20, 0) == 0,
	      "file capabilities set on f.kckpt (errno %d)", errno);
	r = run_checked("./f.kckpt", 0, &free_lock);
	check(r == ENOEXEC, "image with file capabilities run by nobody: ENOEXEC (%d)", r);
	check(free_lock, "no lock left held by the refused exec");

	return failures ? 1 : 0;
}
