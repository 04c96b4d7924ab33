/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "kf-test.h"

#define MAX_SUITES 64
#define DEFAULT_TIMEOUT_S 10

struct registered_suite {
	const char *name;
	void (*fn)(void);
};

static struct registered_suite suites[MAX_SUITES];
static int nsuites;
static Suite *current;
static void (*fixture_setup)(void);
static void (*fixture_teardown)(void);

void
kf_test_fixture(void (*setup)(void), void (*teardown)(void))
{
	fixture_setup = setup;
	fixture_teardown = teardown;
}

void
kf_test_register_suite(const char *name, void (*fn)(void))
{
	if (nsuites == MAX_SUITES) {
		fprintf(stderr, "too many test suites\n");
		abort();
	}
	suites[nsuites].name = name;
	suites[nsuites].fn = fn;
	nsuites++;
}

void
kf_test_add_tcase(const TTest *test, const char *name, int timeout_s, int loop_end)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, timeout_s > 0 ? timeout_s : DEFAULT_TIMEOUT_S);
	if (fixture_setup || fixture_teardown)
		tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	if (loop_end > 0)
		tcase_add_loop_test(tc, test, 0, loop_end);
	else
		tcase_add_test(tc, test);
	suite_add_tcase(current, tc);
}

int
main(int argc, char **argv)
{
	struct rlimit no_core = { 0, 0 };
	SRunner *sr = NULL;
	int failed;

	/* Tests kill children on purpose; no core files for those. */
	setrlimit(RLIMIT_CORE, &no_core);

	for (int i = 0; i < nsuites; i++) {
		current = suite_create(suites[i].name);
		kf_test_fixture(NULL, NULL);
		suites[i].fn();
		if (!sr)
			sr = srunner_create(current);
		else
			srunner_add_suite(sr, current);
	}
	if (!sr) {
		fprintf(stderr, "%s: no test suites\n", argv[0]);
		return 1;
	}

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
