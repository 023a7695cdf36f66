/* ch03: Chapter 3, Coding attention mechanisms.
 *
 *   ch03 walkthrough     the chapter's sections in order, as the notebook prints them
 *   ch03 mha ...         multi-head attention on a random batch (shapes, timing, and
 *                        with --reference the difference from the book's version)
 *
 * Run `ch03 COMMAND --help` for the flags of each. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/ops.h"
#include "../common/rng.h"
#include "../common/tensor.h"
#include "../common/cli.h"
#include "../common/util.h"
#include "attention.h"

/* "Your journey starts with one step": the book's 3-d embeddings. */
static const float BOOK_INPUTS[6][3] = {{0.43f, 0.15f, 0.89f}, {0.55f, 0.87f, 0.66f}, {0.57f, 0.85f, 0.64f},
                                        {0.22f, 0.58f, 0.33f}, {0.77f, 0.25f, 0.10f}, {0.05f, 0.80f, 0.55f}};

/* The seed the book gives SelfAttention_v2; everywhere else it uses 123,
 * which --seed replaces. */
enum { BOOK_V2_SEED = 789 };

static void print_tensor(const char *label, float *data, int ndim, const int *shape) {
    if (label) printf("%s\n", label);
    Tensor t = tensor_view(data, ndim, shape);
    tensor_print(stdout, &t, 4);
}

static void print_matrix(const char *label, float *data, int rows, int cols) {
    if (rows == 1) print_tensor(label, data, 1, (int[]){cols});
    else print_tensor(label, data, 2, (int[]){rows, cols});
}

/* "name.shape: torch.Size([6, 2])", from the dimensions the code used. */
static void print_shape(const char *name, int ndim, const int *shape) {
    char dims[64];
    Tensor t = tensor_view(NULL, ndim, shape);
    printf("%s.shape: torch.Size(%s)\n", name, tensor_shape_str(&t, dims, sizeof dims));
}

static void section(const char *title) { printf("\n== %s ==\n", title); }

static float largest_difference(const float *a, const float *b, size_t n) {
    float largest = 0.0f;
    for (size_t i = 0; i < n; i++) largest = fmaxf(largest, fabsf(a[i] - b[i]));
    return largest;
}

/* nn.Linear's initial values: weight and bias alike U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)), fan_in the layer's input width; drawn by our generator,
 * not PyTorch's, so other numbers than the book's. */
static void init_linear(Rng *rng, float *values, size_t n, int fan_in) {
    float bound = 1.0f / sqrtf((float)fan_in);
    rng_fill_uniform(rng, values, n, -bound, bound);
}

enum { n_tokens = 6, d_in = 3, d_out = 2, batch_size = 2, num_heads = 2 };

static void walkthrough_simplified(const float *inputs) {
    section("3.3.1 A simple self-attention mechanism without trainable weights");
    const int query = 1; /* x(2), "journey" */
    float attn_scores_2[n_tokens], attn_weights_2[n_tokens], context_vec_2[d_in];
    for (int i = 0; i < n_tokens; i++) attn_scores_2[i] = vec_dot(inputs + i * d_in, inputs + query * d_in, d_in);
    print_matrix("attn_scores_2 (each input dotted with the query x(2)):", attn_scores_2, 1, n_tokens);
    float sum = 0.0f;
    for (int i = 0; i < n_tokens; i++) sum += attn_scores_2[i];
    float divided[n_tokens];
    for (int i = 0; i < n_tokens; i++) divided[i] = attn_scores_2[i] / sum;
    print_matrix("Attention weights (divided by their sum):", divided, 1, n_tokens);
    simple_context_vector(context_vec_2, attn_weights_2, inputs, query, n_tokens, d_in);
    print_matrix("Attention weights (softmax):", attn_weights_2, 1, n_tokens);
    sum = 0.0f;
    for (int i = 0; i < n_tokens; i++) sum += attn_weights_2[i];
    printf("Sum: %.4f\n", sum);
    print_matrix("context_vec_2 (the inputs weighted by the attention weights):", context_vec_2, 1, d_in);

    section("3.3.2 Computing attention weights for all input tokens");
    float attn_scores[n_tokens * n_tokens], attn_weights[n_tokens * n_tokens], all_context_vecs[n_tokens * d_in];
    attention_scores(attn_scores, inputs, inputs, n_tokens, d_in);
    print_matrix("attn_scores = inputs @ inputs.T:", attn_scores, n_tokens, n_tokens);
    simple_attention(all_context_vecs, attn_weights, inputs, n_tokens, d_in);
    print_matrix("attn_weights (softmax of each row):", attn_weights, n_tokens, n_tokens);
    float row_sums[n_tokens] = {0};
    for (int i = 0; i < n_tokens; i++)
        for (int j = 0; j < n_tokens; j++) row_sums[i] += attn_weights[i * n_tokens + j];
    print_matrix("All row sums:", row_sums, 1, n_tokens);
    print_matrix("all_context_vecs = attn_weights @ inputs:", all_context_vecs, n_tokens, d_in);
    print_matrix("3.3.1's context_vec_2, the second row above:", context_vec_2, 1, d_in);
}

/* 3.4 and 3.5.1-3.5.2; the walkthrough draws the weights with our
 * generator, seeded where the book calls torch.manual_seed. */
static void walkthrough_trainable(const float *inputs, long seed) {
    Rng rng;
    section("3.4.1 Computing the attention weights step by step");
    float W_query[d_in * d_out], W_key[d_in * d_out], W_value[d_in * d_out];
    /* torch.rand: uniform on [0, 1) */
    rng_seed(&rng, (uint64_t)seed);
    rng_fill_uniform(&rng, W_query, d_in * d_out, 0, 1);
    rng_fill_uniform(&rng, W_key, d_in * d_out, 0, 1);
    rng_fill_uniform(&rng, W_value, d_in * d_out, 0, 1);
    const float *x_2 = inputs + 1 * d_in;
    float query_2[d_out], keys[n_tokens * d_out], values[n_tokens * d_out];
    linear_projection(query_2, x_2, W_query, NULL, 1, d_in, d_out);
    print_matrix("query_2 = x_2 @ W_query:", query_2, 1, d_out);
    linear_projection(keys, inputs, W_key, NULL, n_tokens, d_in, d_out);
    linear_projection(values, inputs, W_value, NULL, n_tokens, d_in, d_out);
    print_shape("keys", 2, (int[]){n_tokens, d_out});
    print_shape("values", 2, (int[]){n_tokens, d_out});
    printf("attn_score_22 = query_2 . keys[1]: %.4f\n", vec_dot(query_2, keys + 1 * d_out, d_out));
    float attn_scores_2[n_tokens], attn_weights_2[n_tokens], context_vec_2[d_out];
    for (int t = 0; t < n_tokens; t++) attn_scores_2[t] = vec_dot(query_2, keys + t * d_out, d_out);
    print_matrix("attn_scores_2 = query_2 @ keys.T:", attn_scores_2, 1, n_tokens);
    const int d_k = d_out;
    for (int t = 0; t < n_tokens; t++) attn_weights_2[t] = attn_scores_2[t] / sqrtf((float)d_k);
    softmax_rows(attn_weights_2, attn_weights_2, 1, n_tokens);
    print_matrix("attn_weights_2 = softmax(attn_scores_2 / sqrt(d_k)):", attn_weights_2, 1, n_tokens);
    linear_projection(context_vec_2, attn_weights_2, values, NULL, 1, n_tokens, d_out);
    print_matrix("context_vec_2 = attn_weights_2 @ values:", context_vec_2, 1, d_out);

    section("3.4.2 Implementing a compact SelfAttention class");
    float out[n_tokens * d_out], attn_weights[n_tokens * n_tokens];
    /* the book seeds SelfAttention_v1 as 3.4.1: the same weights, so its
     * second row is 3.4.1's context_vec_2 */
    self_attention_forward(out, attn_weights, inputs, W_query, W_key, W_value, n_tokens, d_in, d_out);
    print_matrix("sa_v1(inputs):", out, n_tokens, d_out);
    rng_seed(&rng, BOOK_V2_SEED);
    init_linear(&rng, W_query, d_in * d_out, d_in);
    init_linear(&rng, W_key, d_in * d_out, d_in);
    init_linear(&rng, W_value, d_in * d_out, d_in);
    self_attention_forward(out, attn_weights, inputs, W_query, W_key, W_value, n_tokens, d_in, d_out);
    print_matrix("sa_v2(inputs):", out, n_tokens, d_out);

    section("3.5.1 Applying a causal attention mask");
    /* sa_v2's queries and keys, step by step */
    float queries[n_tokens * d_out], attn_scores[n_tokens * n_tokens];
    linear_projection(queries, inputs, W_query, NULL, n_tokens, d_in, d_out);
    linear_projection(keys, inputs, W_key, NULL, n_tokens, d_in, d_out);
    attention_scores(attn_scores, queries, keys, n_tokens, d_out);
    for (int i = 0; i < n_tokens * n_tokens; i++) attn_weights[i] = attn_scores[i] / sqrtf((float)d_k);
    softmax_rows(attn_weights, attn_weights, n_tokens, n_tokens);
    print_matrix("attn_weights:", attn_weights, n_tokens, n_tokens);
    float mask_simple[n_tokens * n_tokens];
    for (int i = 0; i < n_tokens; i++)
        for (int j = 0; j < n_tokens; j++) mask_simple[i * n_tokens + j] = j <= i;
    print_matrix("mask_simple (ones on and below the diagonal):", mask_simple, n_tokens, n_tokens);
    float masked_simple_norm[n_tokens * n_tokens];
    memcpy(masked_simple_norm, attn_weights, sizeof attn_weights);
    causal_mask_renormalize(masked_simple_norm, n_tokens);
    print_matrix("masked_simple_norm (attn_weights * mask_simple, each row divided by its sum):",
                 masked_simple_norm, n_tokens, n_tokens);
    float masked[n_tokens * n_tokens];
    memcpy(masked, attn_scores, sizeof attn_scores);
    causal_mask_fill_inf(masked, n_tokens);
    print_matrix("masked (attn_scores with -inf above the diagonal):", masked, n_tokens, n_tokens);
    for (int i = 0; i < n_tokens * n_tokens; i++) attn_weights[i] = masked[i] / sqrtf((float)d_k);
    softmax_rows(attn_weights, attn_weights, n_tokens, n_tokens);
    print_matrix("attn_weights = softmax(masked / sqrt(d_k)):", attn_weights, n_tokens, n_tokens);
    printf("largest difference between the two ways: %.1e\n",
           largest_difference(attn_weights, masked_simple_norm, n_tokens * n_tokens));

    section("3.5.2 Masking additional attention weights with dropout");
    const float drop_rate = 0.5f;
    float example[n_tokens * n_tokens];
    for (int i = 0; i < n_tokens * n_tokens; i++) example[i] = 1.0f;
    rng_seed(&rng, (uint64_t)seed);
    dropout_forward(example, NULL, n_tokens * n_tokens, drop_rate, &rng);
    printf("dropout(example), p = %.1f: each one zeroed with probability p, the others scaled by 1/(1-p) = %.1f\n",
           drop_rate, 1.0f / (1.0f - drop_rate));
    print_matrix(NULL, example, n_tokens, n_tokens);
    /* the same seed: the same positions dropped */
    rng_seed(&rng, (uint64_t)seed);
    dropout_forward(attn_weights, NULL, n_tokens * n_tokens, drop_rate, &rng);
    print_matrix("dropout(attn_weights), the same seed:", attn_weights, n_tokens, n_tokens);
}

/* 3.5.3 and 3.6, on a batch of two copies of the inputs. */
static void walkthrough_multihead(const float *inputs, long seed) {
    Rng rng;
    section("3.5.3 Implementing a compact causal attention class");
    float batch[batch_size * n_tokens * d_in];
    for (int b = 0; b < batch_size; b++) memcpy(batch + b * n_tokens * d_in, inputs, sizeof(float) * n_tokens * d_in);
    print_shape("batch", 3, (int[]){batch_size, n_tokens, d_in});
    float W_query[d_in * d_out], W_key[d_in * d_out], W_value[d_in * d_out];
    rng_seed(&rng, (uint64_t)seed);
    init_linear(&rng, W_query, d_in * d_out, d_in);
    init_linear(&rng, W_key, d_in * d_out, d_in);
    init_linear(&rng, W_value, d_in * d_out, d_in);
    float context_vecs[batch_size * n_tokens * d_out];
    causal_attention_forward(context_vecs, batch, W_query, W_key, W_value, NULL, batch_size, n_tokens, d_in, d_out);
    int shape[3] = {batch_size, n_tokens, d_out};
    print_tensor("context_vecs = ca(batch):", context_vecs, 3, shape);
    print_shape("context_vecs", 3, shape);

    section("3.6.1 Stacking multiple single-head attention layers");
    /* the same seed as CausalAttention above: head 0 gets its weights, and
     * its output is the first d_out columns */
    float head_w[num_heads * 3][d_in * d_out];
    const float *head_weights[num_heads * 3];
    rng_seed(&rng, (uint64_t)seed);
    for (int i = 0; i < num_heads * 3; i++) {
        init_linear(&rng, head_w[i], d_in * d_out, d_in);
        head_weights[i] = head_w[i];
    }
    float stacked[batch_size * n_tokens * num_heads * d_out];
    multihead_wrapper_forward(stacked, batch, head_weights, batch_size, n_tokens, d_in, d_out, num_heads);
    int stacked_shape[3] = {batch_size, n_tokens, num_heads * d_out};
    print_tensor("context_vecs = mha(batch), the heads side by side:", stacked, 3, stacked_shape);
    print_shape("context_vecs", 3, stacked_shape);

    section("3.6.2 Implementing multi-head attention with weight splits");
    /* nn.Linear's order: W_query, W_key, W_value, then out_proj's weight
     * and bias; the three projections are kept side by side */
    rng_seed(&rng, (uint64_t)seed);
    init_linear(&rng, W_query, d_in * d_out, d_in);
    init_linear(&rng, W_key, d_in * d_out, d_in);
    init_linear(&rng, W_value, d_in * d_out, d_in);
    float qkv_weight[d_in * 3 * d_out], out_proj_weight[d_out * d_out], out_proj_bias[d_out];
    init_linear(&rng, out_proj_weight, d_out * d_out, d_out);
    init_linear(&rng, out_proj_bias, d_out, d_out);
    for (int i = 0; i < d_in; i++)
        for (int j = 0; j < d_out; j++) {
            qkv_weight[i * 3 * d_out + j] = W_query[i * d_out + j];
            qkv_weight[i * 3 * d_out + d_out + j] = W_key[i * d_out + j];
            qkv_weight[i * 3 * d_out + 2 * d_out + j] = W_value[i * d_out + j];
        }
    MultiHeadAttentionParams params = {qkv_weight, NULL, out_proj_weight, out_proj_bias, NULL, NULL};
    multihead_attention_forward_reference(context_vecs, NULL, batch, &params, NULL, batch_size, n_tokens, d_in, d_out,
                                          num_heads);
    print_tensor("context_vecs = mha(batch):", context_vecs, 3, shape);
    print_shape("context_vecs", 3, shape);
    /* the fast version the GPT runs, on the same weights */
    float qkv[batch_size * n_tokens * 3 * d_out], att[batch_size * num_heads * n_tokens * n_tokens];
    float context[batch_size * n_tokens * d_out], fast[batch_size * n_tokens * d_out];
    MultiHeadAttentionCache cache = {qkv, att, context, NULL}; /* NULL: no dropout */
    multihead_attention_forward(fast, &cache, batch, &params, batch_size, n_tokens, d_in, d_out, num_heads);
    printf("the fast version (attention_fast.c), largest difference: %.1e\n",
           largest_difference(fast, context_vecs, sizeof fast / sizeof fast[0]));
}

static void usage_walkthrough(FILE *out) {
    fprintf(out, "usage: ch03 walkthrough [--seed N]\n"
                 "Runs chapter 3's sections in order and prints what the book's notebook prints.\n"
                 "Section 3.3 uses no random numbers and matches the book; from 3.4 on the\n"
                 "weights come from our seeded generator, not PyTorch's, so the numbers differ\n"
                 "from the book's. The generator is seeded where the book calls\n"
                 "torch.manual_seed(123), with N (default 123), and with 789 for SelfAttention_v2.\n");
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
    float inputs[n_tokens * d_in];
    memcpy(inputs, BOOK_INPUTS, sizeof inputs);
    print_matrix("inputs (Your journey starts with one step):", inputs, n_tokens, d_in);
    walkthrough_simplified(inputs);
    walkthrough_trainable(inputs, seed);
    walkthrough_multihead(inputs, seed);
    return 0;
}

static void usage_mha(FILE *out) {
    fprintf(out, "usage: ch03 mha [--batch B] [--tokens T] [--d-in N] [--d-out N] [--heads H] [--qkv-bias] [--seed N]\n"
                 "               [--reference]\n"
                 "Runs causal multi-head attention (3.6.2), the fast version, on a random batch with\n"
                 "randomly initialised weights and prints the output's shape, its first row and the\n"
                 "time it took. --reference also runs the book's version (plain loops, slow at GPT-2's\n"
                 "sizes) and prints the largest difference between the two outputs.\n"
                 "Defaults: GPT-2 small's attention: batch 1, 1024 tokens, 768 -> 768, 12 heads.\n");
}

static int cmd_mha(int argc, char **argv) {
    static const struct option options[] = {{"batch", required_argument, NULL, 'b'}, {"tokens", required_argument, NULL, 't'},
                                            {"d-in", required_argument, NULL, 'i'},  {"d-out", required_argument, NULL, 'o'},
                                            {"heads", required_argument, NULL, 'H'}, {"qkv-bias", no_argument, NULL, 'q'},
                                            {"seed", required_argument, NULL, 's'},  {"reference", no_argument, NULL, 'r'},
                                            {"help", no_argument, NULL, 'h'},        {0}};
    long B = 1, T = 1024, in_dim = 768, out_dim = 768, n_heads = 12, seed = 123;
    bool qkv_bias = false, reference = false;
    for (int c; (c = getopt_long(argc, argv, "b:t:i:o:H:qs:rh", options, NULL)) != -1;) {
        switch (c) {
        case 'b': B = cli_long("--batch", optarg, 1, 4096); break;
        case 't': T = cli_long("--tokens", optarg, 1, 65536); break;
        case 'i': in_dim = cli_long("--d-in", optarg, 1, 65536); break;
        case 'o': out_dim = cli_long("--d-out", optarg, 1, 65536); break;
        case 'H': n_heads = cli_long("--heads", optarg, 1, 4096); break;
        case 'q': qkv_bias = true; break;
        case 's': seed = cli_long("--seed", optarg, 0, 0x7fffffffL); break;
        case 'r': reference = true; break;
        case 'h': usage_mha(stdout); return 0;
        default: return cli_bad_usage("mha");
        }
    }
    cli_no_arguments("mha", argc, argv);
    if (out_dim % n_heads != 0) fatal("mha: --d-out %ld is not divisible by --heads %ld", out_dim, n_heads);
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    size_t tokens = checked_mul(B, T);
    float *x = xmalloc(checked_mul(tokens, in_dim * sizeof(float)));
    float *qkv_weight = xmalloc(checked_mul(in_dim * 3, out_dim * sizeof(float)));
    float *qkv_bias_v = qkv_bias ? xmalloc(3 * out_dim * sizeof(float)) : NULL;
    float *out_w = xmalloc(checked_mul(out_dim, out_dim * sizeof(float))), *out_b = xmalloc(out_dim * sizeof(float));
    rng_fill_normal(&rng, x, tokens * in_dim, 0, 1);
    init_linear(&rng, qkv_weight, in_dim * 3 * out_dim, (int)in_dim);
    if (qkv_bias_v) init_linear(&rng, qkv_bias_v, 3 * out_dim, (int)in_dim);
    init_linear(&rng, out_w, out_dim * out_dim, (int)out_dim);
    init_linear(&rng, out_b, out_dim, (int)out_dim);
    MultiHeadAttentionParams params = {qkv_weight, qkv_bias_v, out_w, out_b, NULL, NULL};
    MultiHeadAttentionCache cache = {xmalloc(checked_mul(tokens, 3 * out_dim * sizeof(float))),
                                     xmalloc(checked_mul(checked_mul(B * n_heads, T), T * sizeof(float))),
                                     xmalloc(checked_mul(tokens, out_dim * sizeof(float))), NULL};
    float *out = xmalloc(checked_mul(tokens, out_dim * sizeof(float)));
    double t0 = now_seconds();
    multihead_attention_forward(out, &cache, x, &params, (int)B, (int)T, (int)in_dim, (int)out_dim, (int)n_heads);
    double seconds = now_seconds() - t0;
    int shape[3] = {(int)B, (int)T, (int)out_dim};
    print_shape("output", 3, shape);
    print_matrix("first output row (first 6 values):", out, 1, out_dim < 6 ? (int)out_dim : 6);
    fprintf(stderr, "forward took %.3f s (%.0f tokens/s)\n", seconds, tokens / seconds);
    if (reference) {
        float *want = xmalloc(checked_mul(tokens, out_dim * sizeof(float)));
        multihead_attention_forward_reference(want, NULL, x, &params, NULL, (int)B, (int)T, (int)in_dim, (int)out_dim,
                                              (int)n_heads);
        printf("the book's version (plain loops), largest difference: %.1e\n",
               largest_difference(out, want, tokens * out_dim));
        free(want);
    }
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
