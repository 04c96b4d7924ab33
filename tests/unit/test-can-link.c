/* SPDX-License-Identifier: MIT */
/*
 * The checks of a CAN interface before a flash, on the kernel's answers
 * kept in tests/fixtures/netlink/, and against this machine's kernel for
 * what it has (lo, and an interface that does not exist).
 */
#include <stdio.h>
#include <string.h>

#include "can/can-link.h"
#include "kf-test.h"
#include "libkflash-private.h"

static struct kflash_context *ctx;
static char *dir;

static void
setup(void)
{
	dir = kf_test_mkdtemp();
	ctx = kf_test_context(dir);
}

static void
teardown(void)
{
	ctx = kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}

static struct kf_can_link
fixture(const char *name)
{
	char path[4200];
	struct kf_can_link l;
	FILE *f;
	uint8_t buf[512];
	size_t n;

	snprintf(path, sizeof(path), "%s/netlink/%s", kf_test_fixtures_dir(), name);
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	ck_assert_int_eq(kf_can_link_parse(buf, n, &l), 0);
	return l;
}

START_TEST(link_parse_reads_the_kernel_answer)
{
	struct kf_can_link l = fixture("can0-ok.bin");
	uint8_t junk[64] = { 0 };

	ck_assert_str_eq(l.name, "can0");
	ck_assert_str_eq(l.kind, "can");
	ck_assert(l.up);
	ck_assert_uint_eq(l.bitrate, 1000000);
	ck_assert_uint_eq(l.txqueuelen, 128);
	ck_assert_int_eq(l.state, 0);
	/* A cut message keeps what came before the cut. */
	l = fixture("can0-truncated.bin");
	ck_assert_str_eq(l.name, "can0");
	ck_assert_str_eq(l.kind, "");
	/* Not a link message at all. */
	ck_assert_int_lt(kf_can_link_parse(junk, sizeof(junk), &l), 0);
	ck_assert_int_lt(kf_can_link_parse(junk, 4, &l), 0);
}
END_TEST

static const struct {
	const char *file;
	uint32_t bitrate;
	int code;
	const char *needle;
} checks[] = {
	{ "can0-ok.bin", 1000000, 0, NULL },
	{ "can0-ok.bin", 0, 0, NULL },
	{ "can0-down.bin", 1000000, KFLASH_ERR_IO,
	  "can0 is down; bring it up with: sudo ip link set can0 up type can bitrate 1000000" },
	{ "can0-500k.bin", 1000000, KFLASH_ERR_IO,
	  "can0 runs at 500000 bit/s, but the board's config says 1000000" },
	{ "can0-txqueuelen-10.bin", 1000000, KFLASH_ERR_IO,
	  "sudo ip link set can0 txqueuelen 128" },
	{ "can0-bus-off.bin", 1000000, KFLASH_ERR_IO, "can0 is BUS-OFF" },
	{ "can0-error-passive.bin", 1000000, KFLASH_ERR_IO, "can0 is ERROR-PASSIVE" },
	{ "eth0.bin", 1000000, KFLASH_ERR_INVALID, "eth0 is not a CAN interface" },
	{ "can0-truncated.bin", 0, KFLASH_ERR_INVALID, "can0 is not a CAN interface" },
};

START_TEST(link_check_names_the_fix)
{
	struct kf_can_link l;
	int r;

	setup();
	l = fixture(checks[_i].file);
	r = kf_can_link_check(ctx, &l, checks[_i].bitrate);
	if (checks[_i].code == 0)
		ck_assert_msg(r == 0, "%s", kflash_context_last_error(ctx));
	else
		kf_assert_error(ctx, r, checks[_i].code, checks[_i].needle);
	teardown();
}
END_TEST

/* The live path: this kernel's loopback, and an interface that does not exist. */
START_TEST(check_interface_asks_the_kernel)
{
	setup();
	kf_assert_error(ctx, kflash_can_check_interface(ctx, "lo", 1000000), KFLASH_ERR_INVALID,
			"lo is not a CAN interface");
	kf_assert_error(ctx, kflash_can_check_interface(ctx, "kfnothere0", 0), KFLASH_ERR_NOT_FOUND,
			"there is no network interface kfnothere0");
	kf_assert_error(ctx, kflash_can_check_interface(ctx, NULL, 0), KFLASH_ERR_INVALID,
			"no CAN interface given");
	/* With a socket dir, only that the socket answers. */
	ck_assert_int_eq(kflash_context_set_can_socket_dir(ctx, dir), 0);
	kf_assert_error(ctx, kflash_can_check_interface(ctx, "can0", 1000000), KFLASH_ERR_NOT_FOUND,
			"nothing listens on");
	teardown();
}
END_TEST

KF_TEST_SUITE(can_link)
{
	kf_test_add(link_parse_reads_the_kernel_answer);
	kf_test_add_loop(link_check_names_the_fix, (int)KF_ARRAY_SIZE(checks));
	kf_test_add(check_interface_asks_the_kernel);
}
