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

/* The book's choices: 3.4's output width, 3.5.3's batch of two copies of
 * the inputs, 3.6's two heads, 3.5.2's dropout rate, and the seed it gives
 * SelfAttention_v2 (everywhere else it uses 123, which --seed replaces). */
enum { BOOK_D_OUT = 2, BOOK_BATCH = 2, BOOK_HEADS = 2, BOOK_V2_SEED = 789 };
static const float BOOK_DROP_RATE = 0.5f;

static void section(const char *title) { printf("\n== %s ==\n", title); }

static float largest_difference(const float *a, const float *b, size_t n) {
    float largest = 0.0f;
    for (size_t i = 0; i < n; i++) largest = fmaxf(largest, fabsf(a[i] - b[i]));
    return largest;
}

/* ---- tensors that carry the shapes their operations give ----------------------
 * As in the notebook, every result is a tensor whose shape follows from its
 * operands' (x (T,d_in) @ W (d_in,d_out) is (T,d_out)), and the walkthrough
 * prints those shapes, never sizes of its own. */

/* Every tensor the walkthrough makes, freed together when it ends. */
enum { MAX_TENSORS = 64 };
static Tensor made[MAX_TENSORS];
static int n_made;

static Tensor *new_tensor(int ndim, const int *shape) {
    if (n_made == MAX_TENSORS) fatal("walkthrough: more than %d tensors", MAX_TENSORS);
    made[n_made] = tensor_zeros(ndim, shape);
    return &made[n_made++];
}
static Tensor *new_like(const Tensor *t) { return new_tensor(t->ndim, t->shape); }
static void free_tensors(void) {
    while (n_made > 0) tensor_free(&made[--n_made]);
}

/* Row i of a matrix (a view). */
static Tensor row(const Tensor *m, int i) { return tensor_view(m->data + (size_t)i * m->shape[1], 1, &m->shape[1]); }

/* x @ W for x (n) or (N,n) and W (n,m): (m) or (N,m). */
static Tensor *matmul(const Tensor *x, const Tensor *W) {
    const int n = x->shape[x->ndim - 1], N = (int)(x->size / n);
    if (W->ndim != 2 || W->shape[0] != n) fatal("matmul: %d columns against %d rows", n, W->shape[0]);
    int shape[2] = {x->shape[0], W->shape[1]};
    Tensor *out = x->ndim == 1 ? new_tensor(1, &shape[1]) : new_tensor(2, shape);
    linear_projection(out->data, x->data, W->data, NULL, N, n, W->shape[1]);
    return out;
}

/* nn.Linear(d_in, d_out)'s weight, stored (d_in,d_out) (x @ W); its
 * initial values, weight and bias alike, are U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)) with fan_in the layer's input width. Drawn by our
 * generator, not PyTorch's, so other numbers than the book's. */
static void init_linear(Rng *rng, float *values, size_t n, int fan_in) {
    float bound = 1.0f / sqrtf((float)fan_in);
    rng_fill_uniform(rng, values, n, -bound, bound);
}
static Tensor *new_linear(Rng *rng, int d_in, int d_out) {
    Tensor *W = new_tensor(2, (int[]){d_in, d_out});
    init_linear(rng, W->data, W->size, d_in);
    return W;
}

static void print_tensor(const char *label, const Tensor *t) {
    if (label) printf("%s\n", label);
    tensor_print(stdout, t, 4);
}

/* "name.shape: torch.Size([6, 2])": the tensor's own shape. */
static void print_shape(const char *name, const Tensor *t) {
    char dims[64];
    printf("%s.shape: torch.Size(%s)\n", name, tensor_shape_str(t, dims, sizeof dims));
}

/* ==== 3.3 Attending to different parts of the input with self-attention ==== */

static void walkthrough_simplified(const Tensor *inputs) {
    const int T = inputs->shape[0], d_in = inputs->shape[1];
    section("3.3.1 A simple self-attention mechanism without trainable weights");
    const int query = 1; /* x(2), "journey" */
    Tensor x_query = row(inputs, query);
    Tensor *attn_scores_2 = new_tensor(1, &T);
    for (int i = 0; i < T; i++) {
        Tensor x_i = row(inputs, i);
        attn_scores_2->data[i] = vec_dot(x_i.data, x_query.data, d_in);
    }
    print_tensor("attn_scores_2 (each input dotted with the query x(2)):", attn_scores_2);
    float sum = 0.0f;
    for (int i = 0; i < T; i++) sum += attn_scores_2->data[i];
    Tensor *divided = new_like(attn_scores_2);
    for (int i = 0; i < T; i++) divided->data[i] = attn_scores_2->data[i] / sum;
    print_tensor("Attention weights (divided by their sum):", divided);
    Tensor *attn_weights_2 = new_like(attn_scores_2), *context_vec_2 = new_like(&x_query);
    simple_context_vector(context_vec_2->data, attn_weights_2->data, inputs->data, query, T, d_in);
    print_tensor("Attention weights (softmax):", attn_weights_2);
    sum = 0.0f;
    for (int i = 0; i < T; i++) sum += attn_weights_2->data[i];
    printf("Sum: %.4f\n", sum);
    print_tensor("context_vec_2 (the inputs weighted by the attention weights):", context_vec_2);

    section("3.3.2 Computing attention weights for all input tokens");
    /* inputs @ inputs.T: (T,d_in) @ (d_in,T) */
    Tensor *attn_scores = new_tensor(2, (int[]){T, T});
    attention_scores(attn_scores->data, inputs->data, inputs->data, T, d_in);
    print_tensor("attn_scores = inputs @ inputs.T:", attn_scores);
    Tensor *attn_weights = new_like(attn_scores), *all_context_vecs = new_like(inputs);
    simple_attention(all_context_vecs->data, attn_weights->data, inputs->data, T, d_in);
    print_tensor("attn_weights (softmax of each row):", attn_weights);
    Tensor *row_sums = new_tensor(1, &attn_weights->shape[0]);
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) row_sums->data[i] += attn_weights->data[i * T + j];
    print_tensor("All row sums:", row_sums);
    print_tensor("all_context_vecs = attn_weights @ inputs:", all_context_vecs);
    print_tensor("3.3.1's context_vec_2, the second row above:", context_vec_2);
}

/* From here on the walkthrough draws the weights with our generator,
 * seeded where the book calls torch.manual_seed. */

/* ==== 3.4 Implementing self-attention with trainable weights ==== */

/* SelfAttention_v2's projections, which 3.5.1 reuses. */
typedef struct {
    Tensor *W_query, *W_key;
} QueryKey;

static QueryKey walkthrough_trainable(const Tensor *inputs, long seed) {
    const int T = inputs->shape[0], d_in = inputs->shape[1], d_out = BOOK_D_OUT;
    Rng rng;
    section("3.4.1 Computing the attention weights step by step");
    /* torch.rand(d_in, d_out), three times: uniform on [0, 1) */
    rng_seed(&rng, (uint64_t)seed);
    Tensor *W_query = new_tensor(2, (int[]){d_in, d_out}), *W_key = new_like(W_query), *W_value = new_like(W_query);
    rng_fill_uniform(&rng, W_query->data, W_query->size, 0, 1);
    rng_fill_uniform(&rng, W_key->data, W_key->size, 0, 1);
    rng_fill_uniform(&rng, W_value->data, W_value->size, 0, 1);
    Tensor x_2 = row(inputs, 1);
    Tensor *query_2 = matmul(&x_2, W_query);
    print_tensor("query_2 = x_2 @ W_query:", query_2);
    Tensor *keys = matmul(inputs, W_key), *values = matmul(inputs, W_value);
    print_shape("keys", keys);
    print_shape("values", values);
    Tensor keys_2 = row(keys, 1);
    printf("attn_score_22 = query_2 . keys[1]: %.4f\n", vec_dot(query_2->data, keys_2.data, keys->shape[1]));
    /* query_2 @ keys.T: (d_out) @ (d_out,T) */
    Tensor *attn_scores_2 = new_tensor(1, &keys->shape[0]);
    for (int t = 0; t < T; t++) {
        Tensor key = row(keys, t);
        attn_scores_2->data[t] = vec_dot(query_2->data, key.data, keys->shape[1]);
    }
    print_tensor("attn_scores_2 = query_2 @ keys.T:", attn_scores_2);
    const int d_k = keys->shape[1];
    Tensor *attn_weights_2 = new_like(attn_scores_2);
    for (int t = 0; t < T; t++) attn_weights_2->data[t] = attn_scores_2->data[t] / sqrtf((float)d_k);
    softmax_rows(attn_weights_2->data, attn_weights_2->data, 1, T);
    print_tensor("attn_weights_2 = softmax(attn_scores_2 / sqrt(d_k)):", attn_weights_2);
    print_tensor("context_vec_2 = attn_weights_2 @ values:", matmul(attn_weights_2, values));

    section("3.4.2 Implementing a compact SelfAttention class");
    /* the book seeds SelfAttention_v1 as 3.4.1: the same weights, so its
     * second row is 3.4.1's context_vec_2 */
    Tensor *sa_out = new_like(values), *attn_weights = new_tensor(2, (int[]){T, T});
    self_attention_forward(sa_out->data, attn_weights->data, inputs->data, W_query->data, W_key->data, W_value->data,
                           T, d_in, d_out);
    print_tensor("sa_v1(inputs):", sa_out);
    rng_seed(&rng, BOOK_V2_SEED);
    W_query = new_linear(&rng, d_in, d_out);
    W_key = new_linear(&rng, d_in, d_out);
    W_value = new_linear(&rng, d_in, d_out);
    self_attention_forward(sa_out->data, attn_weights->data, inputs->data, W_query->data, W_key->data, W_value->data,
                           T, d_in, d_out);
    print_tensor("sa_v2(inputs):", sa_out);
    return (QueryKey){W_query, W_key};
}

/* ==== 3.5 Hiding future words with causal attention ==== */

/* Returns 3.5.3's batch, which 3.6 runs on. */
static Tensor *walkthrough_causal(const Tensor *inputs, QueryKey sa_v2, long seed) {
    const int T = inputs->shape[0], d_in = inputs->shape[1], d_out = BOOK_D_OUT;
    Rng rng;
    section("3.5.1 Applying a causal attention mask");
    /* sa_v2's queries and keys, step by step */
    Tensor *queries = matmul(inputs, sa_v2.W_query), *keys = matmul(inputs, sa_v2.W_key);
    Tensor *attn_scores = new_tensor(2, (int[]){queries->shape[0], keys->shape[0]});
    attention_scores(attn_scores->data, queries->data, keys->data, T, keys->shape[1]);
    const int d_k = keys->shape[1];
    Tensor *attn_weights = new_like(attn_scores);
    for (size_t i = 0; i < attn_scores->size; i++) attn_weights->data[i] = attn_scores->data[i] / sqrtf((float)d_k);
    softmax_rows(attn_weights->data, attn_weights->data, T, T);
    print_tensor("attn_weights:", attn_weights);
    const int context_length = attn_scores->shape[0];
    Tensor *mask_simple = new_like(attn_scores);
    for (int i = 0; i < context_length; i++)
        for (int j = 0; j < context_length; j++) mask_simple->data[i * context_length + j] = j <= i;
    print_tensor("mask_simple (ones on and below the diagonal):", mask_simple);
    Tensor *masked_simple_norm = new_like(attn_weights);
    memcpy(masked_simple_norm->data, attn_weights->data, attn_weights->size * sizeof(float));
    causal_mask_renormalize(masked_simple_norm->data, context_length);
    print_tensor("masked_simple_norm (attn_weights * mask_simple, each row divided by its sum):", masked_simple_norm);
    Tensor *masked = new_like(attn_scores);
    memcpy(masked->data, attn_scores->data, attn_scores->size * sizeof(float));
    causal_mask_fill_inf(masked->data, context_length);
    print_tensor("masked (attn_scores with -inf above the diagonal):", masked);
    for (size_t i = 0; i < masked->size; i++) attn_weights->data[i] = masked->data[i] / sqrtf((float)d_k);
    softmax_rows(attn_weights->data, attn_weights->data, T, T);
    print_tensor("attn_weights = softmax(masked / sqrt(d_k)):", attn_weights);
    printf("largest difference between the two ways: %.1e\n",
           largest_difference(attn_weights->data, masked_simple_norm->data, attn_weights->size));

    section("3.5.2 Masking additional attention weights with dropout");
    const float p = BOOK_DROP_RATE;
    /* torch.ones(6, 6): the attention weights' shape */
    Tensor *example = new_like(attn_weights);
    for (size_t i = 0; i < example->size; i++) example->data[i] = 1.0f;
    rng_seed(&rng, (uint64_t)seed);
    dropout_forward(example->data, NULL, (long)example->size, p, &rng);
    printf("dropout(example), p = %.1f: each one zeroed with probability p, the others scaled by 1/(1-p) = %.1f\n", p,
           1.0f / (1.0f - p));
    print_tensor(NULL, example);
    /* the same seed: the same positions dropped */
    rng_seed(&rng, (uint64_t)seed);
    dropout_forward(attn_weights->data, NULL, (long)attn_weights->size, p, &rng);
    print_tensor("dropout(attn_weights), the same seed:", attn_weights);

    section("3.5.3 Implementing a compact causal attention class");
    /* torch.stack((inputs, inputs), dim=0): two copies of the inputs */
    Tensor *batch = new_tensor(3, (int[]){BOOK_BATCH, inputs->shape[0], inputs->shape[1]});
    for (int b = 0; b < BOOK_BATCH; b++)
        memcpy(batch->data + b * inputs->size, inputs->data, inputs->size * sizeof(float));
    print_shape("batch", batch);
    const int B = batch->shape[0];
    rng_seed(&rng, (uint64_t)seed);
    Tensor *W_query = new_linear(&rng, d_in, d_out), *W_key = new_linear(&rng, d_in, d_out);
    Tensor *W_value = new_linear(&rng, d_in, d_out);
    Tensor *context_vecs = new_tensor(3, (int[]){B, T, W_value->shape[1]});
    causal_attention_forward(context_vecs->data, batch->data, W_query->data, W_key->data, W_value->data, NULL, B, T,
                             d_in, d_out);
    print_tensor("context_vecs = ca(batch):", context_vecs);
    print_shape("context_vecs", context_vecs);
    return batch;
}

/* ==== 3.6 Extending single-head attention to multi-head attention ==== */

static void walkthrough_multihead(const Tensor *batch, long seed) {
    const int B = batch->shape[0], T = batch->shape[1], d_in = batch->shape[2], d_out = BOOK_D_OUT;
    Rng rng;
    section("3.6.1 Stacking multiple single-head attention layers");
    /* the same seed as CausalAttention above: head 0 gets its weights, and
     * its output is the first d_out columns */
    const int num_heads = BOOK_HEADS;
    const float *head_weights[3 * BOOK_HEADS];
    rng_seed(&rng, (uint64_t)seed);
    for (int i = 0; i < 3 * num_heads; i++) head_weights[i] = new_linear(&rng, d_in, d_out)->data;
    Tensor *stacked = new_tensor(3, (int[]){B, T, num_heads * d_out});
    multihead_wrapper_forward(stacked->data, batch->data, head_weights, B, T, d_in, d_out, num_heads);
    print_tensor("context_vecs = mha(batch), the heads side by side:", stacked);
    print_shape("context_vecs", stacked);

    section("3.6.2 Implementing multi-head attention with weight splits");
    /* nn.Linear's order: W_query, W_key, W_value, then out_proj's weight
     * and bias; the three projections are kept side by side */
    rng_seed(&rng, (uint64_t)seed);
    Tensor *W_query = new_linear(&rng, d_in, d_out), *W_key = new_linear(&rng, d_in, d_out);
    Tensor *W_value = new_linear(&rng, d_in, d_out);
    Tensor *out_proj_weight = new_linear(&rng, d_out, d_out);
    Tensor *out_proj_bias = new_tensor(1, &out_proj_weight->shape[1]);
    init_linear(&rng, out_proj_bias->data, out_proj_bias->size, d_out);
    Tensor *qkv_weight = new_tensor(2, (int[]){d_in, 3 * d_out});
    const Tensor *qkv[3] = {W_query, W_key, W_value};
    for (int i = 0; i < d_in; i++)
        for (int k = 0; k < 3; k++)
            memcpy(qkv_weight->data + (i * 3 + k) * d_out, qkv[k]->data + i * d_out, d_out * sizeof(float));
    MultiHeadAttentionParams params = {qkv_weight->data, NULL, out_proj_weight->data, out_proj_bias->data, NULL, NULL};
    Tensor *context_vecs = new_tensor(3, (int[]){B, T, out_proj_weight->shape[1]});
    multihead_attention_forward_reference(context_vecs->data, NULL, batch->data, &params, NULL, B, T, d_in, d_out,
                                          num_heads);
    print_tensor("context_vecs = mha(batch):", context_vecs);
    print_shape("context_vecs", context_vecs);
    /* the fast version the GPT runs, on the same weights */
    Tensor *fast = new_like(context_vecs);
    MultiHeadAttentionCache cache = {new_tensor(3, (int[]){B, T, 3 * d_out})->data,
                                     new_tensor(4, (int[]){B, num_heads, T, T})->data, new_like(context_vecs)->data,
                                     NULL}; /* NULL: no dropout */
    multihead_attention_forward(fast->data, &cache, batch->data, &params, B, T, d_in, d_out, num_heads);
    printf("the fast version (attention_fast.c), largest difference: %.1e\n",
           largest_difference(fast->data, context_vecs->data, fast->size));
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
    /* the shape of the book's table: 6 tokens of 3 numbers */
    const int rows = sizeof BOOK_INPUTS / sizeof BOOK_INPUTS[0];
    const int cols = sizeof BOOK_INPUTS[0] / sizeof BOOK_INPUTS[0][0];
    Tensor *inputs = new_tensor(2, (int[]){rows, cols});
    memcpy(inputs->data, BOOK_INPUTS, sizeof BOOK_INPUTS);
    print_tensor("inputs (Your journey starts with one step):", inputs);
    walkthrough_simplified(inputs);
    QueryKey sa_v2 = walkthrough_trainable(inputs, seed);
    Tensor *batch = walkthrough_causal(inputs, sa_v2, seed);
    walkthrough_multihead(batch, seed);
    free_tensors();
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
    Tensor output = tensor_view(out, 3, (int[]){(int)B, (int)T, (int)out_dim});
    print_shape("output", &output);
    Tensor first = tensor_view(out, 1, (int[]){out_dim < 6 ? (int)out_dim : 6});
    print_tensor("first output row (its first 6 values at most):", &first);
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
