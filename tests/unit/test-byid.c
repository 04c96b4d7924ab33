/* SPDX-License-Identifier: MIT */
/* Parsing of /dev/serial/by-id names. */
#include <errno.h>
#include <string.h>

#include "internal/byid.h"
#include "kf-test.h"

static const struct {
	const char *name;
	enum kf_byid_kind kind;
	const char *vendor;
	const char *product;
	const char *serial;
	int interface;
} valid[] = {
	{ "usb-Klipper_stm32f446xx_1A2B3C4D5E6F708192A3B4C5-if00", KF_BYID_KLIPPER, "Klipper",
	  "stm32f446xx", "1A2B3C4D5E6F708192A3B4C5", 0 },
	{ "usb-katapult_stm32f446xx_1A2B3C4D5E6F708192A3B4C5-if00", KF_BYID_KATAPULT, "katapult",
	  "stm32f446xx", "1A2B3C4D5E6F708192A3B4C5", 0 },
	{ "usb-CanBoot_stm32f103xe_33FFD8054E4B313830761643-if00", KF_BYID_KATAPULT, "CanBoot",
	  "stm32f103xe", "33FFD8054E4B313830761643", 0 },
	{ "usb-klipper_rp2040_E66138935F2F6A2C-if00", KF_BYID_KLIPPER, "klipper", "rp2040",
	  "E66138935F2F6A2C", 0 },
	{ "usb-Klipper_stm32h723xx_140028000951313339373836-if02", KF_BYID_KLIPPER, "Klipper",
	  "stm32h723xx", "140028000951313339373836", 2 },
	{ "usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0", KF_BYID_OTHER, "FTDI", "FT232R_USB_UART",
	  "A50285BI", 0 },
	{ "usb-1a86_USB_Serial-if00-port0", KF_BYID_OTHER, "1a86", "USB_Serial", NULL, 0 },
	{ "usb-1a86_USB2.0-Serial-if00-port0", KF_BYID_OTHER, "1a86", "USB2.0-Serial", NULL, 0 },
	{ "usb-Silicon_Labs_CP2102_USB_to_UART_Bridge_Controller_0001-if00-port0", KF_BYID_OTHER,
	  "Silicon", "Labs_CP2102_USB_to_UART_Bridge_Controller", "0001", 0 },
	/* No interface suffix, odd characters kept as they are. */
	{ "usb-Odd-Vendor_my.dev+1#x_SN-1", KF_BYID_OTHER, "Odd-Vendor", "my.dev+1#x_SN-1", NULL,
	  -1 },
	{ "usb-Klipper_stm32f446xx-if00", KF_BYID_KLIPPER, "Klipper", "stm32f446xx", NULL, 0 },
	{ "usb-Vendoronly", KF_BYID_OTHER, "Vendoronly", NULL, NULL, -1 },
	/* "-if" inside the product is not the interface suffix. */
	{ "usb-Klipper_stm32-ifxx_ABC123-if01", KF_BYID_KLIPPER, "Klipper", "stm32-ifxx", "ABC123",
	  1 },
};

static const char *const invalid[] = {
	"",
	"Klipper_stm32f446xx_1A2B-if00",
	"pci-0000:00:14.0-usb-0:1.2:1.0",
	"usb-",
	"usb-_x",
	"usb-a/b_c-if00",
	"usb--if00",
};

START_TEST(byid_valid_names)
{
	struct kf_byid id;

	ck_assert_int_eq(kf_byid_parse(valid[_i].name, &id), 0);
	ck_assert_int_eq(id.kind, valid[_i].kind);
	ck_assert_str_eq(id.vendor, valid[_i].vendor);
	ck_assert_pstr_eq(id.product, valid[_i].product);
	ck_assert_pstr_eq(id.serial, valid[_i].serial);
	ck_assert_int_eq(id.interface, valid[_i].interface);
	kf_byid_clear(&id);
	ck_assert_ptr_null(id.vendor);
}
END_TEST

START_TEST(byid_invalid_names)
{
	struct kf_byid id;

	ck_assert_int_eq(kf_byid_parse(invalid[_i], &id), -EINVAL);
	ck_assert_ptr_null(id.vendor);
	ck_assert_ptr_null(id.serial);
}
END_TEST

START_TEST(byid_overlong_and_null)
{
	char name[400];
	struct kf_byid id;

	memset(name, 'A', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memcpy(name, "usb-Klipper_", 12);
	ck_assert_int_eq(kf_byid_parse(name, &id), -EINVAL);
	ck_assert_int_eq(kf_byid_parse(NULL, &id), -EINVAL);

	/* The longest valid name still parses. */
	name[255] = '\0';
	name[40] = '_';
	ck_assert_int_eq(kf_byid_parse(name, &id), 0);
	ck_assert_int_eq(id.kind, KF_BYID_KLIPPER);
	ck_assert_uint_eq(strlen(id.serial), 255 - 41);
	kf_byid_clear(&id);
}
END_TEST

KF_TEST_SUITE(byid)
{
	kf_test_add_loop(byid_valid_names, (int)(sizeof(valid) / sizeof(valid[0])));
	kf_test_add_loop(byid_invalid_names, (int)(sizeof(invalid) / sizeof(invalid[0])));
	kf_test_add(byid_overlong_and_null);
}
