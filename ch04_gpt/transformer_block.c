/* transformer_block.c: see transformer_block.h. */
#include "transformer_block.h"

#include <string.h>

#include "../ch03_attention/attention.h"
#include "../common/ops.h"
#include "../common/util.h"
#include "feedforward.h"
#include "layernorm.h"

/* ==== 4.5 Connecting attention and linear layers in a transformer block ==== */

/* The fields in the order of the struct; a field's size is its shape in
 * the header. */
void block_activations_layout(BlockActivations *a, FloatArena *arena, int B, int T, int past, int C, int n_heads,
                              bool dropout) {
    const size_t N = (size_t)B * T;
    const size_t att = checked_mul(checked_mul((size_t)B * n_heads, T), (size_t)past + T);
    a->norm1 = arena_take(arena, N * C);
    a->norm1_mean = arena_take(arena, N);
    a->norm1_rstd = arena_take(arena, N);
    a->qkv = arena_take(arena, 3 * N * C);
    a->att = arena_take(arena, att);
    a->context = arena_take(arena, N * C);
    a->att_out = arena_take(arena, N * C);
    a->residual1 = arena_take(arena, N * C);
    a->norm2 = arena_take(arena, N * C);
    a->norm2_mean = arena_take(arena, N);
    a->norm2_rstd = arena_take(arena, N);
    a->fc1 = arena_take(arena, 4 * N * C);
    a->fc1_gelu = arena_take(arena, 4 * N * C);
    a->ff_out = arena_take(arena, N * C);
    a->out = arena_take(arena, N * C);
    a->att_dropout = dropout ? arena_take(arena, att) : NULL;
    a->att_out_dropout = dropout ? arena_take(arena, N * C) : NULL;
    a->ff_out_dropout = dropout ? arena_take(arena, N * C) : NULL;
}

void transformer_block_forward(BlockActivations *a, const float *in, const BlockWeights *w, const KVCacheLayer *kv,
                               int B, int T, int C, int n_heads, float drop_rate_attn, float drop_rate_shortcut,
                               Rng *rng) {
    /* BEGIN EXERCISE 4d: transformer block (book 4.5) */
    const int N = B * T, Tk = (kv ? kv->length : 0) + T;
    const size_t n = (size_t)N * C;
    layernorm_forward(a->norm1, a->norm1_mean, a->norm1_rstd, in, w->norm1_scale, w->norm1_shift, N, C);
    MultiHeadAttentionParams att = {w->qkv_weight, w->qkv_bias, w->out_proj_weight, w->out_proj_bias, w->qkv_hook,
                                    w->out_proj_hook};
    MultiHeadAttentionCache cache = {a->qkv, a->att, a->context, a->att_dropout};
    if (a->att_dropout) dropout_mask(a->att_dropout, (long)B * n_heads * T * Tk, drop_rate_attn, rng);
    multihead_attention_forward_cached(a->att_out, &cache, kv, a->norm1, &att, B, T, C, C, n_heads);
    if (a->att_out_dropout) dropout_forward(a->att_out, a->att_out_dropout, (long)n, drop_rate_shortcut, rng);
    vec_add(a->residual1, in, a->att_out, n); /* 4.4: the shortcut around attention */

    layernorm_forward(a->norm2, a->norm2_mean, a->norm2_rstd, a->residual1, w->norm2_scale, w->norm2_shift, N, C);
    FeedForwardParams ff = {w->fc1_weight, w->fc1_bias, w->fc2_weight, w->fc2_bias, w->fc1_hook, w->fc2_hook};
    feedforward_forward(a->ff_out, a->fc1, a->fc1_gelu, a->norm2, &ff, N, C);
    if (a->ff_out_dropout) dropout_forward(a->ff_out, a->ff_out_dropout, (long)n, drop_rate_shortcut, rng);
    vec_add(a->out, a->residual1, a->ff_out, n); /* 4.4: the shortcut around the feed-forward network */
    /* END EXERCISE 4d */
}

/* ==== Added in chapter 5: the backward pass ==== */

void block_scratch_layout(BlockScratch *s, FloatArena *arena, int B, int T, int C, int n_heads) {
    const size_t N = (size_t)B * T;
    s->grad_branch = arena_take(arena, N * C);
    s->grad_norm = arena_take(arena, N * C);
    s->grad_fc1 = arena_take(arena, 4 * N * C);
    s->grad_fc1_gelu = arena_take(arena, 4 * N * C);
    s->att.grad_qkv = arena_take(arena, 3 * N * C);
    s->att.grad_context = arena_take(arena, N * C);
    s->att.grad_att = arena_take(arena, checked_mul(checked_mul((size_t)B * n_heads, T), T));
}

/* The gradient entering a branch: grad_x itself, or grad_x through the branch's
 * dropout (into scratch, since grad_x also goes on along the shortcut). */
static const float *through_dropout(float *scratch, const float *grad_x, const float *mask, size_t n) {
    if (!mask) return grad_x;
    memcpy(scratch, grad_x, n * sizeof(float));
    dropout_backward(scratch, mask, (long)n);
    return scratch;
}

void transformer_block_backward(float *grad_x, const BlockWeights *grads, const BlockScratch *scratch,
                                const BlockActivations *a, const float *in, const BlockWeights *w, int B, int T, int C,
                                int n_heads) {
    const int N = B * T;
    const size_t n = (size_t)N * C;
    /* out = residual1 + drop(ff(norm2(residual1))): grad_x already is the
     * shortcut's share of residual1's gradient; add the branch's */
    const float *grad_ff_out = through_dropout(scratch->grad_branch, grad_x, a->ff_out_dropout, n);
    memset(scratch->grad_norm, 0, n * sizeof(float));
    FeedForwardParams ff = {w->fc1_weight, w->fc1_bias, w->fc2_weight, w->fc2_bias, w->fc1_hook, w->fc2_hook};
    FeedForwardGrads ff_grads = {grads->fc1_weight, grads->fc1_bias, grads->fc2_weight, grads->fc2_bias};
    feedforward_backward(scratch->grad_norm, &ff_grads, scratch->grad_fc1, scratch->grad_fc1_gelu, grad_ff_out, a->norm2, a->fc1,
                         a->fc1_gelu, &ff, N, C);
    layernorm_backward(grad_x, grads->norm2_scale, grads->norm2_shift, scratch->grad_norm, a->residual1, a->norm2_mean,
                       a->norm2_rstd, w->norm2_scale, N, C);

    /* residual1 = in + drop(attention(norm1(in))): the same again */
    const float *grad_att_out = through_dropout(scratch->grad_branch, grad_x, a->att_out_dropout, n);
    memset(scratch->grad_norm, 0, n * sizeof(float));
    MultiHeadAttentionParams att = {w->qkv_weight, w->qkv_bias, w->out_proj_weight, w->out_proj_bias, w->qkv_hook,
                                    w->out_proj_hook};
    MultiHeadAttentionGrads att_grads = {grads->qkv_weight, grads->qkv_bias, grads->out_proj_weight,
                                         grads->out_proj_bias};
    MultiHeadAttentionCache cache = {a->qkv, a->att, a->context, a->att_dropout};
    multihead_attention_backward(scratch->grad_norm, &att_grads, &scratch->att, grad_att_out, a->norm1, &cache, &att, B, T, C,
                                 C, n_heads);
    layernorm_backward(grad_x, grads->norm1_scale, grads->norm1_shift, scratch->grad_norm, in, a->norm1_mean, a->norm1_rstd,
                       w->norm1_scale, N, C);
}
