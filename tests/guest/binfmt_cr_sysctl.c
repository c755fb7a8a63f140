// SPDX-License-Identifier: GPL-2.0
/*
 * binfmt_cr_sysctl: fs.binfmt_cr turns the loader off and on; it defaults
 * to 1, accepts only 0 and 1, and only root may change it.
 */
#define _GNU_SOURCE
#include "guest.h"
#include "image.h"

#define KNOB "/proc/sys/fs/binfmt_cr"

static int set_knob(const char *v)
{
	return write_file(KNOB, v);
}

static int as_nobody_set(void)
{
	int st;
	pid_t pid = fork();

	if (!pid) {
		if (setgid(65534) || setuid(65534))
			_exit(2);
		_exit(set_knob("0") ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 3;
}

int main(void)
{
	char v[8] = { 0 };
	int fd, r;

	setvbuf(stdout, NULL, _IONBF, 0);
	fd = open(KNOB, O_RDONLY);
	check(fd >= 0 && read(fd, v, sizeof(v) - 1) > 0 && v[0] == '1',
	      "%s exists and defaults to 1", KNOB);
	if (fd >= 0)
		close(fd);
	check(make_image("s.kckpt", 42, NULL) == 0, "checkpoint made s.kckpt");

	check(as_nobody_set() == 0, "nobody cannot change it");
	check(set_knob("2") != 0, "2 is refused");
	check(set_knob("0") == 0, "root sets it to 0");
	r = exec_image("./s.kckpt", 0);
	check(r == ENOEXEC, "fs.binfmt_cr=0: the image does not execute (%d)", r);
	check(set_knob("1") == 0, "root sets it to 1");
	r = exec_image("./s.kckpt", 0);
	check(r == 1042, "fs.binfmt_cr=1: the image restarts (%d)", r);
	return failures ? 1 : 0;
}
