/* gpt.c: see gpt.h. */
#include "gpt.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/embedding.h"
#include "../ch03_attention/attention.h"
#include "../common/matmul.h"
#include "../common/rng.h"
#include "../common/util.h"
#include "layernorm.h"

/* ---- the parameter table ---------------------------------------------- */

typedef struct {
    ParamTensor *tensors;
    int count, capacity;
    size_t total;
} ParamTable;

static void add_param(ParamTable *t, const char *name, int layer, size_t block_field, int rows, int cols,
                      ParamInit init, int fan_in) {
    if (t->count == t->capacity) {
        t->capacity = t->capacity ? 2 * t->capacity : 64;
        t->tensors = xrealloc(t->tensors, t->capacity * sizeof(ParamTensor));
    }
    ParamTensor *p = &t->tensors[t->count++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = cols ? 2 : 1;
    p->shape[0] = rows;
    p->shape[1] = cols;
    p->size = cols ? (size_t)rows * cols : (size_t)rows;
    p->offset = t->total;
    p->init = init;
    p->fan_in = fan_in;
    p->layer = layer;
    p->block_field = block_field;
    t->total += p->size;
}

/* Every parameter tensor in buffer order. The order is the model's
 * structure read top to bottom. The config is checked: its limits keep
 * 4 * C an int and every size a size_t. */
static ParamTable build_param_table(const GPTConfig *c) {
    ParamTable t = {0};
    const int V = c->vocab_size, C = c->emb_dim;
    char name[64];
    add_param(&t, "tok_emb.weight", -1, 0, V, C, INIT_NORMAL, 0);
    add_param(&t, "pos_emb.weight", -1, 0, c->context_length, C, INIT_NORMAL, 0);
    for (int l = 0; l < c->n_layers; l++) {
#define BLOCK_PARAM(field, suffix, rows, cols, init, fan_in)      \
    snprintf(name, sizeof name, "blocks.%d.%s", l, suffix);       \
    add_param(&t, name, l, offsetof(BlockWeights, field), rows, cols, init, fan_in)
        BLOCK_PARAM(norm1_scale, "norm1.scale", C, 0, INIT_ONES, 0);
        BLOCK_PARAM(norm1_shift, "norm1.shift", C, 0, INIT_ZEROS, 0);
        BLOCK_PARAM(qkv_weight, "att.qkv.weight", C, 3 * C, INIT_LINEAR, C);
        if (c->qkv_bias) {
            BLOCK_PARAM(qkv_bias, "att.qkv.bias", 3 * C, 0, INIT_LINEAR, C);
        }
        BLOCK_PARAM(out_proj_weight, "att.out_proj.weight", C, C, INIT_LINEAR, C);
        BLOCK_PARAM(out_proj_bias, "att.out_proj.bias", C, 0, INIT_LINEAR, C);
        BLOCK_PARAM(norm2_scale, "norm2.scale", C, 0, INIT_ONES, 0);
        BLOCK_PARAM(norm2_shift, "norm2.shift", C, 0, INIT_ZEROS, 0);
        BLOCK_PARAM(fc1_weight, "ff.fc1.weight", C, 4 * C, INIT_LINEAR, C);
        BLOCK_PARAM(fc1_bias, "ff.fc1.bias", 4 * C, 0, INIT_LINEAR, C);
        BLOCK_PARAM(fc2_weight, "ff.fc2.weight", 4 * C, C, INIT_LINEAR, 4 * C);
        BLOCK_PARAM(fc2_bias, "ff.fc2.bias", C, 0, INIT_LINEAR, 4 * C);
#undef BLOCK_PARAM
    }
    add_param(&t, "final_norm.scale", -1, 0, C, 0, INIT_ONES, 0);
    add_param(&t, "final_norm.shift", -1, 0, C, 0, INIT_ZEROS, 0);
    if (!c->tie_weights) add_param(&t, "out_head.weight", -1, 0, V, C, INIT_LINEAR, C);
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

const ParamTensor *gpt_find_param(const GPTModel *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

/* The named views of one buffer laid out by the table (params or grads):
 * the same code points the parameters' views into params and the
 * gradients' into grads. One pass over the table, each entry saying where
 * its view goes, so that this takes time linear in the number of layers
 * (a search by name per view would be quadratic). */
static void bind_views(const GPTModel *m, float *base, float **tok_emb, float **pos_emb, BlockWeights *blocks,
                       float **final_norm_scale, float **final_norm_shift, float **out_head) {
    *out_head = NULL;
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *p = &m->tensors[i];
        float *at = base + p->offset;
        if (p->layer >= 0) *(float **)((char *)&blocks[p->layer] + p->block_field) = at;
        else if (strcmp(p->name, "tok_emb.weight") == 0) *tok_emb = at;
        else if (strcmp(p->name, "pos_emb.weight") == 0) *pos_emb = at;
        else if (strcmp(p->name, "final_norm.scale") == 0) *final_norm_scale = at;
        else if (strcmp(p->name, "final_norm.shift") == 0) *final_norm_shift = at;
        else if (strcmp(p->name, "out_head.weight") == 0) *out_head = at;
    }
    /* tied: the head is the token embedding itself */
    if (m->config.tie_weights) *out_head = *tok_emb;
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
    bind_views(m, m->params, &m->tok_emb, &m->pos_emb, m->blocks, &m->final_norm_scale, &m->final_norm_shift,
               &m->out_head);
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

/* ---- activations ---------------------------------------------------------- */

/* Lay the activation buffers out for (B,T), growing the memory if needed;
 * the dropout masks only when the model trains with dropout, the logits
 * only when with_logits. */
static void layout_activations(GPTModel *m, int B, int T, bool with_logits) {
    const GPTConfig *c = &m->config;
    const size_t N = (size_t)B * T, C = c->emb_dim, V = c->vocab_size;
    const size_t att_size = (size_t)B * c->n_heads * T * T;
    const bool dropout = m->training && c->drop_rate > 0.0f;
    /* floats per block: norm1, residual1, norm2, context, att_out, ff_out,
     * out (7 x N*C), qkv (3 N*C), fc1 and fc1_gelu (8 N*C), att, and four
     * (N) statistics; with dropout, a mask as big as att and two of N*C */
    size_t per_block = 18 * N * C + att_size + 4 * N + (dropout ? att_size + 2 * N * C : 0);
    size_t total = N * C + (dropout ? N * C : 0) + checked_mul(per_block, c->n_layers) + N * C + 2 * N +
                   (with_logits ? checked_mul(N, V) : 0);
    if (total > m->acts_capacity) {
        free(m->acts);
        m->acts = xmalloc(checked_mul(total, sizeof(float)));
        m->acts_capacity = total;
    }
    if (N > m->ids_capacity) {
        m->ids = xrealloc(m->ids, N * sizeof(int));
        m->ids_capacity = N;
    }
    float *p = m->acts;
#define TAKE(count) (p += (count), p - (count))
    m->embedded = TAKE(N * C);
    m->emb_dropout = dropout ? TAKE(N * C) : NULL;
    for (int l = 0; l < c->n_layers; l++) {
        BlockActivations *a = &m->block_acts[l];
        a->norm1 = TAKE(N * C);
        a->norm1_mean = TAKE(N);
        a->norm1_rstd = TAKE(N);
        a->qkv = TAKE(3 * N * C);
        a->att = TAKE(att_size);
        a->context = TAKE(N * C);
        a->att_out = TAKE(N * C);
        a->residual1 = TAKE(N * C);
        a->norm2 = TAKE(N * C);
        a->norm2_mean = TAKE(N);
        a->norm2_rstd = TAKE(N);
        a->fc1 = TAKE(4 * N * C);
        a->fc1_gelu = TAKE(4 * N * C);
        a->ff_out = TAKE(N * C);
        a->out = TAKE(N * C);
        a->att_dropout = dropout ? TAKE(att_size) : NULL;
        a->att_out_dropout = dropout ? TAKE(N * C) : NULL;
        a->ff_out_dropout = dropout ? TAKE(N * C) : NULL;
    }
    m->final_norm = TAKE(N * C);
    m->final_mean = TAKE(N);
    m->final_rstd = TAKE(N);
    m->logits = with_logits ? TAKE(N * V) : NULL;
#undef TAKE
    m->B = B;
    m->T = T;
}

/* ---- the forward pass -------------------------------------------------------- */

/* Everything up to the final layer norm (m->final_norm). */
static void forward_to_final_norm(GPTModel *m, const int *ids, int B, int T, bool with_logits) {
    const GPTConfig *c = &m->config;
    if (B < 1 || T < 1) fatal("gpt_forward: empty batch (%d x %d)", B, T);
    if (T > c->context_length)
        fatal("%d tokens do not fit the model's context of %d (crop the input)", T, c->context_length);
    layout_activations(m, B, T, with_logits);
    const int N = B * T, C = c->emb_dim;
    /* 4.6: token embeddings plus position embeddings (2.7-2.8) */
    embedding_forward(m->embedded, ids, N, m->tok_emb, c->vocab_size, C);
    add_position_embeddings(m->embedded, m->pos_emb, B, T, C);
    memcpy(m->ids, ids, (size_t)N * sizeof(int));
    /* training: drop_emb, then the blocks' dropout (the masks are laid out
     * only in training, and their presence switches dropout on) */
    if (m->emb_dropout) dropout_forward(m->embedded, m->emb_dropout, (long)N * C, c->drop_rate, &m->rng);
    const float *x = m->embedded;
    for (int l = 0; l < c->n_layers; l++) {
        transformer_block_forward(&m->block_acts[l], x, &m->blocks[l], B, T, C, c->n_heads, c->drop_rate, &m->rng);
        x = m->block_acts[l].out;
    }
    layernorm_forward(m->final_norm, m->final_mean, m->final_rstd, x, m->final_norm_scale, m->final_norm_shift, N, C);
}

void gpt_forward_hidden(GPTModel *m, const int *ids, int B, int T) { forward_to_final_norm(m, ids, B, T, false); }

void gpt_forward(GPTModel *m, const int *ids, int B, int T) {
    forward_to_final_norm(m, ids, B, T, true);
    /* logits = final_norm @ out_head^T: out_head is (V,C) so it can be the
     * token embedding itself when the weights are tied */
    const int N = B * T, C = m->config.emb_dim, V = m->config.vocab_size;
    sgemm(false, true, N, C, V, m->final_norm, C, m->out_head, C, false, m->logits, V);
    linear_hook_forward(m->out_head_hook, m->logits, m->final_norm, N);
}

/* ---- the backward pass ---------------------------------------------------------- */

void gpt_zero_grad(GPTModel *m) {
    if (!m->grads) {
        m->grads = xcalloc(m->n_params, sizeof(float));
        m->grad_blocks = xcalloc(m->config.n_layers > 0 ? m->config.n_layers : 1, sizeof(BlockWeights));
        bind_views(m, m->grads, &m->grad_tok_emb, &m->grad_pos_emb, m->grad_blocks, &m->grad_final_norm_scale,
                   &m->grad_final_norm_shift, &m->grad_out_head);
        return;
    }
    memset(m->grads, 0, m->n_params * sizeof(float));
}

/* Lay the backward pass's buffers out for the last forward's (B,T). */
static void layout_gradient_buffers(GPTModel *m) {
    const GPTConfig *c = &m->config;
    const size_t N = (size_t)m->B * m->T, C = c->emb_dim;
    const size_t grad_att = (size_t)m->B * c->n_heads * m->T * m->T;
    /* grad_x, grad_branch, grad_norm, grad_context (N*C each), grad_qkv (3 N*C), grad_fc1 and
     * grad_fc1_gelu (4 N*C each), grad_att */
    size_t total = 15 * N * C + grad_att;
    if (total > m->grad_acts_capacity) {
        free(m->grad_acts);
        m->grad_acts = xmalloc(checked_mul(total, sizeof(float)));
        m->grad_acts_capacity = total;
    }
    float *p = m->grad_acts;
#define TAKE(count) (p += (count), p - (count))
    m->grad_x = TAKE(N * C);
    m->scratch.grad_branch = TAKE(N * C);
    m->scratch.grad_norm = TAKE(N * C);
    m->scratch.grad_fc1 = TAKE(4 * N * C);
    m->scratch.grad_fc1_gelu = TAKE(4 * N * C);
    m->scratch.att.grad_qkv = TAKE(3 * N * C);
    m->scratch.att.grad_context = TAKE(N * C);
    m->scratch.att.grad_att = TAKE(grad_att);
#undef TAKE
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
    if (!m->grads && !m->frozen) gpt_zero_grad(m);
    layout_gradient_buffers(m);
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

void gpt_backward_hidden(GPTModel *m, const float *grad_final_norm, int first_layer) {
    if (first_layer < 0 || first_layer > m->config.n_layers)
        fatal("gpt_backward_hidden: first layer %d is not in 0..%d", first_layer, m->config.n_layers);
    begin_backward(m);
    backward_from_final_norm(m, grad_final_norm, first_layer);
}
