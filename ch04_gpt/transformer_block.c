/* transformer_block.c: see transformer_block.h. */
#include "transformer_block.h"

#include <string.h>

#include "../ch03_attention/attention.h"
#include "../common/ops.h"
#include "feedforward.h"
#include "layernorm.h"

void transformer_block_forward(BlockActivations *a, const float *in, const BlockWeights *w, int B, int T, int C,
                               int n_heads, float drop_rate, Rng *rng) {
    const int N = B * T;
    const size_t n = (size_t)N * C;
    layernorm_forward(a->norm1, a->norm1_mean, a->norm1_rstd, in, w->norm1_scale, w->norm1_shift, N, C);
    MultiHeadAttentionParams att = {w->qkv_weight, w->qkv_bias, w->out_proj_weight, w->out_proj_bias, w->qkv_hook,
                                    w->out_proj_hook};
    MultiHeadAttentionCache cache = {a->qkv, a->att, a->context, a->att_dropout};
    if (a->att_dropout) dropout_mask(a->att_dropout, (long)B * n_heads * T * T, drop_rate, rng);
    multihead_attention_forward(a->att_out, &cache, a->norm1, &att, B, T, C, C, n_heads);
    if (a->att_out_dropout) dropout_forward(a->att_out, a->att_out_dropout, (long)n, drop_rate, rng);
    vec_add(a->residual1, in, a->att_out, n); /* shortcut around attention */

    layernorm_forward(a->norm2, a->norm2_mean, a->norm2_rstd, a->residual1, w->norm2_scale, w->norm2_shift, N, C);
    FeedForwardParams ff = {w->fc1_weight, w->fc1_bias, w->fc2_weight, w->fc2_bias, w->fc1_hook, w->fc2_hook};
    feedforward_forward(a->ff_out, a->fc1, a->fc1_gelu, a->norm2, &ff, N, C);
    if (a->ff_out_dropout) dropout_forward(a->ff_out, a->ff_out_dropout, (long)n, drop_rate, rng);
    vec_add(a->out, a->residual1, a->ff_out, n); /* shortcut around the feed-forward network */
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
