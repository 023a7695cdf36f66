/* Tests for common/tensor.c. */
#include <stdlib.h>
#include <string.h>

#include "../common/tensor.h"
#include "test_helpers.h"

START_TEST(test_zeros_has_shape_and_zeros) {
    Tensor t = tensor_zeros3(8, 4, 256);
    ck_assert_int_eq(t.ndim, 3);
    ck_assert_uint_eq(t.size, 8 * 4 * 256);
    for (size_t i = 0; i < t.size; i++) ck_assert(t.data[i] == 0.0f);
    char buf[64];
    ck_assert_str_eq(tensor_shape_str(&t, buf, sizeof buf), "[8, 4, 256]");
    tensor_free(&t);
    ck_assert_ptr_null(t.data);
}
END_TEST

START_TEST(test_reshape_shares_data) {
    Tensor t = tensor_zeros2(6, 4);
    t.data[5] = 3.0f;
    Tensor r = tensor_reshape(&t, 3, (int[]){2, 3, 4});
    ck_assert_ptr_eq(r.data, t.data);
    ck_assert(r.data[5] == 3.0f);
    tensor_free(&r); /* a view: must not free the data */
    ck_assert(t.data[5] == 3.0f);
    tensor_free(&t);
}
END_TEST

START_TEST(test_reshape_wrong_size_exits) {
    Tensor t = tensor_zeros2(6, 4);
    tensor_reshape(&t, 2, (int[]){5, 5});
}
END_TEST

START_TEST(test_negative_dimension_exits) { tensor_zeros2(3, -1); }
END_TEST

START_TEST(test_print_like_pytorch) {
    Tensor t = tensor_zeros2(2, 2);
    t.data[0] = 0.43f, t.data[1] = -0.15f, t.data[2] = 1.0f, t.data[3] = 0.5f;
    char *buf;
    size_t len;
    FILE *out = open_memstream(&buf, &len);
    tensor_print(out, &t, 4);
    fclose(out);
    ck_assert_str_eq(buf, "tensor([[ 0.4300, -0.1500],\n        [ 1.0000,  0.5000]])\n");
    free(buf);
    tensor_free(&t);
}
END_TEST

Suite *tensor_suite(void) {
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("core");
    add_test(tc, test_zeros_has_shape_and_zeros);
    add_test(tc, test_reshape_shares_data);
    add_exit_test(tc, test_reshape_wrong_size_exits, 1);
    add_exit_test(tc, test_negative_dimension_exits, 1);
    add_test(tc, test_print_like_pytorch);
    suite_add_tcase(s, tc);
    return s;
}
