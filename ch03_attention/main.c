/* ch03: Chapter 3, Coding attention mechanisms.
 *
 *   ch03 walkthrough     the chapter's sections in order, as the notebook prints them
 *   ch03 mha ...         multi-head attention on a random batch (shapes and timing)
 *
 * Run `ch03 COMMAND --help` for the flags of each. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/matmul.h"
#include "../common/ops.h"
#include "../common/rng.h"
#include "../common/tensor.h"
#include "../common/cli.h"
#include "../common/util.h"
#include "attention.h"

/* "Your journey starts with one step": the book's 3-d embeddings. */
static const float BOOK_INPUTS[6][3] = {{0.43f, 0.15f, 0.89f}, {0.55f, 0.87f, 0.66f}, {0.57f, 0.85f, 0.64f},
                                        {0.22f, 0.58f, 0.33f}, {0.77f, 0.25f, 0.10f}, {0.05f, 0.80f, 0.55f}};

static void print_matrix(const char *label, float *data, int rows, int cols) {
    if (label) printf("%s\n", label);
    Tensor t = rows == 1 ? tensor_view(data, 1, (int[]){cols}) : tensor_view(data, 2, (int[]){rows, cols});
    tensor_print(stdout, &t, 4);
}

static void section(const char *title) { printf("\n== %s ==\n", title); }

static void walkthrough_simplified(float *x) {
    section("3.3.1 A simple self-attention mechanism without trainable weights");
    const float *query = x + 3; /* x(2), "journey" */
    float scores[6], weights[6], context[3] = {0};
    for (int i = 0; i < 6; i++) scores[i] = vec_dot(x + 3 * i, query, 3);
    print_matrix("attention scores for x(2):", scores, 1, 6);
    float sum = 0;
    for (int i = 0; i < 6; i++) sum += scores[i];
    for (int i = 0; i < 6; i++) weights[i] = scores[i] / sum;
    print_matrix("Attention weights (divided by their sum):", weights, 1, 6);
    softmax_rows(weights, scores, 1, 6);
    print_matrix("Attention weights (softmax):", weights, 1, 6);
    sum = 0;
    for (int i = 0; i < 6; i++) sum += weights[i];
    printf("Sum: %.4f\n", sum);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++) context[j] += weights[i] * x[3 * i + j];
    print_matrix("context vector z(2):", context, 1, 3);

    section("3.3.2 Computing attention weights for all input tokens");
    float all_scores[36], all_weights[36], all_context[18];
    attention_scores(all_scores, x, x, 6, 3);
    print_matrix("attention scores (inputs @ inputs.T):", all_scores, 6, 6);
    simple_attention(all_context, all_weights, x, 6, 3);
    print_matrix("attention weights (softmax of each row):", all_weights, 6, 6);
    float row_sums[6] = {0};
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) row_sums[i] += all_weights[6 * i + j];
    print_matrix("All row sums:", row_sums, 1, 6);
    print_matrix("all context vectors:", all_context, 6, 3);
}

static void walkthrough_trainable(float *x, Rng *rng) {
    section("3.4.1 Computing the attention weights step by step");
    const int d_in = 3, d_out = 2;
    float W_query[6], W_key[6], W_value[6];
    /* torch.rand: uniform [0, 1); our generator, so other numbers than the book's */
    rng_fill_uniform(rng, W_query, 6, 0, 1);
    rng_fill_uniform(rng, W_key, 6, 0, 1);
    rng_fill_uniform(rng, W_value, 6, 0, 1);
    float query_2[2] = {0}, keys[12], values[12];
    for (int j = 0; j < d_out; j++)
        for (int i = 0; i < d_in; i++) query_2[j] += x[3 + i] * W_query[i * d_out + j];
    print_matrix("query_2 = x_2 @ W_query:", query_2, 1, 2);
    for (int t = 0; t < 6; t++)
        for (int j = 0; j < d_out; j++) {
            keys[t * 2 + j] = values[t * 2 + j] = 0;
            for (int i = 0; i < d_in; i++) {
                keys[t * 2 + j] += x[3 * t + i] * W_key[i * d_out + j];
                values[t * 2 + j] += x[3 * t + i] * W_value[i * d_out + j];
            }
        }
    printf("keys.shape: torch.Size([6, 2])\nvalues.shape: torch.Size([6, 2])\n");
    float scores_2[6], weights_2[6], context_2[2] = {0};
    for (int t = 0; t < 6; t++) scores_2[t] = vec_dot(query_2, keys + 2 * t, 2);
    print_matrix("attn_scores_2 = query_2 @ keys.T:", scores_2, 1, 6);
    for (int t = 0; t < 6; t++) scores_2[t] /= sqrtf((float)d_out);
    softmax_rows(weights_2, scores_2, 1, 6);
    print_matrix("attn_weights_2 (softmax of scores / sqrt(d_k)):", weights_2, 1, 6);
    for (int t = 0; t < 6; t++)
        for (int j = 0; j < 2; j++) context_2[j] += weights_2[t] * values[2 * t + j];
    print_matrix("context_vec_2:", context_2, 1, 2);

    section("3.4.2 Implementing a compact self-attention class");
    float out[12], weights[36];
    self_attention_forward(out, weights, x, W_query, W_key, W_value, 6, d_in, d_out, false);
    print_matrix("SelfAttention_v1(inputs):", out, 6, 2);
    /* v2 uses nn.Linear layers: PyTorch initialises them U(-1/sqrt(d_in), 1/sqrt(d_in)) */
    float bound = 1.0f / sqrtf((float)d_in);
    rng_fill_uniform(rng, W_query, 6, -bound, bound);
    rng_fill_uniform(rng, W_key, 6, -bound, bound);
    rng_fill_uniform(rng, W_value, 6, -bound, bound);
    self_attention_forward(out, weights, x, W_query, W_key, W_value, 6, d_in, d_out, false);
    print_matrix("SelfAttention_v2(inputs):", out, 6, 2);

    section("3.5.1 Applying a causal attention mask");
    print_matrix("attention weights of v2:", weights, 6, 6);
    float renormalized[36], masked_scores[36], via_inf[36];
    memcpy(renormalized, weights, sizeof weights);
    causal_mask_renormalize(renormalized, 6);
    print_matrix("masked with zeros and renormalised:", renormalized, 6, 6);
    float q[12], k[12];
    matmul_forward(q, x, W_query, NULL, 6, d_in, d_out);
    matmul_forward(k, x, W_key, NULL, 6, d_in, d_out);
    attention_scores(masked_scores, q, k, 6, d_out);
    causal_mask_fill_inf(masked_scores, 6);
    print_matrix("scores masked with -inf:", masked_scores, 6, 6);
    vec_scale(masked_scores, 1.0f / sqrtf((float)d_out), 36);
    softmax_rows(via_inf, masked_scores, 6, 6);
    print_matrix("softmax of the -inf masked scores (the same weights):", via_inf, 6, 6);
    float max_diff = 0;
    for (int i = 0; i < 36; i++) max_diff = fmaxf(max_diff, fabsf(via_inf[i] - renormalized[i]));
    printf("largest difference between the two ways: %.1e\n", max_diff);

    section("3.5.2 Masking additional attention weights with dropout");
    float ones[36];
    for (int i = 0; i < 36; i++) ones[i] = 1.0f;
    dropout_forward(ones, NULL, 36, 0.5f, rng);
    print_matrix("dropout(p=0.5) of a 6x6 matrix of ones (survivors scaled by 2):", ones, 6, 6);
    memcpy(ones, via_inf, sizeof ones);
    dropout_forward(ones, NULL, 36, 0.5f, rng);
    print_matrix("dropout(p=0.5) of the causal attention weights:", ones, 6, 6);
}

static void walkthrough_multihead(float *x, Rng *rng) {
    section("3.5.3 Implementing a compact causal attention class");
    const int B = 2, T = 6, d_in = 3;
    float batch[2 * 6 * 3];
    memcpy(batch, x, sizeof(float) * 18);
    memcpy(batch + 18, x, sizeof(float) * 18);
    printf("batch.shape: torch.Size([2, 6, 3])\n");
    float weights[3][6], out[2 * 6 * 4];
    for (int i = 0; i < 3; i++) rng_fill_uniform(rng, weights[i], 6, -1 / sqrtf(3), 1 / sqrtf(3));
    const float *single[3] = {weights[0], weights[1], weights[2]};
    multihead_wrapper_forward(out, batch, single, B, T, d_in, 2, 1);
    print_matrix("context_vecs of the first sequence:", out, T, 2);
    printf("context_vecs.shape: torch.Size([2, 6, 2])\n");

    section("3.6.1 Stacking multiple single-head attention layers");
    float head_w[6][6];
    const float *heads[6];
    for (int i = 0; i < 6; i++) {
        rng_fill_uniform(rng, head_w[i], 6, -1 / sqrtf(3), 1 / sqrtf(3));
        heads[i] = head_w[i];
    }
    multihead_wrapper_forward(out, batch, heads, B, T, d_in, 2, 2);
    print_matrix("context_vecs of the first sequence (2 heads of 2, side by side):", out, T, 4);
    printf("context_vecs.shape: torch.Size([2, 6, 4])\n");

    section("3.6.2 Implementing multi-head attention with weight splits");
    const int d_out = 2, n_heads = 2;
    float qkv_weight[3 * 6], out_w[4], out_b[2];
    rng_fill_uniform(rng, qkv_weight, 18, -1 / sqrtf(3), 1 / sqrtf(3));
    rng_fill_uniform(rng, out_w, 4, -1 / sqrtf(2), 1 / sqrtf(2));
    rng_fill_uniform(rng, out_b, 2, -1 / sqrtf(2), 1 / sqrtf(2));
    MultiHeadAttentionParams params = {qkv_weight, NULL, out_w, out_b, NULL, NULL};
    float qkv[2 * 6 * 6], att[2 * 2 * 6 * 6], context[2 * 6 * 2], mha_out[2 * 6 * 2];
    MultiHeadAttentionCache cache = {qkv, att, context, NULL}; /* NULL: no dropout */
    multihead_attention_forward(mha_out, &cache, batch, &params, B, T, d_in, d_out, n_heads);
    print_matrix("context_vecs of the first sequence:", mha_out, T, 2);
    printf("context_vecs.shape: torch.Size([2, 6, 2])\n");
    printf("GPT-2 small uses 12 heads over 768 dimensions and a context of 1024 tokens.\n");
}

static void usage_walkthrough(FILE *out) {
    fprintf(out, "usage: ch03 walkthrough [--seed N]\n"
                 "Runs chapter 3's sections in order and prints what the book's notebook prints.\n"
                 "Section 3.3 uses no random numbers and matches the book; from 3.4 on the\n"
                 "weights come from our seeded generator (default seed 123), not PyTorch's.\n");
}

static int cmd_walkthrough(int argc, char **argv) {
    static const struct option options[] = {{"seed", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {0}};
    long seed = 123;
    for (int c; (c = getopt_long(argc, argv, "s:h", options, NULL)) != -1;) {
        if (c == 's') seed = cli_long("--seed", optarg, 0, 0x7fffffffL);
        else if (c == 'h') return usage_walkthrough(stdout), 0;
        else return cli_bad_usage("walkthrough");
    }
    cli_no_arguments("walkthrough", argc, argv);
    float x[18];
    memcpy(x, BOOK_INPUTS, sizeof x);
    print_matrix("inputs (Your journey starts with one step):", x, 6, 3);
    walkthrough_simplified(x);
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    walkthrough_trainable(x, &rng);
    walkthrough_multihead(x, &rng);
    return 0;
}

static void usage_mha(FILE *out) {
    fprintf(out, "usage: ch03 mha [--batch B] [--tokens T] [--d-in N] [--d-out N] [--heads H] [--qkv-bias] [--seed N]\n"
                 "Runs causal multi-head attention (3.6.2) on a random batch with randomly initialised\n"
                 "weights and prints the output's shape, its first row and the time it took.\n"
                 "Defaults: GPT-2 small's attention: batch 1, 1024 tokens, 768 -> 768, 12 heads.\n");
}

static int cmd_mha(int argc, char **argv) {
    static const struct option options[] = {{"batch", required_argument, NULL, 'b'}, {"tokens", required_argument, NULL, 't'},
                                            {"d-in", required_argument, NULL, 'i'},  {"d-out", required_argument, NULL, 'o'},
                                            {"heads", required_argument, NULL, 'H'}, {"qkv-bias", no_argument, NULL, 'q'},
                                            {"seed", required_argument, NULL, 's'},  {"help", no_argument, NULL, 'h'},
                                            {0}};
    long B = 1, T = 1024, d_in = 768, d_out = 768, n_heads = 12, seed = 123;
    bool qkv_bias = false;
    for (int c; (c = getopt_long(argc, argv, "b:t:i:o:H:qs:h", options, NULL)) != -1;) {
        switch (c) {
        case 'b': B = cli_long("--batch", optarg, 1, 4096); break;
        case 't': T = cli_long("--tokens", optarg, 1, 65536); break;
        case 'i': d_in = cli_long("--d-in", optarg, 1, 65536); break;
        case 'o': d_out = cli_long("--d-out", optarg, 1, 65536); break;
        case 'H': n_heads = cli_long("--heads", optarg, 1, 4096); break;
        case 'q': qkv_bias = true; break;
        case 's': seed = cli_long("--seed", optarg, 0, 0x7fffffffL); break;
        case 'h': usage_mha(stdout); return 0;
        default: return cli_bad_usage("mha");
        }
    }
    cli_no_arguments("mha", argc, argv);
    if (d_out % n_heads != 0) fatal("mha: --d-out %ld is not divisible by --heads %ld", d_out, n_heads);
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    size_t tokens = checked_mul(B, T);
    float *x = xmalloc(checked_mul(tokens, d_in * sizeof(float)));
    float *qkv_weight = xmalloc(checked_mul(d_in * 3, d_out * sizeof(float)));
    float *qkv_bias_v = qkv_bias ? xcalloc(3 * d_out, sizeof(float)) : NULL;
    float *out_w = xmalloc(checked_mul(d_out, d_out * sizeof(float))), *out_b = xcalloc(d_out, sizeof(float));
    rng_fill_normal(&rng, x, tokens * d_in, 0, 1);
    rng_fill_uniform(&rng, qkv_weight, (size_t)d_in * 3 * d_out, -1 / sqrtf(d_in), 1 / sqrtf(d_in));
    rng_fill_uniform(&rng, out_w, (size_t)d_out * d_out, -1 / sqrtf(d_out), 1 / sqrtf(d_out));
    MultiHeadAttentionParams params = {qkv_weight, qkv_bias_v, out_w, out_b, NULL, NULL};
    MultiHeadAttentionCache cache = {xmalloc(checked_mul(tokens, 3 * d_out * sizeof(float))),
                                     xmalloc(checked_mul(checked_mul(B * n_heads, T), T * sizeof(float))),
                                     xmalloc(checked_mul(tokens, d_out * sizeof(float))), NULL};
    float *out = xmalloc(checked_mul(tokens, d_out * sizeof(float)));
    double t0 = now_seconds();
    multihead_attention_forward(out, &cache, x, &params, (int)B, (int)T, (int)d_in, (int)d_out, (int)n_heads);
    double seconds = now_seconds() - t0;
    printf("output shape: torch.Size([%ld, %ld, %ld])\n", B, T, d_out);
    print_matrix("first output row (first 6 values):", out, 1, d_out < 6 ? (int)d_out : 6);
    fprintf(stderr, "forward took %.3f s (%.0f tokens/s)\n", seconds, tokens / seconds);
    free(out);
    free(cache.qkv);
    free(cache.att);
    free(cache.context);
    free(out_w);
    free(out_b);
    free(qkv_bias_v);
    free(qkv_weight);
    free(x);
    return 0;
}

static const CliCommand commands[] = {
    {"walkthrough", cmd_walkthrough, "the chapter's sections in order, as the book's notebook prints them"},
    {"mha", cmd_mha, "multi-head attention on a random batch: shapes and timing"},
};

int main(int argc, char **argv) {
    static const CliProgram program = {
        .name = "ch03",
        .description =
            "Chapter 3 of Build a Large Language Model (From Scratch): coding attention mechanisms.",
        .footer = NULL,
        .commands = commands,
        .n_commands = sizeof commands / sizeof commands[0],
    };
    return cli_main(&program, argc, argv);
}
