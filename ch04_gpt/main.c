/* ch04: Chapter 4, Implementing a GPT model from scratch to generate text.
 *
 *   ch04 walkthrough      the notebook's cells in order, printing what they print
 *   ch04 exercise [N.M]   the chapter's exercises (4.1, 4.2, 4.3), solved
 *   ch04 generate ...     continue a prompt with an (untrained) GPT, greedily
 *   ch04 params ...       parameter counts and memory of a configuration
 *
 * Run `ch04 COMMAND --help` for the flags of each. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/bpe.h"
#include "../ch02_text/embedding.h"
#include "../ch03_attention/attention.h"
#include "../common/printing.h"
#include "../common/matmul.h"
#include "../common/ops.h"
#include "../common/rng.h"
#include "../common/tensor.h"
#include "../common/cli.h"
#include "../common/util.h"
#include "config.h"
#include "feedforward.h"
#include "gelu.h"
#include "generate.h"
#include "gpt.h"
#include "layernorm.h"

/* ---- printing as the notebook prints ------------------------------------------
 * print(tensor) as PyTorch writes it, with its default options: 4
 * decimals, a tensor of over 1000 values summarised to the first and last
 * 3 of each long dimension, lines of at most 80 characters, every value
 * right-aligned to the widest. Left out: the grad_fn=<...> after a tensor
 * that autograd made (there is no autograd here). */

enum { TORCH_EDGEITEMS = 3, TORCH_THRESHOLD = 1000, TORCH_LINEWIDTH = 80, TORCH_MAX_DIMS = 3 };

/* torch.set_printoptions(sci_mode=False), which In [9] sets for the rest
 * of the notebook: like PyTorch's, a setting for every later print. */
static bool torch_sci_mode_off = false;

typedef struct {
    const float *f; /* the values: floats, */
    const int *i;   /* or ints */
    int ndim, shape[TORCH_MAX_DIMS];
    size_t size;
    bool summarize; /* only the edge items of each long dimension are shown */
    bool whole;     /* floats that are all whole numbers, as "1." */
    bool sci;       /* floats as 1.2345e-08 rather than 0.0000 */
    int width;      /* of the widest value shown */
} TorchPrint;

static bool torch_shown(const TorchPrint *t, int dim, int k) {
    int n = t->shape[dim];
    return !t->summarize || n <= 2 * TORCH_EDGEITEMS || k < TORCH_EDGEITEMS || k >= n - TORCH_EDGEITEMS;
}

/* Whether the value at flat index k is one print(tensor) shows. */
static bool torch_shown_flat(const TorchPrint *t, size_t k) {
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (!torch_shown(t, d, (int)(k % t->shape[d]))) return false;
        k /= t->shape[d];
    }
    return true;
}

static int torch_format(const TorchPrint *t, size_t k, char buf[32]) {
    if (t->i) return snprintf(buf, 32, "%d", t->i[k]);
    if (t->sci) return snprintf(buf, 32, "%.4e", t->f[k]);
    return snprintf(buf, 32, t->whole ? "%.0f." : "%.4f", t->f[k]);
}

/* PyTorch's choice of notation, made by the nonzero values shown: "1."
 * when all are whole numbers (or there are none), so a variance of
 * exactly 1 in float32 prints as 1. and one a rounding away as 1.0000;
 * scientific when they span over 1000x, or one is above 1e8, or (not all
 * whole) one is below 1e-4, unless sci_mode is off. Then one width for all. */
static void torch_choose_format(TorchPrint *t) {
    double lo = INFINITY, hi = 0;
    t->whole = t->f != NULL;
    for (size_t k = 0; t->f && k < t->size; k++) {
        double a = fabs(t->f[k]);
        if (a == 0 || !isfinite(a) || !torch_shown_flat(t, k)) continue;
        lo = fmin(lo, a);
        hi = fmax(hi, a);
        if (a != ceil(a)) t->whole = false;
    }
    t->sci = t->f && !torch_sci_mode_off && hi > 0 && (hi / lo > 1000 || hi > 1e8 || (!t->whole && lo < 1e-4));
    char buf[32];
    for (size_t k = 0; k < t->size; k++)
        if (torch_shown_flat(t, k)) {
            int w = torch_format(t, k, buf);
            if (w > t->width) t->width = w;
        }
}

static TorchPrint torch_tensor(const float *f, const int *ints, int ndim, const int *shape) {
    if (ndim < 1 || ndim > TORCH_MAX_DIMS) fatal("print: a tensor of %d dimensions", ndim);
    TorchPrint t = {.f = f, .i = ints, .ndim = ndim, .size = 1};
    for (int d = 0; d < ndim; d++) t.size *= (size_t)(t.shape[d] = shape[d]);
    t.summarize = t.size > TORCH_THRESHOLD;
    torch_choose_format(&t);
    return t;
}

/* The last dimension: values ", "-separated, as many to a line as fit in
 * the 80 columns after the indent, " ..." standing for those left out. */
static void torch_print_row(const TorchPrint *t, size_t offset, int indent) {
    const int n = t->shape[t->ndim - 1];
    int per_line = (TORCH_LINEWIDTH - indent) / (t->width + 2), on_line = 0;
    if (per_line < 1) per_line = 1;
    char buf[32];
    putchar('[');
    for (int k = 0; k < n; k++) {
        bool dots = !torch_shown(t, t->ndim - 1, k);
        if (dots && k != TORCH_EDGEITEMS) continue;
        if (k) printf(on_line == per_line ? ",\n%*s" : ", ", on_line == per_line ? indent + 1 : 0, "");
        if (on_line == per_line) on_line = 0;
        on_line++;
        if (dots) fputs(" ...", stdout);
        else printf("%*s", t->width, (torch_format(t, offset + k, buf), buf));
    }
    putchar(']');
}

/* One dimension, recursively: its slices joined by "," and a line break
 * (a blank line between the slices of a 3-D tensor), indented one column
 * deeper each level; "..." for the slices a summary leaves out. */
static void torch_print_dim(const TorchPrint *t, int dim, size_t offset, int indent) {
    if (dim == t->ndim - 1 || dim == TORCH_MAX_DIMS - 1) return torch_print_row(t, offset, indent);
    size_t stride = 1;
    for (int d = dim + 1; d < t->ndim; d++) stride *= t->shape[d];
    putchar('[');
    for (int k = 0; k < t->shape[dim]; k++) {
        bool dots = !torch_shown(t, dim, k);
        if (dots && k != TORCH_EDGEITEMS) continue;
        if (k) printf(",%.*s%*s", t->ndim - dim - 1, "\n\n\n", indent + 1, "");
        if (dots) fputs("...", stdout);
        else torch_print_dim(t, dim + 1, offset + k * stride, indent + 1);
    }
    putchar(']');
}

/* print(tensor): "tensor(" then the values, indented under its "(". */
static void torch_print(const float *f, const int *ints, int ndim, const int *shape) {
    TorchPrint t = torch_tensor(f, ints, ndim, shape);
    fputs("tensor(", stdout);
    torch_print_dim(&t, 0, 0, (int)strlen("tensor("));
    puts(")");
}

static void print_floats(const float *x, int ndim, const int *shape) { torch_print(x, NULL, ndim, shape); }
static void print_ints(const int *x, int ndim, const int *shape) { torch_print(NULL, x, ndim, shape); }

/* "torch.Size([2, 4, 768])" */
static void print_size(int ndim, const int *shape) {
    fputs("torch.Size([", stdout);
    for (int d = 0; d < ndim; d++) printf("%s%d", d ? ", " : "", shape[d]);
    fputs("])", stdout);
}

/* A Python float's repr, as print(f"{x}") shows a tensor's .item(): the
 * fewest digits that read back as the same double, in fixed notation from
 * 1e-4 up to 1e16 and as 1.5e-05 outside. */
static const char *python_float_repr(double x, char out[64]) {
    char sci[40];
    int digits = 1;
    while (digits < 17 && (snprintf(sci, sizeof sci, "%.*e", digits - 1, x), strtod(sci, NULL) != x)) digits++;
    snprintf(sci, sizeof sci, "%.*e", digits - 1, x);
    /* sci is [-]d[.ddd]e±XX: take its digits and its exponent apart */
    const char *p = sci, *sign = "";
    if (*p == '-') sign = "-", p++;
    char d[24];
    int n = 0;
    for (; *p != 'e'; p++)
        if (*p != '.') d[n++] = *p;
    d[n] = '\0';
    int exp = atoi(p + 1);
    if (exp < -4 || exp >= 16) /* 1.5e-05 */
        snprintf(out, 64, "%s%c%s%se%c%02d", sign, d[0], n > 1 ? "." : "", d + 1, exp < 0 ? '-' : '+', abs(exp));
    else if (exp < 0) /* 0.00015 */
        snprintf(out, 64, "%s0.%.*s%s", sign, -exp - 1, "000", d);
    else if (n > exp + 1) /* 15.25 */
        snprintf(out, 64, "%s%.*s.%s", sign, exp + 1, d, d + exp + 1);
    else /* a whole number: 1500.0 */
        snprintf(out, 64, "%s%s%.*s.0", sign, d, exp + 1 - n, "000000000000000");
    return out;
}

static void print_text(const Bpe *bpe, const int *ids, int n) {
    ByteBuf text = {0};
    if (!bpe_decode(bpe, ids, n, &text, NULL)) fatal("generated an id outside the tokenizer's vocabulary");
    if (text.len) fwrite(text.data, 1, text.len, stdout);
    bytebuf_free(&text);
}

static GPTConfig preset_or_die(const char *name) {
    GPTConfig c = {0};
    if (!gpt_config_preset(name, &c)) fatal("unknown model preset '%s' (one of: %s)", name, gpt_config_preset_names());
    return c;
}

/* The book's two texts of 4.1, "Every effort moves you" and "Every day
 * holds a", tokenized and stacked into a batch (B,T) (torch.stack: both
 * must have as many tokens). */
typedef struct {
    IntVec ids;
    int B, T;
} Batch;

static Batch book_batch(Bpe *bpe) {
    const char *texts[] = {"Every effort moves you", "Every day holds a"};
    Batch b = {.B = sizeof texts / sizeof texts[0]};
    for (int i = 0; i < b.B; i++) {
        size_t before = b.ids.len;
        bpe_encode(bpe, texts[i], strlen(texts[i]), false, &b.ids);
        if (i == 0) b.T = (int)b.ids.len;
        if ((int)(b.ids.len - before) != b.T) fatal("the texts of a batch must have as many tokens");
    }
    return b;
}

/* ---- parameter counts (4.6, exercises 4.1 and 4.2) ------------------------------ */

/* A configuration's counts as 4.6 computes them, from the table of the
 * model's tensors (gpt_param_table), which needs no memory for the
 * parameters themselves; always with the head untied, since the book's
 * model has its own out_head and counts it. */
typedef struct {
    size_t total;     /* sum(p.numel() for p in model.parameters()) */
    size_t head;      /* the output head's, which weight tying saves */
    int emb_shape[2], head_shape[2];
} ParamCounts;

/* The tensor called name in a table (NULL when the config has none: a qkv
 * bias, say), or, from find_in_table, an exit. */
static const ParamTensor *table_lookup(const ParamTensor *table, int count, const char *name) {
    for (int i = 0; i < count; i++)
        if (strcmp(table[i].name, name) == 0) return &table[i];
    return NULL;
}

static const ParamTensor *find_in_table(const ParamTensor *table, int count, const char *name) {
    const ParamTensor *t = table_lookup(table, count, name);
    if (!t) fatal("the model has no tensor %s", name);
    return t;
}

static ParamCounts param_counts(const GPTConfig *c) {
    GPTConfig untied = *c;
    untied.tie_weights = false;
    int count;
    ParamCounts p;
    char err[256];
    ParamTensor *table = gpt_param_table(&untied, &count, &p.total, err, sizeof err);
    if (!table) fatal("bad model configuration: %s", err);
    const ParamTensor *emb = find_in_table(table, count, "tok_emb.weight");
    const ParamTensor *head = find_in_table(table, count, "out_head.weight");
    p.head = head->size;
    memcpy(p.emb_shape, emb->shape, sizeof p.emb_shape);
    memcpy(p.head_shape, head->shape, sizeof p.head_shape);
    free(table);
    return p;
}

/* In [25]-[28] of the notebook (and the `params` command), one line each. */
static void print_total(const ParamCounts *p) {
    char buf[32];
    printf("Total number of parameters: %s\n", with_commas(p->total, buf));
}
static void print_shapes(const ParamCounts *p) {
    printf("Token embedding layer shape: ");
    print_size(2, p->emb_shape);
    printf("\nOutput layer shape: ");
    print_size(2, p->head_shape);
    putchar('\n');
}
static void print_tied(const ParamCounts *p) {
    char buf[32];
    printf("Number of trainable parameters considering weight tying: %s\n", with_commas(p->total - p->head, buf));
}
/* float32: 4 bytes a parameter, in MB of 1024 * 1024 bytes */
static void print_megabytes(const ParamCounts *p) {
    printf("Total size of the model: %.2f MB\n", p->total * sizeof(float) / (1024.0 * 1024.0));
}

/* ==== the walkthrough: ch04.ipynb cell by cell ==================================
 * Each cell that prints is labelled with its number in the notebook
 * ("In [4]:"), and prints what it prints there, in its words. The
 * notebook seeds torch's generator with torch.manual_seed(123) before
 * each model and input it draws; we seed ours with the same seed at the
 * same places, so what is drawn from it (weights, torch.rand/randn inputs,
 * dropout) and what is computed from that differs from the book, and
 * everything else (shapes, counts, sizes, token ids) is the book's. */

typedef struct {
    Bpe *bpe;
    uint64_t seed;
    Rng rng; /* torch's global generator: reseeded where the notebook calls torch.manual_seed */
    GPTConfig cfg;
    Batch batch;
} Walk;

/* ---- 4.1 Coding an LLM architecture ---- */

/* In [3]/[5]: the DummyGPTModel: the embeddings, blocks and a final norm
 * that return their input unchanged, and the output head. The notebook
 * never calls model.eval() before 4.7, so its models are in training mode
 * and drop_emb drops 10% of the embeddings. */
static void dummy_gpt(Walk *w) {
    GPTConfig cfg = w->cfg;
    cfg.n_layers = 0; /* the parameters are the embeddings' and the head's (and a final norm's we leave unused) */
    rng_seed(&w->rng, w->seed);
    GPTModel *m = gpt_create(&cfg);
    gpt_init_weights(m, w->seed);
    const int B = w->batch.B, T = w->batch.T, N = B * T, C = cfg.emb_dim, V = cfg.vocab_size;
    float *x = xmalloc((size_t)N * C * sizeof(float)), *logits = xmalloc((size_t)N * V * sizeof(float));
    embedding_forward(x, w->batch.ids.data, N, m->tok_emb, V, C);
    add_position_embeddings(x, m->pos_emb, B, T, C);
    dropout_forward(x, NULL, (long)N * C, cfg.drop_rate, &w->rng);
    /* DummyTransformerBlock and DummyLayerNorm: x as it is */
    sgemm(false, true, N, C, V, x, C, m->out_head, C, false, logits, V);
    const int shape[3] = {B, T, V};
    cell(5, "DummyGPTModel(GPT_CONFIG_124M) on the batch");
    printf("Output shape: ");
    print_size(3, shape);
    putchar('\n');
    print_floats(logits, 3, shape);
    free(x);
    free(logits);
    gpt_free(m);
}

static void walk_4_1(Walk *w) {
    section("4.1 Coding an LLM architecture");
    cell(4, "the two texts' token ids, stacked into a batch");
    print_ints(w->batch.ids.data, 2, (int[]){w->batch.B, w->batch.T});
    fprintf(stderr, "initialising the dummy model's embeddings and head...\n");
    dummy_gpt(w);
}

/* ---- 4.2 Normalizing activations with layer normalization ---- */

/* The mean and variance of each row, as x.mean(dim=-1) and x.var(dim=-1)
 * compute them: unbiased (divided by cols - 1), PyTorch's default, or not. */
static void row_stats(const float *x, int rows, int cols, bool unbiased, float *mean, float *var) {
    for (int r = 0; r < rows; r++) {
        float sum = 0, squares = 0;
        for (int c = 0; c < cols; c++) sum += x[r * cols + c];
        mean[r] = sum / cols;
        for (int c = 0; c < cols; c++) squares += (x[r * cols + c] - mean[r]) * (x[r * cols + c] - mean[r]);
        var[r] = squares / (cols - (unbiased ? 1 : 0));
    }
}

/* print("Mean:\n", mean) and the variance: two (rows,1) tensors */
static void print_mean_var(const float *mean, const float *var, int rows) {
    printf("Mean:\n ");
    print_floats(mean, 2, (int[]){rows, 1});
    printf("Variance:\n ");
    print_floats(var, 2, (int[]){rows, 1});
}

enum { EXAMPLE_ROWS = 2, EXAMPLE_IN = 5, EXAMPLE_OUT = 6 };

/* In [6]: nn.Sequential(nn.Linear(5, 6), nn.ReLU()) on torch.randn(2, 5),
 * drawn right after torch.manual_seed(123): the input, then the layer's
 * weight (5, 6) and bias, U(-1/sqrt(5), 1/sqrt(5)) as nn.Linear's. */
static void relu_layer_example(Walk *w, float out[EXAMPLE_ROWS * EXAMPLE_OUT]) {
    enum { ROWS = EXAMPLE_ROWS, IN = EXAMPLE_IN, OUT = EXAMPLE_OUT };
    float example[ROWS * IN], W[IN * OUT], bias[OUT];
    const float bound = 1 / sqrtf(IN);
    rng_seed(&w->rng, w->seed);
    rng_fill_normal(&w->rng, example, ROWS * IN, 0, 1);
    rng_fill_uniform(&w->rng, W, IN * OUT, -bound, bound);
    rng_fill_uniform(&w->rng, bias, OUT, -bound, bound);
    matmul_forward(out, example, W, bias, ROWS, IN, OUT);
    for (int i = 0; i < ROWS * OUT; i++) out[i] = out[i] > 0 ? out[i] : 0;
    cell(6, "nn.Linear(5, 6) and ReLU on torch.randn(2, 5)");
    print_floats(out, 2, (int[]){ROWS, OUT});
}

static void walk_4_2(Walk *w) {
    section("4.2 Normalizing activations with layer normalization");
    enum { ROWS = EXAMPLE_ROWS, OUT = EXAMPLE_OUT };
    float out[ROWS * OUT], normed[ROWS * OUT], mean[ROWS], var[ROWS];
    relu_layer_example(w, out);
    cell(7, "the mean and variance of each row (var: unbiased, torch's default)");
    row_stats(out, ROWS, OUT, true, mean, var);
    print_mean_var(mean, var, ROWS);
    /* In [8]: normalised by hand with that (unbiased) variance, no eps */
    for (int i = 0; i < ROWS * OUT; i++) normed[i] = (out[i] - mean[i / OUT]) / sqrtf(var[i / OUT]);
    cell(8, "normalised by hand, (out - mean) / sqrt(var), and checked the same way");
    printf("Normalized layer outputs:\n ");
    print_floats(normed, 2, (int[]){ROWS, OUT});
    row_stats(normed, ROWS, OUT, true, mean, var);
    print_mean_var(mean, var, ROWS);
    cell(9, "the check again, with torch.set_printoptions(sci_mode=False)");
    torch_sci_mode_off = true; /* torch.set_printoptions(sci_mode=False) */
    print_mean_var(mean, var, ROWS);
    /* In [10]-[12]: the LayerNorm module (biased variance, eps 1e-5, scale
     * 1, shift 0), checked with var(unbiased=False) as it computes it */
    float ln[ROWS * OUT], ln_mean[ROWS], ln_rstd[ROWS], ones[OUT], zeros[OUT] = {0};
    for (int i = 0; i < OUT; i++) ones[i] = 1.0f;
    layernorm_forward(ln, ln_mean, ln_rstd, out, ones, zeros, ROWS, OUT);
    row_stats(ln, ROWS, OUT, false, mean, var);
    cell(12, "LayerNorm(emb_dim=6) on the same outputs, checked with var(unbiased=False)");
    print_mean_var(mean, var, ROWS);
}

/* ---- 4.3 Implementing a feed forward network with GELU activations ---- */

static void gelu_table(void) {
    cell(14, "GELU and ReLU for x from -3 to 3");
    puts("# the notebook plots them; here, a table of the plotted functions\n     x    GELU(x)  ReLU(x)");
    for (int i = -6; i <= 6; i++) {
        float x = i * 0.5f, g;
        gelu_forward(&g, &x, 1);
        printf("%6.2f  %8.4f  %7.4f\n", x, g, x > 0 ? x : 0.0f);
    }
}

/* In [17]: FeedForward(GPT_CONFIG_124M) on torch.rand(2, 3, 768), drawn
 * after 4.2's draws as in the notebook (no reseeding in between) */
static void feedforward_shape(Walk *w) {
    const int C = w->cfg.emb_dim, H = 4 * C;
    Tensor fc1 = tensor_zeros2(C, H), b1 = tensor_zeros1(H), fc2 = tensor_zeros2(H, C), b2 = tensor_zeros1(C);
    tensor_fill_uniform(&fc1, &w->rng, -1 / sqrtf(C), 1 / sqrtf(C));
    tensor_fill_uniform(&b1, &w->rng, -1 / sqrtf(C), 1 / sqrtf(C));
    tensor_fill_uniform(&fc2, &w->rng, -1 / sqrtf(H), 1 / sqrtf(H));
    tensor_fill_uniform(&b2, &w->rng, -1 / sqrtf(H), 1 / sqrtf(H));
    Tensor x = tensor_zeros3(2, 3, C), hidden = tensor_zeros3(2, 3, H), gelu = tensor_zeros3(2, 3, H);
    Tensor out = tensor_zeros3(2, 3, fc2.shape[1]);
    tensor_fill_uniform(&x, &w->rng, 0, 1);
    FeedForwardParams ff = {fc1.data, b1.data, fc2.data, b2.data, NULL, NULL};
    feedforward_forward(out.data, hidden.data, gelu.data, x.data, &ff, x.shape[0] * x.shape[1], x.shape[2]);
    cell(17, "FeedForward(GPT_CONFIG_124M) on torch.rand(2, 3, 768): the output's shape");
    print_size(out.ndim, out.shape);
    putchar('\n');
    Tensor *all[] = {&fc1, &b1, &fc2, &b2, &x, &hidden, &gelu, &out};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
}

static void walk_4_3(Walk *w) {
    section("4.3 Implementing a feed forward network with GELU activations");
    gelu_table();
    cell(16, "GPT_CONFIG_124M[\"emb_dim\"]");
    printf("%d\n", w->cfg.emb_dim);
    feedforward_shape(w);
}

/* ---- 4.4 Adding shortcut connections ---- */

/* In [18]-[20]: the gradients in a deep stack of small layers, with and
 * without shortcut connections (the book's ExampleDeepNeuralNetwork:
 * Linear + GELU layers of sizes 3-3-3-3-3-1, one sample [1, 0, -1], target
 * 0, mean squared error), printed as print_gradients does: each weight's
 * mean absolute gradient. Both models are built right after
 * torch.manual_seed(123), so they have the same weights, and the only
 * difference is the shortcuts. */
static void shortcut_gradients(bool use_shortcut, Rng *rng) {
    enum { LAYERS = 5 };
    const int sizes[LAYERS + 1] = {3, 3, 3, 3, 3, 1};
    float W[LAYERS][9], b[LAYERS][3], grad_W[LAYERS][9] = {{0}}, grad_b[LAYERS][3] = {{0}};
    float x[LAYERS + 1][3] = {{1.0f, 0.0f, -1.0f}}, pre[LAYERS][3], act[LAYERS][3];
    for (int l = 0; l < LAYERS; l++) {
        float bound = 1.0f / sqrtf((float)sizes[l]);
        rng_fill_uniform(rng, W[l], sizes[l] * sizes[l + 1], -bound, bound);
        rng_fill_uniform(rng, b[l], sizes[l + 1], -bound, bound);
    }
    for (int l = 0; l < LAYERS; l++) {
        matmul_forward(pre[l], x[l], W[l], b[l], 1, sizes[l], sizes[l + 1]);
        gelu_forward(act[l], pre[l], sizes[l + 1]);
        bool shortcut = use_shortcut && sizes[l] == sizes[l + 1];
        for (int i = 0; i < sizes[l + 1]; i++) x[l + 1][i] = act[l][i] + (shortcut ? x[l][i] : 0.0f);
    }
    /* loss = (output - 0)^2, so d loss / d output = 2 * output */
    float grad_x[3] = {2.0f * x[LAYERS][0]};
    for (int l = LAYERS - 1; l >= 0; l--) {
        float grad_pre[3] = {0}, grad_in[3] = {0};
        bool shortcut = use_shortcut && sizes[l] == sizes[l + 1];
        gelu_backward(grad_pre, pre[l], grad_x, sizes[l + 1]);
        if (shortcut) memcpy(grad_in, grad_x, sizes[l] * sizeof(float));
        matmul_backward(grad_in, grad_W[l], grad_b[l], grad_pre, x[l], W[l], 1, sizes[l], sizes[l + 1]);
        memcpy(grad_x, grad_in, sizeof grad_in);
    }
    for (int l = 0; l < LAYERS; l++) {
        float sum = 0;
        for (int i = 0; i < sizes[l] * sizes[l + 1]; i++) sum += fabsf(grad_W[l][i]);
        char repr[64];
        printf("layers.%d.0.weight has gradient mean of %s\n", l,
               python_float_repr(sum / (sizes[l] * sizes[l + 1]), repr));
    }
}

static void walk_4_4(Walk *w) {
    section("4.4 Adding shortcut connections");
    cell(19, "the mean absolute gradients without shortcut connections");
    rng_seed(&w->rng, w->seed);
    shortcut_gradients(false, &w->rng);
    cell(20, "the same network (the same seed) with shortcut connections");
    rng_seed(&w->rng, w->seed);
    shortcut_gradients(true, &w->rng);
}

/* ---- 4.5 Connecting attention and linear layers in a transformer block ---- */

/* In [22]: TransformerBlock(GPT_CONFIG_124M) on torch.rand(2, 4, 768), in
 * training mode (dropout on), as a new module is. The block's weights are
 * those of a model of one block (and a vocabulary of one: the embeddings
 * are not used). */
static void walk_4_5(Walk *w) {
    section("4.5 Connecting attention and linear layers in a transformer block");
    rng_seed(&w->rng, w->seed);
    Tensor x = tensor_zeros3(2, 4, w->cfg.emb_dim);
    tensor_fill_uniform(&x, &w->rng, 0, 1);
    GPTConfig one_block = w->cfg;
    one_block.n_layers = 1;
    one_block.vocab_size = 1;
    GPTModel *block = gpt_create(&one_block);
    gpt_init_weights(block, w->seed);
    const int B = x.shape[0], T = x.shape[1], C = x.shape[2];
    BlockActivations acts;
    FloatArena count = {0};
    block_activations_layout(&acts, &count, B, T, 0, C, one_block.n_heads, true);
    float *buffer = xcalloc(count.used, sizeof(float));
    block_activations_layout(&acts, &(FloatArena){.base = buffer}, B, T, 0, C, one_block.n_heads, true);
    GPTDropRates rates = gpt_drop_rates(&one_block);
    transformer_block_forward(&acts, x.data, &block->blocks[0], NULL, B, T, C, one_block.n_heads, rates.attn,
                              rates.shortcut, &w->rng);
    cell(22, "TransformerBlock(GPT_CONFIG_124M) on torch.rand(2, 4, 768)");
    printf("Input shape: ");
    print_size(x.ndim, x.shape);
    printf("\nOutput shape: ");
    print_size(3, (int[]){B, T, C}); /* acts.out is (N,C) = (B*T,C), viewed as (B,T,C) */
    putchar('\n');
    free(buffer);
    tensor_free(&x);
    gpt_free(block);
}

/* ---- 4.6 Coding the GPT model ---- */

/* In [24]-[28]: the model on 4.1's batch (in training mode: dropout on),
 * and its parameter counts from its table of tensors. */
static GPTModel *walk_4_6(Walk *w) {
    section("4.6 Coding the GPT model");
    fprintf(stderr, "initialising the 124M model...\n");
    rng_seed(&w->rng, w->seed);
    GPTModel *model = gpt_create(&w->cfg);
    gpt_init_weights(model, w->seed);
    model->training = true;
    model->rng = w->rng;
    const Batch *b = &w->batch;
    gpt_forward(model, b->ids.data, b->B, b->T);
    const int shape[3] = {model->B, model->T, model->config.vocab_size};
    cell(24, "GPTModel(GPT_CONFIG_124M) on the batch");
    printf("Input batch:\n ");
    print_ints(b->ids.data, 2, (int[]){b->B, b->T});
    printf("\nOutput shape: ");
    print_size(3, shape);
    putchar('\n');
    print_floats(model->logits, 3, shape);
    const ParamTensor *emb = gpt_find_param(model, "tok_emb.weight"), *head = gpt_find_param(model, "out_head.weight");
    ParamCounts p = {.total = model->n_params, .head = head->size};
    memcpy(p.emb_shape, emb->shape, sizeof p.emb_shape);
    memcpy(p.head_shape, head->shape, sizeof p.head_shape);
    cell(25, "its parameters");
    print_total(&p);
    cell(26, "the token embedding's and the output head's shapes");
    print_shapes(&p);
    cell(27, "without the output head, whose weights GPT-2 shares with the token embedding");
    print_tied(&p);
    cell(28, "the size in float32, 4 bytes a parameter");
    print_megabytes(&p);
    return model;
}

/* ---- 4.7 Generating text ---- */

static void walk_4_7(Walk *w, GPTModel *model) {
    section("4.7 Generating text");
    const char *start = "Hello, I am";
    IntVec ids = {0};
    bpe_encode(w->bpe, start, strlen(start), false, &ids);
    cell(30, "\"Hello, I am\", encoded");
    printf("encoded: [");
    for (size_t i = 0; i < ids.len; i++) printf("%s%d", i ? ", " : "", ids.data[i]);
    /* unsqueeze(0): generation runs on a batch of one sequence */
    printf("]\nencoded_tensor.shape: ");
    print_size(2, (int[]){1, (int)ids.len});
    putchar('\n');
    model->training = false; /* model.eval(): no dropout */
    int *seq = xmalloc((ids.len + 6) * sizeof(int));
    memcpy(seq, ids.data, ids.len * sizeof(int));
    int n = generate_greedy(model, seq, (int)ids.len, 6, false, NULL, NULL);
    cell(31, "six more tokens, greedily, after model.eval()");
    printf("Output: ");
    print_ints(seq, 2, (int[]){1, n});
    printf("Output length: %d\n", n);
    cell(32, "decoded");
    print_text(w->bpe, seq, n);
    putchar('\n');
    free(seq);
    intvec_free(&ids);
}

static void walkthrough(uint64_t seed) {
    Walk w = {.bpe = bpe_load_gpt2(), .seed = seed, .cfg = gpt_config_124m()};
    w.batch = book_batch(w.bpe);
    printf("# Chapter 4: Implementing a GPT model from Scratch To Generate Text\n"
           "# ch04.ipynb cell by cell, \"In [N]\" its cell N. What the notebook draws from torch's generator\n"
           "# (weights, torch.rand and torch.randn inputs, dropout) and what is computed from it comes from\n"
           "# our generator here, seeded with %llu where the notebook calls torch.manual_seed(123), so it\n"
           "# differs from the book; everything else is the book's.\n",
           (unsigned long long)seed);
    walk_4_1(&w);
    walk_4_2(&w);
    walk_4_3(&w);
    walk_4_4(&w);
    walk_4_5(&w);
    GPTModel *model = walk_4_6(&w);
    walk_4_7(&w, model);
    gpt_free(model);
    intvec_free(&w.batch.ids);
    bpe_free(w.bpe);
}

static void usage_walkthrough(FILE *out) {
    fprintf(out, "usage: ch04 walkthrough [--seed N]\n"
                 "Goes through the book's notebook for chapter 4 (ch04.ipynb) cell by cell and prints what each\n"
                 "cell prints, labelled \"In [N]:\" as in the notebook. Weights, random inputs and dropout come\n"
                 "from our seeded generator (default seed 123), so those numbers differ from PyTorch's draws.\n"
                 "  --seed N   the seed, used wherever the notebook calls torch.manual_seed(123)\n");
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
    walkthrough((uint64_t)seed);
    return 0;
}

/* ==== the exercises: exercise-solutions.ipynb ===================================
 * Each prints the exercise's question, then our solution's results, with
 * the cells of the solutions notebook labelled as the walkthrough does. */

static ParamTensor *table_of(const GPTConfig *c, int *count) {
    size_t total;
    char err[256];
    ParamTensor *table = gpt_param_table(c, count, &total, err, sizeof err);
    if (!table) fatal("bad model configuration: %s", err);
    return table;
}

/* ---- Exercise 4.1: Parameters in the feed forward versus attention module ---- */

/* The parameters of the module whose names (after "blocks.L.") start with
 * prefix: of block `layer`, or of every block when layer is -1. */
static size_t module_params(const ParamTensor *table, int count, int layer, const char *prefix) {
    size_t sum = 0;
    for (int i = 0; i < count; i++)
        if (table[i].layer >= 0 && (layer < 0 || table[i].layer == layer) &&
            strncmp(table[i].spec->name, prefix, strlen(prefix)) == 0)
            sum += table[i].size;
    return sum;
}

/* A linear layer of the book's block, (in_features, out_features) and
 * whether it has a bias, from our tensors: the weight is (in, out), and
 * the query, key and value projections are the three thirds of one
 * (C, 3C) weight, so `thirds` is 3 for them. */
typedef struct {
    int in, out;
    bool bias;
} Linear;

static Linear linear_of(const ParamTensor *table, int count, const char *weight, const char *bias, int thirds) {
    const ParamTensor *w = find_in_table(table, count, weight);
    return (Linear){w->shape[0], w->shape[1] / thirds, table_lookup(table, count, bias) != NULL};
}

static size_t linear_params(Linear l) { return (size_t)l.in * l.out + (l.bias ? l.out : 0); }

static void print_linear(const char *indent, const char *name, Linear l) {
    printf("%s(%s): Linear(in_features=%d, out_features=%d, bias=%s)\n", indent, name, l.in, l.out,
           l.bias ? "True" : "False");
}

/* "- 1st Linear layer: 768 inputs × 3072 outputs + 3072 bias units = 2,362,368" */
static void print_linear_count(const char *name, Linear l) {
    char buf[32];
    printf("- %s: %d inputs × %d outputs", name, l.in, l.out);
    if (l.bias) printf(" + %d bias units", l.out);
    printf(" = %s\n", with_commas(linear_params(l), buf));
}

typedef struct {
    Linear query, key, value, out_proj, fc1, fc2;
} BlockLinears;

/* In [2]: print(block), PyTorch's listing of the book's TransformerBlock */
static void print_block(const BlockLinears *b, GPTDropRates rates) {
    puts("TransformerBlock(\n  (att): MultiHeadAttention(");
    print_linear("    ", "W_query", b->query);
    print_linear("    ", "W_key", b->key);
    print_linear("    ", "W_value", b->value);
    print_linear("    ", "out_proj", b->out_proj);
    printf("    (dropout): Dropout(p=%g, inplace=False)\n  )\n", rates.attn);
    puts("  (ff): FeedForward(\n    (layers): Sequential(");
    print_linear("      ", "0", b->fc1);
    puts("      (1): GELU()");
    print_linear("      ", "2", b->fc2);
    puts("    )\n  )\n  (norm1): LayerNorm()\n  (norm2): LayerNorm()");
    printf("  (drop_shortcut): Dropout(p=%g, inplace=False)\n)\n", rates.shortcut);
}

/* The solution's bonus: each module's count, layer by layer */
static void print_breakdown(const BlockLinears *b) {
    char x[32], y[32], z[32];
    puts("Feed forward module:");
    print_linear_count("1st Linear layer", b->fc1);
    print_linear_count("2nd Linear layer", b->fc2);
    printf("- Total: 1st Linear layer + 2nd Linear layer = %s + %s = %s\n", with_commas(linear_params(b->fc1), x),
           with_commas(linear_params(b->fc2), y), with_commas(linear_params(b->fc1) + linear_params(b->fc2), z));
    puts("Attention module:");
    print_linear_count("W_query", b->query);
    print_linear_count("W_key", b->key);
    print_linear_count("W_value", b->value);
    print_linear_count("out_proj", b->out_proj);
    /* the three projections are the same size: 3×589,824, as the book writes it */
    size_t one = linear_params(b->query), qkv = one + linear_params(b->key) + linear_params(b->value);
    if (qkv != 3 * one) fatal("the query, key and value projections differ in size");
    printf("- Total: W_query + W_key + W_value + out_proj = 3×%s + %s = %s\n", with_commas(one, x),
           with_commas(linear_params(b->out_proj), y), with_commas(qkv + linear_params(b->out_proj), z));
}

static void exercise_4_1(void) {
    section("Exercise 4.1 Parameters in the feed forward versus attention module");
    puts("# How many parameters does a transformer block's feed forward module have, and how many its\n"
         "# attention module?");
    GPTConfig cfg = gpt_config_124m();
    int n;
    ParamTensor *t = table_of(&cfg, &n);
    BlockLinears b = {
        .query = linear_of(t, n, "blocks.0.att.qkv.weight", "blocks.0.att.qkv.bias", 3),
        .key = linear_of(t, n, "blocks.0.att.qkv.weight", "blocks.0.att.qkv.bias", 3),
        .value = linear_of(t, n, "blocks.0.att.qkv.weight", "blocks.0.att.qkv.bias", 3),
        .out_proj = linear_of(t, n, "blocks.0.att.out_proj.weight", "blocks.0.att.out_proj.bias", 1),
        .fc1 = linear_of(t, n, "blocks.0.ff.fc1.weight", "blocks.0.ff.fc1.bias", 1),
        .fc2 = linear_of(t, n, "blocks.0.ff.fc2.weight", "blocks.0.ff.fc2.bias", 1),
    };
    char buf[32], all[32];
    cell(2, "print(block), the book's TransformerBlock(GPT_CONFIG_124M)");
    print_block(&b, gpt_drop_rates(&cfg));
    cell(3, "the feed forward module's parameters");
    printf("Total number of parameters in feed forward module: %s\n", with_commas(module_params(t, n, 0, "ff."), buf));
    cell(4, "the attention module's parameters");
    printf("Total number of parameters in attention module: %s\n", with_commas(module_params(t, n, 0, "att."), buf));
    puts("# the solution's breakdown (our query, key and value weights are one (768, 2304) matrix, the\n"
         "# three side by side)");
    print_breakdown(&b);
    printf("# in all %d blocks: feed forward %s, attention %s\n", cfg.n_layers,
           with_commas(module_params(t, n, -1, "ff."), buf), with_commas(module_params(t, n, -1, "att."), all));
    free(t);
}

/* ---- Exercise 4.2: Initialize larger GPT models ---- */

static void exercise_4_2(void) {
    section("Exercise 4.2 Initialize larger GPT models");
    puts("# Build GPT-2 medium, large and XL by changing GPT_CONFIG_124M's emb_dim, n_layers and n_heads,\n"
         "# and report each one's parameter count and size in memory.");
    static const char *const names[] = {"gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl"};
    enum { SIZES = sizeof names / sizeof names[0] };
    size_t with_qkv_bias[SIZES];
    cell(6, "each size: get_config(GPT_CONFIG_124M, model_name), then calculate_size");
    for (int i = 0; i < SIZES; i++) {
        /* get_config: GPT_CONFIG_124M with the size's three numbers (the
         * rest, qkv_bias False among them, stays) */
        GPTConfig size = preset_or_die(names[i]), cfg = gpt_config_124m();
        cfg.emb_dim = size.emb_dim;
        cfg.n_layers = size.n_layers;
        cfg.n_heads = size.n_heads;
        ParamCounts p = param_counts(&cfg);
        printf("\n\n%s:\n", names[i]);
        print_total(&p);
        print_tied(&p);
        print_megabytes(&p);
        with_qkv_bias[i] = param_counts(&size).total;
    }
    char buf[32];
    printf("\n# OpenAI's GPT-2 has biases on the query, key and value projections, which GPT_CONFIG_124M\n"
           "# leaves out; with them, as `ch04 params --preset NAME` counts, the totals are\n# ");
    for (int i = 0; i < SIZES; i++) printf("%s%s", i ? ", " : "", with_commas(with_qkv_bias[i], buf));
    puts(".");
}

/* ---- Exercise 4.3: Using separate dropout parameters ---- */

static void print_config_dict(const GPTConfig *c) {
    printf("GPT_CONFIG_124M = {\n    \"vocab_size\": %d,\n    \"context_length\": %d,\n    \"emb_dim\": %d,\n"
           "    \"n_heads\": %d,\n    \"n_layers\": %d,\n",
           c->vocab_size, c->context_length, c->emb_dim, c->n_heads, c->n_layers);
    printf("    \"drop_rate_emb\": %g,\n    \"drop_rate_attn\": %g,\n    \"drop_rate_shortcut\": %g,\n",
           c->drop_rate_emb, c->drop_rate_attn, c->drop_rate_shortcut);
    printf("    \"qkv_bias\": %s\n}\n", c->qkv_bias ? "True" : "False");
}

static size_t count_zeros(const float *mask, size_t n) {
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++) zeros += mask[i] == 0.0f;
    return zeros;
}

static void print_dropped(const char *field, float rate, size_t zeros, size_t n, const char *what) {
    char z[32], all[32];
    printf("%s %g: zeroed %s of %s %s (%.2f%%)\n", field, rate, with_commas(zeros, z), with_commas(n, all), what,
           100.0 * zeros / n);
}

/* The model of the solution, in training mode, run once on 4.1's batch;
 * then the share of zeros in each dropout layer's mask (factors of 0 or
 * 1/(1-p)): about its own rate. */
static void dropout_demo(const GPTConfig *cfg, uint64_t seed) {
    Bpe *bpe = bpe_load_gpt2();
    Batch b = book_batch(bpe);
    fprintf(stderr, "initialising the 124M model...\n");
    GPTModel *m = gpt_create(cfg);
    gpt_init_weights(m, seed);
    m->training = true;
    rng_seed(&m->rng, seed);
    gpt_forward(m, b.ids.data, b.B, b.T);
    const size_t N = (size_t)b.B * b.T, C = cfg->emb_dim, att = (size_t)b.B * cfg->n_heads * b.T * b.T;
    size_t att_zeros = 0, shortcut_zeros = 0;
    for (int l = 0; l < cfg->n_layers; l++) {
        const BlockActivations *a = &m->block_acts[l];
        att_zeros += count_zeros(a->att_dropout, att);
        shortcut_zeros += count_zeros(a->att_out_dropout, N * C) + count_zeros(a->ff_out_dropout, N * C);
    }
    printf("# one forward pass in training mode on 4.1's batch (%d x %d tokens); the share of zeros in each\n"
           "# dropout layer's mask:\n", b.B, b.T);
    print_dropped("drop_rate_emb", cfg->drop_rate_emb, count_zeros(m->emb_dropout, N * C), N * C,
                  "values after the embeddings");
    print_dropped("drop_rate_attn", cfg->drop_rate_attn, att_zeros, att * cfg->n_layers, "attention weights");
    print_dropped("drop_rate_shortcut", cfg->drop_rate_shortcut, shortcut_zeros, 2 * N * C * cfg->n_layers,
                  "values of the branches before their shortcuts");
    gpt_free(m);
    intvec_free(&b.ids);
    bpe_free(bpe);
}

static void exercise_4_3(GPTDropRates rates, uint64_t seed) {
    GPTConfig cfg = gpt_config_124m();
    cfg.separate_dropout = true;
    cfg.drop_rate_emb = rates.emb;
    cfg.drop_rate_attn = rates.attn;
    cfg.drop_rate_shortcut = rates.shortcut;
    char err[256];
    if (!gpt_config_check(&cfg, err, sizeof err)) fatal("exercise 4.3: %s", err);
    section("Exercise 4.3 Using separate dropout parameters");
    puts("# Give the embedding layer, the attention weights and the shortcut connections each their own\n"
         "# dropout rate in the configuration, instead of the one drop_rate.");
    cell(7, "GPT_CONFIG_124M with three dropout rates");
    print_config_dict(&cfg);
    cell(9, "torch.manual_seed(123); model = GPTModel(GPT_CONFIG_124M)");
    puts("# no output in the notebook; ours takes the three rates through GPTConfig's separate_dropout,\n"
         "# and here is what they do");
    dropout_demo(&cfg, seed);
}

static void usage_exercise(FILE *out) {
    fprintf(out, "usage: ch04 exercise [4.1|4.2|4.3] [--drop-rate-emb R] [--drop-rate-attn R]\n"
                 "                     [--drop-rate-shortcut R] [--seed N]\n"
                 "Solves one of chapter 4's exercises (all of them, in order, when none is named), as the book's\n"
                 "exercise-solutions notebook does: prints the question, then our solution's results.\n"
                 "  4.1   parameters in a transformer block's feed forward versus attention module\n"
                 "  4.2   GPT-2 medium, large and XL: parameter counts and sizes in memory\n"
                 "  4.3   separate dropout rates for the embeddings, the attention weights and the shortcuts\n"
                 "Exercise 4.3's flags (the rates default to the solution's 0.1 each):\n"
                 "  --drop-rate-emb R        dropout after the embeddings, in [0, 1)\n"
                 "  --drop-rate-attn R       dropout on the attention weights\n"
                 "  --drop-rate-shortcut R   dropout on the branches before their shortcuts\n"
                 "  --seed N                 seed of the model's weights and dropout (default 123)\n");
}

static int cmd_exercise(int argc, char **argv) {
    static const struct option options[] = {{"drop-rate-emb", required_argument, NULL, 'e'},
                                            {"drop-rate-attn", required_argument, NULL, 'a'},
                                            {"drop-rate-shortcut", required_argument, NULL, 'r'},
                                            {"seed", required_argument, NULL, 's'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    GPTDropRates rates = gpt_drop_rates(&(GPTConfig){.drop_rate = 0.1f});
    long seed = 123;
    bool flags = false;
    for (int c; (c = getopt_long(argc, argv, "h", options, NULL)) != -1;) {
        flags = true;
        switch (c) {
        case 'e': rates.emb = cli_float("--drop-rate-emb", optarg, 0, 1); break;
        case 'a': rates.attn = cli_float("--drop-rate-attn", optarg, 0, 1); break;
        case 'r': rates.shortcut = cli_float("--drop-rate-shortcut", optarg, 0, 1); break;
        case 's': seed = cli_long("--seed", optarg, 0, 0x7fffffffL); break;
        case 'h': usage_exercise(stdout); return 0;
        default: return cli_bad_usage("exercise");
        }
    }
    if (optind + 1 < argc) fatal("exercise: unexpected argument '%s'", argv[optind + 1]);
    const char *number = optind < argc ? argv[optind] : NULL;
    bool all = number == NULL;
    if (!all && strcmp(number, "4.1") != 0 && strcmp(number, "4.2") != 0 && strcmp(number, "4.3") != 0)
        fatal("exercise: no exercise '%s' in chapter 4 (there are 4.1, 4.2 and 4.3)", number);
    if (flags && !all && strcmp(number, "4.3") != 0) fatal("exercise %s takes no flags (they are exercise 4.3's)", number);
    if (all || strcmp(number, "4.1") == 0) exercise_4_1();
    if (all || strcmp(number, "4.2") == 0) exercise_4_2();
    if (all || strcmp(number, "4.3") == 0) exercise_4_3(rates, (uint64_t)seed);
    return 0;
}

/* ---- generate -------------------------------------------------------------- */

typedef struct {
    const Bpe *bpe;
    Progress progress;
    int done;
} StreamState;

static void stream_token(int token, void *user) {
    StreamState *s = user;
    print_text(s->bpe, &token, 1);
    fflush(stdout);
    progress_update(&s->progress, ++s->done);
}

static void usage_generate(FILE *out) {
    fprintf(out,
            "usage: ch04 generate [--prompt TEXT] [--max-new-tokens N] [--preset NAME] [--seed N] [--no-cache]\n"
            "Continues the prompt greedily with a randomly initialised GPT (chapter 5 trains one and loads\n"
            "OpenAI's weights) and prints the prompt and the continuation.\n"
            "  --prompt TEXT        text to continue (default \"Hello, I am\")\n"
            "  --max-new-tokens N   tokens to generate (default 10)\n"
            "  --preset NAME        model size: %s (default 124M)\n"
            "  --seed N             seed of the weight initialisation (default 123)\n"
            "  --no-cache           recompute the whole context every step (the book's generate_text_simple)\n",
            gpt_config_preset_names());
}

static int cmd_generate(int argc, char **argv) {
    static const struct option options[] = {{"prompt", required_argument, NULL, 'p'},
                                            {"max-new-tokens", required_argument, NULL, 'n'},
                                            {"preset", required_argument, NULL, 'm'},
                                            {"seed", required_argument, NULL, 's'},
                                            {"no-cache", no_argument, NULL, 'c'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *prompt = "Hello, I am", *preset = "124M";
    long max_new = 10, seed = 123;
    bool use_cache = true;
    for (int c; (c = getopt_long(argc, argv, "p:n:m:s:ch", options, NULL)) != -1;) {
        switch (c) {
        case 'p': prompt = optarg; break;
        case 'n': max_new = cli_long("--max-new-tokens", optarg, 0, 1 << 20); break;
        case 'm': preset = optarg; break;
        case 's': seed = cli_long("--seed", optarg, 0, 0x7fffffffL); break;
        case 'c': use_cache = false; break;
        case 'h': usage_generate(stdout); return 0;
        default: return cli_bad_usage("generate");
        }
    }
    cli_no_arguments("generate", argc, argv);
    GPTConfig cfg = preset_or_die(preset);
    Bpe *bpe = bpe_load_gpt2();
    IntVec ids = {0};
    bpe_encode(bpe, prompt, strlen(prompt), false, &ids);
    if (ids.len == 0) fatal("generate: the prompt is empty");
    GPTModel *model = gpt_create(&cfg);
    gpt_init_weights(model, (uint64_t)seed);
    int *seq = xmalloc((ids.len + max_new) * sizeof(int));
    memcpy(seq, ids.data, ids.len * sizeof(int));
    print_text(bpe, seq, (int)ids.len);
    fflush(stdout);
    StreamState stream = {.bpe = bpe};
    progress_start(&stream.progress, "generate", "tokens", max_new);
    double t0 = now_seconds();
    generate_greedy(model, seq, (int)ids.len, (int)max_new, use_cache, stream_token, &stream);
    double seconds = now_seconds() - t0;
    progress_finish(&stream.progress);
    putchar('\n');
    fprintf(stderr, "%ld tokens in %.2f s (%.1f tokens/s, %s)\n", max_new, seconds, max_new / seconds,
            use_cache ? "KV cache" : "no cache");
    free(seq);
    gpt_free(model);
    intvec_free(&ids);
    bpe_free(bpe);
    return 0;
}

static void usage_params(FILE *out) {
    fprintf(out, "usage: ch04 params [--preset NAME]\n"
                 "Prints the parameter counts and memory of a model configuration (4.6).\n"
                 "  --preset NAME   %s (default 124M)\n",
            gpt_config_preset_names());
}

static int cmd_params(int argc, char **argv) {
    static const struct option options[] = {{"preset", required_argument, NULL, 'm'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *preset = "124M";
    for (int c; (c = getopt_long(argc, argv, "m:h", options, NULL)) != -1;) {
        if (c == 'm') preset = optarg;
        else if (c == 'h') return usage_params(stdout), 0;
        else return cli_bad_usage("params");
    }
    cli_no_arguments("params", argc, argv);
    GPTConfig cfg = preset_or_die(preset);
    ParamCounts p = param_counts(&cfg);
    print_total(&p);
    print_shapes(&p);
    print_tied(&p);
    print_megabytes(&p);
    return 0;
}

static const CliCommand commands[] = {
    {"walkthrough", cmd_walkthrough, "the book's notebook (ch04.ipynb) cell by cell, printing what each cell prints"},
    {"exercise", cmd_exercise, "the chapter's exercises solved: 4.1, 4.2, 4.3"},
    {"generate", cmd_generate, "continue a prompt greedily with a (randomly initialised) GPT"},
    {"params", cmd_params, "parameter counts and memory of a configuration"},
};

int main(int argc, char **argv) {
    static const CliProgram program = {
        .name = "ch04",
        .description =
            "Chapter 4 of Build a Large Language Model (From Scratch): implementing a GPT model.",
        .footer = NULL,
        .commands = commands,
        .n_commands = sizeof commands / sizeof commands[0],
    };
    return cli_main(&program, argc, argv);
}
