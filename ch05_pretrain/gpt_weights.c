/* gpt_weights.c: see gpt_weights.h. */
#include "gpt_weights.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../ch02_text/bpe.h"
#include "../common/util.h"
#include "tf_checkpoint.h"

/* ---- names ------------------------------------------------------------------------ */

typedef struct {
    const char *ours, *hf, *openai;
} NameMap;

/* Inside block L, by what follows "blocks.L." */
static const NameMap BLOCK_NAMES[] = {
    {"norm1.scale", "ln_1.weight", "ln_1/g"},
    {"norm1.shift", "ln_1.bias", "ln_1/b"},
    {"att.qkv.weight", "attn.c_attn.weight", "attn/c_attn/w"},
    {"att.qkv.bias", "attn.c_attn.bias", "attn/c_attn/b"},
    {"att.out_proj.weight", "attn.c_proj.weight", "attn/c_proj/w"},
    {"att.out_proj.bias", "attn.c_proj.bias", "attn/c_proj/b"},
    {"norm2.scale", "ln_2.weight", "ln_2/g"},
    {"norm2.shift", "ln_2.bias", "ln_2/b"},
    {"ff.fc1.weight", "mlp.c_fc.weight", "mlp/c_fc/w"},
    {"ff.fc1.bias", "mlp.c_fc.bias", "mlp/c_fc/b"},
    {"ff.fc2.weight", "mlp.c_proj.weight", "mlp/c_proj/w"},
    {"ff.fc2.bias", "mlp.c_proj.bias", "mlp/c_proj/b"},
};

static const NameMap TOP_NAMES[] = {
    {"tok_emb.weight", "wte.weight", "wte"},
    {"pos_emb.weight", "wpe.weight", "wpe"},
    {"final_norm.scale", "ln_f.weight", "ln_f/g"},
    {"final_norm.shift", "ln_f.bias", "ln_f/b"},
    {"out_head.weight", "lm_head.weight", NULL},
};

/* The entry of the tables for one of our names; *layer gets the block
 * number (-1 outside the blocks). */
static const NameMap *lookup_name(const char *ours, int *layer) {
    int consumed = 0;
    *layer = -1;
    if (sscanf(ours, "blocks.%d.%n", layer, &consumed) == 1 && consumed > 0) {
        for (size_t i = 0; i < sizeof BLOCK_NAMES / sizeof BLOCK_NAMES[0]; i++)
            if (strcmp(ours + consumed, BLOCK_NAMES[i].ours) == 0) return &BLOCK_NAMES[i];
    } else {
        *layer = -1;
        for (size_t i = 0; i < sizeof TOP_NAMES / sizeof TOP_NAMES[0]; i++)
            if (strcmp(ours, TOP_NAMES[i].ours) == 0) return &TOP_NAMES[i];
    }
    fatal("parameter '%s' has no Hugging Face or OpenAI name", ours); /* a new parameter in gpt.c */
}

void gpt_hf_name(const char *ours, char *out, size_t size) {
    int layer;
    const NameMap *n = lookup_name(ours, &layer);
    if (layer >= 0) snprintf(out, size, "h.%d.%s", layer, n->hf);
    else snprintf(out, size, "%s", n->hf);
}

bool gpt_openai_name(const char *ours, char *out, size_t size) {
    int layer;
    const NameMap *n = lookup_name(ours, &layer);
    if (!n->openai) return false;
    if (layer >= 0) snprintf(out, size, "model/h%d/%s", layer, n->openai);
    else snprintf(out, size, "model/%s", n->openai);
    return true;
}

/* ---- shared pieces -------------------------------------------------------------------- */

static void shape_str(int ndim, const int64_t shape[], char *buf, size_t size) {
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && len < size; d++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (len < size) snprintf(buf + len, size - len, "]");
}

/* A stored shape against a parameter's; leading dimensions of 1 beyond the
 * parameter's rank are dropped first (OpenAI's [1, C, 3C]). Exits naming
 * the tensor and the file when they differ. */
static void check_shape(const char *file, const char *name, int ndim, const int64_t shape[], const ParamTensor *p) {
    int skip = 0;
    while (ndim - skip > p->ndim && shape[skip] == 1) skip++;
    bool same = ndim - skip == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = shape[skip + d] == p->shape[d];
    if (!same) {
        int64_t want[2] = {p->shape[0], p->shape[1]};
        char got_s[160], want_s[64];
        shape_str(ndim, shape, got_s, sizeof got_s);
        shape_str(p->ndim, want, want_s, sizeof want_s);
        fatal("%s: tensor '%s' has shape %s, expected %s (for %s)", file, name, got_s, want_s, p->name);
    }
}

static void check_config(const GPTConfig *c, const char *file) {
    char err[128];
    if (!gpt_config_check(c, err, sizeof err)) fatal("%s: bad model configuration: %s", file, err);
}

static cJSON *read_json(const char *path) {
    size_t len;
    char *text = read_file(path, &len);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) fatal("%s: not a JSON object", path);
    return root;
}

/* A positive integer from a JSON config, or dflt when the key is missing
 * (dflt < 0: the key is required). */
static int json_int(const cJSON *root, const char *key, const char *path, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (dflt < 0) fatal("%s: no '%s'", path, key);
        return dflt;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > INT_MAX)
        fatal("%s: '%s' is not a count", path, key);
    return (int)v->valuedouble;
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* ---- OpenAI --------------------------------------------------------------------------- */

GPTModel *gpt_load_openai(const char *dir) {
    char *hp_path = path_join(dir, "hparams.json");
    cJSON *hp = read_json(hp_path);
    GPTConfig c = {.vocab_size = json_int(hp, "n_vocab", hp_path, -1),
                   .context_length = json_int(hp, "n_ctx", hp_path, -1),
                   .emb_dim = json_int(hp, "n_embd", hp_path, -1),
                   .n_heads = json_int(hp, "n_head", hp_path, -1),
                   .n_layers = json_int(hp, "n_layer", hp_path, -1),
                   .drop_rate = 0.1f,
                   .qkv_bias = true,
                   .tie_weights = true};
    cJSON_Delete(hp);
    check_config(&c, hp_path);
    char *prefix = path_join(dir, "model.ckpt");
    TfCheckpoint *ck = tf_checkpoint_open(prefix);
    GPTModel *m = gpt_create(&c);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *p = &m->tensors[i];
        char name[96];
        gpt_openai_name(p->name, name, sizeof name); /* tied: no out_head */
        const TfTensor *t = tf_checkpoint_find(ck, name);
        if (!t) fatal("%s: no tensor '%s' (for %s; does %s match this checkpoint?)", ck->index_path, name, p->name,
                      hp_path);
        check_shape(ck->index_path, name, t->ndim, t->shape, p);
        tf_checkpoint_read_f32(ck, t, m->params + p->offset);
    }
    tf_checkpoint_close(ck);
    free(prefix);
    free(hp_path);
    return m;
}

/* ---- safetensors ---------------------------------------------------------------------------- */

/* A tensor by its Hugging Face name, stored bare or (GPT2LMHeadModel) with
 * the "transformer." prefix. */
static const SafetensorsTensor *find_hf(const SafetensorsFile *sf, const char *name) {
    const SafetensorsTensor *t = safetensors_find(sf, name);
    if (t) return t;
    char prefixed[256];
    snprintf(prefixed, sizeof prefixed, "transformer.%s", name);
    return safetensors_find(sf, prefixed);
}

/* Fill dst (shaped like m's parameters) from the tensors named prefix + the
 * Hugging Face names. */
static void read_params(const SafetensorsFile *sf, const GPTModel *m, const char *prefix, float *dst) {
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *p = &m->tensors[i];
        char hf[128], name[192];
        gpt_hf_name(p->name, hf, sizeof hf);
        snprintf(name, sizeof name, "%s%s", prefix, hf);
        const SafetensorsTensor *t = prefix[0] ? safetensors_find(sf, name) : find_hf(sf, name);
        if (!t) fatal("%s: no tensor '%s' (for %s)", sf->path, name, p->name);
        check_shape(sf->path, t->name, t->ndim, t->shape, p);
        safetensors_read_f32(sf, t, dst + p->offset);
    }
}

/* The same model with an untied head: every parameter copied, the head
 * set apart from the embedding. */
static GPTModel *untie(GPTModel *m, const float *head) {
    GPTConfig c = m->config;
    c.tie_weights = false;
    GPTModel *u = gpt_create(&c);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *p = &m->tensors[i];
        const ParamTensor *q = gpt_find_param(u, p->name);
        memcpy(u->params + q->offset, m->params + p->offset, p->size * sizeof(float));
    }
    memcpy(u->out_head, head, (size_t)c.vocab_size * c.emb_dim * sizeof(float));
    gpt_free(m);
    return u;
}

GPTModel *gpt_untie(GPTModel *m) { return m->config.tie_weights ? untie(m, m->tok_emb) : m; }

GPTModel *gpt_load_huggingface(const char *dir) {
    char *cfg_path = path_join(dir, "config.json");
    cJSON *cfg = read_json(cfg_path);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "gpt2") != 0)
        fatal("%s: model_type is '%s'; only GPT-2 models can be loaded", cfg_path, type->valuestring);
    int n_ctx = json_int(cfg, "n_ctx", cfg_path, 0);
    GPTConfig c = {.vocab_size = json_int(cfg, "vocab_size", cfg_path, -1),
                   .context_length = json_int(cfg, "n_positions", cfg_path, n_ctx ? n_ctx : -1),
                   .emb_dim = json_int(cfg, "n_embd", cfg_path, -1),
                   .n_heads = json_int(cfg, "n_head", cfg_path, -1),
                   .n_layers = json_int(cfg, "n_layer", cfg_path, -1),
                   .drop_rate = 0.1f};
    int n_inner = json_int(cfg, "n_inner", cfg_path, 0);
    if (n_inner != 0 && n_inner != 4 * c.emb_dim)
        fatal("%s: n_inner %d is not 4 x n_embd, which this GPT needs", cfg_path, n_inner);
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(cfg, "tie_word_embeddings");
    bool tied = !cJSON_IsBool(tie) || cJSON_IsTrue(tie);
    cJSON_Delete(cfg);

    char *st_path = path_join(dir, "model.safetensors");
    SafetensorsFile *sf = safetensors_open(st_path);
    /* Hugging Face's GPT-2 always has qkv biases; a checkpoint of the book's
     * model (qkv_bias false) saved under these names has none */
    c.qkv_bias = c.n_layers == 0 || find_hf(sf, "h.0.attn.c_attn.bias") != NULL;
    const SafetensorsTensor *head = safetensors_find(sf, "lm_head.weight");
    if (!tied && !head) fatal("%s: %s says the head is untied but there is no lm_head.weight", st_path, cfg_path);
    c.tie_weights = tied;
    check_config(&c, cfg_path);
    GPTModel *m = gpt_create(&c);
    read_params(sf, m, "", m->params);
    if (tied && head) {
        /* a stored head is usually the embedding again; load it untied only
         * when it differs */
        const ParamTensor *emb = gpt_find_param(m, "tok_emb.weight");
        check_shape(st_path, head->name, head->ndim, head->shape, emb);
        float *h = xmalloc(emb->size * sizeof(float));
        safetensors_read_f32(sf, head, h);
        if (memcmp(h, m->tok_emb, emb->size * sizeof(float)) != 0) m = untie(m, h);
        free(h);
    }
    safetensors_close(sf);
    free(st_path);
    free(cfg_path);
    return m;
}

/* ---- our checkpoints ------------------------------------------------------------------------------ */

static const char *const CONFIG_KEYS[] = {"vocab_size", "context_length", "emb_dim",   "n_heads",
                                          "n_layers",   "drop_rate",      "qkv_bias", "tie_weights"};
enum { N_CONFIG_KEYS = sizeof CONFIG_KEYS / sizeof CONFIG_KEYS[0] };

void gpt_save_checkpoint(const GPTModel *m, const char *path, const CheckpointExtras *extras) {
    static const CheckpointExtras none = {0};
    const CheckpointExtras *x = extras ? extras : &none;
    const GPTConfig *c = &m->config;
    int n = m->n_tensors * (1 + x->n_buffers) + x->n_tensors;
    SafetensorsWriteTensor *ts = xcalloc(n, sizeof *ts);
    char **names = xcalloc(n, sizeof *names);
    int k = 0;
    for (int b = -1; b < x->n_buffers; b++) { /* b = -1: the parameters themselves */
        const char *prefix = b < 0 ? "" : x->buffer_prefixes[b];
        const float *data = b < 0 ? m->params : x->buffers[b];
        for (int i = 0; i < m->n_tensors; i++, k++) {
            const ParamTensor *p = &m->tensors[i];
            char hf[128];
            gpt_hf_name(p->name, hf, sizeof hf);
            names[k] = xmalloc(strlen(prefix) + strlen(hf) + 1);
            sprintf(names[k], "%s%s", prefix, hf);
            ts[k] = (SafetensorsWriteTensor){.name = names[k], .dtype = "F32", .ndim = p->ndim,
                                             .shape = {p->shape[0], p->shape[1]}, .data = data + p->offset};
        }
    }
    for (int i = 0; i < x->n_tensors; i++) ts[k++] = x->tensors[i];

    /* the configuration first (in CONFIG_KEYS order), then "format", then the caller's */
    char config[N_CONFIG_KEYS][32];
    snprintf(config[0], 32, "%d", c->vocab_size);
    snprintf(config[1], 32, "%d", c->context_length);
    snprintf(config[2], 32, "%d", c->emb_dim);
    snprintf(config[3], 32, "%d", c->n_heads);
    snprintf(config[4], 32, "%d", c->n_layers);
    snprintf(config[5], 32, "%.9g", c->drop_rate); /* 9 digits: the float comes back exactly */
    snprintf(config[6], 32, "%s", c->qkv_bias ? "true" : "false");
    snprintf(config[7], 32, "%s", c->tie_weights ? "true" : "false");
    int n_meta = N_CONFIG_KEYS + 1 + x->n_meta;
    const char **keys = xcalloc(n_meta, sizeof *keys), **vals = xcalloc(n_meta, sizeof *vals);
    for (int i = 0; i < N_CONFIG_KEYS; i++) {
        keys[i] = CONFIG_KEYS[i];
        vals[i] = config[i];
    }
    keys[N_CONFIG_KEYS] = "format"; /* what safetensors.torch and transformers expect */
    vals[N_CONFIG_KEYS] = "pt";
    for (int i = 0; i < x->n_meta; i++) {
        keys[N_CONFIG_KEYS + 1 + i] = x->meta_keys[i];
        vals[N_CONFIG_KEYS + 1 + i] = x->meta_values[i];
    }

    safetensors_write(path, n, ts, n_meta, keys, vals);
    for (int i = 0; i < m->n_tensors * (1 + x->n_buffers); i++) free(names[i]);
    free(names);
    free(ts);
    free(keys);
    free(vals);
}

static const char *meta_value(const SafetensorsFile *sf, const char *key) {
    const char *v = safetensors_metadata(sf, key);
    if (!v)
        fatal("%s: no '%s' in the metadata: not a checkpoint written by this program "
              "(a Hugging Face model loads from its directory, with config.json)",
              sf->path, key);
    return v;
}

static int meta_int(const SafetensorsFile *sf, const char *key) {
    long v;
    if (!parse_long(meta_value(sf, key), 0, INT_MAX, &v)) fatal("%s: metadata '%s' is not a count", sf->path, key);
    return (int)v;
}

static bool meta_bool(const SafetensorsFile *sf, const char *key) {
    const char *v = meta_value(sf, key);
    if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "1") == 0) return true;
    if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 || strcmp(v, "0") == 0) return false;
    fatal("%s: metadata '%s' is '%s', not true or false", sf->path, key, v);
}

GPTModel *gpt_load_checkpoint(const char *path, SafetensorsFile **file) {
    SafetensorsFile *sf = safetensors_open(path);
    double drop;
    if (!parse_double(meta_value(sf, "drop_rate"), 0.0, 1.0, &drop))
        fatal("%s: metadata 'drop_rate' is not a rate", path);
    GPTConfig c = {.vocab_size = meta_int(sf, "vocab_size"),
                   .context_length = meta_int(sf, "context_length"),
                   .emb_dim = meta_int(sf, "emb_dim"),
                   .n_heads = meta_int(sf, "n_heads"),
                   .n_layers = meta_int(sf, "n_layers"),
                   .drop_rate = (float)drop,
                   .qkv_bias = meta_bool(sf, "qkv_bias"),
                   .tie_weights = meta_bool(sf, "tie_weights")};
    check_config(&c, path);
    GPTModel *m = gpt_create(&c);
    read_params(sf, m, "", m->params);
    if (file) *file = sf;
    else safetensors_close(sf);
    return m;
}

void gpt_checkpoint_read_buffer(const SafetensorsFile *sf, const GPTModel *m, const char *prefix, float *dst) {
    if (!prefix[0]) fatal("gpt_checkpoint_read_buffer: empty prefix");
    read_params(sf, m, prefix, dst);
}

/* ---- any of them ------------------------------------------------------------------------------------ */

static bool dir_has(const char *dir, const char *name) {
    char *p = path_join(dir, name);
    bool ok = file_exists(p);
    free(p);
    return ok;
}

GPTModel *gpt_load_any(const char *path) {
    if (is_dir(path)) {
        if (dir_has(path, "hparams.json") && dir_has(path, "model.ckpt.index")) return gpt_load_openai(path);
        if (dir_has(path, "config.json") && dir_has(path, "model.safetensors")) return gpt_load_huggingface(path);
        fatal("%s: no model in this directory: looked for hparams.json and model.ckpt.index (OpenAI's GPT-2 "
              "release) and for config.json and model.safetensors (Hugging Face)",
              path);
    }
    if (ends_with(path, ".safetensors")) return gpt_load_checkpoint(path, NULL);
    if (!file_exists(path)) fatal("%s: %s", path, strerror(ENOENT));
    fatal("%s: not a model: give a directory with hparams.json and model.ckpt.index (OpenAI), one with "
          "config.json and model.safetensors (Hugging Face), or a .safetensors checkpoint",
          path);
}

/* The tokenizer that goes with a model: its directory's own files when it
 * has them (OpenAI's encoder.json/vocab.bpe, or Hugging Face's
 * vocab.json/merges.txt, the same formats), else GPT-2's from DATA_DIR. */
Bpe *gpt_load_tokenizer(const char *model_path) {
    char *copy = xstrdup(model_path);
    char *dir = file_exists(model_path) ? dirname(copy) : copy;
    const char *pairs[2][2] = {{"encoder.json", "vocab.bpe"}, {"vocab.json", "merges.txt"}};
    Bpe *bpe = NULL;
    for (int i = 0; i < 2 && !bpe; i++) {
        char *enc = path_join(dir, pairs[i][0]), *merges = path_join(dir, pairs[i][1]);
        if (file_exists(enc) && file_exists(merges)) bpe = bpe_load(enc, merges);
        free(enc);
        free(merges);
    }
    free(copy);
    return bpe ? bpe : bpe_load_gpt2();
}
