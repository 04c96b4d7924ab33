#!/bin/sh
# SPDX-License-Identifier: MIT
# A stand-in for Klipper's scripts/flash-sdcard.sh: it logs its arguments
# to KF_FAKE_KLIPPER_LOG and fails when KF_FAKE_FLASH_FAIL is set.
if [ -n "${KF_FAKE_KLIPPER_LOG:-}" ]; then
	echo "flash-sdcard.sh $*" >>"$KF_FAKE_KLIPPER_LOG"
fi
if [ -n "${KF_FAKE_FLASH_FAIL:-}" ]; then
	echo "SD card flash failed (fake)" >&2
	exit 1
fi
echo "SD Card Flash Complete"
