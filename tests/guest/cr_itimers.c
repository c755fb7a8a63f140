// SPDX-License-Identifier: GPL-2.0
/*
 * cr_itimers: interval timers through cr -p in both modes. /bin/itimer
 * has ITIMER_REAL (30 s, 7 s interval), ITIMER_VIRTUAL and ITIMER_PROF
 * armed; both images are the same state (cr --compare: the timers' values
 * are the time left, which differs from one checkpoint to the next, so
 * compare must let those differ), the original's timers run on, and each
 * image restarts through binfmt_cr and through cr -r --userspace with
 * every timer armed, no more time left than at the original's last look
 * and the intervals exact. A timer that restart only reports and does not
 * arm shows too: "itimer -s" (ITIMER_REAL 3 s, 300 ms interval), each
 * mode's image made at once, fires SIGALRM in every restarted process,
 * when its time left runs out and again after its interval. A process
 * with a POSIX timer is refused by both modes (EBUSY, exit 1) and runs on
 * with all its timers.
 */
#include "crpair.h"

int main(void)
{
	const char *const imgs[2] = { "t-k.kckpt", "t-u.kckpt" };
	const char *const short_imgs[2] = { "ts-k.kckpt", "ts-u.kckpt" };
	const char *const posix_imgs[2] = { "tp-k.kckpt", "tp-u.kckpt" };
	struct child c;
	double t;
	int rc;

	for (int u = 0; u < 2; u++) {
		unlink(imgs[u]);
		unlink(short_imgs[u]);
		unlink(posix_imgs[u]);
	}
	start_ready(&c, (char *[]){ "/bin/itimer", NULL });
	check(self_check(&c), "the original has its timers armed before the checkpoint");
	checkpoint_both_ways(c.pid, imgs);
	check(self_check(&c), "the original's timers run on");
	reap(&c);

	restart_both_ways(imgs, "timers armed, no more time left, intervals exact");

	/* a short ITIMER_REAL: checkpointed at once, it fires after restart */
	for (int u = 0; u < 2; u++) {
		start_ready(&c, (char *[]){ "/bin/itimer", "-s", NULL });
		t = now_ms();
		rc = cr_p(c.pid, short_imgs[u], u);
		t = now_ms() - t;
		check(rc == 0, "itimer -s: cr -p%s: exit %d (%.0f ms of the 3 s)", u ? " --userspace" : "", rc, t);
		check(self_check(&c), "itimer -s: the original's timer is still armed");
		reap(&c);
	}
	restart_both_ways_asking(short_imgs, "cw", "ITIMER_REAL fires SIGALRM after restart, then after its interval");

	/* a POSIX timer: refused by both modes, the target unharmed */
	refused_target((char *[]){ "/bin/itimer", "-p", NULL }, posix_imgs, 1, "POSIX timer");
	return failures ? 1 : 0;
}
