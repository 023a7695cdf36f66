/* Tests for the ch03 program. */
#include <stdlib.h>
#include <string.h>

#include "test_helpers.h"

static int ch03(char **out, char **err, const char *args) {
    char command[1024];
    snprintf(command, sizeof command, "%s/ch03_attention/ch03 %s", repo_root(), args);
    return run_command(command, out, err);
}

START_TEST(test_walkthrough_prints_the_books_numbers) {
    char *out;
    ck_assert_int_eq(ch03(&out, NULL, "walkthrough"), 0);
    const char *expected[] = {
        "tensor([0.9544, 1.4950, 1.4754, 0.8434, 0.7070, 1.0865])", /* scores for x(2) */
        "tensor([0.1455, 0.2278, 0.2249, 0.1285, 0.1077, 0.1656])", /* normalised by the sum */
        "tensor([0.1385, 0.2379, 0.2333, 0.1240, 0.1082, 0.1581])", /* softmax */
        "tensor([0.4419, 0.6515, 0.5683])",                         /* z(2) */
        "tensor([[0.4421, 0.5931, 0.5790],",                         /* all context vectors */
        "largest difference between the two ways",
        "context_vecs.shape: torch.Size([2, 6, 4])",
        "context_vecs.shape: torch.Size([2, 6, 2])",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        ck_assert_msg(strstr(out, expected[i]) != NULL, "walkthrough lacks %s", expected[i]);
    free(out);
}
END_TEST

START_TEST(test_mha_and_bad_input) {
    char *out, *err;
    ck_assert_int_eq(ch03(&out, &err, "mha --batch 2 --tokens 16 --d-in 32 --d-out 32 --heads 4 --qkv-bias"), 0);
    ck_assert(strstr(out, "output shape: torch.Size([2, 16, 32])") != NULL);
    free(out);
    free(err);
    ck_assert_int_eq(ch03(NULL, &err, "mha --d-out 10 --heads 3"), 1);
    ck_assert(strstr(err, "ch03: mha: --d-out 10 is not divisible by --heads 3") != NULL);
    free(err);
    ck_assert_int_eq(ch03(NULL, &err, "mha --tokens 0"), 1);
    ck_assert(strstr(err, "--tokens: '0' is not a whole number") != NULL);
    free(err);
    ck_assert_int_eq(ch03(NULL, &err, "mha --bogus"), 2);
    free(err);
    ck_assert_int_eq(ch03(&out, NULL, "--help"), 0);
    ck_assert(strstr(out, "walkthrough") != NULL);
    free(out);
}
END_TEST

Suite *ch03_cli_suite(void) {
    Suite *s = suite_create("ch03_cli");
    TCase *tc = tcase_create("program");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_walkthrough_prints_the_books_numbers);
    tcase_add_test(tc, test_mha_and_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
