/* SPDX-License-Identifier: MIT */
/* Firmware files: their dictionary (beside or embedded), and SHA-256. */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "kf-test.h"
#include "libkflash-private.h"
#include "util/sha256.h"

static char *dir;
static struct kflash_context *ctx;

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

static char *
path_in(const char *name)
{
	char *p;

	ck_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static void
write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

static const char *
sha256_of(const char *text, size_t repeat)
{
	static char out[65];
	struct kf_sha256 s;

	kf_sha256_init(&s);
	for (size_t i = 0; i < repeat; i++)
		kf_sha256_update(&s, text, strlen(text));
	kf_sha256_hex(&s, out);
	return out;
}

START_TEST(sha256_vectors)
{
	ck_assert_str_eq(sha256_of("", 1),
			 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ck_assert_str_eq(sha256_of("abc", 1),
			 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ck_assert_str_eq(sha256_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1),
			 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* A million 'a', fed 1000 at a time. */
	{
		char chunk[1001];

		memset(chunk, 'a', 1000);
		chunk[1000] = '\0';
		ck_assert_str_eq(
			sha256_of(chunk, 1000),
			"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	}
}
END_TEST

#define DICT                                                                                       \
	"{\"app\": \"Klipper\", \"version\": \"v0.12.0-396-gabc1234\", "                           \
	"\"config\": {\"MCU\": \"stm32f446xx\", \"CLOCK_FREQ\": 180000000}}"

START_TEST(firmware_with_dict_beside)
{
	struct kflash_firmware *fw;
	char *bin, *dict;

	setup();
	bin = path_in("klipper.bin");
	dict = path_in("klipper.dict");
	write_bytes(bin, "abc", 3);
	kf_test_write_file(dict, DICT);
	ck_assert_int_eq(kflash_firmware_load(ctx, bin, &fw), 0);
	ck_assert_str_eq(kflash_firmware_get_mcu(fw), "stm32f446xx");
	ck_assert_str_eq(kflash_firmware_get_version(fw), "v0.12.0-396-gabc1234");
	ck_assert_int_eq(kflash_firmware_get_dictionary_origin(fw), KFLASH_DICTIONARY_FILE);
	ck_assert_str_eq(kflash_firmware_get_dictionary_path(fw), dict);
	ck_assert_uint_eq(kflash_firmware_get_size(fw), 3);
	ck_assert_int_eq(memcmp(kflash_firmware_get_data(fw), "abc", 3), 0);
	ck_assert_str_eq(kflash_firmware_get_path(fw), bin);
	ck_assert_str_eq(kflash_firmware_get_sha256(fw),
			 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ck_assert_ptr_eq(kflash_firmware_ref(fw), fw);
	kflash_firmware_unref(fw);
	ck_assert_ptr_null(kflash_firmware_unref(fw));

	kf_test_write_file(dict, "{\"not\": \"a dictionary\"}");
	kf_assert_error(ctx, kflash_firmware_load(ctx, bin, &fw), KFLASH_ERR_CORRUPT,
			"is not a Klipper data dictionary");
	ck_assert_ptr_null(fw);
	free(bin);
	free(dict);
	teardown();
}
END_TEST

START_TEST(firmware_with_embedded_dict)
{
	unsigned char image[8192], packed[1024];
	uLongf packed_len = sizeof(packed);
	struct kflash_firmware *fw;
	char *bin;

	setup();
	/* Code, then the compressed dictionary, then more code. */
	for (size_t i = 0; i < sizeof(image); i++)
		image[i] = (unsigned char)(i * 13 + 0x78);
	ck_assert_int_eq(compress2(packed, &packed_len, (const Bytef *)DICT, strlen(DICT), 9),
			 Z_OK);
	memcpy(image + 0x1200, packed, packed_len);
	bin = path_in("klipper.bin");
	write_bytes(bin, image, sizeof(image));
	ck_assert_int_eq(kflash_firmware_load(ctx, bin, &fw), 0);
	ck_assert_str_eq(kflash_firmware_get_mcu(fw), "stm32f446xx");
	ck_assert_str_eq(kflash_firmware_get_version(fw), "v0.12.0-396-gabc1234");
	ck_assert_int_eq(kflash_firmware_get_dictionary_origin(fw), KFLASH_DICTIONARY_EMBEDDED);
	ck_assert_ptr_null(kflash_firmware_get_dictionary_path(fw));
	ck_assert_str_eq(kflash_dictionary_origin_name(KFLASH_DICTIONARY_EMBEDDED), "embedded");
	kflash_firmware_unref(fw);

	/* Without any dictionary, MCU and version are unknown. */
	memset(image + 0x1200, 0, packed_len);
	write_bytes(bin, image, sizeof(image));
	ck_assert_int_eq(kflash_firmware_load(ctx, bin, &fw), 0);
	ck_assert_ptr_null(kflash_firmware_get_mcu(fw));
	ck_assert_ptr_null(kflash_firmware_get_version(fw));
	ck_assert_int_eq(kflash_firmware_get_dictionary_origin(fw), KFLASH_DICTIONARY_NONE);
	ck_assert_ptr_null(kflash_firmware_get_dictionary_path(fw));
	kflash_firmware_unref(fw);
	free(bin);
	teardown();
}
END_TEST

START_TEST(firmware_errors)
{
	struct kflash_firmware *fw;
	char *bin;

	setup();
	bin = path_in("empty.bin");
	write_bytes(bin, "", 0);
	kf_assert_error(ctx, kflash_firmware_load(ctx, bin, &fw), KFLASH_ERR_INVALID,
			"is empty; build it again");
	kf_assert_error(ctx, kflash_firmware_load(ctx, "/nonexistent/klipper.bin", &fw),
			KFLASH_ERR_NOT_FOUND, "/nonexistent/klipper.bin");
	kf_assert_error(ctx, kflash_firmware_load(ctx, NULL, &fw), KFLASH_ERR_INVALID,
			"no firmware file");
	kf_assert_error(ctx, kflash_firmware_load(ctx, dir, &fw), KFLASH_ERR_INVALID,
			"not a regular file");
	free(bin);
	teardown();
}
END_TEST

KF_TEST_SUITE(firmware)
{
	kf_test_add(sha256_vectors);
	kf_test_add(firmware_with_dict_beside);
	kf_test_add(firmware_with_embedded_dict);
	kf_test_add(firmware_errors);
}
