// SPDX-License-Identifier: GPL-2.0
/*
 * cr_incremental: a chain full -> inc1 -> inc2 of /bin/pager (16 MiB of
 * touched memory, 4 pages changed per step) made with cr -p --parent.
 * The incremental images are much smaller than the full one; inc2
 * restarted by cr -r and by cr -r --userspace prints exactly what the
 * uninterrupted original printed after it (every line is a checksum of
 * all 16 MiB); cr --flatten of inc2 is the same state as a full
 * --userspace checkpoint taken at the same moment (cr --compare).
 * Refused with exit 7 before anything runs: a missing, modified or
 * replaced parent (restart in both modes, --flatten, --parent); executing
 * an incremental image directly is ENOEXEC (binfmt_cr knows no parent bit).
 */
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "crpair.h"

#define MORE 3

static long blocks_kib(const char *f)
{
	struct stat st;

	return stat(f, &st) ? -1 : (long)(st.st_blocks / 2);
}

/* Send one step to @c; its line in @line. */
static int step(struct child *c, char *line, size_t size)
{
	return write(c->in, "n", 1) == 1 && read_line(c, line, size, 30000) && !strncmp(line, "step ", 5);
}

static int cr_parent(pid_t pid, const char *parent, const char *img)
{
	char p[16];

	snprintf(p, sizeof(p), "%d", (int)pid);
	wait_in_syscall(pid, SYS_read);
	return run((char *[]){ "/bin/cr", "-p", p, "--parent", (char *)parent, "-f", (char *)img, NULL });
}

/* Restart @img by cr -r (binfmt_cr after flattening) or cr -r --userspace. */
static void restart_matches(const char *img, int user, char want[MORE][64])
{
	struct child r;
	char line[64] = "";
	int k = 0;

	if (user)
		spawn(&r, (char *[]){ "/bin/cr", "-r", "--userspace", "-f", (char *)img, NULL }, 1);
	else
		spawn(&r, (char *[]){ "/bin/cr", "-r", "-f", (char *)img, NULL }, 1);
	while (k < MORE && step(&r, line, sizeof(line)) && !strcmp(line, want[k]))
		k++;
	check(k == MORE, "cr -r%s %s: %d of %d lines as the original's (last \"%s\", want \"%s\")",
	      user ? " --userspace" : "", img, k, MORE, line, want[k < MORE ? k : MORE - 1]);
	write(r.in, "q", 1);
	reap(&r);
}

/* Every way of using @img is refused with exit 7 (what: why). */
static void refused(const char *img, const char *what)
{
	int a = run((char *[]){ "/bin/cr", "-r", "-f", (char *)img, NULL });
	int b = run((char *[]){ "/bin/cr", "-r", "--userspace", "-f", (char *)img, NULL });
	int c = run((char *[]){ "/bin/cr", "--flatten", (char *)img, "-f", "refused.kckpt", NULL });

	check(a == 7 && b == 7 && c == 7 && access("refused.kckpt", F_OK),
	      "%s: cr -r %d, cr -r --userspace %d, cr --flatten %d (want 7, no file)", what, a, b, c);
	unlink("refused.kckpt");
}

static int copy(const char *from, const char *to)
{
	return run((char *[]){ "/bin/cp", (char *)from, (char *)to, NULL });
}

int main(void)
{
	const char *imgs[] = { "full.kckpt", "inc1.kckpt", "inc2.kckpt", "ref2.kckpt", "flat2.kckpt", "other.kckpt",
			       "full.bak", "inc3.kckpt" };
	char want[MORE][64], line[64] = "";
	struct child c, o;
	int rc, pid, st;
	long full, i1, i2;

	for (size_t i = 0; i < sizeof(imgs) / sizeof(imgs[0]); i++)
		unlink(imgs[i]);
	start_ready(&c, (char *[]){ "/bin/pager", NULL });
	check(step(&c, line, sizeof(line)), "step 1: \"%s\"", line);
	rc = cr_p(c.pid, "full.kckpt", 0);
	check(rc == 0, "cr -p (kernel mode): the full image, exit %d", rc);
	check(step(&c, line, sizeof(line)), "step 2: \"%s\"", line);
	rc = cr_parent(c.pid, "full.kckpt", "inc1.kckpt");
	check(rc == 0, "cr -p --parent full.kckpt -f inc1.kckpt: exit %d", rc);
	check(step(&c, line, sizeof(line)), "step 3: \"%s\"", line);
	rc = cr_parent(c.pid, "inc1.kckpt", "inc2.kckpt");
	check(rc == 0, "cr -p --parent inc1.kckpt -f inc2.kckpt: exit %d", rc);
	rc = cr_p(c.pid, "ref2.kckpt", 1);
	check(rc == 0, "cr -p --userspace: a full image of the same moment, exit %d", rc);
	for (int k = 0; k < MORE; k++) {
		check(step(&c, line, sizeof(line)), "the original goes on: \"%s\"", line);
		snprintf(want[k], sizeof(want[k]), "%s", line);
	}
	write(c.in, "q", 1);
	reap(&c);

	full = blocks_kib("full.kckpt");
	i1 = blocks_kib("inc1.kckpt");
	i2 = blocks_kib("inc2.kckpt");
	printf("# full %ld KiB, inc1 %ld KiB, inc2 %ld KiB on disk\n", full, i1, i2);
	check(full > 16384 && i1 > 0 && i2 > 0 && i1 * 10 < full && i2 * 10 < full,
	      "incremental images under a tenth of the full one (%ld, %ld of %ld KiB)", i1, i2, full);

	rc = run((char *[]){ "/bin/cr", "--flatten", "inc2.kckpt", "-f", "flat2.kckpt", NULL });
	check(rc == 0, "cr --flatten inc2.kckpt: exit %d", rc);
	rc = run((char *[]){ "/bin/cr", "--compare", "flat2.kckpt", "ref2.kckpt", NULL });
	check(rc == 0, "flattened inc2 and a full checkpoint of the same moment are the same state: exit %d", rc);
	rc = run((char *[]){ "/bin/cr", "--compare", "inc2.kckpt", "ref2.kckpt", NULL });
	check(rc != 0, "inc2 itself is not (its pages are elsewhere): exit %d", rc);

	restart_matches("inc2.kckpt", 0, want);
	restart_matches("inc2.kckpt", 1, want);
	restart_matches("flat2.kckpt", 0, want);

	/* executed directly: binfmt_cr refuses the unknown extras bit */
	pid = fork();
	if (pid == 0) {
		execl("./inc2.kckpt", "inc2.kckpt", (char *)NULL);
		_exit(errno == ENOEXEC ? 42 : 43);
	}
	waitpid(pid, &st, 0);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 42, "exec of an incremental image: ENOEXEC (status %#x)", st);

	/* the parent missing */
	rename("full.kckpt", "full.bak");
	refused("inc2.kckpt", "grandparent missing");
	start_ready(&o, (char *[]){ "/bin/pager", NULL });
	rc = cr_parent(o.pid, "full.kckpt", "inc3.kckpt");
	check(rc == 7 && access("inc3.kckpt", F_OK), "cr -p --parent of a missing image: exit %d (want 7, no file)", rc);
	/* the parent replaced by another checkpoint */
	rc = cr_p(o.pid, "full.kckpt", 0);
	check(rc == 0, "another process's image in full.kckpt's place: exit %d", rc);
	refused("inc2.kckpt", "grandparent replaced");
	refused("inc1.kckpt", "parent replaced");
	write(o.in, "q", 1);
	reap(&o);
	/* the parent modified: one byte of its notes, or one page more */
	copy("full.bak", "full.kckpt");
	rc = run((char *[]){ "/bin/sh", "-c", "printf '\\377' | dd of=full.kckpt bs=1 seek=600 conv=notrunc 2>/dev/null", NULL });
	refused("inc1.kckpt", "parent's notes modified");
	copy("full.bak", "full.kckpt");
	rc = run((char *[]){ "/bin/sh", "-c", "head -c 4096 /dev/zero >> full.kckpt", NULL });
	refused("inc1.kckpt", "parent grown");
	/* back as it was: the chain works again */
	copy("full.bak", "full.kckpt");
	restart_matches("inc2.kckpt", 1, want);

	for (size_t i = 0; i < sizeof(imgs) / sizeof(imgs[0]); i++)
		unlink(imgs[i]);
	return failures ? 1 : 0;
}
