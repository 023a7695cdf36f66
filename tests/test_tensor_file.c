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

Suite *tensor_file_suite(void) {
    Suite *s = suite_create("tensor_file");
    TCase *tc = tcase_create("core");
    tcase_add_unchecked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, test_write_then_read_is_exact);
    tcase_add_exit_test(tc, test_wrong_shape_exits, 1);
    tcase_add_exit_test(tc, test_truncated_file_exits, 1);
    tcase_add_exit_test(tc, test_bad_magic_exits, 1);
    suite_add_tcase(s, tc);
    return s;
}
