/* gpt.c: see gpt.h. */
#include "gpt.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/embedding.h"
#include "../ch03_attention/attention.h"
#include "../common/arena.h"
#include "../common/matmul.h"
#include "../common/rng.h"
#include "../common/util.h"
#include "layernorm.h"

/* ==== 4.6 Coding the GPT model ==== */

/* ---- the parameters: every kind listed once ----
 * The book's GPTModel.__init__ top to bottom: the embeddings, the blocks
 * (trf_blocks, each block's tensors in the order its forward pass uses
 * them), the final norm and the head. Each entry names the tensor three
 * ways (ours, Hugging Face's, OpenAI's), sizes it from the configuration,
 * says how it starts out and where its named pointer goes. */

/* The embeddings (2.7-2.8), before the blocks. */
static const ParamSpec EMBEDDING_PARAMS[] = {
    /* ours              Hugging Face     OpenAI   shape                     init         fan_in    presence
     * view, grad_view */
    {"tok_emb.weight",   "wte.weight",    "wte",   {DIM_VOCAB, DIM_C},       INIT_NORMAL, DIM_NONE, PARAM_ALWAYS,
     offsetof(GPTModel, tok_emb), offsetof(GPTModel, grad_tok_emb)},
    {"pos_emb.weight",   "wpe.weight",    "wpe",   {DIM_CONTEXT, DIM_C},     INIT_NORMAL, DIM_NONE, PARAM_ALWAYS,
     offsetof(GPTModel, pos_emb), offsetof(GPTModel, grad_pos_emb)},
};

/* One transformer block's (4.5); block L's are named blocks.L.<ours>,
 * h.L.<Hugging Face's> and model/hL/<OpenAI's>. Their views are
 * BlockWeights fields, for the parameters and the gradients alike (the
 * model's blocks and grad_blocks), so grad_view is 0. */
static const ParamSpec BLOCK_PARAMS[] = {
    /* ours                 Hugging Face          OpenAI           shape            init         fan_in    presence
     * view (the gradients' too: no grad_view) */
    {"norm1.scale",         "ln_1.weight",        "ln_1/g",        {DIM_C},         INIT_ONES,   DIM_NONE, PARAM_ALWAYS,
     offsetof(BlockWeights, norm1_scale), 0},
    {"norm1.shift",         "ln_1.bias",          "ln_1/b",        {DIM_C},         INIT_ZEROS,  DIM_NONE, PARAM_ALWAYS,
     offsetof(BlockWeights, norm1_shift), 0},
    {"att.qkv.weight",      "attn.c_attn.weight", "attn/c_attn/w", {DIM_C, DIM_3C}, INIT_LINEAR, DIM_C,    PARAM_ALWAYS,
     offsetof(BlockWeights, qkv_weight), 0},
    {"att.qkv.bias",        "attn.c_attn.bias",   "attn/c_attn/b", {DIM_3C},        INIT_LINEAR, DIM_C,    PARAM_IF_QKV_BIAS,
     offsetof(BlockWeights, qkv_bias), 0},
    {"att.out_proj.weight", "attn.c_proj.weight", "attn/c_proj/w", {DIM_C, DIM_C},  INIT_LINEAR, DIM_C,    PARAM_ALWAYS,
     offsetof(BlockWeights, out_proj_weight), 0},
    {"att.out_proj.bias",   "attn.c_proj.bias",   "attn/c_proj/b", {DIM_C},         INIT_LINEAR, DIM_C,    PARAM_ALWAYS,
     offsetof(BlockWeights, out_proj_bias), 0},
    {"norm2.scale",         "ln_2.weight",        "ln_2/g",        {DIM_C},         INIT_ONES,   DIM_NONE, PARAM_ALWAYS,
     offsetof(BlockWeights, norm2_scale), 0},
    {"norm2.shift",         "ln_2.bias",          "ln_2/b",        {DIM_C},         INIT_ZEROS,  DIM_NONE, PARAM_ALWAYS,
     offsetof(BlockWeights, norm2_shift), 0},
    {"ff.fc1.weight",       "mlp.c_fc.weight",    "mlp/c_fc/w",    {DIM_C, DIM_4C}, INIT_LINEAR, DIM_C,    PARAM_ALWAYS,
     offsetof(BlockWeights, fc1_weight), 0},
    {"ff.fc1.bias",         "mlp.c_fc.bias",      "mlp/c_fc/b",    {DIM_4C},        INIT_LINEAR, DIM_C,    PARAM_ALWAYS,
     offsetof(BlockWeights, fc1_bias), 0},
    {"ff.fc2.weight",       "mlp.c_proj.weight",  "mlp/c_proj/w",  {DIM_4C, DIM_C}, INIT_LINEAR, DIM_4C,   PARAM_ALWAYS,
     offsetof(BlockWeights, fc2_weight), 0},
    {"ff.fc2.bias",         "mlp.c_proj.bias",    "mlp/c_proj/b",  {DIM_C},         INIT_LINEAR, DIM_4C,   PARAM_ALWAYS,
     offsetof(BlockWeights, fc2_bias), 0},
};

/* The final norm and the output head, after the blocks. OpenAI's GPT-2
 * has no head of its own: it reuses the token embedding. */
static const ParamSpec HEAD_PARAMS[] = {
    /* ours              Hugging Face      OpenAI    shape               init         fan_in    presence
     * view, grad_view */
    {"final_norm.scale", "ln_f.weight",    "ln_f/g", {DIM_C},            INIT_ONES,   DIM_NONE, PARAM_ALWAYS,
     offsetof(GPTModel, final_norm_scale), offsetof(GPTModel, grad_final_norm_scale)},
    {"final_norm.shift", "ln_f.bias",      "ln_f/b", {DIM_C},            INIT_ZEROS,  DIM_NONE, PARAM_ALWAYS,
     offsetof(GPTModel, final_norm_shift), offsetof(GPTModel, grad_final_norm_shift)},
    {"out_head.weight",  "lm_head.weight", NULL,     {DIM_VOCAB, DIM_C}, INIT_LINEAR, DIM_C,    PARAM_IF_UNTIED_HEAD,
     offsetof(GPTModel, out_head), offsetof(GPTModel, grad_out_head)},
};

enum {
    N_EMBEDDING_PARAMS = sizeof EMBEDDING_PARAMS / sizeof EMBEDDING_PARAMS[0],
    N_BLOCK_PARAMS = sizeof BLOCK_PARAMS / sizeof BLOCK_PARAMS[0],
    N_HEAD_PARAMS = sizeof HEAD_PARAMS / sizeof HEAD_PARAMS[0],
};

static int dim_size(ParamDim d, const GPTConfig *c) {
    switch (d) {
    case DIM_NONE: return 0;
    case DIM_VOCAB: return c->vocab_size;
    case DIM_CONTEXT: return c->context_length;
    case DIM_C: return c->emb_dim;
    case DIM_3C: return 3 * c->emb_dim;
    case DIM_4C: return 4 * c->emb_dim;
    }
    return 0;
}

static bool present(const ParamSpec *s, const GPTConfig *c) {
    switch (s->presence) {
    case PARAM_ALWAYS: return true;
    case PARAM_IF_QKV_BIAS: return c->qkv_bias;
    case PARAM_IF_UNTIED_HEAD: return !c->tie_weights;
    }
    return false;
}

typedef struct {
    ParamTensor *tensors;
    int count, capacity;
    size_t total;
} ParamTable;

/* The next tensor of the buffer: one of spec's kind, of block `layer`
 * (-1: outside the blocks), when the configuration has it. */
static void add_param(ParamTable *t, const ParamSpec *spec, int layer, const GPTConfig *c) {
    if (!present(spec, c)) return;
    if (t->count == t->capacity) {
        t->capacity = t->capacity ? 2 * t->capacity : 64;
        t->tensors = xrealloc(t->tensors, t->capacity * sizeof(ParamTensor));
    }
    ParamTensor *p = &t->tensors[t->count++];
    if (layer >= 0) snprintf(p->name, sizeof p->name, "blocks.%d.%s", layer, spec->name);
    else snprintf(p->name, sizeof p->name, "%s", spec->name);
    const int rows = dim_size(spec->shape[0], c), cols = dim_size(spec->shape[1], c);
    p->ndim = cols ? 2 : 1;
    p->shape[0] = rows;
    p->shape[1] = cols;
    p->size = cols ? (size_t)rows * cols : (size_t)rows;
    p->offset = t->total;
    p->init = spec->init;
    p->fan_in = dim_size(spec->fan_in, c);
    p->spec = spec;
    p->layer = layer;
    t->total += p->size;
}

/* Every parameter tensor in buffer order: the lists above, the blocks'
 * once per block. The config is checked: its limits keep 4 * C an int and
 * every size a size_t. */
static ParamTable build_param_table(const GPTConfig *c) {
    ParamTable t = {0};
    for (int i = 0; i < N_EMBEDDING_PARAMS; i++) add_param(&t, &EMBEDDING_PARAMS[i], -1, c);
    for (int l = 0; l < c->n_layers; l++)
        for (int i = 0; i < N_BLOCK_PARAMS; i++) add_param(&t, &BLOCK_PARAMS[i], l, c);
    for (int i = 0; i < N_HEAD_PARAMS; i++) add_param(&t, &HEAD_PARAMS[i], -1, c);
    return t;
}

ParamTensor *gpt_param_table(const GPTConfig *config, int *count, size_t *total, char *err, size_t err_size) {
    if (!gpt_config_check(config, err, err_size)) return NULL;
    ParamTable t = build_param_table(config);
    *count = t.count;
    *total = t.total;
    return t.tensors;
}

size_t gpt_param_count(const GPTConfig *config) {
    int count;
    size_t total;
    char err[128];
    ParamTensor *table = gpt_param_table(config, &count, &total, err, sizeof err);
    free(table);
    return table ? total : 0;
}

static const ParamSpec *find_spec(const ParamSpec *specs, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(specs[i].name, name) == 0) return &specs[i];
    return NULL;
}

const ParamSpec *gpt_param_spec(const char *name, int *layer) {
    int consumed = 0;
    if (sscanf(name, "blocks.%d.%n", layer, &consumed) == 1 && consumed > 0)
        return find_spec(BLOCK_PARAMS, N_BLOCK_PARAMS, name + consumed);
    *layer = -1;
    const ParamSpec *s = find_spec(EMBEDDING_PARAMS, N_EMBEDDING_PARAMS, name);
    return s ? s : find_spec(HEAD_PARAMS, N_HEAD_PARAMS, name);
}

const ParamTensor *gpt_find_param(const GPTModel *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

/* The named views of one buffer laid out by the table: the parameters'
 * into params, or (chapter 5) the gradients' into grads, with blocks the
 * BlockWeights they go in. One pass over the table, each entry's spec
 * saying where its pointer goes, so that this takes time linear in the
 * number of layers (a search by name per view would be quadratic). */
static void bind_views(GPTModel *m, float *base, BlockWeights *blocks, bool gradients) {
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *p = &m->tensors[i];
        char *holder = p->layer >= 0 ? (char *)&blocks[p->layer] : (char *)m;
        const size_t field = p->layer < 0 && gradients ? p->spec->grad_view : p->spec->view;
        *(float **)(holder + field) = base + p->offset;
    }
    /* tied: the head is the token embedding itself */
    if (m->config.tie_weights) {
        if (gradients) m->grad_out_head = m->grad_tok_emb;
        else m->out_head = m->tok_emb;
    }
}

GPTModel *gpt_try_create(const GPTConfig *config, char *err, size_t err_size) {
    int count;
    size_t total;
    ParamTensor *table = gpt_param_table(config, &count, &total, err, err_size);
    if (!table) return NULL;
    float *params = calloc(total ? total : 1, sizeof(float));
    if (!params) {
        format_error(err, err_size, "out of memory for %zu parameters (%.1f GB)", total, total * 4e-9);
        free(table);
        return NULL;
    }
    GPTModel *m = xcalloc(1, sizeof *m);
    m->config = *config;
    m->tensors = table;
    m->n_tensors = count;
    m->n_params = total;
    m->params = params;
    m->blocks = xcalloc(config->n_layers > 0 ? config->n_layers : 1, sizeof(BlockWeights));
    bind_views(m, m->params, m->blocks, false);
    m->block_acts = xcalloc(config->n_layers > 0 ? config->n_layers : 1, sizeof(BlockActivations));
    return m;
}

GPTModel *gpt_create(const GPTConfig *config) {
    char err[256];
    GPTModel *m = gpt_try_create(config, err, sizeof err);
    if (!m) fatal("bad model configuration: %s", err);
    return m;
}

void gpt_init_weights(GPTModel *m, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *p = &m->tensors[i];
        float *w = m->params + p->offset;
        float bound = p->fan_in ? 1.0f / sqrtf((float)p->fan_in) : 0.0f;
        switch (p->init) {
        case INIT_NORMAL: rng_fill_normal(&rng, w, p->size, 0.0f, 1.0f); break;
        case INIT_LINEAR: rng_fill_uniform(&rng, w, p->size, -bound, bound); break;
        case INIT_ONES:
            for (size_t k = 0; k < p->size; k++) w[k] = 1.0f;
            break;
        case INIT_ZEROS: memset(w, 0, p->size * sizeof(float)); break;
        }
    }
}

void gpt_free(GPTModel *m) {
    if (!m) return;
    free(m->params);
    free(m->tensors);
    free(m->blocks);
    free(m->block_acts);
    free(m->acts);
    free(m->ids);
    free(m->grads);
    free(m->grad_blocks);
    free(m->grad_acts);
    free(m);
}

void gpt_load_params(GPTModel *m, const TensorFile *tf) {
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *p = &m->tensors[i];
        const Tensor *t = tensor_file_expect(tf, p->name, p->ndim, p->shape);
        memcpy(m->params + p->offset, t->data, p->size * sizeof(float));
    }
}

/* ---- the activations ---- */

/* Grow *buf (contents not kept) to at least floats floats. */
static void reserve(float **buf, size_t *capacity, size_t floats) {
    if (floats <= *capacity) return;
    free(*buf);
    *buf = xmalloc(checked_mul(floats, sizeof(float)));
    *capacity = floats;
}

/* The activation buffers, in the order the forward pass fills them, for B
 * sequences of T tokens after past cached ones (common/arena.h: on an
 * arena without memory this only counts them). */
static void lay_out_activations(GPTModel *m, FloatArena *arena, int B, int T, int past, bool dropout,
                                bool with_logits) {
    const GPTConfig *c = &m->config;
    const size_t N = (size_t)B * T, C = c->emb_dim;
    m->embedded = arena_take(arena, N * C);
    m->emb_dropout = dropout ? arena_take(arena, N * C) : NULL;
    for (int l = 0; l < c->n_layers; l++)
        block_activations_layout(&m->block_acts[l], arena, B, T, past, c->emb_dim, c->n_heads, dropout);
    m->final_norm = arena_take(arena, N * C);
    m->final_mean = arena_take(arena, N);
    m->final_rstd = arena_take(arena, N);
    m->logits = with_logits ? arena_take(arena, checked_mul(N, c->vocab_size)) : NULL;
}

/* The activations for (B,T) after past cached tokens: counted, the memory
 * grown if needed, then pointed into it; the dropout masks only when the
 * model trains with dropout, the logits only when with_logits. */
static void prepare_activations(GPTModel *m, int B, int T, int past, bool with_logits) {
    const GPTDropRates rates = gpt_drop_rates(&m->config);
    const bool dropout = m->training && (rates.emb > 0.0f || rates.attn > 0.0f || rates.shortcut > 0.0f);
    FloatArena count = {0};
    lay_out_activations(m, &count, B, T, past, dropout, with_logits);
    reserve(&m->acts, &m->acts_capacity, count.used);
    lay_out_activations(m, &(FloatArena){.base = m->acts}, B, T, past, dropout, with_logits);
    const size_t N = (size_t)B * T;
    if (N > m->ids_capacity) {
        m->ids = xrealloc(m->ids, N * sizeof(int));
        m->ids_capacity = N;
    }
    m->B = B;
    m->T = T;
    m->past = past;
}

/* ---- the forward pass ---- */

/* Everything up to the final layer norm (m->final_norm). With a KV cache
 * (one sequence, B = 1: see the banner below), the tokens come after the
 * cached ones and every block's attention goes through its layer's part
 * of the cache. */
static void forward_to_final_norm(GPTModel *m, const int *ids, int B, int T, bool with_logits, KVCache *kv) {
    const GPTConfig *c = &m->config;
    const int past = kv ? kv->length : 0;
    if (B < 1 || T < 1) fatal("gpt_forward: empty batch (%d x %d)", B, T);
    if (T > c->context_length)
        fatal("%d tokens do not fit the model's context of %d (crop the input)", T, c->context_length);
    if (past + T > c->context_length)
        fatal("the KV cache is full: it holds %d of the context's %d tokens, and %d more were given", past,
              c->context_length, T);
    prepare_activations(m, B, T, past, with_logits);
    const int N = B * T, C = c->emb_dim;
    /* 4.6: token embeddings plus position embeddings (2.7-2.8), the
     * positions counted from the first cached token */
    embedding_forward(m->embedded, ids, N, m->tok_emb, c->vocab_size, C);
    add_position_embeddings(m->embedded, m->pos_emb + (size_t)past * C, B, T, C);
    memcpy(m->ids, ids, (size_t)N * sizeof(int));
    /* training: drop_emb, then the blocks' dropout (the masks are laid out
     * only in training, and their presence switches dropout on) */
    const GPTDropRates rates = gpt_drop_rates(c);
    if (m->emb_dropout) dropout_forward(m->embedded, m->emb_dropout, (long)N * C, rates.emb, &m->rng);
    const float *x = m->embedded;
    for (int l = 0; l < c->n_layers; l++) {
        const size_t layer = (size_t)l * c->context_length * C;
        const KVCacheLayer cached = kv ? (KVCacheLayer){kv->keys + layer, kv->values + layer, c->context_length, past}
                                       : (KVCacheLayer){0};
        transformer_block_forward(&m->block_acts[l], x, &m->blocks[l], kv ? &cached : NULL, B, T, C, c->n_heads,
                                  rates.attn, rates.shortcut, &m->rng);
        x = m->block_acts[l].out;
    }
    layernorm_forward(m->final_norm, m->final_mean, m->final_rstd, x, m->final_norm_scale, m->final_norm_shift, N, C);
}

/* logits (N,V) = final_norm @ out_head^T: out_head is (V,C) so it can be
 * the token embedding itself when the weights are tied */
static void output_head_forward(GPTModel *m, int N) {
    const int C = m->config.emb_dim, V = m->config.vocab_size;
    sgemm(false, true, N, C, V, m->final_norm, C, m->out_head, C, false, m->logits, V);
    linear_hook_forward(m->out_head_hook, m->logits, m->final_norm, N);
}

void gpt_forward(GPTModel *m, const int *ids, int B, int T) {
    forward_to_final_norm(m, ids, B, T, true, NULL);
    output_head_forward(m, B * T);
}

/* ==== Added in chapter 4: a KV cache for generation (4.7) ==== */

KVCache *kv_cache_create(const GPTConfig *c) {
    KVCache *kv = xcalloc(1, sizeof *kv);
    kv->n_layers = c->n_layers;
    kv->context_length = c->context_length;
    kv->emb_dim = c->emb_dim;
    const size_t size = checked_mul(checked_mul(c->n_layers, c->context_length), c->emb_dim);
    kv->keys = xcalloc(size ? size : 1, sizeof(float));
    kv->values = xcalloc(size ? size : 1, sizeof(float));
    return kv;
}

void kv_cache_free(KVCache *kv) {
    if (!kv) return;
    free(kv->keys);
    free(kv->values);
    free(kv);
}

/* T tokens of the cached sequence through the model; the cache then holds
 * their keys and values too. */
static float *forward_cached(GPTModel *m, KVCache *kv, const int *ids, int T) {
    const GPTConfig *c = &m->config;
    if (kv->n_layers != c->n_layers || kv->context_length != c->context_length || kv->emb_dim != c->emb_dim)
        fatal("the KV cache was made for another model's sizes");
    forward_to_final_norm(m, ids, 1, T, true, kv);
    output_head_forward(m, T);
    kv->length += T;
    return m->logits + (size_t)(T - 1) * c->vocab_size;
}

float *gpt_prefill(GPTModel *m, KVCache *kv, const int *ids, int T) {
    kv->length = 0;
    return forward_cached(m, kv, ids, T);
}

float *gpt_forward_cached(GPTModel *m, KVCache *kv, int token) { return forward_cached(m, kv, &token, 1); }

/* ==== Added in chapter 5: the backward pass ==== */

void gpt_zero_grad(GPTModel *m) {
    if (!m->grads) {
        m->grads = xcalloc(m->n_params, sizeof(float));
        m->grad_blocks = xcalloc(m->config.n_layers > 0 ? m->config.n_layers : 1, sizeof(BlockWeights));
        bind_views(m, m->grads, m->grad_blocks, true);
        return;
    }
    memset(m->grads, 0, m->n_params * sizeof(float));
}

/* The backward pass's buffers for the last forward's (B,T), as
 * lay_out_activations does the forward's. */
static void lay_out_gradient_buffers(GPTModel *m, FloatArena *arena) {
    const GPTConfig *c = &m->config;
    m->grad_x = arena_take(arena, (size_t)m->B * m->T * c->emb_dim);
    block_scratch_layout(&m->scratch, arena, m->B, m->T, c->emb_dim, c->n_heads);
}

/* Counted, grown, pointed into: as prepare_activations. */
static void prepare_gradient_buffers(GPTModel *m) {
    FloatArena count = {0};
    lay_out_gradient_buffers(m, &count);
    reserve(&m->grad_acts, &m->grad_acts_capacity, count.used);
    lay_out_gradient_buffers(m, &(FloatArena){.base = m->grad_acts});
}

/* From the gradient of the final norm's output back to layer first_layer
 * (and the embeddings when it is 0). The buffers are laid out. */
static void backward_from_final_norm(GPTModel *m, const float *grad_final_norm, int first_layer) {
    const GPTConfig *c = &m->config;
    const int B = m->B, T = m->T, N = B * T, C = c->emb_dim;
    const float *last = c->n_layers > 0 ? m->block_acts[c->n_layers - 1].out : m->embedded;
    /* frozen: every gradient pointer NULL, so only grad_x flows */
    static const BlockWeights no_grads;
    memset(m->grad_x, 0, (size_t)N * C * sizeof(float));
    layernorm_backward(m->grad_x, m->frozen ? NULL : m->grad_final_norm_scale, m->frozen ? NULL : m->grad_final_norm_shift,
                       grad_final_norm, last, m->final_mean, m->final_rstd, m->final_norm_scale, N, C);
    for (int l = c->n_layers - 1; l >= first_layer; l--) {
        const float *in = l > 0 ? m->block_acts[l - 1].out : m->embedded;
        transformer_block_backward(m->grad_x, m->frozen ? &no_grads : &m->grad_blocks[l], &m->scratch, &m->block_acts[l],
                                   in, &m->blocks[l], B, T, C, c->n_heads);
    }
    if (first_layer > 0 || m->frozen) return; /* frozen below: nothing to pass the gradient to */
    if (m->emb_dropout) dropout_backward(m->grad_x, m->emb_dropout, (long)N * C);
    /* x = tok_emb[ids] + pos_emb[t]: both receive grad_x */
    add_position_embeddings_backward(m->grad_pos_emb, m->grad_x, B, T, C);
    embedding_backward(m->grad_tok_emb, m->grad_x, m->ids, N, C);
}

static void begin_backward(GPTModel *m) {
    if (!m->acts) fatal("gpt_backward: no forward pass to go back through");
    if (m->past) fatal("gpt_backward: the last forward pass ran after cached tokens; it has no backward pass");
    if (!m->grads && !m->frozen) gpt_zero_grad(m);
    prepare_gradient_buffers(m);
}

void gpt_backward(GPTModel *m, const float *grad_logits) {
    begin_backward(m);
    const GPTConfig *c = &m->config;
    const int N = m->B * m->T, C = c->emb_dim, V = c->vocab_size;
    /* the forward pass, last step first. logits = final_norm @ out_head^T:
     * grad_final_norm = grad_logits @ out_head and grad_out_head += grad_logits^T @
     * final_norm (into the token embedding's gradient when tied). The
     * blocks' grad_norm scratch is free until the blocks start. */
    float *grad_final_norm = m->scratch.grad_norm;
    sgemm(false, false, N, V, C, grad_logits, V, m->out_head, C, false, grad_final_norm, C);
    if (!m->frozen) sgemm(true, false, V, N, C, grad_logits, V, m->final_norm, C, true, m->grad_out_head, C);
    linear_hook_backward(m->out_head_hook, grad_final_norm, grad_logits, m->final_norm, N);
    backward_from_final_norm(m, grad_final_norm, 0);
}

/* ==== Added in chapter 6: the model without its head ==== */

void gpt_forward_hidden(GPTModel *m, const int *ids, int B, int T) { forward_to_final_norm(m, ids, B, T, false, NULL); }

void gpt_backward_hidden(GPTModel *m, const float *grad_final_norm, int first_layer) {
    if (first_layer < 0 || first_layer > m->config.n_layers)
        fatal("gpt_backward_hidden: first layer %d is not in 0..%d", first_layer, m->config.n_layers);
    begin_backward(m);
    backward_from_final_norm(m, grad_final_norm, first_layer);
}
