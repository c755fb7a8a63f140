// SPDX-License-Identifier: GPL-2.0
/*
 * kckpt guest init: mount the pseudo filesystems, run every program in
 * /tests (sorted, each in its own work dir, process group and timeout),
 * print KTAP v1 on the console, then leave QEMU through isa-debug-exit so
 * that its exit status carries the verdict: (code << 1) | 1.
 *
 * Kernel command line: kckpt.filter=PATTERN (fnmatch, or substring),
 * kckpt.tests=A,B,C (only these tests: one shard of test-vm --jobs N),
 * kckpt.timeout=SECS (per test), kckpt.shell=1 (interactive shell instead),
 * kckpt.phase=1|2 (a boot of the two-boot tests, below).
 * Before each result line init prints "# time NAME MS", the test's wall
 * time in milliseconds (a KTAP diagnostic; test-vm --timings shows it).
 *
 * busybox's halt, poweroff and reboot signal init (SIGUSR1, SIGUSR2,
 * SIGTERM); this kernel has no ACPI, so init answers by ending the guest
 * through the exit port, as if the run were over.
 *
 * Two-boot tests (test-vm's reboot.rs): with kckpt.phase=N init mounts the
 * virtio disk /dev/vda (ext2) at /disk and runs the selected programs of
 * /reboot instead of /tests, each as "NAME phaseN /disk/NAME" in that
 * directory (made if missing). Then it kills every process left, syncs
 * and unmounts /disk (read-only remount if busy) before it exits, so the
 * next boot finds on the disk what this one wrote. Without the disk every
 * test fails, naming why.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 256
#define HEARTBEAT_SECS 10

static char filter[256];
static char only[2048];	/* kckpt.tests=: the kernel's command line is at most 2048 */
static int per_test_timeout = 120;
static int want_shell;
static int phase;	/* kckpt.phase=: 1 or 2 for a boot of the two-boot tests */

static void guest_exit(int code)
{
	fflush(stdout);
	sync();
	if (ioperm(0xf4, 1, 1) == 0)
		outb(code, 0xf4);
	reboot(RB_AUTOBOOT);	/* with -no-reboot this ends QEMU too */
	for (;;)
		pause();
}

/* Async-signal-safe: sync, the exit port, reboot (-no-reboot ends QEMU). */
static void on_poweroff(int sig)
{
	(void)sig;
	sync();
	if (ioperm(0xf4, 1, 1) == 0)
		outb(0, 0xf4);
	reboot(RB_AUTOBOOT);
}

static void read_cmdline(void)
{
	char buf[4096], *tok, *save;
	int fd = open("/proc/cmdline", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		if (!strncmp(tok, "kckpt.filter=", 13))
			snprintf(filter, sizeof(filter), "%s", tok + 13);
		else if (!strncmp(tok, "kckpt.tests=", 12))
			snprintf(only, sizeof(only), "%s", tok + 12);
		else if (!strncmp(tok, "kckpt.timeout=", 14))
			per_test_timeout = atoi(tok + 14);
		else if (!strcmp(tok, "kckpt.shell=1"))
			want_shell = 1;
		else if (!strncmp(tok, "kckpt.phase=", 12))
			phase = atoi(tok + 12);
	}
}

static int run(const char *path, char *const argv[])
{
	int st;
	pid_t p = fork();

	if (p == 0) {
		execv(path, argv);
		_exit(127);
	}
	if (p < 0 || waitpid(p, &st, 0) < 0)
		return -1;
	return st;
}

static void setup(void)
{
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mkdir("/dev", 0755);
	mkdir("/tmp", 01777);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("tmpfs", "/tmp", "tmpfs", 0, "mode=1777");
	run("/bin/busybox", (char *[]){ "busybox", "--install", "-s", "/bin", NULL });
	setenv("PATH", "/bin:/sbin:/usr/bin", 1);
	setenv("HOME", "/tmp", 1);
	setenv("TERM", "vt100", 1);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is @name one of kckpt.tests' comma-separated names? */
static int listed(const char *name)
{
	size_t l = strlen(name);
	const char *p;

	for (p = strstr(only, name); p; p = strstr(p + 1, name)) {
		if ((p == only || p[-1] == ',') && (p[l] == ',' || !p[l]))
			return 1;
	}
	return 0;
}

static int selected(const char *name)
{
	if (only[0] && !listed(name))
		return 0;
	if (!filter[0])
		return 1;
	if (strpbrk(filter, "*?["))
		return fnmatch(filter, name, 0) == 0;
	return strstr(name, filter) != NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Copy the test's output to the console as KTAP diagnostics ("# ..."). */
static void relay(char *buf, size_t *len, int flush)
{
	char *nl;

	while ((nl = memchr(buf, '\n', *len)) || (flush && *len)) {
		size_t l = nl ? (size_t)(nl - buf) : *len;

		printf("# %.*s\n", (int)l, buf);
		l = nl ? l + 1 : l;
		memmove(buf, buf + l, *len - l);
		*len -= l;
	}
	fflush(stdout);
}

/* Exit status of a test that does not apply to this kernel (automake's). */
#define EXIT_SKIP 77

/*
 * Runs one test, /tests/NAME in /tmp/work/NAME, or in a phase of the
 * two-boot tests /reboot/NAME phaseN /disk/NAME in /disk/NAME; returns 1
 * if it passed, 0 if not, with its KTAP directive in @why ("SKIP" for
 * exit status 77, which counts as ok).
 */
static int run_test(const char *name, char *why, size_t whylen)
{
	char path[512], dir[512], arg[16], buf[4096];
	size_t len = 0;
	int pfd[2], st = 0, done = 0;
	double start = now(), last = start;
	pid_t pid;

	snprintf(path, sizeof(path), "/%s/%s", phase ? "reboot" : "tests", name);
	snprintf(dir, sizeof(dir), "/%s/%s", phase ? "disk" : "tmp/work", name);
	snprintf(arg, sizeof(arg), "phase%d", phase);
	mkdir("/tmp/work", 0777);
	mkdir(dir, 0777);
	if (pipe(pfd) < 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return 0;
	}
	pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		if (chdir(dir) < 0)
			_exit(126);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		if (phase)
			execl(path, name, arg, dir, (char *)NULL);
		else
			execl(path, name, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	setpgid(pid, pid);
	while (!done) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		int r = poll(&p, 1, 500);

		if (r > 0) {
			ssize_t n = read(pfd[0], buf + len, sizeof(buf) - 1 - len);

			if (n <= 0) {
				done = 1;
			} else {
				len += n;
				relay(buf, &len, len == sizeof(buf) - 1);
				last = now();
			}
		}
		if (waitpid(pid, &st, WNOHANG) == pid) {
			/* Drain what is left; stragglers in its group are killed. */
			kill(-pid, SIGKILL);
			pid = 0;
		}
		if (pid && now() - start > per_test_timeout) {
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
			relay(buf, &len, 1);
			snprintf(why, whylen, "timeout after %d s", per_test_timeout);
			close(pfd[0]);
			return 0;
		}
		if (pid && now() - last > HEARTBEAT_SECS) {
			printf("# %s still running after %.0f s\n", name, now() - start);
			fflush(stdout);
			last = now();
		}
	}
	relay(buf, &len, 1);
	close(pfd[0]);
	if (pid)
		waitpid(pid, &st, 0);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_SKIP) {
		snprintf(why, whylen, "SKIP");
		return 1;
	}
	if (WIFEXITED(st))
		snprintf(why, whylen, "exit status %d", WEXITSTATUS(st));
	else
		snprintf(why, whylen, "killed by signal %d", WTERMSIG(st));
	return 0;
}

/* Mount the two-boot tests' disk at /disk; 0, or why not in @why. */
static int mount_disk(char *why, size_t whylen)
{
	int i;

	mkdir("/disk", 0755);
	/* virtio-blk probes before init runs; allow a late one 3 s. */
	for (i = 0; i < 30 && access("/dev/vda", F_OK); i++)
		usleep(100 * 1000);
	if (mount("/dev/vda", "/disk", "ext2", 0, NULL) == 0) {
		printf("kckpt-init: /dev/vda (ext2) on /disk, phase %d\n", phase);
		return 0;
	}
	snprintf(why, whylen, "no disk: mount /dev/vda on /disk: %s", strerror(errno));
	return -1;
}

/*
 * The end of a phase: nothing may keep /disk busy (a restarted process a
 * test left behind is killed), and what the tests wrote reaches the disk.
 */
static void unmount_disk(void)
{
	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0)
		;
	sync();
	if (umount("/disk") == 0) {
		printf("kckpt-init: /disk unmounted\n");
		return;
	}
	printf("kckpt-init: umount /disk: %s; remounting it read-only\n", strerror(errno));
	if (mount(NULL, "/disk", NULL, MS_REMOUNT | MS_RDONLY, NULL))
		printf("kckpt-init: remount /disk read-only: %s\n", strerror(errno));
	sync();
}

int main(void)
{
	char *names[MAX_TESTS], why[128], nodisk[128] = "";
	int n = 0, i, failed = 0;
	struct dirent *de;
	DIR *d;

	setup();
	signal(SIGUSR1, on_poweroff);
	signal(SIGUSR2, on_poweroff);
	signal(SIGTERM, on_poweroff);
	read_cmdline();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (want_shell) {
		printf("kckpt: interactive shell; `exit` or `poweroff` ends QEMU\n");
		run("/bin/busybox", (char *[]){ "setsid", "cttyhack", "sh", NULL });
		guest_exit(0);
	}
	if (phase && mount_disk(nodisk, sizeof(nodisk)))
		printf("kckpt-init: %s\n", nodisk);
	d = opendir(phase ? "/reboot" : "/tests");
	while (d && (de = readdir(d)) && n < MAX_TESTS) {
		if (de->d_name[0] != '.' && selected(de->d_name))
			names[n++] = strdup(de->d_name);
	}
	if (d)
		closedir(d);
	qsort(names, n, sizeof(*names), cmp);
	printf("KTAP version 1\n1..%d\n", n);
	for (i = 0; i < n; i++) {
		double start = now();
		int ok;

		why[0] = 0;
		if (nodisk[0]) {
			ok = 0;
			snprintf(why, sizeof(why), "%s", nodisk);
		} else {
			ok = run_test(names[i], why, sizeof(why));
		}
		printf("# time %s %.0f\n", names[i], (now() - start) * 1000);
		if (ok) {
			printf("ok %d %s%s%s\n", i + 1, names[i], why[0] ? " # " : "", why);
		} else {
			printf("not ok %d %s # %s\n", i + 1, names[i], why);
			failed++;
		}
	}
	printf("# kckpt-init: %d passed, %d failed\n", n - failed, failed);
	if (phase && !nodisk[0])
		unmount_disk();
	guest_exit(failed ? 1 : 0);
	return 0;
}
