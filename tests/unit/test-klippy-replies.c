/* SPDX-License-Identifier: MIT */
/*
 * The API-socket client against replies scripted byte for byte: several
 * queries on one connection, and what stays valid between them.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kf-test.h"
#include "libkflash-private.h"

/* A server thread that answers the nth request with replies[n] (and 0x03). */
struct scripted {
	int listen_fd;
	const char *const *replies;
	size_t served;
	pthread_t thread;
};

static void *
serve(void *data)
{
	struct scripted *s = data;
	int fd = accept(s->listen_fd, NULL, NULL);
	char c;

	if (fd < 0)
		return NULL;
	while (s->replies[s->served]) {
		ssize_t n;

		/* One request: everything up to its 0x03. */
		do {
			n = read(fd, &c, 1);
		} while (n == 1 && c != 0x03);
		if (n != 1)
			break;
		if (write(fd, s->replies[s->served], strlen(s->replies[s->served])) < 0 ||
		    write(fd, "\x03", 1) != 1)
			break;
		s->served++;
	}
	close(fd);
	return NULL;
}

static void
scripted_start(struct scripted *s, const char *path, const char *const *replies)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	s->replies = replies;
	s->served = 0;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s->listen_fd, 0);
	ck_assert_int_eq(bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(listen(s->listen_fd, 1), 0);
	ck_assert_int_eq(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void
scripted_end(struct scripted *s)
{
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
}

/*
 * The reproducer of a use-after-free: a second status whose MCU object is
 * empty, after a first one whose MCU had mcu_constants. The MCU type of
 * the first answer must not survive as a dangling pointer into the second.
 */
START_TEST(second_status_on_one_connection_after_mcu_constants)
{
	static const char *const replies[] = {
		"{\"id\":1,\"result\":{\"objects\":[\"mcu\"]}}",
		"{\"id\":2,\"result\":{\"status\":{\"mcu\":{\"mcu_constants\":{\"MCU\":\"x\"}}}}}",
		"{\"id\":3,\"result\":{\"objects\":[\"mcu\"]}}",
		"{\"id\":4,\"result\":{\"status\":{\"mcu\":{}}}}",
		NULL,
	};
	char *dir = kf_test_mkdtemp(), sock[4200];
	struct kflash_context *ctx = kf_test_context(dir);
	struct kflash_klippy *k = NULL;
	struct scripted s;

	snprintf(sock, sizeof(sock), "%s/klippy.sock", dir);
	ck_assert_int_eq(kflash_context_set_klippy_socket(ctx, sock), 0);
	scripted_start(&s, sock, replies);
	ck_assert_int_eq(kflash_klippy_connect(ctx, &k), 0);

	ck_assert_msg(kflash_klippy_query_status(k) == 0, "%s", kflash_context_last_error(ctx));
	ck_assert_uint_eq(kflash_klippy_get_mcu_count(k), 1);
	ck_assert_str_eq(kflash_klippy_get_mcu_name(k, 0), "mcu");
	ck_assert_str_eq(kflash_klippy_get_mcu_type(k, 0), "x");
	ck_assert_ptr_null(kflash_klippy_get_mcu_version(k, 0));

	ck_assert_msg(kflash_klippy_query_status(k) == 0, "%s", kflash_context_last_error(ctx));
	ck_assert_uint_eq(kflash_klippy_get_mcu_count(k), 1);
	ck_assert_str_eq(kflash_klippy_get_mcu_name(k, 0), "mcu");
	ck_assert_ptr_null(kflash_klippy_get_mcu_type(k, 0));
	ck_assert_ptr_null(kflash_klippy_get_mcu_version(k, 0));
	ck_assert_int_eq(kflash_klippy_get_print_state(k), KFLASH_PRINT_UNKNOWN);

	kflash_klippy_unref(k);
	scripted_end(&s);
	ck_assert_uint_eq(s.served, 4);
	kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

/* Fewer MCUs the second time: the ones gone are gone, the info stays. */
START_TEST(status_then_info_then_status_keep_their_own_fields)
{
	static const char *const replies[] = {
		"{\"id\":1,\"result\":{\"objects\":[\"mcu\",\"mcu tool\"]}}",
		"{\"id\":2,\"result\":{\"status\":{\"mcu\":{\"mcu_version\":\"v1\","
		"\"mcu_constants\":{\"MCU\":\"stm32f446xx\"}},\"mcu tool\":{\"mcu_version\":"
		"\"v2\"},\"print_stats\":{\"state\":\"printing\"}}}}",
		"{\"id\":3,\"result\":{\"state\":\"ready\",\"software_version\":\"v9\"}}",
		"{\"id\":4,\"result\":{\"objects\":[\"mcu tool\"]}}",
		"{\"id\":5,\"result\":{\"status\":{\"mcu tool\":{\"mcu_version\":\"v3\"}}}}",
		NULL,
	};
	char *dir = kf_test_mkdtemp(), sock[4200];
	struct kflash_context *ctx = kf_test_context(dir);
	struct kflash_klippy *k = NULL;
	struct scripted s;

	snprintf(sock, sizeof(sock), "%s/klippy.sock", dir);
	ck_assert_int_eq(kflash_context_set_klippy_socket(ctx, sock), 0);
	scripted_start(&s, sock, replies);
	ck_assert_int_eq(kflash_klippy_connect(ctx, &k), 0);
	ck_assert_int_eq(kflash_klippy_query_status(k), 0);
	ck_assert_uint_eq(kflash_klippy_get_mcu_count(k), 2);
	ck_assert_int_eq(kflash_klippy_get_print_state(k), KFLASH_PRINT_PRINTING);
	ck_assert_int_eq(kflash_klippy_query_info(k), 0);
	/* An info answer leaves the status alone. */
	ck_assert_int_eq(kflash_klippy_get_print_state(k), KFLASH_PRINT_PRINTING);
	ck_assert_str_eq(kflash_klippy_get_mcu_type(k, 0), "stm32f446xx");
	ck_assert_int_eq(kflash_klippy_query_status(k), 0);
	ck_assert_uint_eq(kflash_klippy_get_mcu_count(k), 1);
	ck_assert_str_eq(kflash_klippy_get_mcu_name(k, 0), "mcu tool");
	ck_assert_str_eq(kflash_klippy_get_mcu_version(k, 0), "v3");
	ck_assert_ptr_null(kflash_klippy_get_mcu_type(k, 0));
	ck_assert_ptr_null(kflash_klippy_get_mcu_name(k, 1));
	ck_assert_int_eq(kflash_klippy_get_print_state(k), KFLASH_PRINT_UNKNOWN);
	ck_assert_int_eq(kflash_klippy_get_state(k), KFLASH_KLIPPER_READY);
	ck_assert_str_eq(kflash_klippy_get_software_version(k), "v9");
	kflash_klippy_unref(k);
	scripted_end(&s);
	kf_test_context_unref(ctx);
	kf_test_rmtree(dir);
	free(dir);
}
END_TEST

KF_TEST_SUITE(klippy_replies)
{
	kf_test_add(second_status_on_one_connection_after_mcu_constants);
	kf_test_add(status_then_info_then_status_keep_their_own_fields);
}
