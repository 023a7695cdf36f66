/* Tests for the ch04 program. The 124M model takes a few seconds to
 * initialise (longer under the sanitizers), so only one test builds it. */
#include <stdlib.h>
#include <string.h>

#include "test_helpers.h"

static int ch04(char **out, char **err, const char *args) {
    char command[1024];
    snprintf(command, sizeof command, "%s/ch04_gpt/ch04 %s", repo_root(), args);
    return run_command(command, out, err);
}

START_TEST(test_params_prints_the_books_counts) {
    char *out;
    ck_assert_int_eq(ch04(&out, NULL, "params"), 0);
    ck_assert_str_eq(out, "Total number of parameters: 163,009,536\n"
                          "Token embedding layer shape: torch.Size([50257, 768])\n"
                          "Output layer shape: torch.Size([50257, 768])\n"
                          "Number of trainable parameters considering weight tying: 124,412,160\n"
                          "Total size of the model: 621.83 MB\n");
    free(out);
    ck_assert_int_eq(ch04(&out, NULL, "params --preset gpt2-xl"), 0);
    ck_assert(strstr(out, "Total number of parameters: 1,638,022,400\n") != NULL);
    free(out);
}
END_TEST

START_TEST(test_generate_with_and_without_cache_agree) {
    char *cached, *uncached;
    ck_assert_int_eq(ch04(&cached, NULL, "generate --prompt 'Hello, I am' --max-new-tokens 3"), 0);
    ck_assert_int_eq(ch04(&uncached, NULL, "generate --prompt 'Hello, I am' --max-new-tokens 3 --no-cache"), 0);
    ck_assert(strncmp(cached, "Hello, I am", 11) == 0);
    ck_assert_uint_gt(strlen(cached), 12);
    ck_assert_str_eq(cached, uncached);
    free(cached);
    free(uncached);
}
END_TEST

START_TEST(test_bad_input) {
    char *err;
    ck_assert_int_eq(ch04(NULL, &err, "params --preset gpt5"), 1);
    ck_assert(strstr(err, "ch04: unknown model preset 'gpt5' (one of: 124M, gpt2-small") != NULL);
    free(err);
    ck_assert_int_eq(ch04(NULL, &err, "generate --max-new-tokens -3"), 1);
    ck_assert(strstr(err, "--max-new-tokens: '-3' is not a whole number") != NULL);
    free(err);
    ck_assert_int_eq(ch04(NULL, &err, "generate --prompt ''"), 1);
    ck_assert(strstr(err, "the prompt is empty") != NULL);
    free(err);
    ck_assert_int_eq(ch04(NULL, &err, "nonsense"), 1);
    ck_assert_str_eq(err, "ch04: unknown command 'nonsense' (try --help)\n");
    free(err);
    char *out;
    ck_assert_int_eq(ch04(&out, NULL, "generate --help"), 0);
    ck_assert(strstr(out, "--no-cache") != NULL);
    free(out);
}
END_TEST

Suite *ch04_cli_suite(void) {
    Suite *s = suite_create("ch04_cli");
    TCase *tc = tcase_create("program");
    tcase_add_checked_fixture(tc, require_gpt2_tokenizer, NULL);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_params_prints_the_books_counts);
    tcase_add_test(tc, test_generate_with_and_without_cache_agree);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
