// SPDX-License-Identifier: GPL-2.0
/*
 * Oracle for cr --userspace: a kernel-mode image (cr -p, sys_checkpoint
 * injected) and a userspace image (cr -p --userspace, ptrace + /proc) of
 * the same process blocked in read() must describe the same state;
 * cr --compare decodes both with kckpt-image and says what differs. Done
 * for /bin/counter -b and for /bin/holder (signals, fds, umask, cwd, brk,
 * a mapped file, SSE, TLS). Both targets keep running afterwards.
 */
#include "guest.h"

static int cr(char *const argv[])
{
	return run(argv);
}

/* Both kinds of image of c's process, then compare them. */
static void oracle(struct child *c, const char *name)
{
	char p[16], k[64], u[64], u2[64], line[256];
	int rc;

	snprintf(p, sizeof(p), "%d", c->pid);
	snprintf(k, sizeof(k), "%s-kernel.kckpt", name);
	snprintf(u, sizeof(u), "%s-user.kckpt", name);
	snprintf(u2, sizeof(u2), "%s-user2.kckpt", name);
	rc = cr((char *[]){ "/bin/cr", "-p", p, "-f", k, NULL });
	check(rc == 0, "%s: cr -p (kernel mode): exit %d", name, rc);
	rc = cr((char *[]){ "/bin/cr", "-p", p, "--userspace", "-f", u, NULL });
	check(rc == 0, "%s: cr -p --userspace: exit %d", name, rc);
	rc = cr((char *[]){ "/bin/cr", "--compare", k, u, NULL });
	check(rc == 0, "%s: cr --compare kernel-mode and userspace images: exit %d", name, rc);
	/* and in the other order, after the userspace checkpoint */
	rc = cr((char *[]){ "/bin/cr", "-p", p, "--userspace", "-f", u2, NULL });
	check(rc == 0 && cr((char *[]){ "/bin/cr", "--compare", u, u2, NULL }) == 0,
	      "%s: a second userspace image is the same", name);
	/* the target is unharmed */
	check(write(c->in, "x", 1) == 1 && read_line(c, line, sizeof(line), 5000) &&
	      (!strncmp(line, "count", 5) || !strcmp(line, "tick 1")),
	      "%s: still running after three checkpoints: \"%s\"", name, line);
}

int main(void)
{
	struct child c;
	char line[256];
	int i;

	spawn(&c, (char *[]){ "/bin/counter", "-b", NULL }, 1);
	for (i = 0; i < 3; i++)
		if (write(c.in, "x", 1) != 1 || !read_line(&c, line, sizeof(line), 5000))
			break;
	check(!strcmp(line, "count 3"), "counter -b counted to 3: \"%s\"", line);
	usleep(200 * 1000);
	oracle(&c, "counter");
	reap(&c);

	spawn(&c, (char *[]){ "/bin/holder", NULL }, 1);
	check(read_line(&c, line, sizeof(line), 5000) && !strncmp(line, "ready", 5), "holder: \"%s\"", line);
	usleep(200 * 1000);
	oracle(&c, "holder");
	reap(&c);

	/* the oracle can fail: two different processes differ */
	check(cr((char *[]){ "/bin/cr", "--compare", "counter-user.kckpt", "holder-user.kckpt", NULL }) == 1,
	      "cr --compare of two different processes: exit 1");
	check(cr((char *[]){ "/bin/cr", "--compare", "counter-user.kckpt", "/init", NULL }) == 7,
	      "cr --compare with a non-image: exit 7");
	/* a userspace image restarts through binfmt_cr like a kernel one */
	spawn(&c, (char *[]){ "./holder-user.kckpt", NULL }, 1);
	check(write(c.in, "x", 1) == 1 && read_line(&c, line, sizeof(line), 5000) && !strcmp(line, "tick 1"),
	      "holder-user.kckpt restarted (binfmt_cr) reads its new stdin: \"%s\"", line);
	reap(&c);
	return failures ? 1 : 0;
}
