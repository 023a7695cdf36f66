/* Tests for shard_loader.c: batches of windows from token shards, in order
 * or in a seeded shuffle that depends on the seed and the epoch alone, and
 * a loader resumed mid-epoch that reads what an uninterrupted one reads. */
#include <stdlib.h>
#include <string.h>

#include "../ch05_pretrain/shard_loader.h"
#include "test_helpers.h"

enum { T = 4, ROWS = 3 };
static char *dir, *paths[3];
static const long SIZES[3] = {41, 9, 26}; /* 10, 2 and 6 windows of 4 tokens (each with its next token) */

/* Shard s holds 1000 s + i at position i: a token says where it came from. */
static void make_shards(void) {
    dir = make_temp_dir();
    for (int s = 0; s < 3; s++) {
        char name[32];
        snprintf(name, sizeof name, "t_train_%06d.bin", s + 1);
        paths[s] = path_join(dir, name);
        uint16_t tokens[64];
        for (long i = 0; i < SIZES[s]; i++) tokens[i] = (uint16_t)(1000 * s + i);
        shard_write(paths[s], tokens, SIZES[s]);
    }
}

static void remove_shards(void) {
    for (int s = 0; s < 3; s++) free(paths[s]);
    remove_tree(dir);
    free(dir);
}

/* Every batch's rows are windows: T consecutive tokens of one shard at a
 * multiple of T, the targets one token further. Returns each window's id
 * (1000 shard + first position / T) in the order read. */
static int read_epoch(BatchLoader *loader, int *ids) {
    int n = 0;
    Batch b;
    loader->reset(loader->self);
    while (loader->next(loader->self, &b)) {
        ck_assert_int_eq(b.B, ROWS);
        ck_assert_int_eq(b.T, T);
        for (int r = 0; r < ROWS; r++) {
            const int *in = b.inputs + r * T, *tg = b.targets + r * T;
            ck_assert_int_eq(in[0] % 1000 % T, 0);
            for (int t = 0; t < T; t++) {
                ck_assert_int_eq(in[t], in[0] + t);
                ck_assert_int_eq(tg[t], in[0] + t + 1);
            }
            ids[n++] = in[0] / 1000 * 1000 + in[0] % 1000 / T;
        }
    }
    return n;
}

START_TEST(test_in_order) {
    ShardBatches sb;
    char err[256];
    ck_assert_msg(shard_batches_init(&sb, paths, 3, T, ROWS, false, 0, err, sizeof err), "%s", err);
    ck_assert_int_eq(sb.total_windows, 18);
    ck_assert_int_eq(sb.n_batches, 6);
    BatchLoader loader = shard_batches_loader(&sb);
    int ids[18];
    ck_assert_int_eq(read_epoch(&loader, ids), 18);
    const int want[18] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1000, 1001, 2000, 2001, 2002, 2003, 2004, 2005};
    ck_assert_mem_eq(ids, want, sizeof want);
    shard_batches_free(&sb);
}
END_TEST

START_TEST(test_shuffled_is_a_permutation_of_the_seed_and_epoch) {
    ShardBatches a, b, c;
    char err[256];
    ck_assert(shard_batches_init(&a, paths, 3, T, ROWS, true, 7, err, sizeof err));
    ck_assert(shard_batches_init(&b, paths, 3, T, ROWS, true, 7, err, sizeof err));
    ck_assert(shard_batches_init(&c, paths, 3, T, ROWS, true, 8, err, sizeof err));
    BatchLoader la = shard_batches_loader(&a), lb = shard_batches_loader(&b), lc = shard_batches_loader(&c);
    int first[18], again[18], second[18], other[18];
    ck_assert_int_eq(read_epoch(&la, first), 18);
    ck_assert_int_eq(read_epoch(&lb, again), 18);
    ck_assert_mem_eq(first, again, sizeof first); /* the same seed: the same order */
    ck_assert_int_eq(read_epoch(&la, second), 18);
    ck_assert_int_eq(read_epoch(&lc, other), 18);
    ck_assert(memcmp(first, second, sizeof first) != 0); /* the next epoch: another order */
    ck_assert(memcmp(first, other, sizeof first) != 0);  /* another seed: another order */
    /* each epoch reads every window once */
    const int *epochs[3] = {first, second, other};
    for (int e = 0; e < 3; e++) {
        int seen[3][10] = {{0}};
        for (int i = 0; i < 18; i++) seen[epochs[e][i] / 1000][epochs[e][i] % 1000]++;
        for (int s = 0; s < 3; s++)
            for (int w = 0; w < (SIZES[s] - 1) / T; w++) ck_assert_int_eq(seen[s][w], 1);
    }
    shard_batches_free(&a);
    shard_batches_free(&b);
    shard_batches_free(&c);
}
END_TEST

START_TEST(test_seek_continues_the_same_batches) {
    ShardBatches whole, resumed;
    char err[256];
    ck_assert(shard_batches_init(&whole, paths, 3, T, ROWS, true, 3, err, sizeof err));
    ck_assert(shard_batches_init(&resumed, paths, 3, T, ROWS, true, 3, err, sizeof err));
    BatchLoader lw = shard_batches_loader(&whole), lr = shard_batches_loader(&resumed);
    int ids[18];
    read_epoch(&lw, ids); /* epoch 0 */
    lw.reset(lw.self);     /* epoch 1 */
    Batch b;
    for (int i = 0; i < 4; i++) ck_assert(lw.next(lw.self, &b));
    shard_batches_seek(&resumed, 1, 2); /* a run saved after epoch 1's second batch */
    lr.reset(lr.self);
    Batch c;
    ck_assert(lr.next(lr.self, &c)); /* batch 2 */
    ck_assert(lr.next(lr.self, &c)); /* batch 3 */
    ck_assert_mem_eq(b.inputs, c.inputs, sizeof(int) * ROWS * T);
    ck_assert_mem_eq(b.targets, c.targets, sizeof(int) * ROWS * T);
    while (lw.next(lw.self, &b)) {
        ck_assert(lr.next(lr.self, &c));
        ck_assert_mem_eq(b.inputs, c.inputs, sizeof(int) * ROWS * T);
    }
    ck_assert(!lr.next(lr.self, &c));
    shard_batches_free(&whole);
    shard_batches_free(&resumed);
}
END_TEST

START_TEST(test_too_little_data_is_refused) {
    ShardBatches sb;
    char err[256];
    ck_assert(!shard_batches_init(&sb, paths + 1, 1, T, ROWS, false, 0, err, sizeof err));
    ck_assert_msg(strstr(err, "1 shard(s) of 2 windows of 4 tokens: not one batch of 3") != NULL, "%s", err);
    char *bad = path_join(dir, "bad.bin");
    write_file_atomic(bad, "not a shard", 11);
    char *both[2] = {paths[0], bad};
    ck_assert(!shard_batches_init(&sb, both, 2, T, ROWS, false, 0, err, sizeof err));
    ck_assert_msg(strstr(err, "is not a token shard") != NULL, "%s", err);
    free(bad);
}
END_TEST

Suite *shard_loader_suite(void) {
    Suite *s = suite_create("shard_loader");
    TCase *tc = tcase_create("batches");
    tcase_add_checked_fixture(tc, make_shards, remove_shards);
    add_test(tc, test_in_order);
    add_test(tc, test_shuffled_is_a_permutation_of_the_seed_and_epoch);
    add_test(tc, test_seek_continues_the_same_batches);
    add_test(tc, test_too_little_data_is_refused);
    suite_add_tcase(s, tc);
    return s;
}
