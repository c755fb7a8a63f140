// SPDX-License-Identifier: GPL-2.0
/* The smallest guest test: a static i386 program runs and can write. */
#include <stdio.h>

int main(void)
{
	printf("hello from the i386 guest\n");
	return 0;
}
