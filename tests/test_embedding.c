/* Tests for ch02_text/embedding.c. */
#include "../ch02_text/embedding.h"
#include "../common/tensor.h"
#include "test_helpers.h"

START_TEST(test_lookup_copies_rows) {
    float weight[6 * 3];
    for (int i = 0; i < 18; i++) weight[i] = (float)i;
    int ids[4] = {2, 3, 5, 1};
    float out[4 * 3];
    embedding_forward(out, ids, 4, weight, 6, 3);
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++) ck_assert_float_eq(out[i * 3 + c], weight[ids[i] * 3 + c]);
}
END_TEST

START_TEST(test_positions_add_per_position) {
    /* the book's shapes: (8, 4, 256) token embeddings + (4, 256) positions */
    Tensor x = tensor_zeros3(8, 4, 256), pos = tensor_zeros2(4, 256);
    for (size_t i = 0; i < x.size; i++) x.data[i] = 1.0f;
    for (size_t i = 0; i < pos.size; i++) pos.data[i] = (float)(i / 256); /* position t holds t */
    add_position_embeddings(x.data, pos.data, 8, 4, 256);
    for (int b = 0; b < 8; b++)
        for (int t = 0; t < 4; t++) ck_assert_float_eq(x.data[(b * 4 + t) * 256 + 17], 1.0f + t);
    tensor_free(&x);
    tensor_free(&pos);
}
END_TEST

START_TEST(test_out_of_range_id_exits) {
    float weight[6] = {0}, out[2];
    int ids[1] = {3};
    embedding_forward(out, ids, 1, weight, 3, 2);
}
END_TEST

Suite *embedding_suite(void) {
    Suite *s = suite_create("embedding");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_lookup_copies_rows);
    tcase_add_test(tc, test_positions_add_per_position);
    tcase_add_exit_test(tc, test_out_of_range_id_exits, 1);
    suite_add_tcase(s, tc);
    return s;
}
