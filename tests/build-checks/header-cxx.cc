// SPDX-License-Identifier: MIT
// The public header must compile alone as C++.
#include <kflash/kflash.h>

int
main()
{
	kflash_event_handler handler = nullptr;
	(void)handler;
	return KFLASH_OK;
}
