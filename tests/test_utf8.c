/* Tests for ch02_text/utf8.c. */
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/utf8.h"
#include "test_helpers.h"

/* Every case in the fixture was decoded by Python's
 * bytes.decode("utf-8", errors="replace") (tests/reference/gen_utf8_fixtures.py). */
START_TEST(test_sanitize_matches_python_replace) {
    FixtureLines f = fixture_lines("utf8_replace.txt");
    ck_assert_int_gt(f.count, 300);
    for (int i = 0; i < f.count; i++) {
        char *tab = strchr(f.lines[i], '\t');
        ck_assert_ptr_nonnull(tab);
        char *input, *want;
        size_t n_in, n_want;
        ck_assert(hex_decode(f.lines[i], tab - f.lines[i], &input, &n_in));
        ck_assert(hex_decode(tab + 1, strlen(tab + 1), &want, &n_want));
        size_t n_got;
        char *got = utf8_sanitize(input, n_in, &n_got);
        ck_assert_msg(n_got == n_want && memcmp(got, want, n_want) == 0, "case %d (%s) differs from Python", i + 1,
                      f.lines[i]);
        ck_assert(utf8_is_valid(got, n_got));
        ck_assert(utf8_is_valid(input, n_in) == (n_in == n_want && memcmp(input, want, n_in) == 0));
        free(input);
        free(want);
        free(got);
    }
    fixture_lines_free(&f);
}
END_TEST

START_TEST(test_encode_decode_every_code_point) {
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        char buf[4];
        int n = utf8_encode(cp, buf);
        uint32_t back;
        ck_assert_int_eq(utf8_decode((unsigned char *)buf, n, &back), n);
        ck_assert_uint_eq(back, cp);
    }
}
END_TEST

START_TEST(test_bom_is_kept) {
    const char text[] = "\xEF\xBB\xBFhi";
    size_t n;
    char *got = utf8_sanitize(text, 5, &n);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(got, text, 5), 0);
    free(got);
}
END_TEST

Suite *utf8_suite(void) {
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    add_test(tc, test_sanitize_matches_python_replace);
    add_test(tc, test_encode_decode_every_code_point);
    add_test(tc, test_bom_is_kept);
    suite_add_tcase(s, tc);
    return s;
}
