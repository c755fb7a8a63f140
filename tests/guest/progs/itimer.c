// SPDX-License-Identifier: GPL-2.0
/*
 * itimer: a process with interval timers armed, sleeping in read(0).
 * Prints "ready"; each command is answered "check MASK" (0: all there).
 *
 * Default: ITIMER_REAL 30 s with a 7 s interval, ITIMER_VIRTUAL 1000 s
 * (500 s interval), ITIMER_PROF 2000 s (900 s interval). "c": getitimer
 * shows each armed, its interval exact (bits 2, 8, 32) and its value
 * above 0 and no larger than at the previous "c" (bits 1, 4, 16; the
 * values are remembered in memory, so a restarted process compares with
 * the original's last look before the checkpoint). A CPU timer may come
 * back up to a tick larger: setitimer() adds one to every CPU timer it
 * arms. VIRTUAL and PROF must stay above 900 and 1900 s (the process
 * uses little CPU time), so an interval taken for the value shows.
 *
 * "-s": only ITIMER_REAL, 3 s with a 300 ms interval, to be checkpointed
 * at once. "c": it is armed with at most 3 s left and its interval
 * exact (bit 1). "w": SIGALRM comes twice within 6 s of that "c", the
 * first no later than the value "c" saw (+ 500 ms), the second about
 * 300 ms later (bit 64); a "# " line says when.
 *
 * "-p": the default timers and a POSIX timer (timer_create, 100 s),
 * which checkpoint refuses; "c" also checks the POSIX timer is still
 * armed (bit 128).
 *
 * EOF ends it. SIGALRM has a counting SA_RESTART handler throughout.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>

#define SLACK_US 20000		/* a tick at HZ >= 100, and then some */

static const struct itimerval arm[3] = {
	[ITIMER_REAL] = { .it_interval = { 7, 0 }, .it_value = { 30, 0 } },
	[ITIMER_VIRTUAL] = { .it_interval = { 500, 0 }, .it_value = { 1000, 0 } },
	[ITIMER_PROF] = { .it_interval = { 900, 0 }, .it_value = { 2000, 0 } },
};
static const struct itimerval arm_short = { .it_interval = { 0, 300000 }, .it_value = { 3, 0 } };
static const long long floor_us[3] = { 0, 900000000LL, 1900000000LL };
static const char *const names[3] = { "ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF" };

static long long last_us[3];		/* value at the last "c" */
static int alarms_then;			/* alarms at the last "c" */
static volatile sig_atomic_t alarms;
static double alarm_ms[8];		/* when alarm n came: [n % 8] */
static double check_ms;			/* when the last "c" looked */
static int shortmode, posix;
static timer_t ptimer;

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void on_alrm(int sig)
{
	(void)sig;
	alarm_ms[alarms % 8] = mono_ms();
	alarms++;
}

static long long us(struct timeval tv)
{
	return tv.tv_sec * 1000000LL + tv.tv_usec;
}

static int check_default(void)
{
	int bad = 0;

	for (int w = 0; w < 3; w++) {
		struct itimerval now;
		long long v, limit = last_us[w] + (w == ITIMER_REAL ? 0 : SLACK_US);

		getitimer(w, &now);
		v = us(now.it_value);
		/* ITIMER_REAL fired meanwhile (a slow run): it went on with its interval */
		if (w == ITIMER_REAL && alarms != alarms_then)
			limit = us(arm[w].it_interval);
		if (v <= floor_us[w] || v > limit) {
			printf("# %s value %lld us, want (%lld, %lld]\n", names[w], v, floor_us[w], limit);
			bad |= 1 << (2 * w);
		}
		if (us(now.it_interval) != us(arm[w].it_interval)) {
			printf("# %s interval %lld us, want %lld\n", names[w], us(now.it_interval),
			       us(arm[w].it_interval));
			bad |= 2 << (2 * w);
		}
		last_us[w] = v;
	}
	alarms_then = alarms;
	if (posix) {
		struct itimerspec its;

		if (timer_gettime(ptimer, &its) || its.it_value.tv_sec <= 0 || its.it_value.tv_sec > 100) {
			printf("# POSIX timer: %ld s left\n", (long)its.it_value.tv_sec);
			bad |= 128;
		}
	}
	return bad;
}

static int check_short(void)
{
	struct itimerval now;

	getitimer(ITIMER_REAL, &now);
	last_us[0] = us(now.it_value);
	alarms_then = alarms;
	check_ms = mono_ms();
	if (last_us[0] <= 0 || last_us[0] > us(arm_short.it_value) || us(now.it_interval) != us(arm_short.it_interval)) {
		printf("# ITIMER_REAL value %lld us interval %lld us, want (0, %lld] and %lld\n", last_us[0],
		       us(now.it_interval), us(arm_short.it_value), us(arm_short.it_interval));
		return 1;
	}
	return 0;
}

/* The short timer fires twice after "c": when its value runs out, then after its interval */
static int wait_short(void)
{
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	int n = alarms_then;
	double first, gap;

	while (alarms < n + 2 && mono_ms() - check_ms < 6000)
		nanosleep(&tick, NULL);
	if (alarms < n + 2) {
		printf("# %d SIGALRM within 6 s of the check, want 2 (ITIMER_REAL had %lld us left)\n",
		       (int)alarms - n, last_us[0]);
		return 64;
	}
	first = alarm_ms[n % 8] - check_ms;
	gap = alarm_ms[(n + 1) % 8] - alarm_ms[n % 8];
	printf("# first SIGALRM %.0f ms after the check (%lld us were left), the next %.0f ms later\n", first,
	       last_us[0], gap);
	if (first > last_us[0] / 1000.0 + 500 || gap < 250 || gap > 2000)
		return 64;
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	char c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	shortmode = argc > 1 && !strcmp(argv[1], "-s");
	posix = argc > 1 && !strcmp(argv[1], "-p");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alrm;
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGALRM, &sa, NULL) || sigaction(SIGVTALRM, &sa, NULL) || sigaction(SIGPROF, &sa, NULL))
		return 1;
	if (posix) {
		struct sigevent se = { .sigev_notify = SIGEV_NONE };
		struct itimerspec its = { .it_value = { 100, 0 } };

		if (timer_create(CLOCK_MONOTONIC, &se, &ptimer) || timer_settime(ptimer, 0, &its, NULL))
			return 1;
	}
	if (shortmode) {
		if (setitimer(ITIMER_REAL, &arm_short, NULL))
			return 1;
	} else {
		for (int w = 0; w < 3; w++) {
			if (setitimer(w, &arm[w], NULL))
				return 1;
			last_us[w] = us(arm[w].it_value);
		}
	}
	printf("ready\n");
	while (read(0, &c, 1) == 1) {
		if (c == 'c')
			printf("check %d\n", shortmode ? check_short() : check_default());
		else if (c == 'w')
			printf("check %d\n", wait_short());
	}
	return 0;
}
