/* Tests for common/tensor_file.c. */
#include <stdlib.h>
#include <string.h>

#include "../common/tensor_file.h"
#include "test_helpers.h"

static char *dir;
static void make_dir(void) { dir = make_temp_dir(); }
static void remove_dir(void) {
    remove_tree(dir);
    free(dir);
}

static char *write_sample(void) {
    Tensor a = tensor_zeros2(2, 3), b = tensor_zeros1(4);
    for (size_t i = 0; i < a.size; i++) a.data[i] = (float)i - 2.5f;
    for (size_t i = 0; i < b.size; i++) b.data[i] = 1e-7f * (float)i;
    char *path = path_join(dir, "sample.bin");
    const char *names[] = {"a", "blocks.0.b"};
    tensor_file_write(path, 2, names, (Tensor[]){a, b});
    tensor_free(&a);
    tensor_free(&b);
    return path;
}

START_TEST(test_write_then_read_is_exact) {
    char *path = write_sample();
    TensorFile tf = tensor_file_read(path);
    ck_assert_int_eq(tf.count, 2);
    const Tensor *a = tensor_file_expect(&tf, "a", 2, (int[]){2, 3});
    ck_assert_float_eq(a->data[5], 2.5f);
    const Tensor *b = tensor_file_find(&tf, "blocks.0.b");
    ck_assert_ptr_nonnull(b);
    ck_assert_float_eq(b->data[3], 3e-7f);
    ck_assert_ptr_null(tensor_file_find(&tf, "c"));
    tensor_file_free(&tf);
    free(path);
}
END_TEST

START_TEST(test_wrong_shape_exits) {
    char *path = write_sample();
    TensorFile tf = tensor_file_read(path);
    free(path); /* before the exit: LeakSanitizer counts what no live pointer holds */
    tensor_file_expect(&tf, "a", 2, (int[]){3, 2});
}
END_TEST

START_TEST(test_truncated_file_exits) {
    char *path = write_sample();
    size_t len;
    char *bytes = read_file(path, &len);
    write_file_atomic(path, bytes, len - 3);
    free(bytes);
    tensor_file_read(path);
}
END_TEST

START_TEST(test_bad_magic_exits) {
    char *path = path_join(dir, "junk.bin");
    write_file_atomic(path, "not a tensor file", 17);
    tensor_file_read(path);
}
END_TEST

/* Errors come back as messages, without exiting, and a stored shape is
 * checked against the bytes before anything is allocated: this 29-byte
 * file once asked for 16 GiB (tests/fixtures/fuzz/tensor_file/). */
START_TEST(test_parse_checks_sizes_before_allocating) {
    char err[256];
    TensorFile tf;
    size_t n;
    char *path = fixture_path("fuzz/tensor_file/shape-16gib.bin");
    char *bytes = read_file(path, &n);
    ck_assert_uint_eq(n, 29);
    ck_assert(!tensor_file_parse(bytes, n, "x.bin", &tf, err, sizeof err));
    ck_assert_str_eq(err, "x.bin: file is truncated: tensor 'a' needs 4294967296 values, 0 bytes remain");
    ck_assert_ptr_null(tf.names);
    ck_assert(!tensor_file_try_read(path, &tf, err, sizeof err));
    ck_assert(strstr(err, "shape-16gib.bin: file is truncated") != NULL);
    free(bytes);
    free(path);

    const char million[12] = {'L', 'L', 'M', 'T', 'N', 'S', 'R', '1', 0x40, 0x42, 0x0f, 0};
    ck_assert(!tensor_file_parse(million, sizeof million, "m.bin", &tf, err, sizeof err));
    ck_assert_str_eq(err, "m.bin: implausible tensor count 1000000 for a file of 12 bytes");
    ck_assert(!tensor_file_parse("LLMT", 4, "short.bin", &tf, err, sizeof err));
    ck_assert_str_eq(err, "short.bin: not a tensor file (bad magic)");
    ck_assert(!tensor_file_try_read("/nonexistent.bin", &tf, err, sizeof err));
    ck_assert(strstr(err, "/nonexistent.bin: No such file") != NULL);
}
END_TEST

START_TEST(test_parse_in_memory_matches_the_file) {
    char *path = write_sample(), err[256];
    size_t n;
    char *bytes = read_file(path, &n);
    TensorFile tf;
    ck_assert(tensor_file_parse(bytes, n, "sample", &tf, err, sizeof err));
    ck_assert_int_eq(tf.count, 2);
    ck_assert_str_eq(tf.path, "sample");
    ck_assert_float_eq(tensor_file_expect(&tf, "a", 2, (int[]){2, 3})->data[5], 2.5f);
    tensor_file_free(&tf);
    /* one byte too many or too few */
    ck_assert(!tensor_file_parse(bytes, n - 1, "sample", &tf, err, sizeof err));
    char *longer = xmalloc(n + 1);
    memcpy(longer, bytes, n);
    longer[n] = 0;
    ck_assert(!tensor_file_parse(longer, n + 1, "sample", &tf, err, sizeof err));
    ck_assert_str_eq(err, "sample: unexpected bytes after the last tensor");
    free(longer);
    free(bytes);
    free(path);
}
END_TEST

Suite *tensor_file_suite(void) {
    Suite *s = suite_create("tensor_file");
    TCase *tc = tcase_create("core");
    tcase_add_unchecked_fixture(tc, make_dir, remove_dir);
    add_test(tc, test_write_then_read_is_exact);
    add_exit_test(tc, test_wrong_shape_exits, 1);
    add_exit_test(tc, test_truncated_file_exits, 1);
    add_exit_test(tc, test_bad_magic_exits, 1);
    add_test(tc, test_parse_checks_sizes_before_allocating);
    add_test(tc, test_parse_in_memory_matches_the_file);
    suite_add_tcase(s, tc);
    return s;
}
