/* Tests for ch05_pretrain/gpt_weights: Hugging Face GPT-2 files from
 * $DATA_DIR/safetensors loaded into our model and run; an OpenAI-layout
 * TensorFlow checkpoint written here (OpenAI's real one is 500 MB, and the
 * data directory holds only its index) loaded and compared element by
 * element; our own checkpoints saved and loaded back bit for bit, with
 * optimiser buffers and metadata; and the errors a wrong file must give. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ch05_pretrain/gpt_weights.h"
#include "../common/rng.h"
#include "test_helpers.h"

/* test_tf_checkpoint.c */
void expect_fatal(void (*fn)(const void *), const void *arg, const char *want);
void write_test_bundle(const char *prefix, int n, const char *const names[], const int ndims[],
                       const int64_t shapes[][4], const float *const data[]);

static char *data_path(const char *relative) { return path_join(data_dir(), relative); }

/* Every parameter of m equals the tensor of the same (Hugging Face) name in
 * the file, bit for bit. */
static void assert_params_match_file(const GPTModel *m, const char *st_path, const char *prefix) {
    SafetensorsFile *sf = safetensors_open(st_path);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *p = &m->tensors[i];
        char hf[128], name[160];
        gpt_hf_name(p->name, hf, sizeof hf);
        snprintf(name, sizeof name, "%s%s", prefix, hf);
        size_t n;
        float *want = safetensors_load_f32(sf, name, &n);
        ck_assert_uint_eq(n, p->size);
        ck_assert_msg(memcmp(m->params + p->offset, want, n * sizeof(float)) == 0, "%s differs from %s", p->name, name);
        free(want);
    }
    safetensors_close(sf);
}

static void assert_finite_logits(GPTModel *m, const int *ids, int T) {
    gpt_forward(m, ids, 1, T);
    size_t n = (size_t)T * m->config.vocab_size;
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(isfinite(m->logits[i]), "logit %zu is %g", i, m->logits[i]);
        lo = fminf(lo, m->logits[i]);
        hi = fmaxf(hi, m->logits[i]);
    }
    ck_assert(hi > lo);
}

START_TEST(test_fake_gpt2_from_hugging_face) {
    char *dir = data_path("safetensors/fake_gpt2");
    GPTModel *m = gpt_load_huggingface(dir);
    const GPTConfig *c = &m->config;
    ck_assert_int_eq(c->vocab_size, 50257);
    ck_assert_int_eq(c->context_length, 1024);
    ck_assert_int_eq(c->emb_dim, 2);
    ck_assert_int_eq(c->n_heads, 1);
    ck_assert_int_eq(c->n_layers, 1);
    ck_assert(c->qkv_bias && c->tie_weights);
    ck_assert_ptr_eq(m->out_head, m->tok_emb);
    /* the data README's first values (7 digits) */
    ck_assert(close_enough(m->tok_emb[0], 0.02743322f, 1e-6f, 0) && close_enough(m->tok_emb[1], 0.01169758f, 1e-6f, 0));
    ck_assert(close_enough(m->blocks[0].qkv_weight[0], -0.05586403f, 1e-6f, 0));
    ck_assert(m->blocks[0].norm1_scale[0] == 1.0f);
    char *st = path_join(dir, "model.safetensors");
    assert_params_match_file(m, st, "transformer.");
    /* "Hello, I am" */
    const int ids[] = {15496, 11, 314, 716};
    assert_finite_logits(m, ids, 4);
    gpt_free(m);
    free(st);
    free(dir);
}
END_TEST

START_TEST(test_tiny_gpt2_through_load_any) {
    char *dir = data_path("safetensors/tiny_gpt2");
    GPTModel *m = gpt_load_any(dir);
    ck_assert_int_eq(m->config.vocab_size, 21);
    ck_assert_int_eq(m->config.n_layers, 1);
    ck_assert(m->config.tie_weights && m->config.qkv_bias);
    char *st = path_join(dir, "model.safetensors");
    assert_params_match_file(m, st, "");
    const int ids[] = {0, 5, 20};
    assert_finite_logits(m, ids, 3);
    gpt_free(m);
    free(st);
    free(dir);
}
END_TEST

START_TEST(test_names) {
    char name[96];
    gpt_hf_name("blocks.11.att.qkv.weight", name, sizeof name);
    ck_assert_str_eq(name, "h.11.attn.c_attn.weight");
    gpt_hf_name("blocks.0.ff.fc2.bias", name, sizeof name);
    ck_assert_str_eq(name, "h.0.mlp.c_proj.bias");
    gpt_hf_name("out_head.weight", name, sizeof name);
    ck_assert_str_eq(name, "lm_head.weight");
    ck_assert(gpt_openai_name("blocks.3.norm2.scale", name, sizeof name));
    ck_assert_str_eq(name, "model/h3/ln_2/g");
    ck_assert(gpt_openai_name("pos_emb.weight", name, sizeof name));
    ck_assert_str_eq(name, "model/wpe");
    ck_assert(!gpt_openai_name("out_head.weight", name, sizeof name));
}
END_TEST

/* ---- an OpenAI checkpoint, written here -------------------------------------------- */

static char *tmp;
static void make_tmp(void) { tmp = make_temp_dir(); }
static void remove_tmp(void) {
    remove_tree(tmp);
    free(tmp);
}

enum { OV = 11, OT = 8, OC = 4, OH = 2, OL = 2, MAX_OPENAI = 4 + 12 * OL };

typedef struct {
    int n;
    char names[MAX_OPENAI][48];
    int ndims[MAX_OPENAI];
    int64_t shapes[MAX_OPENAI][4];
    float *data[MAX_OPENAI];
} OpenAITensors;

static void add_tensor(OpenAITensors *o, Rng *rng, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    int i = o->n++;
    snprintf(o->names[i], sizeof o->names[i], "%s", name);
    o->ndims[i] = ndim;
    int64_t dims[3] = {d0, d1, d2};
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= (size_t)(o->shapes[i][d] = dims[d]);
    o->data[i] = xmalloc(numel * sizeof(float));
    rng_fill_normal(rng, o->data[i], numel, 0.0f, 0.5f);
}

/* GPT-2's tensors at a tiny size, with OpenAI's names and shapes (weight
 * matrices [1, in, out]); drop: a name to leave out; bad: a name to give
 * the wrong shape. */
static OpenAITensors openai_tensors(const char *drop, const char *bad) {
    OpenAITensors o = {0};
    Rng rng;
    rng_seed(&rng, 5);
    const struct {
        const char *suffix;
        int ndim, rows, cols; /* in units of C; rows 0: a vector */
    } block[] = {
        {"ln_1/g", 1, 1, 0},       {"ln_1/b", 1, 1, 0},      {"attn/c_attn/w", 3, 1, 3}, {"attn/c_attn/b", 1, 3, 0},
        {"attn/c_proj/w", 3, 1, 1}, {"attn/c_proj/b", 1, 1, 0}, {"ln_2/g", 1, 1, 0},      {"ln_2/b", 1, 1, 0},
        {"mlp/c_fc/w", 3, 1, 4},   {"mlp/c_fc/b", 1, 4, 0},  {"mlp/c_proj/w", 3, 4, 1}, {"mlp/c_proj/b", 1, 1, 0},
    };
    char name[48];
    for (int l = 0; l < OL; l++)
        for (int k = 0; k < 12; k++) {
            snprintf(name, sizeof name, "model/h%d/%s", l, block[k].suffix);
            if (drop && strcmp(name, drop) == 0) continue;
            int64_t rows = block[k].rows * OC, cols = block[k].cols * OC;
            if (bad && strcmp(name, bad) == 0) { /* [1, C+1, 4C-1] instead of [1, C, 4C] */
                rows += 1;
                cols = cols ? cols - 1 : 0;
            }
            if (block[k].ndim == 3) add_tensor(&o, &rng, name, 3, 1, rows, cols);
            else add_tensor(&o, &rng, name, 1, rows, 0, 0);
        }
    add_tensor(&o, &rng, "model/ln_f/g", 1, OC, 0, 0);
    add_tensor(&o, &rng, "model/ln_f/b", 1, OC, 0, 0);
    add_tensor(&o, &rng, "model/wpe", 2, OT, OC, 0);
    add_tensor(&o, &rng, "model/wte", 2, OV, OC, 0);
    return o;
}

static void free_openai(OpenAITensors *o) {
    for (int i = 0; i < o->n; i++) free(o->data[i]);
}

static char *write_openai_dir(const char *sub, const OpenAITensors *o) {
    char *dir = path_join(tmp, sub);
    make_dirs(dir);
    char json[256];
    snprintf(json, sizeof json, /* as OpenAI's, two-space indented */
             "{\n  \"n_vocab\": %d,\n  \"n_ctx\": %d,\n  \"n_embd\": %d,\n  \"n_head\": %d,\n  \"n_layer\": %d\n}", OV,
             OT, OC, OH, OL);
    char *hp = path_join(dir, "hparams.json");
    write_file_atomic(hp, json, strlen(json));
    free(hp);
    char *prefix = path_join(dir, "model.ckpt");
    const char *names[MAX_OPENAI];
    const float *data[MAX_OPENAI];
    for (int i = 0; i < o->n; i++) names[i] = o->names[i], data[i] = o->data[i];
    write_test_bundle(prefix, o->n, names, o->ndims, (const int64_t(*)[4])o->shapes, data);
    free(prefix);
    return dir;
}

static const float *openai_data(const OpenAITensors *o, const char *name) {
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->names[i], name) == 0) return o->data[i];
    ck_abort_msg("no %s", name);
    return NULL;
}

START_TEST(test_openai_checkpoint_loads_exactly) {
    OpenAITensors o = openai_tensors(NULL, NULL);
    char *dir = write_openai_dir("openai", &o);
    GPTModel *m = gpt_load_openai(dir);
    const GPTConfig *c = &m->config;
    ck_assert_int_eq(c->vocab_size, OV);
    ck_assert_int_eq(c->context_length, OT);
    ck_assert_int_eq(c->emb_dim, OC);
    ck_assert_int_eq(c->n_heads, OH);
    ck_assert_int_eq(c->n_layers, OL);
    ck_assert(c->qkv_bias && c->tie_weights);
    ck_assert(c->drop_rate == 0.1f);
    /* element by element, through the named views the model computes with */
    const size_t C = OC;
    for (int l = 0; l < OL; l++) {
        char name[48];
        const BlockWeights *b = &m->blocks[l];
        const struct {
            const char *suffix;
            const float *got;
            size_t n;
        } checks[] = {
            {"ln_1/g", b->norm1_scale, C},          {"ln_1/b", b->norm1_shift, C},
            {"attn/c_attn/w", b->qkv_weight, C * 3 * C}, {"attn/c_attn/b", b->qkv_bias, 3 * C},
            {"attn/c_proj/w", b->out_proj_weight, C * C}, {"attn/c_proj/b", b->out_proj_bias, C},
            {"ln_2/g", b->norm2_scale, C},          {"ln_2/b", b->norm2_shift, C},
            {"mlp/c_fc/w", b->fc1_weight, C * 4 * C}, {"mlp/c_fc/b", b->fc1_bias, 4 * C},
            {"mlp/c_proj/w", b->fc2_weight, 4 * C * C}, {"mlp/c_proj/b", b->fc2_bias, C},
        };
        for (size_t k = 0; k < sizeof checks / sizeof checks[0]; k++) {
            snprintf(name, sizeof name, "model/h%d/%s", l, checks[k].suffix);
            const float *want = openai_data(&o, name);
            for (size_t i = 0; i < checks[k].n; i++)
                ck_assert_msg(checks[k].got[i] == want[i], "%s[%zu]: %g, expected %g", name, i, checks[k].got[i],
                              want[i]);
        }
    }
    ck_assert_mem_eq(m->tok_emb, openai_data(&o, "model/wte"), OV * C * sizeof(float));
    ck_assert_mem_eq(m->pos_emb, openai_data(&o, "model/wpe"), OT * C * sizeof(float));
    ck_assert_mem_eq(m->final_norm_scale, openai_data(&o, "model/ln_f/g"), C * sizeof(float));
    ck_assert_mem_eq(m->final_norm_shift, openai_data(&o, "model/ln_f/b"), C * sizeof(float));
    ck_assert_ptr_eq(m->out_head, m->tok_emb);
    const int ids[] = {1, 10, 3, 0, 7};
    assert_finite_logits(m, ids, 5);
    gpt_free(m);
    /* gpt_load_any recognises the directory */
    m = gpt_load_any(dir);
    ck_assert_int_eq(m->config.n_layers, OL);
    ck_assert_mem_eq(m->tok_emb, openai_data(&o, "model/wte"), OV * C * sizeof(float));
    gpt_free(m);
    free(dir);
    free_openai(&o);
}
END_TEST

static void load_openai_dir(const void *dir) { gpt_load_openai(dir); }

START_TEST(test_openai_errors) {
    OpenAITensors o = openai_tensors("model/h1/ln_2/b", NULL);
    char *dir = write_openai_dir("missing", &o);
    expect_fatal(load_openai_dir, dir, "no tensor 'model/h1/ln_2/b' (for blocks.1.norm2.shift");
    free(dir);
    free_openai(&o);

    o = openai_tensors(NULL, "model/h0/mlp/c_fc/w");
    dir = write_openai_dir("shape", &o);
    expect_fatal(load_openai_dir, dir,
                 "tensor 'model/h0/mlp/c_fc/w' has shape [1, 5, 15], expected [4, 16] (for blocks.0.ff.fc1.weight)");
    free(dir);
    free_openai(&o);

    o = openai_tensors(NULL, NULL);
    dir = write_openai_dir("crc", &o);
    char *shard = path_join(dir, "model.ckpt.data-00000-of-00001");
    size_t len;
    char *bytes = read_file(shard, &len);
    bytes[len - 1] ^= 1; /* the last tensor in name order: model/wte */
    write_file_atomic(shard, bytes, len);
    expect_fatal(load_openai_dir, dir, "tensor 'model/wte' is corrupt");
    remove(shard);
    expect_fatal(load_openai_dir, dir, "missing data shard");
    char *hp = path_join(dir, "hparams.json");
    const char *short_hp = "{\"n_vocab\": 11}";
    write_file_atomic(hp, short_hp, strlen(short_hp));
    expect_fatal(load_openai_dir, dir, "hparams.json: no 'n_ctx'");
    const char *bad_heads = "{\"n_vocab\": 11, \"n_ctx\": 8, \"n_embd\": 4, \"n_head\": 3, \"n_layer\": 2}";
    write_file_atomic(hp, bad_heads, strlen(bad_heads));
    expect_fatal(load_openai_dir, dir, "bad model configuration: emb_dim 4 is not divisible by n_heads 3");
    free(hp);
    free(bytes);
    free(shard);
    free(dir);
    free_openai(&o);
}
END_TEST

/* ---- our checkpoints ------------------------------------------------------------------------ */

static GPTModel *small_model(bool qkv_bias, bool tie, uint64_t seed) {
    GPTConfig c = {.vocab_size = 13, .context_length = 6, .emb_dim = 8, .n_heads = 2, .n_layers = 2,
                   .drop_rate = 0.25f, .qkv_bias = qkv_bias, .tie_weights = tie};
    GPTModel *m = gpt_create(&c);
    gpt_init_weights(m, seed);
    return m;
}

static void assert_same_config(const GPTConfig *a, const GPTConfig *b) {
    ck_assert_int_eq(a->vocab_size, b->vocab_size);
    ck_assert_int_eq(a->context_length, b->context_length);
    ck_assert_int_eq(a->emb_dim, b->emb_dim);
    ck_assert_int_eq(a->n_heads, b->n_heads);
    ck_assert_int_eq(a->n_layers, b->n_layers);
    ck_assert(a->drop_rate == b->drop_rate);
    ck_assert_int_eq(a->qkv_bias, b->qkv_bias);
    ck_assert_int_eq(a->tie_weights, b->tie_weights);
}

static void check_round_trip(bool qkv_bias, bool tie) {
    GPTModel *m = small_model(qkv_bias, tie, 42);
    float *adam_m = xmalloc(m->n_params * sizeof(float)), *adam_v = xmalloc(m->n_params * sizeof(float));
    Rng rng;
    rng_seed(&rng, 9);
    rng_fill_normal(&rng, adam_m, m->n_params, 0, 1e-3f);
    rng_fill_uniform(&rng, adam_v, m->n_params, 0, 1e-6f);
    const int64_t step = 1234567890123;
    const SafetensorsWriteTensor extra = {.name = "optimizer.step", .dtype = "I64", .ndim = 0, .data = &step};
    const char *prefixes[] = {"optimizer.m.", "optimizer.v."};
    const float *buffers[] = {adam_m, adam_v};
    const char *keys[] = {"tokens_seen", "note"}, *values[] = {"4096", "after epoch 1"};
    CheckpointExtras x = {.n_buffers = 2, .buffer_prefixes = prefixes, .buffers = buffers, .n_tensors = 1,
                          .tensors = &extra, .n_meta = 2, .meta_keys = keys, .meta_values = values};
    char *path = path_join(tmp, "ckpt.safetensors");
    gpt_save_checkpoint(m, path, &x);

    SafetensorsFile *sf = NULL;
    GPTModel *back = gpt_load_checkpoint(path, &sf);
    assert_same_config(&back->config, &m->config);
    ck_assert_uint_eq(back->n_params, m->n_params);
    ck_assert_mem_eq(back->params, m->params, m->n_params * sizeof(float));
    ck_assert_int_eq(back->out_head == back->tok_emb, tie);
    float *got = xmalloc(m->n_params * sizeof(float));
    gpt_checkpoint_read_buffer(sf, back, "optimizer.m.", got);
    ck_assert_mem_eq(got, adam_m, m->n_params * sizeof(float));
    gpt_checkpoint_read_buffer(sf, back, "optimizer.v.", got);
    ck_assert_mem_eq(got, adam_v, m->n_params * sizeof(float));
    ck_assert_str_eq(safetensors_metadata(sf, "tokens_seen"), "4096");
    ck_assert_str_eq(safetensors_metadata(sf, "note"), "after epoch 1");
    ck_assert_str_eq(safetensors_metadata(sf, "format"), "pt");
    ck_assert_str_eq(safetensors_metadata(sf, "qkv_bias"), qkv_bias ? "true" : "false");
    ck_assert_str_eq(safetensors_metadata(sf, "drop_rate"), "0.25");
    const SafetensorsTensor *s = safetensors_find(sf, "optimizer.step");
    ck_assert_str_eq(s->dtype, "I64");
    /* Hugging Face names, as a PyTorch user expects them */
    ck_assert_ptr_nonnull(safetensors_find(sf, "wte.weight"));
    ck_assert_ptr_nonnull(safetensors_find(sf, "h.1.mlp.c_proj.weight"));
    ck_assert_ptr_nonnull(safetensors_find(sf, "optimizer.v.h.0.attn.c_attn.weight"));
    ck_assert_int_eq(safetensors_find(sf, "h.0.attn.c_attn.bias") != NULL, qkv_bias);
    ck_assert_int_eq(safetensors_find(sf, "lm_head.weight") != NULL, !tie);
    ck_assert_int_eq(sf->n_tensors, 3 * m->n_tensors + 1);
    /* the same model computes the same logits */
    const int ids[] = {3, 1, 4, 1, 5, 9};
    gpt_forward(m, ids, 1, 6);
    gpt_forward(back, ids, 1, 6);
    ck_assert_mem_eq(back->logits, m->logits, 6 * 13 * sizeof(float));
    safetensors_close(sf);
    free(got);
    gpt_free(back);
    /* and through gpt_load_any, without the extras */
    back = gpt_load_any(path);
    ck_assert_mem_eq(back->params, m->params, m->n_params * sizeof(float));
    gpt_free(back);
    free(path);
    free(adam_m);
    free(adam_v);
    gpt_free(m);
}

START_TEST(test_checkpoint_round_trip_book_config) { check_round_trip(false, false); }
END_TEST

START_TEST(test_checkpoint_round_trip_gpt2_config) { check_round_trip(true, true); }
END_TEST

START_TEST(test_checkpoint_without_extras) {
    GPTModel *m = small_model(true, false, 1);
    char *path = path_join(tmp, "plain.safetensors");
    gpt_save_checkpoint(m, path, NULL);
    GPTModel *back = gpt_load_checkpoint(path, NULL);
    ck_assert_mem_eq(back->params, m->params, m->n_params * sizeof(float));
    gpt_free(back);
    gpt_free(m);
    free(path);
}
END_TEST

/* A checkpoint in a directory with a config.json is a Hugging Face model:
 * its head is untied when lm_head.weight differs from wte and tied when
 * it is the same, and a model without qkv biases loads without them. */
START_TEST(test_hugging_face_head_and_bias) {
    const char *config = "{\"model_type\": \"gpt2\", \"vocab_size\": 13, \"n_positions\": 6, \"n_embd\": 8, "
                         "\"n_head\": 2, \"n_layer\": 2, \"n_inner\": null}";
    char *dir = path_join(tmp, "hf");
    make_dirs(dir);
    char *cfg = path_join(dir, "config.json"), *st = path_join(dir, "model.safetensors");
    write_file_atomic(cfg, config, strlen(config));

    GPTModel *m = small_model(false, false, 3);
    gpt_save_checkpoint(m, st, NULL);
    GPTModel *back = gpt_load_huggingface(dir);
    ck_assert(!back->config.tie_weights && !back->config.qkv_bias);
    ck_assert_mem_eq(back->params, m->params, m->n_params * sizeof(float));
    gpt_free(back);
    gpt_free(m);

    m = small_model(true, true, 4);
    const SafetensorsWriteTensor head = {.name = "lm_head.weight", .ndim = 2, .shape = {13, 8}, .data = m->tok_emb};
    CheckpointExtras x = {.n_tensors = 1, .tensors = &head};
    gpt_save_checkpoint(m, st, &x);
    back = gpt_load_huggingface(dir);
    ck_assert(back->config.tie_weights && back->config.qkv_bias);
    ck_assert_ptr_eq(back->out_head, back->tok_emb);
    ck_assert_mem_eq(back->params, m->params, m->n_params * sizeof(float));
    gpt_free(back);
    gpt_free(m);
    free(cfg);
    free(st);
    free(dir);
}
END_TEST

static void load_checkpoint_path(const void *path) { gpt_load_checkpoint(path, NULL); }
static void load_any_path(const void *path) { gpt_load_any(path); }
static void load_hf_dir(const void *dir) { gpt_load_huggingface(dir); }

START_TEST(test_checkpoint_errors) {
    /* a Hugging Face file has no configuration in its metadata */
    char *tiny = test_data_file("safetensors/tiny_gpt2/model.safetensors");
    expect_fatal(load_checkpoint_path, tiny, "no 'drop_rate' in the metadata: not a checkpoint written by this program");
    free(tiny);
    /* a tensor missing */
    GPTModel *m = small_model(true, true, 1);
    const char *keys[] = {"vocab_size", "context_length", "emb_dim", "n_heads", "n_layers", "drop_rate", "qkv_bias",
                          "tie_weights"};
    const char *values[] = {"13", "6", "8", "2", "2", "0.1", "true", "true"};
    const SafetensorsWriteTensor only = {.name = "wte.weight", .ndim = 2, .shape = {13, 8}, .data = m->tok_emb};
    char *path = path_join(tmp, "partial.safetensors");
    safetensors_write(path, 1, &only, 8, keys, values);
    expect_fatal(load_checkpoint_path, path, "no tensor 'wpe.weight' (for pos_emb.weight)");
    /* a wrong shape */
    const SafetensorsWriteTensor wrong = {.name = "wte.weight", .ndim = 2, .shape = {8, 13}, .data = m->tok_emb};
    safetensors_write(path, 1, &wrong, 8, keys, values);
    expect_fatal(load_checkpoint_path, path, "metadata 'vocab_size' is 13, but");
    expect_fatal(load_checkpoint_path, path, "holds tensor 'wte.weight' of shape [8, 13]");
    /* a bad value */
    values[6] = "maybe";
    safetensors_write(path, 1, &only, 8, keys, values);
    expect_fatal(load_checkpoint_path, path, "metadata 'qkv_bias' is 'maybe', not true or false");
    /* gpt_load_any */
    expect_fatal(load_any_path, tmp, "no model in this directory: looked for hparams.json and model.ckpt.index");
    char *other = path_join(tmp, "notes.txt");
    write_file_atomic(other, "x", 1);
    expect_fatal(load_any_path, other, "not a model: give a directory with hparams.json");
    expect_fatal(load_any_path, "/nonexistent/model", "No such file");
    /* a Hugging Face config that is not GPT-2's */
    char *dir = path_join(tmp, "neo");
    make_dirs(dir);
    char *cfg = path_join(dir, "config.json");
    const char *neo = "{\"model_type\": \"gpt_neo\", \"vocab_size\": 13}";
    write_file_atomic(cfg, neo, strlen(neo));
    expect_fatal(load_hf_dir, dir, "model_type is 'gpt_neo'; only GPT-2 models can be loaded");
    free(cfg);
    free(dir);
    free(other);
    free(path);
    gpt_free(m);
}
END_TEST

/* ---- configurations against checkpoints --------------------------------------------------- */

/* Sizes that overflowed ints (3 x n_embd) are refused as they are read,
 * with the name the file gives the field. */
START_TEST(test_config_limits_name_the_field) {
    char err[512];
    GPTConfig c = {0};
    const char *hp = "{\"n_vocab\": 50257, \"n_ctx\": 1024, \"n_embd\": 600000000, \"n_head\": 12, \"n_layer\": 12}";
    ck_assert(!gpt_config_parse_openai(hp, strlen(hp), "hparams.json", &c, err, sizeof err));
    ck_assert_str_eq(err, "hparams.json: 'n_embd' is 600000000, over the limit of 65536");
    const char *hf = "{\"vocab_size\": 50257, \"n_positions\": 1024, \"n_embd\": 768, \"n_head\": 12, "
                     "\"n_layer\": 5000}";
    ck_assert(!gpt_config_parse_huggingface(hf, strlen(hf), "config.json", &c, err, sizeof err));
    ck_assert_str_eq(err, "config.json: 'n_layer' is 5000, over the limit of 4096");
    const char *zero = "{\"n_vocab\": 0, \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 12}";
    ck_assert(!gpt_config_parse_openai(zero, strlen(zero), "hparams.json", &c, err, sizeof err));
    ck_assert_str_eq(err, "hparams.json: 'n_vocab' is 0; it must be at least 1");
    ck_assert(!gpt_config_parse_openai("[1]", 3, "hparams.json", &c, err, sizeof err));
    ck_assert_str_eq(err, "hparams.json: not a JSON object");
    ck_assert(!gpt_config_parse_openai(hp, 20, "hparams.json", &c, err, sizeof err)); /* cut short */
    ck_assert_str_eq(err, "hparams.json: not a JSON object");
}
END_TEST

/* A directory with OpenAI's real 124M index (from the data directory) and
 * the given hparams.json. */
static char *gpt2_dir_with(const char *sub, const char *hparams) {
    char *dir = path_join(tmp, sub);
    make_dirs(dir);
    char *src = data_path("tf_checkpoint/gpt2_124M_index_only/model.ckpt.index");
    char *index = path_join(dir, "model.ckpt.index"), *hp = path_join(dir, "hparams.json");
    size_t len;
    char *bytes = read_file(src, &len);
    write_file_atomic(index, bytes, len);
    write_file_atomic(hp, hparams, strlen(hparams));
    free(bytes);
    free(src);
    free(index);
    free(hp);
    return dir;
}

static void expect_openai_error(const char *hparams, const char *want) {
    char *dir = gpt2_dir_with("gpt2", hparams), err[1024];
    ck_assert_ptr_null(gpt_try_load_openai(dir, err, sizeof err));
    ck_assert_msg(strstr(err, want) != NULL, "expected '%s' in: %s", want, err);
    free(dir);
}

/* The configuration is compared with the checkpoint's shapes before the
 * model is allocated: an 80-byte hparams.json beside OpenAI's index once
 * asked for terabytes and failed with "out of memory". */
START_TEST(test_config_checked_against_the_checkpoint_first) {
    require_tf_samples();
    expect_openai_error("{\"n_vocab\": 50257, \"n_ctx\": 1024, \"n_embd\": 65536, \"n_head\": 16, \"n_layer\": 12}",
                        "hparams.json: 'n_embd' is 65536, but");
    expect_openai_error("{\"n_vocab\": 50257, \"n_ctx\": 1024, \"n_embd\": 65536, \"n_head\": 16, \"n_layer\": 12}",
                        "model.ckpt.index holds tensor 'model/wte' of shape [50257, 768]");
    expect_openai_error("{\"n_vocab\": 16000000, \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 12}",
                        "'n_vocab' is 16000000, but");
    expect_openai_error("{\"n_vocab\": 50257, \"n_ctx\": 1000000, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 12}",
                        "'n_ctx' is 1000000, but");
    expect_openai_error("{\"n_vocab\": 50257, \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 4000}",
                        "'n_layer' is 4000, but");
    expect_openai_error("{\"n_vocab\": 50257, \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 4000}",
                        "has fewer blocks (no tensor 'model/h3999/ln_1/g')");
    expect_openai_error("{\"n_vocab\": 50257, \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 6}",
                        "'n_layer' is 6, but");
    expect_openai_error("{\"n_vocab\": 50257, \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 6}",
                        "holds more blocks (it has tensor 'model/h6/ln_1/g')");
    /* the right configuration: every tensor checked, then the missing
     * data file reported, still before the 500 MB model is allocated */
    expect_openai_error("{\"n_vocab\": 50257, \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 12}",
                        "model.ckpt.data-00000-of-00001: missing data shard 0 of 1 (needed for tensor 'model/wte')");
}
END_TEST

/* A bundle's entries may point at the same bytes; those of a model must
 * not (tests/fixtures/openai_overlap: wpe over ln_f/b and ln_f/g), or a
 * small data file could back a model of any size. */
START_TEST(test_openai_tensors_must_not_share_bytes) {
    char *dir = fixture_path("openai_overlap"), err[1024];
    ck_assert_ptr_null(gpt_try_load_openai(dir, err, sizeof err));
    ck_assert_msg(strstr(err, "model.ckpt.index: tensors 'model/") && strstr(err, "share bytes of the data file"),
                  "%s", err);
    free(dir);
}
END_TEST

static GPTModel *load_regression_checkpoint(const char *name, char *err, size_t err_size) {
    char *path = fixture_path(name);
    GPTModel *m = gpt_try_load_checkpoint(path, NULL, err, err_size);
    free(path);
    return m;
}

/* A checkpoint's metadata is a configuration too (these 2 KB files once
 * asked for gigabytes). */
START_TEST(test_checkpoint_metadata_checked_first) {
    char err[1024];
    ck_assert_ptr_null(load_regression_checkpoint("fuzz/safetensors/metadata-vocab-2e9.safetensors", err, sizeof err));
    ck_assert(strstr(err, "bad model configuration: vocab_size 2000000000 is over the limit of 16777216") != NULL);
    ck_assert_ptr_null(load_regression_checkpoint("fuzz/safetensors/metadata-emb-dim-6e8.safetensors", err, sizeof err));
    ck_assert(strstr(err, "bad model configuration: emb_dim 600000000 is over the limit of 65536") != NULL);
    ck_assert_ptr_null(load_regression_checkpoint("fuzz/safetensors/metadata-vocab-16M.safetensors", err, sizeof err));
    ck_assert(strstr(err, "metadata 'vocab_size' is 16777216, but") != NULL);
    ck_assert(strstr(err, "holds tensor 'wte.weight' of shape [5, 2]") != NULL);
    ck_assert_ptr_null(load_regression_checkpoint("fuzz/safetensors/metadata-layers-4096.safetensors", err, sizeof err));
    ck_assert(strstr(err, "metadata 'n_layers' is 4096, but") != NULL);
    /* the seed they were made from loads */
    char *seed = repo_path("tests/fuzz/seeds/checkpoint.safetensors");
    GPTModel *m = gpt_try_load_checkpoint(seed, NULL, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_int_eq(m->config.vocab_size, 5);
    gpt_free(m);
    free(seed);
}
END_TEST

/* Hugging Face's config.json against tiny_gpt2's weights, through the
 * in-memory entry points. */
START_TEST(test_hugging_face_config_against_the_weights) {
    char *st = data_path("safetensors/tiny_gpt2/model.safetensors"), *cfg = data_path("safetensors/tiny_gpt2/config.json");
    size_t st_len, cfg_len;
    char *st_bytes = read_file(st, &st_len), *cfg_text = read_file(cfg, &cfg_len), err[1024];
    SafetensorsFile *sf = safetensors_parse(st_bytes, st_len, "model.safetensors", err, sizeof err);
    GPTConfig c = {0};
    ck_assert(gpt_config_parse_huggingface(cfg_text, cfg_len, "config.json", &c, err, sizeof err));
    GPTModel *m = gpt_from_hf_safetensors(&c, "config.json", sf, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_int_eq(m->config.vocab_size, 21);
    gpt_free(m);
    c.n_layers = 2512;
    ck_assert_ptr_null(gpt_from_hf_safetensors(&c, "config.json", sf, err, sizeof err));
    ck_assert_str_eq(err, "config.json: 'n_layer' is 2512, but model.safetensors has fewer blocks "
                          "(no tensor 'h.2511.ln_1.weight')");
    c.n_layers = 1;
    c.emb_dim = 4;
    ck_assert_ptr_null(gpt_from_hf_safetensors(&c, "config.json", sf, err, sizeof err));
    ck_assert_str_eq(err, "config.json: 'n_embd' is 4, but model.safetensors holds tensor 'wte.weight' of shape [21, 2]");
    safetensors_close(sf);
    free(st_bytes);
    free(cfg_text);
    free(st);
    free(cfg);
}
END_TEST

/* The exit status alone, as the other suites check it. */
START_TEST(test_missing_directory_exits) { gpt_load_openai("/nonexistent/gpt2"); }
END_TEST

Suite *gpt_weights_suite(void) {
    Suite *s = suite_create("gpt_weights");
    TCase *real = tcase_create("real");
    tcase_add_checked_fixture(real, require_safetensors_samples, NULL);
    add_test(real, test_fake_gpt2_from_hugging_face);
    add_test(real, test_tiny_gpt2_through_load_any);
    add_test(real, test_names);
    suite_add_tcase(s, real);
    TCase *written = tcase_create("written");
    tcase_set_timeout(written, 60); /* forks a process per bad input: slow under SANITIZE=1 */
    tcase_add_unchecked_fixture(written, make_tmp, remove_tmp);
    add_test(written, test_openai_checkpoint_loads_exactly);
    add_test(written, test_openai_errors);
    add_test(written, test_checkpoint_round_trip_book_config);
    add_test(written, test_checkpoint_round_trip_gpt2_config);
    add_test(written, test_checkpoint_without_extras);
    add_test(written, test_hugging_face_head_and_bias);
    add_test(written, test_checkpoint_errors);
    add_test(written, test_config_limits_name_the_field);
    add_test(written, test_config_checked_against_the_checkpoint_first);
    add_test(written, test_checkpoint_metadata_checked_first);
    add_test(written, test_openai_tensors_must_not_share_bytes);
    add_test(written, test_hugging_face_config_against_the_weights);
    add_exit_test(written, test_missing_directory_exits, 1);
    suite_add_tcase(s, written);
    return s;
}
