// SPDX-License-Identifier: GPL-2.0
/*
 * checkpoint_clone_vm: a process whose memory is shared with another
 * process (clone(CLONE_VM) without CLONE_THREAD) cannot be checkpointed
 * (EBUSY, no file left): the other one could change memory while it is
 * written.  Once that process is gone, checkpoint works again.
 */
#define _GNU_SOURCE
#include <sched.h>

#include "guest.h"
#include "image.h"

static int sibling(void *arg)
{
	for (;;)
		pause();
	return 0;
}

static int in_child(void)
{
	static char stack[64 << 10];
	int st;
	long r;
	pid_t sib = clone(sibling, stack + sizeof(stack), CLONE_VM | SIGCHLD, NULL);

	if (sib < 0)
		return 10;
	errno = 0;
	r = ckpt("vm.kckpt");
	if (r == 1)
		_exit(42);
	if (r != -1 || errno != EBUSY) {
		kill(sib, SIGKILL);
		return 11;	/* checkpointed a shared mm */
	}
	if (access("vm.kckpt", F_OK) == 0)
		return 12;
	kill(sib, SIGKILL);
	waitpid(sib, &st, 0);
	r = ckpt("vm.kckpt");
	if (r == 1)
		_exit(42);
	return r == 0 ? 0 : 13;
}

int main(void)
{
	int st, r;
	pid_t pid;

	setvbuf(stdout, NULL, _IONBF, 0);
	unlink("vm.kckpt");
	pid = fork();
	if (!pid)
		_exit(in_child());
	waitpid(pid, &st, 0);
	r = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	check(r != 11, "no image while a CLONE_VM sibling lives");
	check(r != 12, "no file left after EBUSY");
	check(r == 0, "EBUSY, then checkpoint once the sibling is gone (%d)", r);
	chmod("vm.kckpt", 0755);
	r = exec_image("./vm.kckpt", 0);
	check(r == 1042, "that image restarts (%d)", r);
	return failures ? 1 : 0;
}
