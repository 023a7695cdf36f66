/* transformer_block.c: see transformer_block.h. */
#include "transformer_block.h"

#include "../ch03_attention/attention.h"
#include "../common/ops.h"
#include "feedforward.h"
#include "layernorm.h"

void transformer_block_forward(BlockActivations *a, const float *in, const BlockWeights *w, int B, int T, int C,
                               int n_heads) {
    const int N = B * T;
    const size_t n = (size_t)N * C;
    layernorm_forward(a->norm1, a->norm1_mean, a->norm1_rstd, in, w->norm1_scale, w->norm1_shift, N, C);
    MultiHeadAttentionParams att = {w->qkv_weight, w->qkv_bias, w->out_proj_weight, w->out_proj_bias};
    MultiHeadAttentionCache cache = {a->qkv, a->att, a->context};
    multihead_attention_forward(a->att_out, &cache, a->norm1, &att, B, T, C, C, n_heads);
    vec_add(a->residual1, in, a->att_out, n); /* shortcut around attention */

    layernorm_forward(a->norm2, a->norm2_mean, a->norm2_rstd, a->residual1, w->norm2_scale, w->norm2_shift, N, C);
    FeedForwardParams ff = {w->fc1_weight, w->fc1_bias, w->fc2_weight, w->fc2_bias};
    feedforward_forward(a->ff_out, a->fc1, a->fc1_gelu, a->norm2, &ff, N, C);
    vec_add(a->out, a->residual1, a->ff_out, n); /* shortcut around the feed-forward network */
}
