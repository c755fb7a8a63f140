// SPDX-License-Identifier: GPL-2.0
/*
 * cr_coredump: a restarted process that crashes dumps core, as any ELF
 * process does: an ELF core file appears and the wait status says so.
 */
#define _GNU_SOURCE
#include <sys/resource.h>

#include "guest.h"
#include "image.h"

int main(void)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	char cwd[256], pattern[300], magic[4] = { 0 };
	int st, fd;
	pid_t pid;

	setvbuf(stdout, NULL, _IONBF, 0);
	unlink("k.kckpt");
	pid = fork();
	if (!pid) {
		long r = ckpt("k.kckpt");

		if (r == 1) {
			setrlimit(RLIMIT_CORE, &rl);
			kill(getpid(), SIGSEGV);	/* crash, restarted */
		}
		_exit(r == 0 ? 0 : 100);
	}
	waitpid(pid, &st, 0);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "checkpoint made k.kckpt");
	chmod("k.kckpt", 0755);

	getcwd(cwd, sizeof(cwd));
	snprintf(pattern, sizeof(pattern), "%s/core.%%p", cwd);
	write_file("/proc/sys/kernel/core_pattern", pattern);
	pid = fork();
	if (!pid) {
		execl("./k.kckpt", "./k.kckpt", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	write_file("/proc/sys/kernel/core_pattern", "core");
	check(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "the restarted process died by SIGSEGV");
	check(WCOREDUMP(st), "its wait status reports a core dump");
	snprintf(pattern, sizeof(pattern), "core.%d", pid);
	fd = open(pattern, O_RDONLY);
	check(fd >= 0 && read(fd, magic, 4) == 4 && !memcmp(magic, "\177ELF", 4),
	      "%s is an ELF core file", pattern);
	return failures ? 1 : 0;
}
