/* SPDX-License-Identifier: MIT */
/*
 * A firmware image and its data dictionary: klipper.dict beside it, or
 * the zlib-compressed copy Klipper embeds in the image.
 */
#include <json-c/json.h>
#include <string.h>
#include <zlib.h>

#include "internal/fs.h"
#include "libkflash-private.h"
#include "util/sha256.h"

#define FIRMWARE_MAX (16 * 1024 * 1024)
#define DICT_MAX (4 * 1024 * 1024)

struct kflash_firmware {
	int refcount;
	char *path;
	char *data;
	size_t size;
	char *mcu, *version;
	int dict_origin; /* enum kflash_dictionary_origin */
	char *dict_path; /* the klipper.dict read, for KFLASH_DICTIONARY_FILE */
	char *dict_text; /* the dictionary's JSON, from either origin */
	size_t dict_len;
	char sha256[65];
};

KFLASH_EXPORT struct kflash_firmware *
kflash_firmware_ref(struct kflash_firmware *fw)
{
	if (fw)
		fw->refcount++;
	return fw;
}

KFLASH_EXPORT struct kflash_firmware *
kflash_firmware_unref(struct kflash_firmware *fw)
{
	if (!fw || --fw->refcount > 0)
		return NULL;
	free(fw->path);
	free(fw->data);
	free(fw->mcu);
	free(fw->version);
	free(fw->dict_path);
	free(fw->dict_text);
	free(fw);
	return NULL;
}

/* Take MCU and version from a parsed dictionary; false if it is not one. */
static bool
take_dictionary(struct kflash_firmware *fw, struct json_object *dict)
{
	struct json_object *config, *mcu, *version;

	if (!json_object_is_type(dict, json_type_object) ||
	    !json_object_object_get_ex(dict, "config", &config) ||
	    !json_object_is_type(config, json_type_object))
		return false;
	if (json_object_object_get_ex(config, "MCU", &mcu) &&
	    json_object_is_type(mcu, json_type_string))
		fw->mcu = strndup(json_object_get_string(mcu), 64);
	if (json_object_object_get_ex(dict, "version", &version) &&
	    json_object_is_type(version, json_type_string))
		fw->version = strndup(json_object_get_string(version), 256);
	return true;
}

/* Inflate a zlib stream at @p (at most @len bytes in) into a dictionary; *@text gets its JSON. */
static struct json_object *
inflate_dictionary(const unsigned char *p, size_t len, char **text, size_t *text_len)
{
	_cleanup_free_ char *out = NULL;
	struct json_object *dict = NULL;
	z_stream z = { 0 };
	size_t cap = 64 * 1024;
	int zr;

	if (inflateInit(&z) != Z_OK)
		return NULL;
	out = malloc(cap);
	z.next_in = (unsigned char *)p;
	z.avail_in = (uInt)(len < UINT32_MAX ? len : UINT32_MAX);
	for (;;) {
		z.next_out = (unsigned char *)out + z.total_out;
		z.avail_out = (uInt)(cap - 1 - z.total_out);
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr != Z_OK || z.avail_out > 0 || cap >= DICT_MAX)
			break;
		{
			char *grown = realloc(out, cap * 2);

			if (!grown)
				break;
			out = grown;
			cap *= 2;
		}
	}
	if (zr == Z_STREAM_END && out && z.total_out > 0 && out[0] == '{') {
		out[z.total_out] = '\0';
		dict = json_tokener_parse(out);
	}
	if (dict) {
		*text_len = z.total_out;
		*text = kf_steal(&out);
	}
	inflateEnd(&z);
	return dict;
}

/* Look for an embedded dictionary: a zlib stream that inflates to one. */
static void
find_embedded(struct kflash_firmware *fw)
{
	const unsigned char *d = (const unsigned char *)fw->data;

	for (size_t i = 0; i + 2 < fw->size; i++) {
		_cleanup_free_ char *text = NULL;
		struct json_object *dict;
		size_t len = 0;

		/* A zlib header: CM 8, and the check bits of FCHECK. */
		if ((d[i] & 0x0f) != 8 || (d[i] >> 4) > 7 || ((d[i] << 8) | d[i + 1]) % 31 != 0 ||
		    d[i + 2] == 0)
			continue;
		dict = inflate_dictionary(d + i, fw->size - i, &text, &len);
		if (dict && take_dictionary(fw, dict)) {
			fw->dict_origin = KFLASH_DICTIONARY_EMBEDDED;
			fw->dict_text = kf_steal(&text);
			fw->dict_len = len;
			json_object_put(dict);
			return;
		}
		json_object_put(dict);
	}
}

static int
read_dict_file(struct kflash_context *ctx, struct kflash_firmware *fw, const char *dict_path)
{
	_cleanup_free_ char *text = NULL;
	struct json_object *dict;
	size_t len;
	int r;

	r = kf_fs_read_file(ctx, dict_path, DICT_MAX, 0, &text, &len);
	if (r < 0)
		return r;
	dict = json_tokener_parse(text);
	if (!take_dictionary(fw, dict)) {
		json_object_put(dict);
		return kf_error(ctx, KFLASH_ERR_CORRUPT,
				"%s is not a Klipper data dictionary (no \"config\" object); "
				"rebuild the firmware",
				dict_path);
	}
	json_object_put(dict);
	fw->dict_origin = KFLASH_DICTIONARY_FILE;
	fw->dict_path = strdup(dict_path);
	fw->dict_text = kf_steal(&text);
	fw->dict_len = len;
	return fw->dict_path ? 0 : kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
}

KFLASH_EXPORT int
kflash_firmware_load(struct kflash_context *ctx, const char *path, struct kflash_firmware **ret)
{
	_cleanup_free_ char *dict_path = NULL;
	struct kflash_firmware *fw;
	struct kf_sha256 sha;
	const char *slash;
	int r;

	if (!ret || !path)
		return kf_error(ctx, KFLASH_ERR_INVALID, "no firmware file given");
	*ret = NULL;
	fw = calloc(1, sizeof(*fw));
	if (!fw || !(fw->path = strdup(path))) {
		free(fw);
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	}
	fw->refcount = 1;
	r = kf_fs_read_file(ctx, path, FIRMWARE_MAX, 0, &fw->data, &fw->size);
	if (r == 0 && fw->size == 0)
		r = kf_error(ctx, KFLASH_ERR_INVALID, "the firmware %s is empty; build it again",
			     path);
	slash = strrchr(path, '/');
	dict_path = slash ? kf_strdup_printf("%.*s/klipper.dict", (int)(slash - path), path)
			  : kf_strdup("klipper.dict");
	if (r == 0 && !dict_path)
		r = kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	if (r == 0 && kf_fs_exists(dict_path) == 1)
		r = read_dict_file(ctx, fw, dict_path);
	else if (r == 0)
		find_embedded(fw);
	if (r < 0) {
		kflash_firmware_unref(fw);
		return r;
	}
	kf_sha256_init(&sha);
	kf_sha256_update(&sha, fw->data, fw->size);
	kf_sha256_hex(&sha, fw->sha256);
	kf_debug(ctx, "firmware %s: %zu bytes, MCU %s, version %s (dictionary: %s)", path, fw->size,
		 fw->mcu ? fw->mcu : "unknown", fw->version ? fw->version : "unknown",
		 fw->dict_path ? fw->dict_path : kflash_dictionary_origin_name(fw->dict_origin));
	*ret = fw;
	return 0;
}

KFLASH_EXPORT const char *
kflash_firmware_get_path(const struct kflash_firmware *fw)
{
	return fw ? fw->path : NULL;
}

KFLASH_EXPORT const void *
kflash_firmware_get_data(const struct kflash_firmware *fw)
{
	return fw ? fw->data : NULL;
}

KFLASH_EXPORT size_t
kflash_firmware_get_size(const struct kflash_firmware *fw)
{
	return fw ? fw->size : 0;
}

KFLASH_EXPORT const char *
kflash_firmware_get_mcu(const struct kflash_firmware *fw)
{
	return fw ? fw->mcu : NULL;
}

KFLASH_EXPORT const char *
kflash_firmware_get_version(const struct kflash_firmware *fw)
{
	return fw ? fw->version : NULL;
}

static const char *const origin_names[] = {
	[KFLASH_DICTIONARY_NONE] = "none",
	[KFLASH_DICTIONARY_FILE] = "file",
	[KFLASH_DICTIONARY_EMBEDDED] = "embedded",
};

KFLASH_EXPORT const char *
kflash_dictionary_origin_name(int origin)
{
	return origin >= 0 && (size_t)origin < KF_ARRAY_SIZE(origin_names) ? origin_names[origin]
									   : "none";
}

KFLASH_EXPORT int
kflash_firmware_get_dictionary_origin(const struct kflash_firmware *fw)
{
	return fw ? fw->dict_origin : KFLASH_DICTIONARY_NONE;
}

KFLASH_EXPORT const char *
kflash_firmware_get_dictionary_path(const struct kflash_firmware *fw)
{
	return fw ? fw->dict_path : NULL;
}

KFLASH_EXPORT int
kflash_firmware_check_board(struct kflash_context *ctx,
			    const struct kflash_firmware *fw,
			    const struct kflash_board *board)
{
	if (!fw || !board)
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"kflash_firmware_check_board needs a firmware and a board");
	if (fw->mcu && !kflash_mcu_matches(fw->mcu, kflash_board_get_mcu(board)))
		return kf_error(ctx, KFLASH_ERR_MCU_MISMATCH,
				"board %s is a %s, but the firmware %s is for a %s",
				kflash_board_get_name(board), kflash_board_get_mcu(board), fw->path,
				fw->mcu);
	return 0;
}

/* The last component of @path: all of it when it has no slash. */
static const char *
base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

KFLASH_EXPORT int
kflash_firmware_save(struct kflash_context *ctx,
		     const struct kflash_firmware *fw,
		     const char *dir,
		     unsigned int flags)
{
	_cleanup_free_ char *image = NULL, *dict = NULL;
	int r;

	if (!fw || !dir || flags)
		return kf_error(ctx, KFLASH_ERR_INVALID,
				"kflash_firmware_save needs a firmware, a directory and no flags");
	if (!*base_name(fw->path))
		return kf_error(ctx, KFLASH_ERR_INVALID, "the firmware path %s names no file",
				fw->path);
	image = kf_path_join(dir, base_name(fw->path));
	dict = kf_path_join(dir, "klipper.dict");
	if (!image || !dict)
		return kf_error(ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	r = kf_fs_mkdir_p(ctx, dir, 0700);
	if (r == 0)
		r = kf_fs_write_atomic(ctx, image, fw->data, fw->size, 0600, 0);
	/* The dictionary goes beside the image, where kflash_firmware_load() looks. */
	if (r == 0 && fw->dict_text && strcmp(base_name(fw->path), "klipper.dict") != 0)
		r = kf_fs_write_atomic(ctx, dict, fw->dict_text, fw->dict_len, 0600, 0);
	return r;
}

KFLASH_EXPORT const char *
kflash_firmware_get_sha256(const struct kflash_firmware *fw)
{
	return fw ? fw->sha256 : NULL;
}
