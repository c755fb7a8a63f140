// SPDX-License-Identifier: GPL-2.0
/*
 * cr_exec_traced: an image restarted under a tracer that asked for exec
 * events (PTRACE_O_TRACEEXEC: strace -f, gdb following an exec) still
 * sees checkpoint() return 1, and so does one under PTRACE_SYSCALL.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/user.h>

#include "guest.h"
#include "image.h"

/* Run the image traced; returns its exit status, or -1. */
static int traced_run(const char *path, int syscalls, long *eax_at_exec)
{
	int st, stops = 0;
	pid_t pid = fork();

	if (!pid) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	*eax_at_exec = -1;
	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st))
		return -1;
	ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(PTRACE_O_TRACEEXEC | PTRACE_O_TRACESYSGOOD));
	ptrace(syscalls ? PTRACE_SYSCALL : PTRACE_CONT, pid, NULL, NULL);
	while (waitpid(pid, &st, 0) == pid && WIFSTOPPED(st)) {
		int sig = 0;

		if (++stops > 10000)
			break;
		if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXEC << 8))) {
			struct user_regs_struct r;

			if (!ptrace(PTRACE_GETREGS, pid, NULL, &r))
				*eax_at_exec = r.eax;
		} else if (WSTOPSIG(st) != (SIGTRAP | 0x80)) {
			sig = WSTOPSIG(st);
		}
		ptrace(syscalls ? PTRACE_SYSCALL : PTRACE_CONT, pid, NULL, (void *)(long)sig);
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

int main(void)
{
	long eax;
	int r;

	setvbuf(stdout, NULL, _IONBF, 0);
	check(make_image("t.kckpt", 42, NULL) == 0, "checkpoint made t.kckpt");
	r = exec_image("./t.kckpt", 0);
	check(r == 1042, "untraced restart returns 1 (exit %d)", r - 1000);

	r = traced_run("./t.kckpt", 0, &eax);
	check(r == 42, "restart under PTRACE_O_TRACEEXEC returns 1 (exit %d)", r);
	check(eax == 1, "the exec stop shows the restored eax 1 (got %ld)", eax);

	r = traced_run("./t.kckpt", 1, &eax);
	check(r == 42, "restart under PTRACE_SYSCALL returns 1 (exit %d)", r);

	return failures ? 1 : 0;
}
