// SPDX-License-Identifier: GPL-2.0
/*
 * cr_signals: pending signals through cr -p in both modes. /bin/sigpend
 * has SIGUSR1 (kill, process), SIGUSR2 (tgkill, thread, with a handler)
 * and two real-time signals (sigqueue x3 to the process; one
 * rt_tgsigqueueinfo to the thread, one sigqueue to the process) pending
 * and blocked. Looking ("c") consumes nothing, so the original is
 * checkpointed with all of them: the checkpoints leave them pending
 * (nothing taken, nothing added), the two images are the same state (cr
 * --compare), and each image restarts through binfmt_cr and through cr -r
 * --userspace with the same signals pending in the same queues; taking
 * them ("v") gives each siginfo back (signo, si_code SI_USER, SI_TKILL or
 * SI_QUEUE, si_value in queue order, si_pid of the original sender,
 * si_uid), and unblocking SIGUSR2 runs its handler with its siginfo.
 */
#include "crpair.h"

int main(void)
{
	const char *const imgs[2] = { "s-k.kckpt", "s-u.kckpt" };
	struct child c;

	unlink(imgs[0]);
	unlink(imgs[1]);
	start_ready(&c, (char *[]){ "/bin/sigpend", NULL });
	check(self_check(&c), "the original has its signals pending before the checkpoint");
	checkpoint_both_ways(c.pid, imgs);
	check(self_check(&c), "the checkpoints took no signal and added none");
	check(ask_check(&c, 'v'), "the original's signals carry their siginfo (taken and made pending again)");
	reap(&c);

	restart_both_ways_asking(imgs, "cv", "the same signals pending, each siginfo back, SIGUSR2 to its handler");
	return failures ? 1 : 0;
}
