// SPDX-License-Identifier: GPL-2.0
/*
 * attrs: a process whose attributes exec would reset: task name
 * "attrs-test", personality ADDR_NO_RANDOMIZE, no_new_privs, and a 64 KiB
 * alternate signal stack (SS_AUTODISARM) that its SIGUSR1 handler runs
 * on; still dumpable (checkpoint refuses a process that is not). "-n"
 * makes it not dumpable instead of checking it is. Prints "ready"; on each "c" read from stdin
 * checks them all (the handler must find itself on the alternate stack)
 * and prints "check MASK", 0 when all is there; EOF ends it.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/personality.h>
#include <sys/prctl.h>

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)	/* linux/signal.h; glibc lacks it */
#endif
#define ALT_SIZE (64 * 1024)
static char alt[ALT_SIZE] __attribute__((aligned(16)));
static volatile int on_alt;
static int nodump;

/*
 * SA_SIGINFO: on i386 only the rt signal frame carries uc_stack, which
 * rt_sigreturn uses to re-arm an SS_AUTODISARM stack; glibc returns from
 * a plain handler through the old sigreturn, which leaves it disarmed.
 */
static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	char here;

	(void)sig;
	(void)si;
	(void)uc;
	on_alt = &here >= alt && &here < alt + ALT_SIZE;
}

static int check(void)
{
	char name[16] = "";
	stack_t ss;
	int bad = 0;

	prctl(PR_GET_NAME, name);
	if (strcmp(name, "attrs-test"))
		bad |= 1;
	if (personality(0xffffffff) != (PER_LINUX | ADDR_NO_RANDOMIZE))
		bad |= 2;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		bad |= 4;
	if (prctl(PR_GET_DUMPABLE) != !nodump)
		bad |= 8;
	if (sigaltstack(NULL, &ss) || ss.ss_sp != alt || ss.ss_size != ALT_SIZE ||
	    ss.ss_flags != (int)SS_AUTODISARM) {
		printf("# sigaltstack %p+%#zx flags %#x, want %p+%#x flags %#x\n", ss.ss_sp, ss.ss_size,
		       ss.ss_flags, (void *)alt, ALT_SIZE, (int)SS_AUTODISARM);
		bad |= 16;
	}
	on_alt = 0;
	raise(SIGUSR1);
	if (!on_alt)
		bad |= 32;
	return bad;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	stack_t ss = { .ss_sp = alt, .ss_size = ALT_SIZE, .ss_flags = (int)SS_AUTODISARM };
	char c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_ONSTACK | SA_SIGINFO;
	if (sigaltstack(&ss, NULL) || sigaction(SIGUSR1, &sa, NULL) ||
	    prctl(PR_SET_NAME, "attrs-test") || personality(PER_LINUX | ADDR_NO_RANDOMIZE) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return 1;
	nodump = argc > 1 && !strcmp(argv[1], "-n");
	if (nodump && prctl(PR_SET_DUMPABLE, 0))
		return 1;
	printf("ready\n");
	while (read(0, &c, 1) == 1)
		if (c == 'c')
			printf("check %d\n", check());
	return 0;
}
