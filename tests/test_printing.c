/* Tests for common/printing.c: numbers and strings as Python and PyTorch
 * print them (the walkthroughs' output is compared with the notebooks'). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/printing.h"
#include "test_helpers.h"

/* What f printed on stdout. */
static char *printed(void (*f)(const void *), const void *arg) {
    fflush(stdout);
    char path[] = "/tmp/llm-test-printing-XXXXXX";
    int fd = mkstemp(path), saved = dup(STDOUT_FILENO);
    ck_assert(fd >= 0 && saved >= 0);
    dup2(fd, STDOUT_FILENO);
    f(arg);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(fd);
    char *text = read_file(path, NULL);
    remove(path);
    return text;
}

static void repr_of(const void *s) { print_repr(s); }
static void tensor_of(const void *x) { print_int_tensor(x, 2, 3); }
static void list_of(const void *x) { write_int_list(x, 3); }
static void banner(const void *unused) {
    (void)unused;
    section("7.3 Organizing data into training batches");
    cell(17, "custom_collate_fn");
}

START_TEST(test_with_commas) {
    char buf[32];
    ck_assert_str_eq(with_commas(0, buf), "0");
    ck_assert_str_eq(with_commas(999, buf), "999");
    ck_assert_str_eq(with_commas(1000, buf), "1,000");
    ck_assert_str_eq(with_commas(124441346, buf), "124,441,346");
}
END_TEST

/* Python 3's repr() of each string. */
START_TEST(test_repr_as_python) {
    const char *cases[][2] = {
        {"word", "'word'"},
        {"it's", "\"it's\""},
        {"say \"it's\"", "'say \"it\\'s\"'"},
        {"a\tb\nc\\", "'a\\tb\\nc\\\\'"},
        {"\x01", "'\\x01'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = printed(repr_of, cases[i][0]);
        ck_assert_msg(strcmp(got, cases[i][1]) == 0, "repr of case %zu: %s, want %s", i, got, cases[i][1]);
        free(got);
    }
}
END_TEST

START_TEST(test_int_tensor_and_list_as_pytorch) {
    const int x[6] = {0, 1, 50256, 5, -100, 7};
    char *got = printed(tensor_of, x);
    ck_assert_str_eq(got, "tensor([[    0,     1, 50256],\n        [    5,  -100,     7]])\n");
    free(got);
    got = printed(list_of, x);
    ck_assert_str_eq(got, "[0, 1, 50256]");
    free(got);
    got = printed(banner, NULL);
    ck_assert_str_eq(got, "\n== 7.3 Organizing data into training batches ==\nIn [17]: custom_collate_fn\n");
    free(got);
}
END_TEST

Suite *printing_suite(void) {
    Suite *s = suite_create("printing");
    TCase *tc = tcase_create("python");
    add_test(tc, test_with_commas);
    add_test(tc, test_repr_as_python);
    add_test(tc, test_int_tensor_and_list_as_pytorch);
    suite_add_tcase(s, tc);
    return s;
}
