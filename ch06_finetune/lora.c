/* lora.c: see lora.h. */
#include "lora.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/matmul.h"
#include "../common/rng.h"
#include "../common/util.h"

enum { ADAPTERS_PER_BLOCK = 4 };

/* The adapted layers in buffer order: (in, out, parts) of each. */
typedef struct {
    char name[40];
    int in, out, parts;
} Site;

static int sites(const GPTConfig *c, int head_out, Site *out) {
    const int C = c->emb_dim;
    int n = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const Site block[ADAPTERS_PER_BLOCK] = {
            {"att.qkv", C, C, 3}, {"att.out_proj", C, C, 1}, {"ff.fc1", C, 4 * C, 1}, {"ff.fc2", 4 * C, C, 1}};
        for (int k = 0; k < ADAPTERS_PER_BLOCK; k++, n++) {
            if (!out) continue;
            out[n] = block[k];
            snprintf(out[n].name, sizeof out[n].name, "blocks.%d.%.16s", l, block[k].name);
        }
    }
    if (out) out[n] = (Site){"head", C, head_out, 1};
    return n + 1;
}

static size_t site_params(const Site *s, int rank) {
    return (size_t)s->parts * rank * ((size_t)s->in + s->out);
}

size_t lora_param_count(const GPTConfig *c, int rank, int head_out) {
    const int n = sites(c, head_out, NULL);
    Site *s = xmalloc(n * sizeof *s);
    sites(c, head_out, s);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += site_params(&s[i], rank);
    free(s);
    return total;
}

static void hook_forward(void *ctx, float *out, const float *in, int M) { lora_linear_forward(ctx, out, in, M); }
static void hook_backward(void *ctx, float *grad_in, const float *grad_out, const float *in, int M) {
    lora_linear_backward(ctx, grad_in, grad_out, in, M);
}

Lora *lora_create(const GPTConfig *c, int head_out, int rank, float alpha, uint64_t seed) {
    if (rank < 1) fatal("LoRA rank %d: give 1 or more", rank);
    if (!(alpha > 0)) fatal("LoRA alpha %g: give a positive number", alpha);
    Lora *l = xcalloc(1, sizeof *l);
    l->rank = rank;
    l->alpha = alpha;
    l->n_layers = c->n_layers;
    l->n = sites(c, head_out, NULL);
    Site *s = xmalloc(l->n * sizeof *s);
    sites(c, head_out, s);
    l->n_params = lora_param_count(c, rank, head_out);
    l->params = xcalloc(l->n_params, sizeof(float)); /* B starts at zero */
    l->grads = xcalloc(l->n_params, sizeof(float));
    l->layers = xcalloc(l->n, sizeof(LoraLinear));
    Rng rng;
    rng_seed(&rng, seed);
    /* kaiming_uniform_(A, a=sqrt(5)) on A (in, r): gain sqrt(2 / (1 + 5)),
     * fan_in = r (dimension 1), bound = gain * sqrt(3 / fan_in) = 1/sqrt(r) */
    const float bound = 1.0f / sqrtf((float)rank);
    size_t offset = 0;
    for (int i = 0; i < l->n; i++) {
        LoraLinear *a = &l->layers[i];
        snprintf(a->name, sizeof a->name, "%s", s[i].name);
        a->in = s[i].in;
        a->out = s[i].out;
        a->parts = s[i].parts;
        a->rank = rank;
        a->scale = alpha / (float)rank;
        const size_t n_a = (size_t)a->in * a->parts * rank;
        a->A = l->params + offset;
        a->grad_A = l->grads + offset;
        a->B = a->A + n_a;
        a->grad_B = a->grad_A + n_a;
        a->hook = (LinearHook){hook_forward, hook_backward, a};
        rng_fill_uniform(&rng, a->A, n_a, -bound, bound);
        offset += site_params(&s[i], rank);
    }
    free(s);
    return l;
}

void lora_free(Lora *l) {
    if (!l) return;
    lora_detach(l);
    for (int i = 0; i < l->n; i++) {
        free(l->layers[i].h);
        free(l->layers[i].grad_h);
    }
    free(l->layers);
    free(l->params);
    free(l->grads);
    free(l);
}

LoraLinear *lora_head(Lora *l) { return &l->layers[l->n - 1]; }

void lora_attach(Lora *l, GPTModel *m, bool vocab_head) {
    if (l->attached) fatal("lora_attach: the adapters are attached already");
    const GPTConfig *c = &m->config;
    if (c->n_layers != l->n_layers || l->layers[0].in != c->emb_dim)
        fatal("lora_attach: the adapters were made for another model size");
    if (vocab_head && lora_head(l)->out != c->vocab_size)
        fatal("lora_attach: the head adapter has %d outputs, not the vocabulary's %d", lora_head(l)->out,
              c->vocab_size);
    for (int b = 0; b < c->n_layers; b++) {
        LoraLinear *a = &l->layers[ADAPTERS_PER_BLOCK * b];
        BlockWeights *w = &m->blocks[b];
        w->qkv_hook = &a[0].hook;
        w->out_proj_hook = &a[1].hook;
        w->fc1_hook = &a[2].hook;
        w->fc2_hook = &a[3].hook;
    }
    m->out_head_hook = vocab_head ? &lora_head(l)->hook : NULL;
    m->frozen = true;
    l->attached = m;
}

void lora_detach(Lora *l) {
    GPTModel *m = l->attached;
    if (!m) return;
    for (int b = 0; b < m->config.n_layers; b++) {
        BlockWeights *w = &m->blocks[b];
        w->qkv_hook = w->out_proj_hook = w->fc1_hook = w->fc2_hook = NULL;
    }
    m->out_head_hook = NULL;
    m->frozen = false;
    l->attached = NULL;
}

/* ---- one adapter ------------------------------------------------------------------ */

void lora_linear_forward(LoraLinear *a, float *out, const float *in, int M) {
    /* BEGIN EXERCISE Ea: LoRA layer (book E.4) */
    const int R = a->parts * a->rank, r = a->rank, ldo = a->parts * a->out;
    if ((size_t)M > a->capacity) {
        free(a->h);
        free(a->grad_h);
        a->h = xmalloc(checked_mul((size_t)M * R, sizeof(float)));
        a->grad_h = xmalloc(checked_mul((size_t)M * R, sizeof(float)));
        a->capacity = (size_t)M;
    }
    /* h = (alpha/r) x A: scaling the thin (M, R) product is the cheapest place */
    sgemm(false, false, M, a->in, R, in, a->in, a->A, R, false, a->h, R);
    for (size_t i = 0; i < (size_t)M * R; i++) a->h[i] *= a->scale;
    /* out[:, part p] += h_p B_p */
    for (int p = 0; p < a->parts; p++)
        sgemm(false, false, M, r, a->out, a->h + p * r, R, a->B + (size_t)p * r * a->out, a->out, true,
              out + (size_t)p * a->out, ldo);
    a->M = M;
    /* END EXERCISE Ea */
}

void lora_linear_backward(LoraLinear *a, float *grad_in, const float *grad_out, const float *in, int M) {
    const int R = a->parts * a->rank, r = a->rank, ldo = a->parts * a->out;
    if (M != a->M || !a->h) fatal("lora: the backward pass of %s does not follow its forward pass", a->name);
    for (int p = 0; p < a->parts; p++) {
        const float *grad_out_p = grad_out + (size_t)p * a->out, *B_p = a->B + (size_t)p * r * a->out;
        /* grad_B_p += h_p^T grad_out_p; grad_h_p = grad_out_p B_p^T */
        sgemm(true, false, r, M, a->out, a->h + p * r, R, grad_out_p, ldo, true, a->grad_B + (size_t)p * r * a->out, a->out);
        sgemm(false, true, M, a->out, r, grad_out_p, ldo, B_p, a->out, false, a->grad_h + p * r, R);
    }
    /* h = (alpha/r) x A: the gradient of x A is (alpha/r) grad_h */
    for (size_t i = 0; i < (size_t)M * R; i++) a->grad_h[i] *= a->scale;
    sgemm(true, false, a->in, M, R, in, a->in, a->grad_h, R, true, a->grad_A, R);
    if (grad_in) sgemm(false, true, M, R, a->in, a->grad_h, R, a->A, R, true, grad_in, a->in);
}

void lora_linear_merge(const LoraLinear *a, float *weight, bool transposed) {
    const int R = a->parts * a->rank, r = a->rank, out_total = a->parts * a->out;
    for (int i = 0; i < a->in; i++)
        for (int p = 0; p < a->parts; p++)
            for (int k = 0; k < r; k++) {
                const float s = a->scale * a->A[(size_t)i * R + p * r + k];
                const float *b = a->B + ((size_t)p * r + k) * a->out;
                for (int j = 0; j < a->out; j++) {
                    const size_t col = (size_t)p * a->out + j;
                    weight[transposed ? col * a->in + i : (size_t)i * out_total + col] += s * b[j];
                }
            }
}

void lora_merge(Lora *l, float *head_weight) {
    GPTModel *m = l->attached;
    if (!m) fatal("lora_merge: the adapters are not attached to a model");
    if (head_weight == m->out_head && m->config.tie_weights)
        fatal("lora_merge: the output head is tied to the token embedding: untie it first (gpt_untie)");
    for (int b = 0; b < m->config.n_layers; b++) {
        const LoraLinear *a = &l->layers[ADAPTERS_PER_BLOCK * b];
        BlockWeights *w = &m->blocks[b];
        lora_linear_merge(&a[0], w->qkv_weight, false);
        lora_linear_merge(&a[1], w->out_proj_weight, false);
        lora_linear_merge(&a[2], w->fc1_weight, false);
        lora_linear_merge(&a[3], w->fc2_weight, false);
    }
    lora_linear_merge(lora_head(l), head_weight, true);
    lora_detach(l);
}

void lora_trainable(Lora *l, Trainable *t) { trainable_add(t, "lora", l->params, l->grads, l->n_params); }
