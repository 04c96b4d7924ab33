/* SPDX-License-Identifier: MIT */
/* The public header must compile alone as strict C99. */
#include <kflash/kflash.h>

int
main(void)
{
	return KFLASH_OK;
}
