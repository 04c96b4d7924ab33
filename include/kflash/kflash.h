/* SPDX-License-Identifier: MIT */
/**
 * @file kflash.h
 * @brief libkflash: build and flash Klipper firmware onto every board of
 * a printer, safely.
 *
 * This umbrella header includes every public header of libkflash. A
 * program only ever needs `#include <kflash/kflash.h>`.
 *
 * Conventions, for every function of the library:
 * - Names start with `kflash_`, constants with `KFLASH_`.
 * - Objects are opaque; reference-counted ones have `_ref()`/`_unref()`,
 *   others `_free()`. All of these accept NULL.
 * - Fallible functions return 0 or a negative enum kflash_error value;
 *   the detail is in kflash_context_last_error().
 * - Returned strings are owned by the object they came from; their
 *   lifetime is documented on each getter.
 * - No function takes varargs, a va_list or a struct by value, so every
 *   function can be called through ctypes or cffi.
 */
#ifndef KFLASH_KFLASH_H
#define KFLASH_KFLASH_H

#include <kflash/build.h>
#include <kflash/can.h>
#include <kflash/check.h>
#include <kflash/config.h>
#include <kflash/context.h>
#include <kflash/discovery.h>
#include <kflash/error.h>
#include <kflash/event.h>
#include <kflash/firmware.h>
#include <kflash/flash.h>
#include <kflash/import.h>
#include <kflash/instance.h>
#include <kflash/katapult.h>
#include <kflash/klippy.h>
#include <kflash/registry.h>
#include <kflash/service.h>
#include <kflash/status.h>
#include <kflash/update.h>

#endif /* KFLASH_KFLASH_H */
