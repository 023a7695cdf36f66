/* Tests for ch05_pretrain/tf_checkpoint: real TensorFlow checkpoints from
 * $DATA_DIR/tf_checkpoint (see the data README, section 4, for where each
 * comes from and the listings compared with here), and bundles written by
 * write_test_bundle below (which test_gpt_weights.c uses too) to test what
 * the real files cannot: several data blocks, corruption, truncation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../ch05_pretrain/tf_checkpoint.h"
#include "../common/crc32c.h"
#include "test_helpers.h"

/* ---- helpers shared with test_safetensors.c and test_gpt_weights.c ---------------- */

/* Run fn(arg) in a child process and assert that it exits with status 1
 * (what fatal() does) and that its stderr contains want. An exit test
 * (tcase_add_exit_test) checks the status only; this checks the message. */
void expect_fatal(void (*fn)(const void *), const void *arg, const char *want) {
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    char err[4096];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof err - 1 && (got = read(fds[0], err + n, sizeof err - 1 - n)) > 0) n += (size_t)got;
    err[n] = '\0';
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "expected exit status 1, got 0x%x; stderr: %s",
                  status, err);
    ck_assert_msg(strstr(err, want) != NULL, "expected '%s' in the error, got: %s", want, err);
    /* under SANITIZE=1 a memory error also exits with 1: make sure it was fatal() */
    ck_assert_msg(!strstr(err, "ERROR: AddressSanitizer") && !strstr(err, "runtime error:"), "sanitizer: %s", err);
}

static void put_varint(ByteBuf *b, uint64_t v) {
    for (; v >= 0x80; v >>= 7) {
        unsigned char c = (unsigned char)(v | 0x80);
        bytebuf_append(b, &c, 1);
    }
    unsigned char c = (unsigned char)v;
    bytebuf_append(b, &c, 1);
}

static void put_fixed32(ByteBuf *b, uint32_t v) {
    unsigned char c[4] = {v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, v >> 24};
    bytebuf_append(b, c, 4);
}

static void pb_varint(ByteBuf *b, int field, uint64_t v) {
    put_varint(b, (uint64_t)field << 3);
    put_varint(b, v);
}

static void pb_bytes(ByteBuf *b, int field, const void *p, size_t n) {
    put_varint(b, (uint64_t)field << 3 | 2);
    put_varint(b, n);
    bytebuf_append(b, p, n);
}

/* A LevelDB block: prefix-compressed entries, a restart point every 3 */
typedef struct {
    ByteBuf data, last_key;
    IntVec restarts;
    int count;
} BlockBuilder;

static void block_add(BlockBuilder *bb, const char *key, const ByteBuf *value) {
    size_t klen = strlen(key), shared = 0;
    if (bb->count % 3 == 0) intvec_push(&bb->restarts, (int)bb->data.len);
    else
        while (shared < klen && shared < bb->last_key.len && key[shared] == bb->last_key.data[shared]) shared++;
    put_varint(&bb->data, shared);
    put_varint(&bb->data, klen - shared);
    put_varint(&bb->data, value->len);
    bytebuf_append(&bb->data, key + shared, klen - shared);
    bytebuf_append(&bb->data, value->data, value->len);
    bb->last_key.len = 0;
    bytebuf_append(&bb->last_key, key, klen);
    bb->count++;
}

/* Finish the block, append it and its trailer to file, and put its handle
 * (varint offset, varint size) in handle. */
static void block_flush(BlockBuilder *bb, ByteBuf *file, ByteBuf *handle) {
    if (bb->restarts.len == 0) intvec_push(&bb->restarts, 0);
    for (size_t i = 0; i < bb->restarts.len; i++) put_fixed32(&bb->data, (uint32_t)bb->restarts.data[i]);
    put_fixed32(&bb->data, (uint32_t)bb->restarts.len);
    put_varint(handle, file->len);
    put_varint(handle, bb->data.len);
    bytebuf_append(file, bb->data.data, bb->data.len);
    unsigned char type = 0;
    bytebuf_append(file, &type, 1);
    put_fixed32(file, crc32c_mask(crc32c_extend(crc32c(bb->data.data, bb->data.len), &type, 1)));
    bytebuf_free(&bb->data);
    bytebuf_free(&bb->last_key);
    intvec_free(&bb->restarts);
    *bb = (BlockBuilder){0};
}

static const char *const *sort_names;
static int compare_indices(const void *a, const void *b) {
    return strcmp(sort_names[*(const int *)a], sort_names[*(const int *)b]);
}

/* Write a DT_FLOAT tensor bundle as TensorFlow does: PREFIX.data-00000-of-00001
 * with the tensors back to back in name order, and PREFIX.index, a table of
 * data blocks (at most 4 entries each, so there are several), an empty
 * metaindex block, the index block and the footer. */
void write_test_bundle(const char *prefix, int n, const char *const names[], const int ndims[],
                       const int64_t shapes[][4], const float *const data[]) {
    int *order = xcalloc(n, sizeof *order);
    for (int i = 0; i < n; i++) order[i] = i;
    sort_names = names;
    qsort(order, n, sizeof *order, compare_indices);

    ByteBuf shard = {0}, index = {0}, value = {0};
    BlockBuilder data_block = {0}, index_block = {0};
    /* the header: num_shards 1, endianness little (0, left out as proto3
     * does), version { producer 1 } */
    pb_varint(&value, 1, 1);
    const unsigned char version[] = {0x08, 0x01};
    pb_bytes(&value, 3, version, sizeof version);
    block_add(&data_block, "", &value);
    for (int k = 0; k < n; k++) {
        int i = order[k];
        size_t numel = 1;
        ByteBuf shape = {0}, dim = {0};
        for (int d = 0; d < ndims[i]; d++) {
            numel *= (size_t)shapes[i][d];
            dim.len = 0;
            pb_varint(&dim, 1, (uint64_t)shapes[i][d]);
            pb_bytes(&shape, 2, dim.data, dim.len);
        }
        size_t size = numel * sizeof(float);
        value.len = 0;
        pb_varint(&value, 1, 1); /* DT_FLOAT */
        pb_bytes(&value, 2, shape.data ? shape.data : "", shape.len);
        if (shard.len) pb_varint(&value, 4, shard.len);
        pb_varint(&value, 5, size);
        put_varint(&value, 6 << 3 | 5);
        put_fixed32(&value, crc32c_mask(crc32c(data[i], size)));
        bytebuf_append(&shard, data[i], size);
        block_add(&data_block, names[i], &value);
        if (data_block.count == 4 || k == n - 1) {
            ByteBuf key = {0};
            bytebuf_append(&key, data_block.last_key.data, data_block.last_key.len);
            bytebuf_append(&key, "", 1);
            ByteBuf handle = {0};
            block_flush(&data_block, &index, &handle);
            block_add(&index_block, key.data, &handle);
            bytebuf_free(&key);
            bytebuf_free(&handle);
        }
        bytebuf_free(&shape);
        bytebuf_free(&dim);
    }
    if (n == 0) { /* only the header */
        ByteBuf handle = {0};
        block_flush(&data_block, &index, &handle);
        block_add(&index_block, "~", &handle);
        bytebuf_free(&handle);
    }
    BlockBuilder meta = {0};
    ByteBuf footer = {0};
    block_flush(&meta, &index, &footer);
    block_flush(&index_block, &index, &footer);
    while (footer.len < 40) bytebuf_append(&footer, "", 1);
    put_fixed32(&footer, 0x8b80fb57u); /* the magic 0xdb4775248b80fb57, little-endian */
    put_fixed32(&footer, 0xdb477524u);
    bytebuf_append(&index, footer.data, footer.len);

    size_t len = strlen(prefix) + 32;
    char *path = xmalloc(len);
    snprintf(path, len, "%s.index", prefix);
    write_file_atomic(path, index.data, index.len);
    snprintf(path, len, "%s.data-00000-of-00001", prefix);
    write_file_atomic(path, shard.data ? shard.data : "", shard.len);
    free(path);
    bytebuf_free(&shard);
    bytebuf_free(&index);
    bytebuf_free(&value);
    bytebuf_free(&footer);
    free(order);
}

/* ---- real checkpoints -------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int dtype, ndim;
    int64_t shape[3];
    uint64_t offset, size;
    uint32_t crc;
} Expected;

static TfCheckpoint *open_data(const char *relative) {
    char *path = path_join(data_dir(), relative);
    TfCheckpoint *ck = tf_checkpoint_open(path);
    free(path);
    return ck;
}

static void check_listing(const TfCheckpoint *ck, const Expected *want, int n) {
    ck_assert_int_eq(ck->n_tensors, n);
    for (int i = 0; i < n; i++) {
        const TfTensor *t = &ck->tensors[i];
        ck_assert_str_eq(t->name, want[i].name);
        ck_assert_ptr_eq(tf_checkpoint_find(ck, want[i].name), t);
        ck_assert_int_eq(t->dtype, want[i].dtype);
        ck_assert_int_eq(t->ndim, want[i].ndim);
        for (int d = 0; d < t->ndim; d++) ck_assert_int_eq(t->shape[d], want[i].shape[d]);
        ck_assert_int_eq(t->shard, 0);
        ck_assert_uint_eq(t->offset, want[i].offset);
        ck_assert_uint_eq(t->size, want[i].size);
        ck_assert_uint_eq(t->crc32c, want[i].crc);
        ck_assert_int_eq(t->n_slices, 0);
    }
}

START_TEST(test_tf1_tiny) {
    TfCheckpoint *ck = open_data("tf_checkpoint/tf1_tiny/save_net.ckpt");
    ck_assert_int_eq(ck->num_shards, 1);
    ck_assert(!ck->big_endian);
    ck_assert_int_eq(ck->version_producer, 1);
    const Expected want[] = {
        {"biases", TF_DT_FLOAT, 2, {1, 3}, 0, 12, 0x6aa70f78u},
        {"weights", TF_DT_FLOAT, 2, {2, 3}, 12, 24, 0x722728f4u},
    };
    check_listing(ck, want, 2);
    ck_assert_ptr_null(tf_checkpoint_find(ck, "bias"));
    ck_assert_ptr_null(tf_checkpoint_find(ck, ""));
    size_t n;
    float *b = tf_checkpoint_load_f32(ck, "biases", &n), *w = tf_checkpoint_load_f32(ck, "weights", NULL);
    ck_assert_uint_eq(n, 3);
    const float want_b[] = {1, 24, 3}, want_w[] = {8, 2, 7, 3, 67, 5};
    ck_assert_mem_eq(b, want_b, sizeof want_b);
    ck_assert_mem_eq(w, want_w, sizeof want_w);
    /* the stored CRC is masked: masked(crc32c(the tensor's bytes)) */
    ck_assert_uint_eq(crc32c_mask(crc32c(want_w, sizeof want_w)), 0x722728f4u);
    free(b);
    free(w);
    char *shard = tf_checkpoint_shard_path(ck, 0);
    ck_assert(strstr(shard, "tf1_tiny/save_net.ckpt.data-00000-of-00001") != NULL);
    free(shard);
    tf_checkpoint_close(ck);
    /* the index file's own path works as well as the prefix */
    ck = open_data("tf_checkpoint/tf1_tiny/save_net.ckpt.index");
    ck_assert_int_eq(ck->n_tensors, 2);
    ck_assert(strstr(ck->prefix, "tf1_tiny/save_net.ckpt") != NULL && !strstr(ck->prefix, ".index"));
    tf_checkpoint_close(ck);
}
END_TEST

START_TEST(test_tf1_adam_mlp) {
    static const Expected want[] = {
        {"Variable", 1, 2, {8, 100}, 0, 3200, 0x23c5ff3eu},
        {"Variable/Adam", 1, 2, {8, 100}, 3200, 3200, 0xbe021597u},
        {"Variable/Adam_1", 1, 2, {8, 100}, 6400, 3200, 0xc75831d9u},
        {"Variable_1", 1, 1, {100}, 9600, 400, 0xb8566b62u},
        {"Variable_1/Adam", 1, 1, {100}, 10000, 400, 0x11972014u},
        {"Variable_1/Adam_1", 1, 1, {100}, 10400, 400, 0xba07c93du},
        {"Variable_10", 1, 1, {1}, 10800, 4, 0x3a117ba6u},
        {"Variable_11", 1, 1, {1}, 10804, 4, 0x2bdaa581u},
        {"Variable_2", 1, 2, {100, 5}, 10808, 2000, 0xe3db6f20u},
        {"Variable_2/Adam", 1, 2, {100, 5}, 12808, 2000, 0x63d743dcu},
        {"Variable_2/Adam_1", 1, 2, {100, 5}, 14808, 2000, 0xab1b34f6u},
        {"Variable_3", 1, 1, {5}, 16808, 20, 0xdb9e7f85u},
        {"Variable_3/Adam", 1, 1, {5}, 16828, 20, 0xe8d40170u},
        {"Variable_3/Adam_1", 1, 1, {5}, 16848, 20, 0x7e8a5c95u},
        {"Variable_4", 1, 2, {5, 5}, 16868, 100, 0x0898ae8cu},
        {"Variable_4/Adam", 1, 2, {5, 5}, 16968, 100, 0x6072292du},
        {"Variable_4/Adam_1", 1, 2, {5, 5}, 17068, 100, 0x14c18588u},
        {"Variable_5", 1, 1, {5}, 17168, 20, 0xa21ee316u},
        {"Variable_5/Adam", 1, 1, {5}, 17188, 20, 0x67c7ec0cu},
        {"Variable_5/Adam_1", 1, 1, {5}, 17208, 20, 0x0d0a2472u},
        {"Variable_6", 1, 2, {5, 10}, 17228, 200, 0xefb033a4u},
        {"Variable_6/Adam", 1, 2, {5, 10}, 17428, 200, 0xeffa6be8u},
        {"Variable_6/Adam_1", 1, 2, {5, 10}, 17628, 200, 0x89d48d16u},
        {"Variable_7", 1, 1, {10}, 17828, 40, 0xca83ca19u},
        {"Variable_7/Adam", 1, 1, {10}, 17868, 40, 0xeade016fu},
        {"Variable_7/Adam_1", 1, 1, {10}, 17908, 40, 0x15736ff4u},
        {"Variable_8", 1, 2, {10, 1}, 17948, 40, 0x63b257b2u},
        {"Variable_8/Adam", 1, 2, {10, 1}, 17988, 40, 0xd59314aau},
        {"Variable_8/Adam_1", 1, 2, {10, 1}, 18028, 40, 0x89096580u},
        {"Variable_9", 1, 1, {1}, 18068, 4, 0x4d5cfc82u},
        {"Variable_9/Adam", 1, 1, {1}, 18072, 4, 0x26e22bdfu},
        {"Variable_9/Adam_1", 1, 1, {1}, 18076, 4, 0x3acf09c1u},
        {"beta1_power", 1, 0, {0}, 18080, 4, 0x3a117ba6u},
        {"beta2_power", 1, 0, {0}, 18084, 4, 0x32ae0741u},
    };
    TfCheckpoint *ck = open_data("tf_checkpoint/tf1_adam_mlp/model.ckpt");
    check_listing(ck, want, 34);
    /* every tensor reads and passes its CRC check */
    for (int i = 0; i < ck->n_tensors; i++) {
        size_t n;
        float *x = tf_checkpoint_load_f32(ck, ck->tensors[i].name, &n);
        ck_assert_uint_eq(n, ck->tensors[i].numel);
        for (size_t k = 0; k < n; k++) ck_assert(isfinite(x[k]));
        free(x);
    }
    float *v = tf_checkpoint_load_f32(ck, "Variable", NULL);
    const float first[] = {-0.7028479f, 0.7510504f, 0.9936269f, -0.0823677f};
    for (int k = 0; k < 4; k++) ck_assert(close_enough(v[k], first[k], 1e-6f, 0));
    free(v);
    float x;
    tf_checkpoint_read_f32(ck, tf_checkpoint_find(ck, "Variable_10"), &x);
    ck_assert(x == 0.0f);
    tf_checkpoint_read_f32(ck, tf_checkpoint_find(ck, "Variable_11"), &x);
    ck_assert(x == 1.0f);
    const TfTensor *beta2 = tf_checkpoint_find(ck, "beta2_power");
    ck_assert_int_eq(beta2->ndim, 0);
    ck_assert_uint_eq(beta2->numel, 1);
    tf_checkpoint_read_f32(ck, beta2, &x);
    ck_assert(close_enough(x, 4.162e-18f, 1e-3f, 0));
    tf_checkpoint_close(ck);
}
END_TEST

START_TEST(test_tf2_keras_lists_every_dtype) {
    static const Expected want[] = {
        {"_CHECKPOINTABLE_OBJECT_GRAPH", 7, 0, {0}, 2676, 3017, 0x725ed24cu},
        {"layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE", 1, 1, {12}, 384, 48, 0xe653a962u},
        {"layer_with_weights-0/bias/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE", 1, 1, {12}, 1292, 48, 0xdbd906c6u},
        {"layer_with_weights-0/bias/.OPTIMIZER_SLOT/optimizer/v/.ATTRIBUTES/VARIABLE_VALUE", 1, 1, {12}, 2176, 48, 0xa306e72bu},
        {"layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", 1, 2, {8, 12}, 0, 384, 0xa42508c3u},
        {"layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE", 1, 2, {8, 12}, 908, 384, 0xe4c2b98bu},
        {"layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/v/.ATTRIBUTES/VARIABLE_VALUE", 1, 2, {8, 12}, 1792, 384, 0xabce2c27u},
        {"layer_with_weights-1/bias/.ATTRIBUTES/VARIABLE_VALUE", 1, 1, {8}, 816, 32, 0xc4b44cfau},
        {"layer_with_weights-1/bias/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE", 1, 1, {8}, 1724, 32, 0x6fecc6ccu},
        {"layer_with_weights-1/bias/.OPTIMIZER_SLOT/optimizer/v/.ATTRIBUTES/VARIABLE_VALUE", 1, 1, {8}, 2608, 32, 0x80fa0a83u},
        {"layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE", 1, 2, {12, 8}, 432, 384, 0x3d9216dbu},
        {"layer_with_weights-1/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE", 1, 2, {12, 8}, 1340, 384, 0x401ca6acu},
        {"layer_with_weights-1/kernel/.OPTIMIZER_SLOT/optimizer/v/.ATTRIBUTES/VARIABLE_VALUE", 1, 2, {12, 8}, 2224, 384, 0x5d2514a9u},
        {"layer_with_weights-2/bias/.ATTRIBUTES/VARIABLE_VALUE", 1, 1, {1}, 880, 4, 0xd9311d9eu},
        {"layer_with_weights-2/bias/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE", 1, 1, {1}, 1788, 4, 0x37b5e081u},
        {"layer_with_weights-2/bias/.OPTIMIZER_SLOT/optimizer/v/.ATTRIBUTES/VARIABLE_VALUE", 1, 1, {1}, 2672, 4, 0x0af3ddc9u},
        {"layer_with_weights-2/kernel/.ATTRIBUTES/VARIABLE_VALUE", 1, 2, {8, 1}, 848, 32, 0xa2d3c911u},
        {"layer_with_weights-2/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE", 1, 2, {8, 1}, 1756, 32, 0xaaa6707au},
        {"layer_with_weights-2/kernel/.OPTIMIZER_SLOT/optimizer/v/.ATTRIBUTES/VARIABLE_VALUE", 1, 2, {8, 1}, 2640, 32, 0x8927a8afu},
        {"optimizer/beta_1/.ATTRIBUTES/VARIABLE_VALUE", 1, 0, {0}, 892, 4, 0xdfc7ebfdu},
        {"optimizer/beta_2/.ATTRIBUTES/VARIABLE_VALUE", 1, 0, {0}, 896, 4, 0xd9faedbbu},
        {"optimizer/decay/.ATTRIBUTES/VARIABLE_VALUE", 1, 0, {0}, 900, 4, 0x3a117ba6u},
        {"optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE", 9, 0, {0}, 884, 8, 0x044d4004u},
        {"optimizer/learning_rate/.ATTRIBUTES/VARIABLE_VALUE", 1, 0, {0}, 904, 4, 0x3255cb69u},
    };
    TfCheckpoint *ck = open_data("tf_checkpoint/tf2_keras/1.ckpt");
    check_listing(ck, want, 24);
    ck_assert_str_eq(tf_dtype_name(ck->tensors[0].dtype), "DT_STRING");
    ck_assert_str_eq(tf_dtype_name(TF_DT_INT64), "DT_INT64");
    ck_assert_str_eq(tf_dtype_name(TF_DT_FLOAT), "DT_FLOAT");
    ck_assert_str_eq(tf_dtype_name(12345), "DT_?");
    float kernel[96];
    tf_checkpoint_read_f32(ck, &ck->tensors[4], kernel);
    for (int k = 0; k < 96; k++) ck_assert(isfinite(kernel[k]) && fabsf(kernel[k]) < 10);
    /* the CRC of a non-float tensor is the masked CRC of its raw bytes too:
     * optimizer/iter is the int64 34650 */
    size_t len;
    char *path = path_join(data_dir(), "tf_checkpoint/tf2_keras/1.ckpt.data-00000-of-00001");
    char *bytes = read_file(path, &len);
    ck_assert_uint_eq(len, 5693);
    int64_t iter;
    memcpy(&iter, bytes + 884, 8);
    ck_assert_int_eq(iter, 34650);
    ck_assert_uint_eq(crc32c_mask(crc32c(bytes + 884, 8)), 0x044d4004u);
    free(bytes);
    free(path);
    tf_checkpoint_close(ck);
}
END_TEST

static void read_keras_string(const void *arg) {
    (void)arg;
    TfCheckpoint *ck = open_data("tf_checkpoint/tf2_keras/1.ckpt");
    float x[1024];
    tf_checkpoint_read_f32(ck, tf_checkpoint_find(ck, "_CHECKPOINTABLE_OBJECT_GRAPH"), x);
}

static void read_keras_int64(const void *arg) {
    (void)arg;
    TfCheckpoint *ck = open_data("tf_checkpoint/tf2_keras/1.ckpt");
    free(tf_checkpoint_load_f32(ck, "optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE", NULL));
}

START_TEST(test_other_dtypes_refuse_to_read_as_float) {
    expect_fatal(read_keras_string, NULL, "'_CHECKPOINTABLE_OBJECT_GRAPH' is DT_STRING (7); only DT_FLOAT");
    expect_fatal(read_keras_int64, NULL, "is DT_INT64 (9); only DT_FLOAT");
}
END_TEST

/* OpenAI's GPT-2 124M index: 148 tensors, back to back in name order. */
START_TEST(test_gpt2_124m_index) {
    TfCheckpoint *ck = open_data("tf_checkpoint/gpt2_124M_index_only/model.ckpt");
    ck_assert_int_eq(ck->n_tensors, 148);
    ck_assert_int_eq(ck->num_shards, 1);
    uint64_t offset = 0, params = 0;
    for (int i = 0; i < ck->n_tensors; i++) {
        const TfTensor *t = &ck->tensors[i];
        ck_assert_int_eq(t->dtype, TF_DT_FLOAT);
        ck_assert_uint_eq(t->offset, offset);
        ck_assert_uint_eq(t->size, t->numel * 4);
        offset += t->size;
        params += t->numel;
    }
    ck_assert_uint_eq(params, 124439808);
    ck_assert_uint_eq(offset, 497759232); /* the size of the data file */
    /* every tensor the loader needs, with its shape */
    const int C = 768;
    const struct {
        const char *suffix;
        int ndim;
        int64_t shape[3];
    } block[] = {
        {"attn/c_attn/b", 1, {3 * C}},     {"attn/c_attn/w", 3, {1, C, 3 * C}}, {"attn/c_proj/b", 1, {C}},
        {"attn/c_proj/w", 3, {1, C, C}},   {"ln_1/b", 1, {C}},                  {"ln_1/g", 1, {C}},
        {"ln_2/b", 1, {C}},                {"ln_2/g", 1, {C}},                  {"mlp/c_fc/b", 1, {4 * C}},
        {"mlp/c_fc/w", 3, {1, C, 4 * C}},  {"mlp/c_proj/b", 1, {C}},            {"mlp/c_proj/w", 3, {1, 4 * C, C}},
    };
    for (int l = 0; l < 12; l++)
        for (int k = 0; k < 12; k++) {
            char name[64];
            snprintf(name, sizeof name, "model/h%d/%s", l, block[k].suffix);
            const TfTensor *t = tf_checkpoint_find(ck, name);
            ck_assert_msg(t != NULL, "no %s", name);
            ck_assert_int_eq(t->ndim, block[k].ndim);
            for (int d = 0; d < t->ndim; d++) ck_assert_int_eq(t->shape[d], block[k].shape[d]);
        }
    /* rows of the data README's listing */
    const Expected rows[] = {
        {"model/h0/attn/c_attn/b", 1, 1, {2304}, 0, 9216, 0x8c273d74u},
        {"model/h0/attn/c_attn/w", 1, 3, {1, 768, 2304}, 9216, 7077888, 0x863d710du},
        {"model/h2/mlp/c_fc/w", 1, 3, {1, 768, 3072}, 122880000, 9437184, 0x06bfad31u},
        {"model/h9/attn/c_proj/b", 1, 1, {768}, 318953472, 3072, 0x1e8b45bbu},
        {"model/ln_f/b", 1, 1, {768}, 340217856, 3072, 0x0c8f5269u},
        {"model/ln_f/g", 1, 1, {768}, 340220928, 3072, 0x8f3811d0u},
        {"model/wpe", 1, 2, {1024, 768}, 340224000, 3145728, 0x2acfb8f1u},
        {"model/wte", 1, 2, {50257, 768}, 343369728, 154389504, 0x0e298522u},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const TfTensor *t = tf_checkpoint_find(ck, rows[i].name);
        ck_assert_msg(t != NULL, "no %s", rows[i].name);
        ck_assert_int_eq(t->ndim, rows[i].ndim);
        for (int d = 0; d < t->ndim; d++) ck_assert_int_eq(t->shape[d], rows[i].shape[d]);
        ck_assert_uint_eq(t->offset, rows[i].offset);
        ck_assert_uint_eq(t->size, rows[i].size);
        ck_assert_uint_eq(t->crc32c, rows[i].crc);
    }
    ck_assert_str_eq(ck->tensors[0].name, "model/h0/attn/c_attn/b");
    ck_assert_str_eq(ck->tensors[147].name, "model/wte");
    tf_checkpoint_close(ck);
}
END_TEST

static void read_gpt2_without_data(const void *arg) {
    (void)arg;
    TfCheckpoint *ck = open_data("tf_checkpoint/gpt2_124M_index_only/model.ckpt");
    float b[768];
    tf_checkpoint_read_f32(ck, tf_checkpoint_find(ck, "model/ln_f/b"), b);
}

START_TEST(test_missing_data_shard) {
    expect_fatal(read_gpt2_without_data, NULL, "missing data shard 0 of 1 (needed for tensor 'model/ln_f/b')");
}
END_TEST

static void open_snappy(const void *arg) {
    (void)arg;
    open_data("tf_checkpoint/snappy_index_only/minigo.index");
}

START_TEST(test_snappy_is_refused_clearly) {
    expect_fatal(open_snappy, NULL, "Snappy-compressed, which is not supported");
}
END_TEST

/* The index and the data held in memory (tf_checkpoint_parse), and errors
 * returned rather than exiting. */
START_TEST(test_in_memory_bundle) {
    char *index_path = path_join(data_dir(), "tf_checkpoint/tf1_tiny/save_net.ckpt.index");
    char *data_path = path_join(data_dir(), "tf_checkpoint/tf1_tiny/save_net.ckpt.data-00000-of-00001");
    size_t index_len, data_len, n;
    char *index = read_file(index_path, &index_len), *data = read_file(data_path, &data_len), err[512];
    TfCheckpoint *ck = tf_checkpoint_parse(index, index_len, data, data_len, "mem.ckpt", err, sizeof err);
    ck_assert_ptr_nonnull(ck);
    ck_assert_int_eq(ck->n_tensors, 2);
    float *w = tf_checkpoint_try_load_f32(ck, "weights", &n, err, sizeof err);
    const float want_w[] = {8, 2, 7, 3, 67, 5};
    ck_assert_uint_eq(n, 6);
    ck_assert_mem_eq(w, want_w, sizeof want_w);
    free(w);
    ck_assert_ptr_null(tf_checkpoint_try_load_f32(ck, "nothing", NULL, err, sizeof err));
    ck_assert_str_eq(err, "mem.ckpt.index: no tensor named 'nothing'");
    tf_checkpoint_close(ck);
    /* without the data: the index reads, the tensors do not */
    ck = tf_checkpoint_parse(index, index_len, NULL, 0, "mem.ckpt", err, sizeof err);
    ck_assert(!tf_checkpoint_check_f32(ck, &ck->tensors[0], err, sizeof err));
    ck_assert_str_eq(err, "mem.ckpt.data-00000-of-00001: missing data shard 0 of 1 (needed for tensor 'biases')");
    tf_checkpoint_close(ck);
    /* cut anywhere, the index is refused with a message */
    for (size_t cut = 0; cut < index_len; cut++) {
        ck = tf_checkpoint_parse(index, cut, data, data_len, "cut", err, sizeof err);
        ck_assert_msg(ck == NULL, "accepted %zu bytes", cut);
        ck_assert(strncmp(err, "cut.index: ", 11) == 0);
    }
    ck_assert_ptr_null(tf_checkpoint_try_open("/nonexistent/model.ckpt", err, sizeof err));
    ck_assert_str_eq(err, "/nonexistent/model.ckpt.index: No such file or directory");
    free(index);
    free(data);
    free(index_path);
    free(data_path);
}
END_TEST

/* The index (no data) of a regression input from tests/fixtures/fuzz/tf_index/. */
static TfCheckpoint *parse_regression(const char *name, const void *data, size_t data_len, char *err,
                                      size_t err_size) {
    char *path = fixture_path(name);
    size_t len;
    char *index = read_file(path, &len);
    TfCheckpoint *ck = tf_checkpoint_parse(index, len, data, data_len, "fuzz.ckpt", err, err_size);
    free(index);
    free(path);
    return ck;
}

/* A tensor's size is checked against the data file before anything is
 * allocated for it: this index claims [2^30, 4] floats (16 GiB), which
 * tf_checkpoint_load_f32 once allocated before looking at the file. */
START_TEST(test_data_size_checked_before_allocating) {
    char err[512];
    const float data[4] = {1, 2, 3, 4};
    TfCheckpoint *ck = parse_regression("fuzz/tf_index/tensor-16gib.index", data, sizeof data, err, sizeof err);
    ck_assert_ptr_nonnull(ck);
    ck_assert_uint_eq(ck->tensors[0].numel, (size_t)1 << 32);
    ck_assert_ptr_null(tf_checkpoint_try_load_f32(ck, "a", NULL, err, sizeof err));
    ck_assert_str_eq(err, "fuzz.ckpt.data-00000-of-00001: data file is truncated: tensor 'a' needs bytes "
                          "[0, 17179869184) but the file has 16");
    tf_checkpoint_close(ck);
}
END_TEST

/* An index whose index block lists one data block 200 times: the data
 * blocks must follow one another, so it is refused at the second, not
 * parsed 200 times (a larger one took quadratic time). */
START_TEST(test_data_blocks_must_follow_one_another) {
    char err[512];
    ck_assert_ptr_null(parse_regression("fuzz/tf_index/one-block-200-times.index", NULL, 0, err, sizeof err));
    ck_assert_str_eq(err, "fuzz.ckpt.index: the data block at offset 0 overlaps or comes before the one ending at 41");
}
END_TEST

/* ---- written bundles ---------------------------------------------------------------------- */

static char *tmp;
static void make_tmp(void) { tmp = make_temp_dir(); }
static void remove_tmp(void) {
    remove_tree(tmp);
    free(tmp);
}

/* Eleven tensors and the header: three data blocks; names share prefixes. */
enum { N_WRITTEN = 11 };
static const char *const written_names[N_WRITTEN] = {"w/h1/b", "w/h1/a", "w/h0/b", "w/h0/a", "scalar", "w/h10/b",
                                                     "w/h10/a", "empty", "w/h2/a", "w/h2/b", "zz"};
static const int written_ndims[N_WRITTEN] = {1, 2, 1, 2, 0, 1, 3, 1, 2, 1, 1};
static const int64_t written_shapes[N_WRITTEN][4] = {{3},       {2, 3}, {5},    {4, 1}, {0}, {7},
                                                     {1, 2, 2}, {0},    {3, 3}, {1},    {9}};
static float written_values[N_WRITTEN][16];

static char *write_sample(void) {
    const float *data[N_WRITTEN];
    for (int i = 0; i < N_WRITTEN; i++) {
        for (int k = 0; k < 16; k++) written_values[i][k] = (float)(i * 100 + k) * 0.5f - 3.0f;
        data[i] = written_values[i];
    }
    char *prefix = path_join(tmp, "sample.ckpt");
    write_test_bundle(prefix, N_WRITTEN, written_names, written_ndims, written_shapes, data);
    return prefix;
}

START_TEST(test_written_bundle_round_trip) {
    char *prefix = write_sample();
    TfCheckpoint *ck = tf_checkpoint_open(prefix);
    ck_assert_int_eq(ck->n_tensors, N_WRITTEN);
    for (int i = 1; i < ck->n_tensors; i++) ck_assert(strcmp(ck->tensors[i - 1].name, ck->tensors[i].name) < 0);
    for (int i = 0; i < N_WRITTEN; i++) {
        const TfTensor *t = tf_checkpoint_find(ck, written_names[i]);
        ck_assert_msg(t != NULL, "no %s", written_names[i]);
        ck_assert_int_eq(t->ndim, written_ndims[i]);
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            ck_assert_int_eq(t->shape[d], written_shapes[i][d]);
            numel *= (size_t)written_shapes[i][d];
        }
        ck_assert_uint_eq(t->numel, numel);
        float got[16];
        tf_checkpoint_read_f32(ck, t, got);
        ck_assert_mem_eq(got, written_values[i], numel * sizeof(float));
    }
    tf_checkpoint_close(ck);
    free(prefix);
}
END_TEST

static void flip_byte(const char *path, long offset_from_end) {
    size_t len;
    char *bytes = read_file(path, &len);
    bytes[len - (size_t)offset_from_end] ^= 0x10;
    write_file_atomic(path, bytes, len);
    free(bytes);
}

static void truncate_to(const char *path, size_t keep) {
    size_t len;
    char *bytes = read_file(path, &len);
    write_file_atomic(path, bytes, keep < len ? keep : len);
    free(bytes);
}

static void read_all(const void *prefix) {
    TfCheckpoint *ck = tf_checkpoint_open(prefix);
    for (int i = 0; i < ck->n_tensors; i++) free(tf_checkpoint_load_f32(ck, ck->tensors[i].name, NULL));
}

START_TEST(test_bad_data_crc) {
    char *prefix = write_sample();
    char *shard = xmalloc(strlen(prefix) + 32);
    sprintf(shard, "%s.data-00000-of-00001", prefix);
    flip_byte(shard, 1); /* the last byte: tensor "zz" */
    expect_fatal(read_all, prefix, "tensor 'zz' is corrupt (crc32c");
    truncate_to(shard, 40);
    expect_fatal(read_all, prefix, "data file is truncated");
    free(shard);
    free(prefix);
}
END_TEST

START_TEST(test_bad_index) {
    char *prefix = write_sample();
    char *index = xmalloc(strlen(prefix) + 8);
    sprintf(index, "%s.index", prefix);
    size_t len;
    char *good = read_file(index, &len);
    flip_byte(index, (long)len - 20); /* inside the first data block */
    expect_fatal(read_all, prefix, "the data block at offset 0 is corrupt");
    write_file_atomic(index, good, len);
    flip_byte(index, 60); /* inside the index block, just before the footer */
    expect_fatal(read_all, prefix, "the index block at offset");
    truncate_to(index, len - 1);
    expect_fatal(read_all, prefix, "no table magic");
    truncate_to(index, 20);
    expect_fatal(read_all, prefix, "too short for a checkpoint index");
    remove(index);
    expect_fatal(read_all, prefix, "No such file");
    free(good);
    free(index);
    free(prefix);
}
END_TEST

Suite *tf_checkpoint_suite(void) {
    Suite *s = suite_create("tf_checkpoint");
    TCase *real = tcase_create("real");
    tcase_add_checked_fixture(real, require_tf_samples, NULL);
    tcase_set_timeout(real, 60); /* forks a process per bad input: slow under SANITIZE=1 */
    add_test(real, test_tf1_tiny);
    add_test(real, test_tf1_adam_mlp);
    add_test(real, test_tf2_keras_lists_every_dtype);
    add_test(real, test_other_dtypes_refuse_to_read_as_float);
    add_test(real, test_gpt2_124m_index);
    add_test(real, test_missing_data_shard);
    add_test(real, test_snappy_is_refused_clearly);
    add_test(real, test_in_memory_bundle);
    add_test(real, test_data_size_checked_before_allocating);
    add_test(real, test_data_blocks_must_follow_one_another);
    suite_add_tcase(s, real);
    TCase *written = tcase_create("written");
    tcase_set_timeout(written, 60); /* forks a process per bad input: slow under SANITIZE=1 */
    tcase_add_unchecked_fixture(written, make_tmp, remove_tmp);
    add_test(written, test_written_bundle_round_trip);
    add_test(written, test_bad_data_crc);
    add_test(written, test_bad_index);
    suite_add_tcase(s, written);
    return s;
}
