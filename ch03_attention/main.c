/* ch03: Chapter 3, Coding attention mechanisms.
 *
 *   ch03 walkthrough               the chapter's sections in order, as the notebook prints them
 *   ch03 exercise [3.1|3.2|3.3]    the chapter's exercises, solved
 *   ch03 mha ...                   multi-head attention on a random batch (shapes, timing, and
 *                                  with --reference the difference from the book's version)
 *
 * Run `ch03 COMMAND --help` for the flags of each. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/printing.h"
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

static float largest_difference(const float *a, const float *b, size_t n) {
    float largest = 0.0f;
    for (size_t i = 0; i < n; i++) largest = fmaxf(largest, fabsf(a[i] - b[i]));
    return largest;
}

/* ---- printing like the notebook ------------------------------------------------
 * The walkthrough prints what the notebook prints, as PyTorch and Python
 * write it. Before each cell's output comes a line "In [N]: ...", N the
 * cell's number in the notebook (its execution count), so the two can be
 * read side by side; our own remarks are lines that start with "# ". */

/* A solution the notebook gives as text, in a cell that never ran. */
static void cell_unrun(const char *what) { printf("In [ ]: %s\n", what); }

/* How PyTorch writes the numbers of a float tensor (its default print
 * options: 4 digits, sci_mode chosen per tensor): every number in one
 * format and one width, decided by the nonzero finite ones. When all of
 * them are whole, "1." (so 0/1 masks read as such); when they span more
 * than a factor 1000, or one is below 1e-4 or above 1e8, "1.2345e-02";
 * otherwise "1.2345". This is why the book prints "Sum: tensor(1.)" after
 * softmax but "Sum: tensor(1.0000)" after dividing by the sum: the first
 * sum is exactly 1 in float32, the second is 1 + 2^-23. */
typedef struct {
    bool whole, scientific;
    int width;
} TorchFormat;

static int torch_number(char *buf, size_t size, const TorchFormat *f, float v) {
    if (f->scientific) return snprintf(buf, size, "%.4e", v);
    if (f->whole) return snprintf(buf, size, isfinite(v) ? "%.0f." : "%.0f", v);
    return snprintf(buf, size, "%.4f", v);
}

static TorchFormat torch_format(const float *x, size_t n) {
    TorchFormat f = {true, false, 1};
    double smallest = INFINITY, largest = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || x[i] == 0.0f) continue;
        smallest = fmin(smallest, fabs(x[i]));
        largest = fmax(largest, fabs(x[i]));
        if (x[i] != ceilf(x[i])) f.whole = false;
    }
    if (largest == 0.0) return f; /* no nonzero finite number: nothing decides */
    f.scientific = largest / smallest > 1000.0 || largest > 1e8 || (!f.whole && smallest < 1e-4);
    char buf[64];
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || x[i] == 0.0f) continue;
        int w = torch_number(buf, sizeof buf, &f, x[i]);
        if (w > f.width) f.width = w;
    }
    return f;
}

/* One bracket level per dimension; between the rows of a dimension d
 * levels from the last, d line breaks, then an indent under the first
 * row's bracket. */
static void print_torch_level(const Tensor *t, const TorchFormat *f, int dim, size_t offset) {
    if (dim >= TENSOR_MAX_DIMS) return;
    size_t stride = 1;
    for (int i = dim + 1; i < t->ndim; i++) stride *= t->shape[i];
    putchar('[');
    for (int i = 0; i < t->shape[dim]; i++) {
        if (i > 0 && dim == t->ndim - 1) fputs(", ", stdout);
        if (i > 0 && dim < t->ndim - 1) {
            putchar(',');
            for (int k = dim; k < t->ndim - 1; k++) putchar('\n');
            printf("%*s", 8 + dim, "");
        }
        if (dim == t->ndim - 1) {
            char buf[64];
            torch_number(buf, sizeof buf, f, t->data[offset + i]);
            printf("%*s", f->width, buf);
        } else {
            print_torch_level(t, f, dim + 1, offset + i * stride);
        }
    }
    putchar(']');
}

/* print(t), after an optional prefix on the same line ("Sum: "). */
static void print_torch(const char *prefix, const Tensor *t) {
    TorchFormat f = torch_format(t->data, t->size);
    printf("%stensor(", prefix ? prefix : "");
    print_torch_level(t, &f, 0, 0);
    puts(")");
}

/* print(x) for a tensor of no dimensions, a single number. */
static void print_torch_scalar(const char *prefix, float x) {
    TorchFormat f = torch_format(&x, 1);
    char buf[64];
    torch_number(buf, sizeof buf, &f, x);
    printf("%stensor(%s)\n", prefix ? prefix : "", buf);
}

/* "name.shape: torch.Size([6, 2])", or without a name just the size. */
static void print_shape(const char *name, const Tensor *t) {
    char dims[64];
    tensor_shape_str(t, dims, sizeof dims);
    if (name) printf("%s.shape: torch.Size(%s)\n", name, dims);
    else printf("torch.Size(%s)\n", dims);
}

/* Python's repr of a float: the fewest digits that read back as the same
 * double, and ".0" on a whole number. */
static void print_python_float(const char *prefix, double x) {
    char buf[64];
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, x);
        if (strtod(buf, NULL) == x) break;
    }
    printf("%s%s%s\n", prefix, buf, strpbrk(buf, ".en") ? "" : ".0");
}

/* PyTorch's sum of a short row of floats (fewer than 8, below one vector
 * of its CPU kernel): four partial sums of every fourth number, the rest
 * added to the first, then the others added to it in order. Only the last
 * bit depends on the order, but that bit decides between "1." and
 * "1.0000" above. */
static float torch_sum(const float *x, int n) {
    float partial[4] = {0};
    int i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) partial[k] += x[i + k];
    for (; i < n; i++) partial[0] += x[i];
    for (int k = 1; k < 4; k++) partial[0] += partial[k];
    return partial[0];
}

/* ---- tensors that carry the shapes their operations give ----------------------
 * As in the notebook, every result is a tensor whose shape follows from its
 * operands' (x (T,d_in) @ W (d_in,d_out) is (T,d_out)), and the walkthrough
 * prints those shapes, never sizes of its own. */

/* Every tensor the walkthrough makes, freed together when it ends. */
enum { MAX_TENSORS = 96 };
static Tensor made[MAX_TENSORS];
static int n_made;

static Tensor *new_tensor(int ndim, const int *shape) {
    if (n_made == MAX_TENSORS) fatal("walkthrough: more than %d tensors", MAX_TENSORS);
    made[n_made] = tensor_zeros(ndim, shape);
    return &made[n_made++];
}
static Tensor *new_like(const Tensor *t) { return new_tensor(t->ndim, t->shape); }
static Tensor *new_copy(const Tensor *t) {
    Tensor *copy = new_like(t);
    memcpy(copy->data, t->data, t->size * sizeof(float));
    return copy;
}
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

/* The book's inputs as a (6,3) tensor, and a batch of two copies of them
 * (torch.stack((inputs, inputs), dim=0)). */
static Tensor *book_inputs(void) {
    Tensor *inputs = new_tensor(2, (int[]){sizeof BOOK_INPUTS / sizeof BOOK_INPUTS[0], 3});
    memcpy(inputs->data, BOOK_INPUTS, sizeof BOOK_INPUTS);
    return inputs;
}
static Tensor *stack_twice(const Tensor *inputs) {
    Tensor *batch = new_tensor(3, (int[]){BOOK_BATCH, inputs->shape[0], inputs->shape[1]});
    for (int b = 0; b < BOOK_BATCH; b++)
        memcpy(batch->data + b * inputs->size, inputs->data, inputs->size * sizeof(float));
    return batch;
}

/* ---- the weights: our generator where the book has PyTorch's ---------------------
 * Seeded where the book calls torch.manual_seed, and drawn in the book's
 * order, so that what the book shows of the seeds still holds here: the
 * same seed gives the same weights to SelfAttention_v1 as to 3.4.1,
 * drops the same positions in 3.5.2, and gives the wrapper's first head
 * in 3.6.1 CausalAttention's weights in 3.5.3. */

/* torch.rand(d_in, d_out): U[0,1). */
static Tensor *new_rand(Rng *rng, int d_in, int d_out) {
    Tensor *W = new_tensor(2, (int[]){d_in, d_out});
    rng_fill_uniform(rng, W->data, W->size, 0, 1);
    return W;
}

/* nn.Linear(d_in, d_out)'s weight, stored (d_in,d_out) (x @ W); its
 * initial values, weight and bias alike, are U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)) with fan_in the layer's input width. */
static void init_linear(Rng *rng, float *values, size_t n, int fan_in) {
    float bound = 1.0f / sqrtf((float)fan_in);
    rng_fill_uniform(rng, values, n, -bound, bound);
}
static Tensor *new_linear(Rng *rng, int d_in, int d_out) {
    Tensor *W = new_tensor(2, (int[]){d_in, d_out});
    init_linear(rng, W->data, W->size, d_in);
    return W;
}

/* W_query, W_key, W_value: three projections, in the book's order. */
typedef struct {
    Tensor *W_query, *W_key, *W_value;
} Projections;

static Projections new_rand_projections(Rng *rng, int d_in, int d_out) {
    Projections p;
    p.W_query = new_rand(rng, d_in, d_out);
    p.W_key = new_rand(rng, d_in, d_out);
    p.W_value = new_rand(rng, d_in, d_out);
    return p;
}
static Projections new_linear_projections(Rng *rng, int d_in, int d_out) {
    Projections p;
    p.W_query = new_linear(rng, d_in, d_out);
    p.W_key = new_linear(rng, d_in, d_out);
    p.W_value = new_linear(rng, d_in, d_out);
    return p;
}

/* SelfAttention_v1 or _v2 (the same computation) on x (T,d_in): (T,d_out). */
static Tensor *self_attention(const Tensor *x, Projections p) {
    const int T = x->shape[0], d_in = x->shape[1], d_out = p.W_value->shape[1];
    Tensor *out = new_tensor(2, (int[]){T, d_out}), *weights = new_tensor(2, (int[]){T, T});
    self_attention_forward(out->data, weights->data, x->data, p.W_query->data, p.W_key->data, p.W_value->data, T, d_in,
                           d_out);
    return out;
}

/* MultiHeadAttentionWrapper(d_in, d_out, num_heads) on batch (B,T,d_in)
 * after the seed: each head a CausalAttention with three nn.Linear
 * projections, drawn head by head. (B,T,num_heads*d_out). */
static Tensor *wrapper_forward(const Tensor *batch, Rng *rng, int d_out, int num_heads) {
    const int B = batch->shape[0], T = batch->shape[1], d_in = batch->shape[2];
    const float *head_weights[3 * 16];
    if (num_heads > 16) fatal("wrapper: at most 16 heads");
    for (int h = 0; h < num_heads; h++) {
        Projections p = new_linear_projections(rng, d_in, d_out);
        head_weights[3 * h] = p.W_query->data;
        head_weights[3 * h + 1] = p.W_key->data;
        head_weights[3 * h + 2] = p.W_value->data;
    }
    Tensor *out = new_tensor(3, (int[]){B, T, num_heads * d_out});
    multihead_wrapper_forward(out->data, batch->data, head_weights, B, T, d_in, d_out, num_heads);
    return out;
}

/* ---- walkthrough ------------------------------------------------------------
 * One function per section of the chapter, in the book's order. */

/* ==== 3.1 The problem with modeling long sequences ====
 * ==== 3.2 Capturing data dependencies with attention mechanisms ==== */

static void walkthrough_background(void) {
    section("3.1 The problem with modeling long sequences");
    puts("# no code in this section");
    section("3.2 Capturing data dependencies with attention mechanisms");
    puts("# no code in this section");
}

/* ==== 3.3 Attending to different parts of the input with self-attention ==== */

/* Returns 3.3.1's context vector, which 3.3.2 prints again. */
static Tensor *walkthrough_simple_one_query(const Tensor *inputs) {
    const int T = inputs->shape[0], d_in = inputs->shape[1];
    section("3.3 Attending to different parts of the input with self-attention");
    section("3.3.1 A simple self-attention mechanism without trainable weights");
    const int query = 1; /* x(2), "journey" */
    Tensor x_query = row(inputs, query);
    Tensor *attn_scores_2 = new_tensor(1, &T);
    for (int i = 0; i < T; i++) {
        Tensor x_i = row(inputs, i);
        attn_scores_2->data[i] = vec_dot(x_i.data, x_query.data, d_in);
    }
    cell(3, "the attention scores of the query x(2): its dot product with each input");
    print_torch(NULL, attn_scores_2);
    /* a dot product is the sum of the products: the loop and vec_dot agree */
    float res = 0.0f;
    for (int i = 0; i < d_in; i++) res += inputs->data[i] * x_query.data[i];
    cell(4, "the first score as a loop over the products, and as a dot product");
    print_torch_scalar(NULL, res);
    print_torch_scalar(NULL, vec_dot(inputs->data, x_query.data, d_in));

    Tensor *tmp = new_like(attn_scores_2);
    float sum = torch_sum(attn_scores_2->data, T);
    for (int i = 0; i < T; i++) tmp->data[i] = attn_scores_2->data[i] / sum;
    cell(5, "normalised by dividing by their sum");
    print_torch("Attention weights: ", tmp);
    print_torch_scalar("Sum: ", torch_sum(tmp->data, T));
    /* softmax_naive: exp(x) / sum(exp(x)), as written */
    Tensor *naive = new_like(attn_scores_2);
    for (int i = 0; i < T; i++) naive->data[i] = expf(attn_scores_2->data[i]);
    sum = torch_sum(naive->data, T);
    for (int i = 0; i < T; i++) naive->data[i] /= sum;
    cell(6, "normalised by a softmax written out, exp(x) / sum(exp(x))");
    print_torch("Attention weights: ", naive);
    print_torch_scalar("Sum: ", torch_sum(naive->data, T));
    /* the softmax every later section uses (subtracting the largest score
     * first, so exp cannot overflow) */
    Tensor *attn_weights_2 = new_like(attn_scores_2), *context_vec_2 = new_like(&x_query);
    simple_context_vector(context_vec_2->data, attn_weights_2->data, inputs->data, query, T, d_in);
    cell(7, "normalised by the library's softmax");
    print_torch("Attention weights: ", attn_weights_2);
    print_torch_scalar("Sum: ", torch_sum(attn_weights_2->data, T));
    cell(8, "the context vector: the inputs summed with those weights");
    print_torch(NULL, context_vec_2);
    return context_vec_2;
}

static void walkthrough_simple_all_queries(const Tensor *inputs, const Tensor *context_vec_2) {
    const int T = inputs->shape[0], d_in = inputs->shape[1];
    section("3.3.2 Computing attention weights for all input tokens");
    Tensor *attn_scores = new_tensor(2, (int[]){T, T});
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) {
            Tensor x_i = row(inputs, i), x_j = row(inputs, j);
            attn_scores->data[i * T + j] = vec_dot(x_i.data, x_j.data, d_in);
        }
    cell(9, "every input's scores, by two loops");
    print_torch(NULL, attn_scores);
    /* inputs @ inputs.T: (T,d_in) @ (d_in,T) */
    attention_scores(attn_scores->data, inputs->data, inputs->data, T, d_in);
    cell(10, "the same as one product, inputs @ inputs.T");
    print_torch(NULL, attn_scores);
    Tensor *attn_weights = new_like(attn_scores), *all_context_vecs = new_like(inputs);
    simple_attention(all_context_vecs->data, attn_weights->data, inputs->data, T, d_in);
    cell(11, "the softmax of each row");
    print_torch(NULL, attn_weights);
    /* the notebook adds the second row as it prints it (four decimals),
     * in Python: since 3.12 sum() adds floats with a compensation term
     * (Neumaier's), which we do too */
    double row_2_sum = 0.0, compensation = 0.0;
    for (int j = 0; j < T; j++) {
        char printed[32];
        snprintf(printed, sizeof printed, "%.4f", attn_weights->data[1 * T + j]);
        double x = strtod(printed, NULL), t = row_2_sum + x;
        compensation += fabs(row_2_sum) >= fabs(x) ? (row_2_sum - t) + x : (x - t) + row_2_sum;
        row_2_sum = t;
    }
    Tensor *row_sums = new_tensor(1, &attn_weights->shape[0]);
    for (int i = 0; i < T; i++) row_sums->data[i] = torch_sum(attn_weights->data + i * T, T);
    cell(12, "the second row's printed weights added up, and every row's sum");
    print_python_float("Row 2 sum: ", row_2_sum + compensation);
    print_torch("All row sums: ", row_sums);
    cell(13, "every context vector at once, attn_weights @ inputs");
    print_torch(NULL, all_context_vecs);
    cell(14, "3.3.1's, which is the second row");
    print_torch("Previous 2nd context vector: ", context_vec_2);
}

/* ==== 3.4 Implementing self-attention with trainable weights ==== */

static void walkthrough_step_by_step(const Tensor *inputs, long seed) {
    const int T = inputs->shape[0], d_in = inputs->shape[1], d_out = BOOK_D_OUT;
    section("3.4 Implementing self-attention with trainable weights");
    section("3.4.1 Computing the attention weights step by step");
    puts("# from here on the book's weights (and 3.5.2's dropout) come from PyTorch's random");
    puts("# generator; ours come from common/rng.c, seeded where the book calls torch.manual_seed,");
    puts("# so these numbers are not the book's; every shape, mask and fixed input still is");
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    Projections p = new_rand_projections(&rng, d_in, d_out);
    Tensor x_2 = row(inputs, 1);
    Tensor *query_2 = matmul(&x_2, p.W_query);
    cell(17, "the query of x(2), x_2 @ W_query");
    print_torch(NULL, query_2);
    Tensor *keys = matmul(inputs, p.W_key), *values = matmul(inputs, p.W_value);
    cell(18, "every input's key and value");
    print_shape("keys", keys);
    print_shape("values", values);
    Tensor keys_2 = row(keys, 1);
    cell(19, "the score of query 2 against key 2");
    print_torch_scalar(NULL, vec_dot(query_2->data, keys_2.data, keys->shape[1]));
    /* query_2 @ keys.T: (d_out) @ (d_out,T) */
    Tensor *attn_scores_2 = new_tensor(1, &keys->shape[0]);
    for (int t = 0; t < T; t++) {
        Tensor key = row(keys, t);
        attn_scores_2->data[t] = vec_dot(query_2->data, key.data, keys->shape[1]);
    }
    cell(20, "its scores against every key, query_2 @ keys.T");
    print_torch(NULL, attn_scores_2);
    const int d_k = keys->shape[1];
    Tensor *attn_weights_2 = new_like(attn_scores_2);
    for (int t = 0; t < T; t++) attn_weights_2->data[t] = attn_scores_2->data[t] / sqrtf((float)d_k);
    softmax_rows(attn_weights_2->data, attn_weights_2->data, 1, T);
    cell(21, "the softmax of the scores divided by sqrt(d_k)");
    print_torch(NULL, attn_weights_2);
    cell(22, "the context vector, attn_weights_2 @ values");
    print_torch(NULL, matmul(attn_weights_2, values));
}

/* Returns SelfAttention_v2's weights, which 3.5.1 reuses. */
static Projections walkthrough_self_attention_class(const Tensor *inputs, long seed) {
    const int d_in = inputs->shape[1], d_out = BOOK_D_OUT;
    section("3.4.2 Implementing a compact SelfAttention class");
    /* SelfAttention_v1 draws torch.rand after the same seed as 3.4.1: the
     * same weights, so its second row is 3.4.1's context vector */
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    Projections v1 = new_rand_projections(&rng, d_in, d_out);
    cell(23, "SelfAttention_v1 (torch.rand weights) on the inputs");
    print_torch(NULL, self_attention(inputs, v1));
    rng_seed(&rng, BOOK_V2_SEED);
    Projections v2 = new_linear_projections(&rng, d_in, d_out);
    cell(24, "SelfAttention_v2 (nn.Linear weights, seed 789) on the inputs");
    print_torch(NULL, self_attention(inputs, v2));
    return v2;
}

/* ==== 3.5 Hiding future words with causal attention ==== */

/* Returns the causal attention weights, which 3.5.2 drops out. */
static Tensor *walkthrough_causal_mask(const Tensor *inputs, Projections sa_v2) {
    const int T = inputs->shape[0];
    section("3.5 Hiding future words with causal attention");
    section("3.5.1 Applying a causal attention mask");
    /* sa_v2's queries and keys, step by step */
    Tensor *queries = matmul(inputs, sa_v2.W_query), *keys = matmul(inputs, sa_v2.W_key);
    Tensor *attn_scores = new_tensor(2, (int[]){queries->shape[0], keys->shape[0]});
    attention_scores(attn_scores->data, queries->data, keys->data, T, keys->shape[1]);
    const int d_k = keys->shape[1];
    Tensor *attn_weights = new_like(attn_scores);
    for (size_t i = 0; i < attn_scores->size; i++) attn_weights->data[i] = attn_scores->data[i] / sqrtf((float)d_k);
    softmax_rows(attn_weights->data, attn_weights->data, T, T);
    cell(25, "SelfAttention_v2's attention weights");
    print_torch(NULL, attn_weights);
    const int context_length = attn_scores->shape[0];
    Tensor *mask_simple = new_like(attn_scores);
    for (int i = 0; i < context_length; i++)
        for (int j = 0; j < context_length; j++) mask_simple->data[i * context_length + j] = j <= i;
    cell(26, "ones on and below the diagonal (torch.tril)");
    print_torch(NULL, mask_simple);
    Tensor *masked_simple = new_like(attn_weights);
    for (size_t i = 0; i < masked_simple->size; i++)
        masked_simple->data[i] = attn_weights->data[i] * mask_simple->data[i];
    cell(27, "the weights times the mask: the future zeroed");
    print_torch(NULL, masked_simple);
    Tensor *masked_simple_norm = new_copy(attn_weights);
    causal_mask_renormalize(masked_simple_norm->data, context_length);
    cell(28, "each row divided by its sum");
    print_torch(NULL, masked_simple_norm);
    Tensor *masked = new_copy(attn_scores);
    causal_mask_fill_inf(masked->data, context_length);
    cell(29, "the other way: the scores above the diagonal set to -inf");
    print_torch(NULL, masked);
    for (size_t i = 0; i < masked->size; i++) attn_weights->data[i] = masked->data[i] / sqrtf((float)d_k);
    softmax_rows(attn_weights->data, attn_weights->data, T, T);
    cell(30, "their softmax: the same weights in one pass");
    print_torch(NULL, attn_weights);
    printf("# In [28] and In [30] differ by at most %.1e\n",
           largest_difference(attn_weights->data, masked_simple_norm->data, attn_weights->size));
    return attn_weights;
}

static void walkthrough_dropout(Tensor *attn_weights, long seed) {
    section("3.5.2 Masking additional attention weights with dropout");
    const float p = BOOK_DROP_RATE;
    Rng rng;
    /* torch.ones(6, 6): the attention weights' shape */
    Tensor *example = new_like(attn_weights);
    for (size_t i = 0; i < example->size; i++) example->data[i] = 1.0f;
    rng_seed(&rng, (uint64_t)seed);
    dropout_forward(example->data, NULL, (long)example->size, p, &rng);
    cell(31, "dropout(0.5) on ones: each zeroed with probability 0.5, the others scaled by 1/(1-0.5)");
    print_torch(NULL, example);
    /* the same seed: the same positions dropped */
    rng_seed(&rng, (uint64_t)seed);
    dropout_forward(attn_weights->data, NULL, (long)attn_weights->size, p, &rng);
    cell(32, "on the causal weights, after the same seed: the same positions dropped");
    print_torch(NULL, attn_weights);
}

/* Returns 3.5.3's batch and output, which 3.6 builds on. */
static Tensor *walkthrough_causal_class(const Tensor *inputs, long seed, Tensor **context_vecs) {
    section("3.5.3 Implementing a compact causal self-attention class");
    Tensor *batch = stack_twice(inputs);
    cell(33, "a batch of two copies of the inputs");
    print_shape(NULL, batch);
    const int B = batch->shape[0], T = batch->shape[1], d_in = batch->shape[2], d_out = BOOK_D_OUT;
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    Projections p = new_linear_projections(&rng, d_in, d_out);
    *context_vecs = new_tensor(3, (int[]){B, T, p.W_value->shape[1]});
    causal_attention_forward((*context_vecs)->data, batch->data, p.W_query->data, p.W_key->data, p.W_value->data, NULL,
                             B, T, d_in, d_out);
    cell(34, "CausalAttention (dropout 0.0) on the batch");
    print_torch(NULL, *context_vecs);
    print_shape("context_vecs", *context_vecs);
    return batch;
}

/* ==== 3.6 Extending single-head attention to multi-head attention ==== */

static void walkthrough_wrapper(const Tensor *batch, const Tensor *causal_out, long seed) {
    section("3.6 Extending single-head attention to multi-head attention");
    section("3.6.1 Stacking multiple single-head attention layers");
    const int B = batch->shape[0], T = batch->shape[1], d_out = BOOK_D_OUT;
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    Tensor *context_vecs = wrapper_forward(batch, &rng, d_out, BOOK_HEADS);
    cell(35, "two CausalAttention heads, their outputs side by side");
    print_torch(NULL, context_vecs);
    print_shape("context_vecs", context_vecs);
    /* the first head is drawn first after the same seed as 3.5.3's
     * CausalAttention: the same weights, so its columns are In [34] */
    const int width = context_vecs->shape[2];
    float largest = 0.0f;
    for (int token = 0; token < B * T; token++)
        largest = fmaxf(largest, largest_difference(context_vecs->data + token * width,
                                                    causal_out->data + token * d_out, d_out));
    printf("# the first head (the first %d columns) is In [34]'s output: largest difference %.1e\n", d_out, largest);
}

static void walkthrough_weight_splits(const Tensor *batch, long seed) {
    section("3.6.2 Implementing multi-head attention with weight splits");
    const int B = batch->shape[0], T = batch->shape[1], d_in = batch->shape[2], d_out = BOOK_D_OUT;
    const int num_heads = BOOK_HEADS;
    /* nn.Linear's order: W_query, W_key, W_value, then out_proj's weight
     * and bias; the three projections are kept side by side */
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    Projections p = new_linear_projections(&rng, d_in, d_out);
    Tensor *out_proj_weight = new_linear(&rng, d_out, d_out);
    Tensor *out_proj_bias = new_tensor(1, &out_proj_weight->shape[1]);
    init_linear(&rng, out_proj_bias->data, out_proj_bias->size, d_out);
    Tensor *qkv_weight = new_tensor(2, (int[]){d_in, 3 * d_out});
    const Tensor *qkv[3] = {p.W_query, p.W_key, p.W_value};
    for (int i = 0; i < d_in; i++)
        for (int k = 0; k < 3; k++)
            memcpy(qkv_weight->data + (i * 3 + k) * d_out, qkv[k]->data + i * d_out, d_out * sizeof(float));
    MultiHeadAttentionParams params = {qkv_weight->data, NULL, out_proj_weight->data, out_proj_bias->data, NULL, NULL};
    Tensor *context_vecs = new_tensor(3, (int[]){B, T, out_proj_weight->shape[1]});
    multihead_attention_forward_reference(context_vecs->data, NULL, batch->data, &params, NULL, B, T, d_in, d_out,
                                          num_heads);
    cell(36, "MultiHeadAttention, two heads of one column each, on the batch");
    print_torch(NULL, context_vecs);
    print_shape("context_vecs", context_vecs);
    /* the fast version the GPT runs, on the same weights */
    Tensor *fast = new_like(context_vecs);
    MultiHeadAttentionCache cache = {new_tensor(3, (int[]){B, T, 3 * d_out})->data,
                                     new_tensor(4, (int[]){B, num_heads, T, T})->data, new_like(context_vecs)->data,
                                     NULL}; /* NULL: no dropout */
    multihead_attention_forward(fast->data, &cache, batch->data, &params, B, T, d_in, d_out, num_heads);
    printf("# the fast version (attention_fast.c) differs by at most %.1e\n",
           largest_difference(fast->data, context_vecs->data, fast->size));

    /* a batched matrix product, on the book's fixed (1,2,3,4) tensor:
     * (b, num_heads, num_tokens, head_dim) */
    static const float a_values[1][2][3][4] = {
        {{{0.2745f, 0.6584f, 0.2775f, 0.8573f},
          {0.8993f, 0.0390f, 0.9268f, 0.7388f},
          {0.7179f, 0.7058f, 0.9156f, 0.4340f}},
         {{0.0772f, 0.3565f, 0.1479f, 0.5331f},
          {0.4066f, 0.2318f, 0.4545f, 0.9737f},
          {0.4606f, 0.5159f, 0.4220f, 0.5786f}}}};
    Tensor *a = new_tensor(4, (int[]){1, 2, 3, 4});
    memcpy(a->data, a_values, sizeof a_values);
    const int heads = a->shape[1], tokens = a->shape[2], head_dim = a->shape[3];
    /* a @ a.transpose(2, 3): each head's (tokens,head_dim) times its transpose */
    Tensor *a_scores = new_tensor(4, (int[]){a->shape[0], heads, tokens, tokens});
    for (int h = 0; h < heads; h++)
        attention_scores(a_scores->data + h * tokens * tokens, a->data + h * tokens * head_dim,
                         a->data + h * tokens * head_dim, tokens, head_dim);
    cell(37, "a @ a.transpose(2, 3): every head's scores in one batched product");
    print_torch(NULL, a_scores);
    cell(38, "each head's on its own: the same two matrices");
    const char *labels[2] = {"First head:\n ", "\nSecond head:\n "};
    for (int h = 0; h < heads && h < 2; h++) {
        Tensor head = tensor_view(a->data + h * tokens * head_dim, 2, (int[]){tokens, head_dim});
        Tensor *res = new_tensor(2, (int[]){tokens, tokens});
        attention_scores(res->data, head.data, head.data, tokens, head_dim);
        print_torch(labels[h], res);
    }
}

static void usage_walkthrough(FILE *out) {
    fprintf(out, "usage: ch03 walkthrough [--seed N]\n"
                 "Runs chapter 3's notebook (ch03.ipynb) section by section and prints every value\n"
                 "it prints, each cell's output after a line \"In [N]: ...\", N the cell's number in\n"
                 "the notebook. Section 3.3 and the fixed inputs of 3.5.1 and 3.6.2 use no random\n"
                 "numbers and match the book; the weights from 3.4 on and 3.5.2's dropout come from\n"
                 "our seeded generator, not PyTorch's, so those numbers differ from the book's. The\n"
                 "generator is seeded where the book calls torch.manual_seed(123), with N (default\n"
                 "123), and with 789 for SelfAttention_v2.\n");
}

static int cmd_walkthrough(int argc, char **argv) {
    static const struct option options[] = {
        {"seed", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {0}};
    long seed = 123;
    for (int c; (c = getopt_long(argc, argv, "s:h", options, NULL)) != -1;) {
        if (c == 's') seed = cli_long("--seed", optarg, 0, 0x7fffffffL);
        else if (c == 'h') return usage_walkthrough(stdout), 0;
        else return cli_bad_usage("walkthrough");
    }
    cli_no_arguments("walkthrough", argc, argv);
    Tensor *inputs = book_inputs();
    walkthrough_background();
    Tensor *context_vec_2 = walkthrough_simple_one_query(inputs);
    walkthrough_simple_all_queries(inputs, context_vec_2);
    walkthrough_step_by_step(inputs, seed);
    Projections sa_v2 = walkthrough_self_attention_class(inputs, seed);
    Tensor *causal_weights = walkthrough_causal_mask(inputs, sa_v2);
    walkthrough_dropout(causal_weights, seed);
    Tensor *causal_out;
    Tensor *batch = walkthrough_causal_class(inputs, seed, &causal_out);
    walkthrough_wrapper(batch, causal_out, seed);
    walkthrough_weight_splits(batch, seed);
    free_tensors();
    return 0;
}

/* ---- exercises ------------------------------------------------------------------
 * The chapter's exercises, as the book's exercise-solutions notebook
 * solves them. Exercise 3.1's "In [N]" numbers are that notebook's; 3.2
 * and 3.3 are solved there in text, not in cells that ran, so their
 * outputs follow "In [ ]:". */

/* Exercise 3.1: SelfAttention_v1 given SelfAttention_v2's weights. */
static void exercise_3_1(long seed) {
    section("Exercise 3.1 Comparing SelfAttention_v1 and SelfAttention_v2");
    puts("# Give SelfAttention_v1 the weights of a SelfAttention_v2, so that the two produce the");
    puts("# same context vectors: they differ only in how they draw their first weights.");
    Tensor *inputs = book_inputs();
    const int d_in = inputs->shape[1], d_out = BOOK_D_OUT;
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    Projections v1 = new_rand_projections(&rng, d_in, d_out);
    rng_seed(&rng, (uint64_t)seed);
    Projections v2 = new_linear_projections(&rng, d_in, d_out);
    Tensor *before = self_attention(inputs, v1), *v2_out = self_attention(inputs, v2);
    /* The book copies v2.W_query.weight.T into v1.W_query: nn.Linear keeps
     * its weight (d_out, d_in) and v1 (d_in, d_out). Here every weight is
     * stored (d_in, d_out) already, so the copy needs no transpose. */
    memcpy(v1.W_query->data, v2.W_query->data, v2.W_query->size * sizeof(float));
    memcpy(v1.W_key->data, v2.W_key->data, v2.W_key->size * sizeof(float));
    memcpy(v1.W_value->data, v2.W_value->data, v2.W_value->size * sizeof(float));
    Tensor *v1_out = self_attention(inputs, v1);
    cell(6, "sa_v1 with sa_v2's weights");
    print_torch(NULL, v1_out);
    cell(7, "sa_v2");
    print_torch(NULL, v2_out);
    printf("# the two differ by at most %.1e; before the copy, by up to %.4f\n",
           largest_difference(v1_out->data, v2_out->data, v1_out->size),
           largest_difference(before->data, v2_out->data, before->size));
    free_tensors();
}

/* Exercise 3.2: two heads, two output columns. */
static void exercise_3_2(long seed) {
    section("Exercise 3.2 Returning two-dimensional embedding vectors");
    puts("# Make MultiHeadAttentionWrapper with num_heads=2 return context vectors of 2 numbers");
    puts("# instead of 4: each head's output width d_out becomes 1.");
    Tensor *batch = stack_twice(book_inputs());
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    Tensor *context_vecs = wrapper_forward(batch, &rng, 1, BOOK_HEADS);
    cell_unrun("MultiHeadAttentionWrapper(d_in, d_out=1, num_heads=2) on 3.5.3's batch");
    print_torch(NULL, context_vecs);
    print_shape("context_vecs", context_vecs);
    free_tensors();
}

/* Exercise 3.3: a multi-head attention module of GPT-2's size. */
static void exercise_3_3(void) {
    section("Exercise 3.3 Initializing GPT-2 size attention modules");
    puts("# Make a MultiHeadAttention with the smallest GPT-2's sizes: 12 heads, 768 numbers in and");
    puts("# out, a context of 1024 tokens; and count its parameters.");
    const int context_length = 1024, d_in = 768, d_out = 768, num_heads = 12;
    Rng rng;
    rng_seed(&rng, 123);
    /* MultiHeadAttention's parameters: W_query, W_key, W_value (no bias,
     * the book's qkv_bias=False) side by side, and out_proj with its bias.
     * The causal mask is a buffer, not a parameter. */
    Tensor *qkv_weight = new_tensor(2, (int[]){d_in, 3 * d_out});
    Tensor *out_proj_weight = new_tensor(2, (int[]){d_out, d_out}), *out_proj_bias = new_tensor(1, &d_out);
    init_linear(&rng, qkv_weight->data, qkv_weight->size, d_in);
    init_linear(&rng, out_proj_weight->data, out_proj_weight->size, d_out);
    init_linear(&rng, out_proj_bias->data, out_proj_bias->size, d_out);
    const Tensor *parameters[] = {qkv_weight, out_proj_weight, out_proj_bias};
    size_t count = 0;
    for (size_t i = 0; i < sizeof parameters / sizeof parameters[0]; i++) count += parameters[i]->size;
    cell_unrun("count_parameters(mha)");
    printf("%zu\n", count);
    printf("# %zu in the three projections (%d x %d each), %zu in out_proj and %zu in its bias\n", qkv_weight->size,
           d_in, d_out, out_proj_weight->size, out_proj_bias->size);
    /* and it runs: one sequence of the full context, with the fast version */
    Tensor *x = new_tensor(3, (int[]){1, context_length, d_in});
    rng_fill_normal(&rng, x->data, x->size, 0, 1);
    MultiHeadAttentionParams params = {qkv_weight->data, NULL, out_proj_weight->data, out_proj_bias->data, NULL, NULL};
    MultiHeadAttentionCache cache = {new_tensor(3, (int[]){1, context_length, 3 * d_out})->data,
                                     new_tensor(4, (int[]){1, num_heads, context_length, context_length})->data,
                                     new_tensor(3, (int[]){1, context_length, d_out})->data, NULL};
    Tensor *out = new_tensor(3, (int[]){1, context_length, d_out});
    multihead_attention_forward(out->data, &cache, x->data, &params, 1, context_length, d_in, d_out, num_heads);
    char dims[64];
    printf("# on a batch of one %d-token sequence it gives context vectors of shape %s\n", context_length,
           tensor_shape_str(out, dims, sizeof dims));
    free_tensors();
}

static void usage_exercise(FILE *out) {
    fprintf(out, "usage: ch03 exercise [3.1|3.2|3.3] [--seed N]\n"
                 "Solves one of the chapter's exercises (all of them, in order, when none is named),\n"
                 "printing the question and then what the solution prints, as the book's\n"
                 "exercise-solutions notebook does. The weights come from our generator, seeded\n"
                 "with N (default 123) where the book calls torch.manual_seed(123).\n"
                 "  3.1   SelfAttention_v1 given SelfAttention_v2's weights: the same outputs\n"
                 "  3.2   MultiHeadAttentionWrapper with two heads of width 1: 2-d context vectors\n"
                 "  3.3   a multi-head attention module of GPT-2's size, and its parameter count\n");
}

static int cmd_exercise(int argc, char **argv) {
    static const struct option options[] = {
        {"seed", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {0}};
    long seed = 123;
    for (int c; (c = getopt_long(argc, argv, "s:h", options, NULL)) != -1;) {
        if (c == 's') seed = cli_long("--seed", optarg, 0, 0x7fffffffL);
        else if (c == 'h') return usage_exercise(stdout), 0;
        else return cli_bad_usage("exercise");
    }
    if (optind + 1 < argc) fatal("exercise: unexpected argument '%s'", argv[optind + 1]);
    const char *number = optind < argc ? argv[optind] : NULL;
    bool all = number == NULL, found = false;
    if (all || strcmp(number, "3.1") == 0) exercise_3_1(seed), found = true;
    if (all || strcmp(number, "3.2") == 0) exercise_3_2(seed), found = true;
    if (all || strcmp(number, "3.3") == 0) exercise_3_3(), found = true;
    if (!found) fatal("exercise: no exercise '%s' in chapter 3 (there are 3.1, 3.2 and 3.3)", number);
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
    print_torch("first output row (its first 6 values at most):\n", &first);
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
    {"exercise", cmd_exercise, "the chapter's exercises (3.1, 3.2, 3.3), solved"},
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
