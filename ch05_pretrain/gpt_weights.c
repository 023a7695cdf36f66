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

/* Our names, Hugging Face's and OpenAI's come from the one list of the
 * model's parameters (ch04_gpt/gpt.c: ParamSpec); a block's get its prefix
 * here. */
static const ParamSpec *spec_of(const char *ours, int *layer) {
    const ParamSpec *s = gpt_param_spec(ours, layer);
    if (!s) fatal("'%s' is not the name of a parameter", ours);
    return s;
}

void gpt_hf_name(const char *ours, char *out, size_t size) {
    int layer;
    const ParamSpec *s = spec_of(ours, &layer);
    if (layer >= 0) snprintf(out, size, "h.%d.%s", layer, s->hf);
    else snprintf(out, size, "%s", s->hf);
}

bool gpt_openai_name(const char *ours, char *out, size_t size) {
    int layer;
    const ParamSpec *s = spec_of(ours, &layer);
    if (!s->openai) return false;
    if (layer >= 0) snprintf(out, size, "model/h%d/%s", layer, s->openai);
    else snprintf(out, size, "model/%s", s->openai);
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
 * parameter's rank are dropped first (OpenAI's [1, C, 3C]). */
static bool check_shape(const char *file, const char *name, int ndim, const int64_t shape[], const ParamTensor *p,
                        char *err, size_t err_size) {
    int skip = 0;
    while (ndim - skip > p->ndim && shape[skip] == 1) skip++;
    bool same = ndim - skip == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = shape[skip + d] == p->shape[d];
    if (same) return true;
    int64_t want[2] = {p->shape[0], p->shape[1]};
    char got_s[160], want_s[64];
    shape_str(ndim, shape, got_s, sizeof got_s);
    shape_str(p->ndim, want, want_s, sizeof want_s);
    return set_error(err, err_size, "%s: tensor '%s' has shape %s, expected %s (for %s)", file, name, got_s, want_s,
                     p->name);
}

/* A whole number in [min, max] from a JSON config, or dflt when the key is
 * missing or null (dflt < 0: the key is required). */
static bool json_int(const cJSON *root, const char *key, const char *path, int dflt, int min, int max, int *out,
                     char *err, size_t err_size) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (dflt < 0) return set_error(err, err_size, "%s: no '%s'", path, key);
        *out = dflt;
        return true;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0)
        return set_error(err, err_size, "%s: '%s' is not a count", path, key);
    if (v->valuedouble < min)
        return set_error(err, err_size, "%s: '%s' is %.0f; it must be at least %d", path, key, v->valuedouble, min);
    if (v->valuedouble > max)
        return set_error(err, err_size, "%s: '%s' is %.0f, over the limit of %d", path, key, v->valuedouble, max);
    *out = (int)v->valuedouble;
    return true;
}

static cJSON *parse_json_object(const char *text, size_t len, const char *path, char *err, size_t err_size) {
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (cJSON_IsObject(root)) return root;
    cJSON_Delete(root);
    format_error(err, err_size, "%s: not a JSON object", path);
    return NULL;
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* ---- a checkpoint, whichever the format ------------------------------------------------ */

/* Where the weights come from: a TensorFlow bundle (OpenAI's names) or a
 * safetensors file (Hugging Face's names, after prefix; with prefix "",
 * with or without GPT2LMHeadModel's "transformer."). */
typedef struct {
    const char *path; /* for messages */
    const TfCheckpoint *tf;
    const SafetensorsFile *sf;
    const char *prefix;
} Source;

/* The stored tensor of one of our parameters. */
typedef struct {
    char name[192]; /* its name in the file (the one looked for when missing) */
    int ndim;
    const int64_t *shape;
    const TfTensor *tf;
    const SafetensorsTensor *st;
} Stored;

/* A tensor by its Hugging Face name, stored bare or (GPT2LMHeadModel) with
 * the "transformer." prefix. */
static const SafetensorsTensor *find_hf(const SafetensorsFile *sf, const char *name) {
    const SafetensorsTensor *t = safetensors_find(sf, name);
    if (t) return t;
    char prefixed[256];
    snprintf(prefixed, sizeof prefixed, "transformer.%s", name);
    return safetensors_find(sf, prefixed);
}

static bool find_stored(const Source *src, const char *ours, Stored *out) {
    *out = (Stored){0};
    if (src->tf) {
        if (!gpt_openai_name(ours, out->name, sizeof out->name)) return false; /* out_head: OpenAI's is tied */
        out->tf = tf_checkpoint_find(src->tf, out->name);
        if (!out->tf) return false;
        out->ndim = out->tf->ndim;
        out->shape = out->tf->shape;
        return true;
    }
    char hf[128];
    gpt_hf_name(ours, hf, sizeof hf);
    snprintf(out->name, sizeof out->name, "%s%s", src->prefix, hf);
    out->st = src->prefix[0] ? safetensors_find(src->sf, out->name) : find_hf(src->sf, out->name);
    if (!out->st) return false;
    snprintf(out->name, sizeof out->name, "%s", out->st->name);
    out->ndim = out->st->ndim;
    out->shape = out->st->shape;
    return true;
}

/* Whether the stored tensor's bytes can be read as floats: the dtype, and
 * for a bundle that the data file holds them. */
static bool check_readable(const Source *src, const Stored *s, char *err, size_t err_size) {
    if (s->tf) return tf_checkpoint_check_f32(src->tf, s->tf, err, err_size);
    if (safetensors_is_float(s->st)) return true;
    return set_error(err, err_size, "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 can be read as floats",
                     src->path, s->name, s->st->dtype);
}

static bool read_stored(const Source *src, const Stored *s, float *dst, char *err, size_t err_size) {
    if (s->tf) return tf_checkpoint_try_read_f32(src->tf, s->tf, dst, err, err_size);
    return safetensors_try_read_f32(src->sf, s->st, dst, err, err_size);
}

/* What a configuration's fields are called in the file it came from, for
 * messages. */
typedef struct {
    const char *file;
    const char *vocab, *context, *emb, *layers;
} ConfigNames;

static const ConfigNames OPENAI_FIELDS = {NULL, "'n_vocab'", "'n_ctx'", "'n_embd'", "'n_layer'"};
static const ConfigNames HF_FIELDS = {NULL, "'vocab_size'", "'n_positions'", "'n_embd'", "'n_layer'"};
static const ConfigNames CHECKPOINT_FIELDS = {NULL, "metadata 'vocab_size'", "metadata 'context_length'",
                                              "metadata 'emb_dim'", "metadata 'n_layers'"};

/* A stored matrix's (rows, columns), leading 1s dropped; false if the
 * tensor is missing or not a matrix (the per-tensor check reports that). */
static bool stored_matrix(const Source *src, const char *ours, Stored *s, int64_t *rows, int64_t *cols) {
    if (!find_stored(src, ours, s)) return false;
    int skip = 0;
    while (s->ndim - skip > 2 && s->shape[skip] == 1) skip++;
    if (s->ndim - skip != 2) return false;
    *rows = s->shape[skip];
    *cols = s->shape[skip + 1];
    return true;
}

static bool field_mismatch(const ConfigNames *names, const char *field, int value, const Source *src, const Stored *s,
                           char *err, size_t err_size) {
    char shape[160];
    shape_str(s->ndim, s->shape, shape, sizeof shape);
    return set_error(err, err_size, "%s: %s is %d, but %s holds tensor '%s' of shape %s", names->file, field, value,
                     src->path, s->name, shape);
}

/* The configuration against the tensors that show its sizes, so that an
 * error names the field that is wrong: the token embedding (vocabulary,
 * width), the position embedding (context) and the blocks (layers). */
static bool config_fits(const GPTConfig *c, const ConfigNames *names, const Source *src, char *err, size_t err_size) {
    Stored s;
    int64_t rows, cols;
    if (stored_matrix(src, "tok_emb.weight", &s, &rows, &cols)) {
        if (rows != c->vocab_size) return field_mismatch(names, names->vocab, c->vocab_size, src, &s, err, err_size);
        if (cols != c->emb_dim) return field_mismatch(names, names->emb, c->emb_dim, src, &s, err, err_size);
    }
    if (stored_matrix(src, "pos_emb.weight", &s, &rows, &cols) && rows != c->context_length)
        return field_mismatch(names, names->context, c->context_length, src, &s, err, err_size);
    /* the last block must be there (when the first is: a file without
     * blocks at all is reported tensor by tensor), and none after it */
    char ours[64];
    snprintf(ours, sizeof ours, "blocks.%d.norm1.scale", c->n_layers);
    if (find_stored(src, ours, &s))
        return set_error(err, err_size, "%s: %s is %d, but %s holds more blocks (it has tensor '%s')", names->file,
                         names->layers, c->n_layers, src->path, s.name);
    snprintf(ours, sizeof ours, "blocks.%d.norm1.scale", c->n_layers - 1);
    if (c->n_layers > 1 && find_stored(src, "blocks.0.norm1.scale", &s) && !find_stored(src, ours, &s))
        return set_error(err, err_size, "%s: %s is %d, but %s has fewer blocks (no tensor '%s')", names->file,
                         names->layers, c->n_layers, src->path, s.name);
    return true;
}

static int compare_by_place(const void *a, const void *b) {
    const TfTensor *x = *(const TfTensor *const *)a, *y = *(const TfTensor *const *)b;
    if (x->shard != y->shard) return x->shard < y->shard ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* A bundle's entries may point anywhere in its data files, even at the
 * same bytes; the tensors a model takes must not share any, so that the
 * model is never bigger than the data files (a safetensors file is
 * checked for that when it is opened). */
static bool disjoint_in_data(const TfTensor **used, int n, const char *path, char *err, size_t err_size) {
    qsort(used, n, sizeof *used, compare_by_place);
    for (int i = 1; i < n; i++)
        if (used[i]->shard == used[i - 1]->shard && used[i]->offset - used[i - 1]->offset < used[i - 1]->size)
            return set_error(err, err_size, "%s: tensors '%s' and '%s' share bytes of the data file", path,
                             used[i - 1]->name, used[i]->name);
    return true;
}

/* Every parameter of the configuration has its tensor in the file, with
 * the right shape and bytes that can be read. */
static bool check_params(const GPTConfig *c, const Source *src, char *err, size_t err_size) {
    int count;
    size_t total;
    ParamTensor *table = gpt_param_table(c, &count, &total, err, err_size);
    if (!table) return false;
    const TfTensor **used = xcalloc(count, sizeof *used);
    bool ok = true;
    for (int i = 0; ok && i < count; i++) {
        const ParamTensor *p = &table[i];
        Stored s;
        if (!find_stored(src, p->name, &s))
            ok = set_error(err, err_size, "%s: no tensor '%s' (for %s)", src->path, s.name, p->name);
        else
            ok = check_shape(src->path, s.name, s.ndim, s.shape, p, err, err_size) &&
                 check_readable(src, &s, err, err_size);
        used[i] = s.tf;
    }
    if (ok && src->tf) ok = disjoint_in_data(used, count, src->path, err, err_size);
    free(used);
    free(table);
    return ok;
}

/* Fill dst (shaped like m's parameters) from the source; the tensors were
 * checked by check_params. */
static bool read_params(const Source *src, const GPTModel *m, float *dst, char *err, size_t err_size) {
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *p = &m->tensors[i];
        Stored s;
        if (!find_stored(src, p->name, &s))
            return set_error(err, err_size, "%s: no tensor '%s' (for %s)", src->path, s.name, p->name);
        if (!check_shape(src->path, s.name, s.ndim, s.shape, p, err, err_size) ||
            !read_stored(src, &s, dst + p->offset, err, err_size))
            return false;
    }
    return true;
}

/* A model of configuration c with its weights from src. Everything is
 * checked before the model is allocated: the configuration's limits, its
 * sizes against the stored tensors (errors name the field, as names calls
 * it), and every tensor's presence, shape, dtype and bytes. A
 * configuration that a checkpoint does not back can thus never ask for
 * more memory than the checkpoint's files hold. */
static GPTModel *load_model(const GPTConfig *c, const ConfigNames *names, const Source *src, char *err,
                            size_t err_size) {
    char why[256];
    if (!gpt_config_check(c, why, sizeof why)) {
        format_error(err, err_size, "%s: bad model configuration: %s", names->file, why);
        return NULL;
    }
    if (!config_fits(c, names, src, err, err_size) || !check_params(c, src, err, err_size)) return NULL;
    GPTModel *m = gpt_try_create(c, err, err_size);
    if (m && !read_params(src, m, m->params, err, err_size)) {
        gpt_free(m);
        return NULL;
    }
    return m;
}

/* ---- OpenAI --------------------------------------------------------------------------- */

bool gpt_config_parse_openai(const char *text, size_t len, const char *path, GPTConfig *out, char *err,
                             size_t err_size) {
    cJSON *hp = parse_json_object(text, len, path, err, err_size);
    if (!hp) return false;
    GPTConfig c = {.drop_rate = 0.1f, .qkv_bias = true, .tie_weights = true};
    bool ok = json_int(hp, "n_vocab", path, -1, 1, GPT_MAX_VOCAB, &c.vocab_size, err, err_size) &&
              json_int(hp, "n_ctx", path, -1, 1, GPT_MAX_CONTEXT, &c.context_length, err, err_size) &&
              json_int(hp, "n_embd", path, -1, 1, GPT_MAX_EMB_DIM, &c.emb_dim, err, err_size) &&
              json_int(hp, "n_head", path, -1, 1, GPT_MAX_EMB_DIM, &c.n_heads, err, err_size) &&
              json_int(hp, "n_layer", path, -1, 0, GPT_MAX_LAYERS, &c.n_layers, err, err_size);
    cJSON_Delete(hp);
    if (ok) *out = c;
    return ok;
}

GPTModel *gpt_from_tf_checkpoint(const GPTConfig *c, const char *config_path, const TfCheckpoint *ck, char *err,
                                 size_t err_size) {
    ConfigNames names = OPENAI_FIELDS;
    names.file = config_path;
    Source src = {.path = ck->index_path, .tf = ck};
    return load_model(c, &names, &src, err, err_size);
}

GPTModel *gpt_try_load_openai(const char *dir, char *err, size_t err_size) {
    char *hp_path = path_join(dir, "hparams.json"), *prefix = path_join(dir, "model.ckpt");
    GPTConfig c = {0};
    TfCheckpoint *ck = NULL;
    GPTModel *m = NULL;
    size_t len;
    char *text = try_read_file(hp_path, &len, err, err_size);
    if (text && gpt_config_parse_openai(text, len, hp_path, &c, err, err_size) &&
        (ck = tf_checkpoint_try_open(prefix, err, err_size)) != NULL)
        m = gpt_from_tf_checkpoint(&c, hp_path, ck, err, err_size);
    tf_checkpoint_close(ck);
    free(text);
    free(prefix);
    free(hp_path);
    return m;
}

GPTModel *gpt_load_openai(const char *dir) {
    char err[1024];
    GPTModel *m = gpt_try_load_openai(dir, err, sizeof err);
    if (!m) fatal("%s", err);
    return m;
}

/* ---- Hugging Face ---------------------------------------------------------------------------- */

/* The same model with an untied head: every parameter copied, the head
 * set apart from the embedding. The untied table is the tied one with
 * out_head.weight appended, so the tied buffer is the untied one's start. */
static GPTModel *untie(GPTModel *m, const float *head, char *err, size_t err_size) {
    GPTConfig c = m->config;
    c.tie_weights = false;
    GPTModel *u = gpt_try_create(&c, err, err_size);
    if (u) {
        memcpy(u->params, m->params, m->n_params * sizeof(float));
        memcpy(u->out_head, head, (size_t)c.vocab_size * c.emb_dim * sizeof(float));
    }
    gpt_free(m);
    return u;
}

GPTModel *gpt_untie(GPTModel *m) {
    if (!m->config.tie_weights) return m;
    char err[256];
    GPTModel *u = untie(m, m->tok_emb, err, sizeof err);
    if (!u) fatal("%s", err);
    return u;
}

bool gpt_config_parse_huggingface(const char *text, size_t len, const char *path, GPTConfig *out, char *err,
                                  size_t err_size) {
    cJSON *cfg = parse_json_object(text, len, path, err, err_size);
    if (!cfg) return false;
    GPTConfig c = {.drop_rate = 0.1f, .qkv_bias = true};
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(cfg, "tie_word_embeddings");
    c.tie_weights = !cJSON_IsBool(tie) || cJSON_IsTrue(tie);
    int n_ctx = 0, n_inner = 0;
    bool ok = true;
    if (cJSON_IsString(type) && strcmp(type->valuestring, "gpt2") != 0)
        ok = set_error(err, err_size, "%s: model_type is '%s'; only GPT-2 models can be loaded", path,
                       type->valuestring);
    ok = ok && json_int(cfg, "n_ctx", path, 0, 0, GPT_MAX_CONTEXT, &n_ctx, err, err_size) &&
         json_int(cfg, "vocab_size", path, -1, 1, GPT_MAX_VOCAB, &c.vocab_size, err, err_size) &&
         json_int(cfg, "n_positions", path, n_ctx ? n_ctx : -1, 1, GPT_MAX_CONTEXT, &c.context_length, err,
                  err_size) &&
         json_int(cfg, "n_embd", path, -1, 1, GPT_MAX_EMB_DIM, &c.emb_dim, err, err_size) &&
         json_int(cfg, "n_head", path, -1, 1, GPT_MAX_EMB_DIM, &c.n_heads, err, err_size) &&
         json_int(cfg, "n_layer", path, -1, 0, GPT_MAX_LAYERS, &c.n_layers, err, err_size) &&
         json_int(cfg, "n_inner", path, 0, 0, INT_MAX, &n_inner, err, err_size);
    if (ok && n_inner != 0 && n_inner != 4 * c.emb_dim)
        ok = set_error(err, err_size, "%s: n_inner %d is not 4 x n_embd, which this GPT needs", path, n_inner);
    cJSON_Delete(cfg);
    if (ok) *out = c;
    return ok;
}

GPTModel *gpt_from_hf_safetensors(const GPTConfig *config, const char *config_path, const SafetensorsFile *sf,
                                  char *err, size_t err_size) {
    GPTConfig c = *config;
    ConfigNames names = HF_FIELDS;
    names.file = config_path;
    Source src = {.path = sf->path, .sf = sf, .prefix = ""};
    /* Hugging Face's GPT-2 always has qkv biases; a checkpoint of the book's
     * model (qkv_bias false) saved under these names has none */
    char qkv_bias[64], head_name[64];
    gpt_hf_name("blocks.0.att.qkv.bias", qkv_bias, sizeof qkv_bias);
    c.qkv_bias = c.n_layers == 0 || find_hf(sf, qkv_bias) != NULL;
    gpt_hf_name("out_head.weight", head_name, sizeof head_name);
    const SafetensorsTensor *head = safetensors_find(sf, head_name);
    if (!c.tie_weights && !head) {
        format_error(err, err_size, "%s: %s says the head is untied but there is no %s", sf->path, config_path,
                     head_name);
        return NULL;
    }
    /* a stored head beside a tied one is usually the embedding again; it is
     * compared once the model is loaded, so check it now too */
    ParamTensor emb = {.name = "tok_emb.weight", .ndim = 2, .shape = {c.vocab_size, c.emb_dim},
                       .size = (size_t)c.vocab_size * c.emb_dim};
    if (c.tie_weights && head) {
        Stored s = {.st = head, .ndim = head->ndim, .shape = head->shape};
        snprintf(s.name, sizeof s.name, "%s", head->name);
        if (!check_shape(sf->path, s.name, s.ndim, s.shape, &emb, err, err_size) ||
            !check_readable(&src, &s, err, err_size))
            return NULL;
    }
    GPTModel *m = load_model(&c, &names, &src, err, err_size);
    if (!m || !c.tie_weights || !head) return m;
    float *h = xmalloc(emb.size * sizeof(float));
    if (!safetensors_try_read_f32(sf, head, h, err, err_size)) {
        gpt_free(m);
        m = NULL;
    } else if (memcmp(h, m->tok_emb, emb.size * sizeof(float)) != 0) {
        m = untie(m, h, err, err_size); /* a head of its own */
    }
    free(h);
    return m;
}

GPTModel *gpt_try_load_huggingface(const char *dir, char *err, size_t err_size) {
    char *cfg_path = path_join(dir, "config.json"), *st_path = path_join(dir, "model.safetensors");
    GPTConfig c = {0};
    SafetensorsFile *sf = NULL;
    GPTModel *m = NULL;
    size_t len;
    char *text = try_read_file(cfg_path, &len, err, err_size);
    if (text && gpt_config_parse_huggingface(text, len, cfg_path, &c, err, err_size) &&
        (sf = safetensors_try_open(st_path, err, err_size)) != NULL)
        m = gpt_from_hf_safetensors(&c, cfg_path, sf, err, err_size);
    safetensors_close(sf);
    free(text);
    free(st_path);
    free(cfg_path);
    return m;
}

GPTModel *gpt_load_huggingface(const char *dir) {
    char err[1024];
    GPTModel *m = gpt_try_load_huggingface(dir, err, sizeof err);
    if (!m) fatal("%s", err);
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

/* A metadata value of a checkpoint; its absence says the file is not one. */
static const char *meta_value(const SafetensorsFile *sf, const char *key, char *err, size_t err_size) {
    const char *v = safetensors_metadata(sf, key);
    if (!v)
        format_error(err, err_size,
                  "%s: no '%s' in the metadata: not a checkpoint written by this program "
                  "(a Hugging Face model loads from its directory, with config.json)",
                  sf->path, key);
    return v;
}

/* A count from the metadata (gpt_config_check bounds it further). */
static bool meta_int(const SafetensorsFile *sf, const char *key, int *out, char *err, size_t err_size) {
    const char *v = meta_value(sf, key, err, err_size);
    long n;
    if (!v) return false;
    if (!parse_long(v, 0, INT_MAX, &n))
        return set_error(err, err_size, "%s: metadata '%s' is not a count", sf->path, key);
    *out = (int)n;
    return true;
}

static bool meta_bool(const SafetensorsFile *sf, const char *key, bool *out, char *err, size_t err_size) {
    const char *v = meta_value(sf, key, err, err_size);
    if (!v) return false;
    if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "1") == 0) return *out = true, true;
    if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 || strcmp(v, "0") == 0) return *out = false, true;
    return set_error(err, err_size, "%s: metadata '%s' is '%s', not true or false", sf->path, key, v);
}

static bool config_from_metadata(const SafetensorsFile *sf, GPTConfig *c, char *err, size_t err_size) {
    *c = (GPTConfig){0}; /* fields the metadata does not name keep their defaults: off, zero */
    const char *drop_s = meta_value(sf, "drop_rate", err, err_size);
    double drop;
    if (!drop_s) return false;
    if (!parse_double(drop_s, 0.0, 1.0, &drop))
        return set_error(err, err_size, "%s: metadata 'drop_rate' is not a rate", sf->path);
    c->drop_rate = (float)drop;
    return meta_int(sf, "vocab_size", &c->vocab_size, err, err_size) &&
           meta_int(sf, "context_length", &c->context_length, err, err_size) &&
           meta_int(sf, "emb_dim", &c->emb_dim, err, err_size) && meta_int(sf, "n_heads", &c->n_heads, err, err_size) &&
           meta_int(sf, "n_layers", &c->n_layers, err, err_size) &&
           meta_bool(sf, "qkv_bias", &c->qkv_bias, err, err_size) &&
           meta_bool(sf, "tie_weights", &c->tie_weights, err, err_size);
}

GPTModel *gpt_from_checkpoint(const SafetensorsFile *sf, char *err, size_t err_size) {
    GPTConfig c = {0};
    if (!config_from_metadata(sf, &c, err, err_size)) return NULL;
    ConfigNames names = CHECKPOINT_FIELDS;
    names.file = sf->path;
    Source src = {.path = sf->path, .sf = sf, .prefix = ""};
    return load_model(&c, &names, &src, err, err_size);
}

GPTModel *gpt_try_load_checkpoint(const char *path, SafetensorsFile **file, char *err, size_t err_size) {
    SafetensorsFile *sf = safetensors_try_open(path, err, err_size);
    GPTModel *m = sf ? gpt_from_checkpoint(sf, err, err_size) : NULL;
    if (file) *file = m ? sf : NULL;
    if (!m || !file) safetensors_close(sf);
    return m;
}

GPTModel *gpt_load_checkpoint(const char *path, SafetensorsFile **file) {
    char err[1024];
    GPTModel *m = gpt_try_load_checkpoint(path, file, err, sizeof err);
    if (!m) fatal("%s", err);
    return m;
}

bool gpt_checkpoint_try_read_buffer(const SafetensorsFile *sf, const GPTModel *m, const char *prefix, float *dst,
                                    char *err, size_t err_size) {
    if (!prefix[0]) return set_error(err, err_size, "gpt_checkpoint_read_buffer: empty prefix");
    Source src = {.path = sf->path, .sf = sf, .prefix = prefix};
    /* each tensor is read straight into dst, so checking it first saves no memory */
    return read_params(&src, m, dst, err, err_size);
}

void gpt_checkpoint_read_buffer(const SafetensorsFile *sf, const GPTModel *m, const char *prefix, float *dst) {
    char err[1024];
    if (!gpt_checkpoint_try_read_buffer(sf, m, prefix, dst, err, sizeof err)) fatal("%s", err);
}

/* ---- any of them ------------------------------------------------------------------------------------ */

static bool dir_has(const char *dir, const char *name) {
    char *p = path_join(dir, name);
    bool ok = file_exists(p);
    free(p);
    return ok;
}

GPTModel *gpt_try_load_any(const char *path, char *err, size_t err_size) {
    if (is_dir(path)) {
        if (dir_has(path, "hparams.json") && dir_has(path, "model.ckpt.index"))
            return gpt_try_load_openai(path, err, err_size);
        if (dir_has(path, "config.json") && dir_has(path, "model.safetensors"))
            return gpt_try_load_huggingface(path, err, err_size);
        format_error(err, err_size,
                  "%s: no model in this directory: looked for hparams.json and model.ckpt.index (OpenAI's GPT-2 "
                  "release) and for config.json and model.safetensors (Hugging Face)",
                  path);
        return NULL;
    }
    if (ends_with(path, ".safetensors")) return gpt_try_load_checkpoint(path, NULL, err, err_size);
    if (!file_exists(path)) format_error(err, err_size, "%s: %s", path, strerror(ENOENT));
    else
        format_error(err, err_size,
                  "%s: not a model: give a directory with hparams.json and model.ckpt.index (OpenAI), one with "
                  "config.json and model.safetensors (Hugging Face), or a .safetensors checkpoint",
                  path);
    return NULL;
}

GPTModel *gpt_load_any(const char *path) {
    char err[1024];
    GPTModel *m = gpt_try_load_any(path, err, sizeof err);
    if (!m) fatal("%s", err);
    return m;
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
