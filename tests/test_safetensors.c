/* Tests for ch05_pretrain/safetensors: the two files in
 * $DATA_DIR/safetensors, written by Hugging Face transformers with the real
 * safetensors library (data README, section 5, lists what is compared
 * here); our writer against them byte for byte; F16 and BF16 conversion;
 * and malformed files, each of which must exit with a clear message. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ch05_pretrain/safetensors.h"
#include "test_helpers.h"

void expect_fatal(void (*fn)(const void *), const void *arg, const char *want); /* test_tf_checkpoint.c */

static SafetensorsFile *open_data(const char *relative) {
    char *path = path_join(data_dir(), relative);
    SafetensorsFile *sf = safetensors_open(path);
    free(path);
    return sf;
}

typedef struct {
    const char *name;
    int ndim;
    int64_t shape[2];
    uint64_t begin, end;
    float first[3];
} Expected;

/* Section 5.1 of the data README. */
static const Expected TINY[] = {
    {"h.0.attn.c_attn.bias", 1, {6}, 0, 24, {0, 0, 0}},
    {"h.0.attn.c_attn.weight", 2, {2, 6}, 24, 72, {0.004909059f, -0.02475921f, 0.01295567f}},
    {"h.0.attn.c_proj.bias", 1, {2}, 72, 80, {0, 0}},
    {"h.0.attn.c_proj.weight", 2, {2, 2}, 80, 96, {0.006690959f, -0.00587916f, 0.02076786f}},
    {"h.0.ln_1.bias", 1, {2}, 96, 104, {0, 0}},
    {"h.0.ln_1.weight", 1, {2}, 104, 112, {1, 1}},
    {"h.0.ln_2.bias", 1, {2}, 112, 120, {0, 0}},
    {"h.0.ln_2.weight", 1, {2}, 120, 128, {1, 1}},
    {"h.0.mlp.c_fc.bias", 1, {8}, 128, 160, {0, 0, 0}},
    {"h.0.mlp.c_fc.weight", 2, {2, 8}, 160, 224, {0.009135341f, 0.005094931f, 0.004266343f}},
    {"h.0.mlp.c_proj.bias", 1, {2}, 224, 232, {0, 0}},
    {"h.0.mlp.c_proj.weight", 2, {8, 2}, 232, 296, {0.009180808f, -0.007818692f, -0.001126037f}},
    {"ln_f.bias", 1, {2}, 296, 304, {0, 0}},
    {"ln_f.weight", 1, {2}, 304, 312, {1, 1}},
    {"wpe.weight", 2, {1024, 2}, 312, 8504, {0.02079654f, -0.008296225f, 0.01236f}},
    {"wte.weight", 2, {21, 2}, 8504, 8672, {0.03195414f, -0.00475914f, -0.0188572f}},
};

/* Section 5.2: the same layout with the "transformer." prefix and GPT-2's
 * real vocabulary. */
static const Expected FAKE[] = {
    {"transformer.h.0.attn.c_attn.weight", 2, {2, 6}, 24, 72, {-0.05586403f, -0.007188465f, 0.005323442f}},
    {"transformer.h.0.attn.c_proj.weight", 2, {2, 2}, 80, 96, {-0.02183747f, 0.003609036f, 0.02970375f}},
    {"transformer.h.0.ln_1.weight", 1, {2}, 104, 112, {1, 1}},
    {"transformer.h.0.mlp.c_fc.weight", 2, {2, 8}, 160, 224, {0.008776956f, 0.007164862f, -0.02895164f}},
    {"transformer.h.0.mlp.c_proj.weight", 2, {8, 2}, 232, 296, {0.008560495f, 0.00303438f, -0.01282135f}},
    {"transformer.ln_f.bias", 1, {2}, 296, 304, {0, 0}},
    {"transformer.wpe.weight", 2, {1024, 2}, 312, 8504, {-0.02037821f, -0.02469068f, -0.004864301f}},
    {"transformer.wte.weight", 2, {50257, 2}, 8504, 410560, {0.02743322f, 0.01169758f, -0.01185022f}},
};

static void check_expected(const SafetensorsFile *sf, const Expected *want, int n) {
    for (int i = 0; i < n; i++) {
        const SafetensorsTensor *t = safetensors_find(sf, want[i].name);
        ck_assert_msg(t != NULL, "no %s", want[i].name);
        ck_assert_str_eq(t->dtype, "F32");
        ck_assert_int_eq(t->ndim, want[i].ndim);
        for (int d = 0; d < t->ndim; d++) ck_assert_int_eq(t->shape[d], want[i].shape[d]);
        ck_assert_uint_eq(t->begin, want[i].begin);
        ck_assert_uint_eq(t->end, want[i].end);
        ck_assert_ptr_eq(safetensors_expect(sf, want[i].name, want[i].ndim, want[i].shape), t);
        size_t numel;
        float *x = safetensors_load_f32(sf, want[i].name, &numel);
        ck_assert_uint_eq(numel, t->numel);
        for (int k = 0; k < 3 && (size_t)k < numel; k++)
            ck_assert_msg(close_enough(x[k], want[i].first[k], 1e-6f, 1e-9f), "%s[%d] = %g, expected %g", t->name, k,
                          x[k], want[i].first[k]);
        free(x);
    }
}

START_TEST(test_tiny_gpt2) {
    SafetensorsFile *sf = open_data("safetensors/tiny_gpt2/model.safetensors");
    ck_assert_int_eq(sf->n_tensors, 16);
    ck_assert_uint_eq(sf->data_start, 1208);
    ck_assert_uint_eq(sf->data_size, 8672);
    ck_assert_int_eq(sf->n_meta, 1);
    ck_assert_str_eq(safetensors_metadata(sf, "format"), "pt");
    ck_assert_ptr_null(safetensors_metadata(sf, "missing"));
    for (int i = 0; i < 16; i++) ck_assert_str_eq(sf->tensors[i].name, TINY[i].name); /* header order */
    check_expected(sf, TINY, 16);
    ck_assert_ptr_null(safetensors_find(sf, "lm_head.weight"));
    safetensors_close(sf);
}
END_TEST

START_TEST(test_fake_gpt2) {
    SafetensorsFile *sf = open_data("safetensors/fake_gpt2/model.safetensors");
    ck_assert_int_eq(sf->n_tensors, 16);
    ck_assert_uint_eq(sf->data_start, 1400);
    ck_assert_uint_eq(sf->data_size, 410560);
    ck_assert_str_eq(safetensors_metadata(sf, "format"), "pt");
    check_expected(sf, FAKE, (int)(sizeof FAKE / sizeof FAKE[0]));
    ck_assert_uint_eq(safetensors_find(sf, "transformer.wte.weight")->numel, 50257 * 2);
    safetensors_close(sf);
}
END_TEST

static char *tmp;
/* tiny_gpt2 without its last 4 bytes, made once by the fixture (when the
 * data is there) */
static char *truncated_path;
static void make_truncated(void) {
    char *src = path_join(data_dir(), "safetensors/tiny_gpt2/model.safetensors");
    size_t len;
    char *bytes = read_file(src, &len);
    truncated_path = path_join(tmp, "truncated.safetensors");
    write_file_atomic(truncated_path, bytes, len - 4);
    free(bytes);
    free(src);
}

static void make_tmp(void) {
    tmp = make_temp_dir();
    if (have_data_file("safetensors/tiny_gpt2/model.safetensors")) make_truncated();
}
static void remove_tmp(void) {
    remove_tree(tmp);
    free(tmp);
    free(truncated_path);
}

/* Reading tiny_gpt2 and writing it back gives the very same bytes: header
 * JSON, key order, padding and data layout match the Python library. */
START_TEST(test_writer_reproduces_the_python_library) {
    require_safetensors_samples();
    SafetensorsFile *sf = open_data("safetensors/tiny_gpt2/model.safetensors");
    SafetensorsWriteTensor ts[16];
    float *data[16];
    for (int i = 15; i >= 0; i--) { /* given in reverse: the writer sorts */
        const SafetensorsTensor *t = &sf->tensors[i];
        data[i] = safetensors_load_f32(sf, t->name, NULL);
        ts[15 - i] = (SafetensorsWriteTensor){.name = t->name, .ndim = t->ndim, .data = data[i]};
        memcpy(ts[15 - i].shape, t->shape, sizeof t->shape);
    }
    char *out = path_join(tmp, "copy.safetensors");
    const char *keys[] = {"format"}, *values[] = {"pt"};
    safetensors_write(out, 16, ts, 1, keys, values);
    size_t got_len, want_len;
    char *got = read_file(out, &got_len);
    char *want_path = test_data_file("safetensors/tiny_gpt2/model.safetensors");
    char *want = read_file(want_path, &want_len);
    ck_assert_uint_eq(got_len, want_len);
    ck_assert_mem_eq(got, want, want_len);
    for (int i = 0; i < 16; i++) free(data[i]);
    free(got);
    free(want);
    free(want_path);
    free(out);
    safetensors_close(sf);
}
END_TEST

START_TEST(test_round_trip_with_metadata_and_mixed_dtypes) {
    const float a[6] = {1.5f, -2.25f, 3e-38f, -0.0f, INFINITY, 123456.789f};
    const float scalar = 42.0f;
    const int64_t ints[3] = {-1, 1LL << 40, 7};
    const uint16_t halves[3] = {0x3C00, 0xC000, 0x0001};
    const SafetensorsWriteTensor ts[] = {
        {.name = "b/a", .ndim = 2, .shape = {2, 3}, .data = a},
        {.name = "scalar", .ndim = 0, .data = &scalar},
        {.name = "empty", .ndim = 2, .shape = {0, 4}, .data = a},
        {.name = "half", .dtype = "F16", .ndim = 1, .shape = {3}, .data = halves},
        {.name = "step", .dtype = "I64", .ndim = 1, .shape = {3}, .data = ints},
        {.name = "weird \"name\"\\\n\x01", .ndim = 1, .shape = {1}, .data = a},
    };
    const char *keys[] = {"zeta", "alpha", "quote"};
    const char *values[] = {"last", "first", "a \"quoted\"\tvalue\\ with \xc3\xa9"};
    char *path = path_join(tmp, "mixed.safetensors");
    safetensors_write(path, 6, ts, 3, keys, values);

    SafetensorsFile *sf = safetensors_open(path);
    ck_assert_int_eq(sf->n_tensors, 6);
    ck_assert_uint_eq(sf->data_start % 8, 0);
    /* largest dtype first, then by name: every tensor aligned to its size */
    ck_assert_str_eq(sf->tensors[0].name, "step");
    ck_assert_str_eq(sf->tensors[1].name, "b/a");
    ck_assert_str_eq(sf->tensors[5].name, "half");
    for (int i = 0; i < sf->n_tensors; i++) ck_assert_uint_eq(sf->tensors[i].begin % sf->tensors[i].dtype_size, 0);
    ck_assert_str_eq(safetensors_metadata(sf, "alpha"), "first");
    ck_assert_str_eq(safetensors_metadata(sf, "zeta"), "last");
    ck_assert_str_eq(safetensors_metadata(sf, "quote"), values[2]);
    ck_assert_str_eq(sf->meta_keys[0], "alpha"); /* keys sorted */

    float got[6];
    safetensors_read_f32(sf, safetensors_find(sf, "b/a"), got);
    ck_assert_mem_eq(got, a, sizeof a); /* bit-exact, -0 and inf included */
    const SafetensorsTensor *s = safetensors_find(sf, "scalar");
    ck_assert_int_eq(s->ndim, 0);
    ck_assert_uint_eq(s->numel, 1);
    safetensors_read_f32(sf, s, got);
    ck_assert(got[0] == 42.0f);
    ck_assert_uint_eq(safetensors_find(sf, "empty")->numel, 0);
    safetensors_read_f32(sf, safetensors_find(sf, "empty"), got);
    safetensors_read_f32(sf, safetensors_find(sf, "half"), got);
    ck_assert(got[0] == 1.0f && got[1] == -2.0f && got[2] == 0x1p-24f);
    const SafetensorsTensor *w = safetensors_find(sf, ts[5].name);
    ck_assert_ptr_nonnull(w);
    safetensors_read_f32(sf, w, got);
    ck_assert(got[0] == 1.5f);
    const SafetensorsTensor *step = safetensors_find(sf, "step");
    ck_assert_str_eq(step->dtype, "I64");
    ck_assert_uint_eq(step->end - step->begin, 24);
    safetensors_close(sf);
    free(path);
}
END_TEST

/* A reference for half precision: (-1)^s * 2^(e-15) * (1 + m/1024), with
 * the subnormals and the specials by the book. */
static float reference_half(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 0x1F, m = h & 0x3FF;
    float v;
    if (e == 0x1F) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexpf((float)m, -24);
    else v = ldexpf(1.0f + (float)m / 1024.0f, e - 15);
    return s ? -v : v;
}

START_TEST(test_f16_and_bf16_conversion) {
    for (uint32_t h = 0; h < 65536; h++) {
        float got = f16_to_f32((uint16_t)h), want = reference_half((uint16_t)h);
        if (isnan(want)) ck_assert(isnan(got));
        else ck_assert_msg(got == want && signbit(got) == signbit(want), "half 0x%04x: %g, expected %g", h, got, want);
    }
    ck_assert(f16_to_f32(0x7BFF) == 65504.0f);
    ck_assert(f16_to_f32(0x3555) == 0.333251953125f);
    ck_assert(bf16_to_f32(0x3F80) == 1.0f);
    ck_assert(bf16_to_f32(0xC040) == -3.0f);
    ck_assert(bf16_to_f32(0x3EAB) == 0.333984375f);
    ck_assert(isinf(bf16_to_f32(0xFF80)) && bf16_to_f32(0xFF80) < 0);
    ck_assert(isnan(bf16_to_f32(0x7FC0)));

    /* through a file, in chunks longer than the reader's buffer */
    enum { N = 70000 };
    uint16_t *half = xmalloc(N * sizeof *half), *bf = xmalloc(N * sizeof *bf);
    for (int i = 0; i < N; i++) {
        half[i] = (uint16_t)(i * 7 + 3);
        bf[i] = (uint16_t)(0x3F80 + i % 300);
    }
    const SafetensorsWriteTensor ts[] = {
        {.name = "half", .dtype = "F16", .ndim = 2, .shape = {N / 100, 100}, .data = half},
        {.name = "bf", .dtype = "BF16", .ndim = 1, .shape = {N}, .data = bf},
    };
    char *path = path_join(tmp, "half.safetensors");
    safetensors_write(path, 2, ts, 0, NULL, NULL);
    SafetensorsFile *sf = safetensors_open(path);
    ck_assert_int_eq(sf->n_meta, 0);
    float *h = safetensors_load_f32(sf, "half", NULL), *b = safetensors_load_f32(sf, "bf", NULL);
    for (int i = 0; i < N; i++) {
        float want = f16_to_f32(half[i]);
        ck_assert(isnan(want) ? isnan(h[i]) : h[i] == want);
        ck_assert(b[i] == bf16_to_f32(bf[i]));
    }
    ck_assert(b[0] == 1.0f);
    free(h);
    free(b);
    free(half);
    free(bf);
    safetensors_close(sf);
    free(path);
}
END_TEST

/* ---- malformed files -------------------------------------------------------------- */

/* A file with this header (padded with spaces to 8 bytes) and data. */
static char *write_raw(const char *name, const char *header, uint64_t header_len_override, size_t data_len) {
    ByteBuf b = {0};
    size_t hl = strlen(header);
    uint64_t len = header_len_override ? header_len_override : hl;
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)(len >> (8 * i));
    bytebuf_append(&b, len_bytes, 8);
    bytebuf_append(&b, header, hl);
    for (size_t i = 0; i < data_len; i++) bytebuf_append(&b, "\x01", 1);
    char *path = path_join(tmp, name);
    write_file_atomic(path, b.data, b.len);
    bytebuf_free(&b);
    return path;
}

static void open_path(const void *path) { safetensors_open(path); }

static void expect_open_fails(const char *header, uint64_t len_override, size_t data_len, const char *want) {
    char *path = write_raw("bad.safetensors", header, len_override, data_len);
    expect_fatal(open_path, path, want);
    free(path);
}

START_TEST(test_malformed_headers) {
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 4,
                      "'a': data_offsets end at 8 but the data section has only 4 bytes");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,", 0, 8, "the header is not valid JSON");
    expect_open_fails("{\"a\":1} xyz", 0, 0, "unexpected bytes after the JSON header");
    expect_open_fails("[1, 2]", 0, 0, "the header is not a JSON object");
    expect_open_fails("{}", 200, 0, "file is truncated: the header should be 200 bytes");
    expect_open_fails("{}", 1ull << 40, 0, "header length 1099511627776 is implausible");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 0, 16,
                      "'a': data_offsets span 8 bytes but 3 elements of F32 take 12");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                      0, 16, "tensors 'a' and 'b' overlap");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                      0, 16, "tensor 'a' appears twice");
    expect_open_fails("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 0, 8,
                      "tensor 'a' has an unknown dtype 'Q4'");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 0, 8,
                      "shape entry 0 is not a size");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 0, 8,
                      "shape entry 0 is not a size");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 0, 8, "run backwards");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 0, 8, "no data_offsets pair");
    expect_open_fails("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8, "tensor 'a' has no dtype");
    expect_open_fails("{\"__metadata__\":{\"n\":3}}", 0, 0, "__metadata__ value of 'n' is not a string");
    expect_open_fails("{\"__metadata__\":[]}", 0, 0, "__metadata__ is not a JSON object");
    char *path = path_join(tmp, "short.safetensors");
    write_file_atomic(path, "\x10\0\0", 3);
    expect_fatal(open_path, path, "shorter than the header length");
    free(path);
}
END_TEST

static void read_int_as_float(const void *arg) {
    (void)arg;
    const int64_t ints[2] = {1, 2};
    const SafetensorsWriteTensor t = {.name = "step", .dtype = "I64", .ndim = 1, .shape = {2}, .data = ints};
    char *path = path_join(tmp, "ints.safetensors");
    safetensors_write(path, 1, &t, 0, NULL, NULL);
    SafetensorsFile *sf = safetensors_open(path);
    free(safetensors_load_f32(sf, "step", NULL));
}

static void wrong_shape(const void *arg) {
    (void)arg;
    SafetensorsFile *sf = open_data("safetensors/tiny_gpt2/model.safetensors");
    safetensors_expect(sf, "wte.weight", 2, (const int64_t[]){2, 21});
}

static void missing_tensor(const void *arg) {
    (void)arg;
    SafetensorsFile *sf = open_data("safetensors/tiny_gpt2/model.safetensors");
    safetensors_load_f32(sf, "lm_head.weight", NULL);
}

static void duplicate_write(const void *arg) {
    (void)arg;
    const float x = 1;
    const SafetensorsWriteTensor ts[] = {{.name = "a", .ndim = 0, .data = &x},
                                         {.name = "b", .dtype = "BF16", .ndim = 0, .data = &x},
                                         {.name = "a", .dtype = "F16", .ndim = 0, .data = &x}};
    char *path = path_join(tmp, "dup.safetensors");
    safetensors_write(path, 3, ts, 0, NULL, NULL);
}

START_TEST(test_errors_name_the_problem) {
    require_safetensors_samples();
    expect_fatal(read_int_as_float, NULL, "tensor 'step' has dtype I64; only F32, F16 and BF16 can be read");
    expect_fatal(wrong_shape, NULL, "tensor 'wte.weight' has shape [21, 2], expected [2, 21]");
    expect_fatal(missing_tensor, NULL, "no tensor named 'lm_head.weight'");
    expect_fatal(duplicate_write, NULL, "tensor 'a' given twice");
    expect_fatal(open_path, "/nonexistent/x.safetensors", "No such file");
}
END_TEST

/* The same parser on a file held in memory, and errors returned rather
 * than exiting (what the fuzz harness and a library caller rely on). */
START_TEST(test_parse_in_memory_and_errors_returned) {
    require_safetensors_samples();
    char *path = path_join(data_dir(), "safetensors/tiny_gpt2/model.safetensors"), err[512];
    size_t n;
    char *bytes = read_file(path, &n);
    SafetensorsFile *sf = safetensors_parse(bytes, n, "tiny", err, sizeof err);
    ck_assert_ptr_nonnull(sf);
    ck_assert_ptr_null(sf->f);
    ck_assert_int_eq(sf->n_tensors, 16);
    check_expected(sf, TINY, 16);
    ck_assert_ptr_null(safetensors_try_load_f32(sf, "nothing", NULL, err, sizeof err));
    ck_assert_str_eq(err, "tiny: no tensor named 'nothing'");
    ck_assert_ptr_null(safetensors_try_expect(sf, "wte.weight", 1, (const int64_t[]){42}, err, sizeof err));
    ck_assert_str_eq(err, "tiny: tensor 'wte.weight' has shape [21, 2], expected [42]");
    safetensors_close(sf);
    /* cut anywhere, it is refused with a message */
    for (size_t cut = 0; cut < 1300; cut += 7) {
        sf = safetensors_parse(bytes, cut, "cut", err, sizeof err);
        ck_assert_msg(sf == NULL, "accepted %zu bytes", cut);
        ck_assert(strncmp(err, "cut: ", 5) == 0);
    }
    ck_assert_ptr_null(safetensors_try_open(truncated_path, err, sizeof err));
    ck_assert(strstr(err, "data section has only 8668 bytes") != NULL);
    ck_assert_ptr_null(safetensors_try_open("/nonexistent.safetensors", err, sizeof err));
    ck_assert(strstr(err, "No such file") != NULL);
    free(bytes);
    free(path);
}
END_TEST

/* tiny_gpt2 without its last 4 bytes: the last tensor's data is cut short. */
START_TEST(test_truncated_file_is_reported) {
    require_safetensors_samples();
    expect_fatal(open_path, truncated_path, "'wte.weight': data_offsets end at 8672 but the data section has only 8668");
}
END_TEST

Suite *safetensors_suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *real = tcase_create("real");
    tcase_add_checked_fixture(real, require_safetensors_samples, NULL);
    add_test(real, test_tiny_gpt2);
    add_test(real, test_fake_gpt2);
    suite_add_tcase(s, real);
    TCase *written = tcase_create("written");
    tcase_set_timeout(written, 60); /* forks a process per bad input: slow under SANITIZE=1 */
    tcase_add_unchecked_fixture(written, make_tmp, remove_tmp);
    add_test(written, test_writer_reproduces_the_python_library);
    add_test(written, test_round_trip_with_metadata_and_mixed_dtypes);
    add_test(written, test_f16_and_bf16_conversion);
    add_test(written, test_malformed_headers);
    add_test(written, test_errors_name_the_problem);
    add_test(written, test_truncated_file_is_reported);
    add_test(written, test_parse_in_memory_and_errors_returned);
    suite_add_tcase(s, written);
    return s;
}
