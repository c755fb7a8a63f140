// SPDX-License-Identifier: GPL-2.0
/*
 * attrs: a process whose attributes exec would reset: task name
 * "attrs-test", personality ADDR_NO_RANDOMIZE, no_new_privs, not
 * dumpable, and a 64 KiB alternate signal stack (SS_AUTODISARM) that its
 * SIGUSR1 handler runs on. Prints "ready"; on each "c" read from stdin
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

static void on_usr1(int sig)
{
	char here;

	(void)sig;
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
	if (prctl(PR_GET_DUMPABLE) != 0)
		bad |= 8;
	if (sigaltstack(NULL, &ss) || ss.ss_sp != alt || ss.ss_size != ALT_SIZE ||
	    ss.ss_flags != (int)SS_AUTODISARM)
		bad |= 16;
	on_alt = 0;
	raise(SIGUSR1);
	if (!on_alt)
		bad |= 32;
	return bad;
}

int main(void)
{
	struct sigaction sa;
	stack_t ss = { .ss_sp = alt, .ss_size = ALT_SIZE, .ss_flags = (int)SS_AUTODISARM };
	char c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_ONSTACK;
	if (sigaltstack(&ss, NULL) || sigaction(SIGUSR1, &sa, NULL) ||
	    prctl(PR_SET_NAME, "attrs-test") || personality(PER_LINUX | ADDR_NO_RANDOMIZE) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_DUMPABLE, 0))
		return 1;
	printf("ready\n");
	while (read(0, &c, 1) == 1)
		if (c == 'c')
			printf("check %d\n", check());
	return 0;
}
