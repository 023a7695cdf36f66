/* run_tests.c: runs every suite; `make test` builds and runs this. Each test
 * runs in its own process (Check's fork mode), so a crash fails one test,
 * not the run. CK_RUN_SUITE=NAME runs one suite. */
#include <stdlib.h>

#include "test_helpers.h"
/* all_suites: every suite of tests/test_*.c, chapter by chapter; the
 * Makefile makes this file from the test files. */
#include "suites.h"

int main(void) {
    set_program_name("run_tests");
    SRunner *runner = srunner_create(NULL);
    for (size_t i = 0; i < sizeof all_suites / sizeof all_suites[0]; i++) srunner_add_suite(runner, all_suites[i]());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
