/* SPDX-License-Identifier: MIT */
/*
 * Parsing of /dev/serial/by-id names, which udev builds as
 * "usb-<vendor>_<product>[_<serial>]-if<NN>[-port<N>]":
 *
 *   usb-Klipper_stm32f446xx_1A2B3C-if00        Klipper
 *   usb-katapult_stm32f446xx_1A2B3C-if00       Katapult
 *   usb-CanBoot_stm32f103xe_1A2B3C-if00        Katapult, older builds
 *   usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0
 *   usb-1a86_USB_Serial-if00-port0             CH340: no serial number
 *
 * udev turns spaces into '_', so vendor and product cannot always be told
 * apart; for Klipper and Katapult they can (the product is the MCU, which
 * has no '_'), and the serial number is what identifies a board.
 */
#pragma once

enum kf_byid_kind {
	KF_BYID_OTHER = 0, /* an adapter or another device */
	KF_BYID_KLIPPER,   /* vendor "Klipper" */
	KF_BYID_KATAPULT,  /* vendor "katapult" or "CanBoot" */
};

struct kf_byid {
	enum kf_byid_kind kind;
	char *vendor;  /* as in the name: "Klipper", "katapult", "1a86" */
	char *product; /* the MCU for Klipper/Katapult; NULL when absent */
	char *serial;  /* the USB serial number, or NULL */
	int interface; /* from "-ifNN", or -1 */
};

/*
 * Parse a by-id name (a basename, not a path). Returns 0, or -EINVAL when
 * @name is not a "usb-..." by-id name, or -ENOMEM. On success @out owns
 * its strings; release them with kf_byid_clear().
 */
int
kf_byid_parse(const char *name, struct kf_byid *out);

void
kf_byid_clear(struct kf_byid *id);
