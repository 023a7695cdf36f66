/* ch04: Chapter 4, Implementing a GPT model from scratch to generate text.
 *
 *   ch04 walkthrough      the chapter's sections in order, as the notebook prints them
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

static void section(const char *title) { printf("\n== %s ==\n", title); }

static void print_matrix(const char *label, float *data, int rows, int cols) {
    if (label) printf("%s\n", label);
    Tensor t = rows == 1 ? tensor_view(data, 1, (int[]){cols}) : tensor_view(data, 2, (int[]){rows, cols});
    tensor_print(stdout, &t, 4);
}

/* ids (rows,cols) as PyTorch prints a 2-D tensor of ints. */
static void print_id_matrix(const int *ids, int rows, int cols) {
    printf("tensor([");
    for (int r = 0; r < rows; r++) {
        printf("%s[", r ? ",\n        " : "");
        for (int c = 0; c < cols; c++) printf("%s%d", c ? ", " : "", ids[r * cols + c]);
        putchar(']');
    }
    puts("])");
}

/* "(2, 3, 768)": a tensor's shape as a Python tuple. */
static const char *shape_tuple(const Tensor *t, char buf[64]) {
    int len = 0;
    for (int d = 0; d < t->ndim; d++) len += snprintf(buf + len, 64 - len, "%s%d", d ? ", " : "(", t->shape[d]);
    snprintf(buf + len, 64 - len, ")");
    return buf;
}

static void print_ids(const int *ids, int n) {
    putchar('[');
    for (int i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
    puts("]");
}

static void print_text(const Bpe *bpe, const int *ids, int n) {
    ByteBuf text = {0};
    if (!bpe_decode(bpe, ids, n, &text, NULL)) fatal("generated an id outside the tokenizer's vocabulary");
    if (text.len) fwrite(text.data, 1, text.len, stdout);
    bytebuf_free(&text);
}

static GPTConfig preset_or_die(const char *name) {
    GPTConfig c;
    if (!gpt_config_preset(name, &c)) fatal("unknown model preset '%s' (one of: %s)", name, gpt_config_preset_names());
    return c;
}

/* ---- params ------------------------------------------------------------- */

/* n with thousands separators, as Python's f"{n:,}" prints it. */
static const char *with_commas(size_t n, char buf[32]) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%zu", n), o = 0;
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static const ParamTensor *find_in_table(const ParamTensor *table, int count, const char *name) {
    for (int i = 0; i < count; i++)
        if (strcmp(table[i].name, name) == 0) return &table[i];
    fatal("the model has no tensor %s", name);
}

/* 4.6's counts: every parameter with an untied head, then without the head
 * (what tying it to the token embedding saves), and the float32 size; all
 * from the table of the model's tensors (gpt_param_table), which needs no
 * memory for the parameters themselves. */
static void print_param_counts(const GPTConfig *c) {
    GPTConfig untied = *c;
    untied.tie_weights = false;
    int count;
    size_t total;
    char err[256], buf[32];
    ParamTensor *table = gpt_param_table(&untied, &count, &total, err, sizeof err);
    if (!table) fatal("bad model configuration: %s", err);
    const ParamTensor *emb = find_in_table(table, count, "tok_emb.weight");
    const ParamTensor *head = find_in_table(table, count, "out_head.weight");
    printf("Total number of parameters: %s\n", with_commas(total, buf));
    printf("Token embedding layer shape: torch.Size([%d, %d])\n", emb->shape[0], emb->shape[1]);
    printf("Output layer shape: torch.Size([%d, %d])\n", head->shape[0], head->shape[1]);
    printf("Number of trainable parameters considering weight tying: %s\n", with_commas(total - head->size, buf));
    printf("Total size of the model: %.2f MB\n", total * sizeof(float) / (1024.0 * 1024.0));
    free(table);
}

/* ---- walkthrough ---------------------------------------------------------- */

/* 4.4: gradients in a deep stack of small layers, with and without
 * shortcut connections (the book's ExampleDeepNeuralNetwork, sizes
 * 3-3-3-3-3-1, one sample [1, 0, -1], target 0, mean squared error). */
static void shortcut_gradients(bool use_shortcut, Rng *rng) {
    enum { LAYERS = 5 };
    const int sizes[LAYERS + 1] = {3, 3, 3, 3, 3, 1};
    float W[LAYERS][9], b[LAYERS][3], grad_W[LAYERS][9], grad_b[LAYERS][3];
    float x[LAYERS + 1][3] = {{1.0f, 0.0f, -1.0f}}, pre[LAYERS][3], act[LAYERS][3];
    for (int l = 0; l < LAYERS; l++) {
        float bound = 1.0f / sqrtf((float)sizes[l]);
        rng_fill_uniform(rng, W[l], sizes[l] * sizes[l + 1], -bound, bound);
        rng_fill_uniform(rng, b[l], sizes[l + 1], -bound, bound);
        memset(grad_W[l], 0, sizeof grad_W[l]);
        memset(grad_b[l], 0, sizeof grad_b[l]);
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
        float mean_abs = 0;
        for (int i = 0; i < sizes[l] * sizes[l + 1]; i++) mean_abs += fabsf(grad_W[l][i]);
        printf("layers.%d.0.weight has gradient mean of %.10f\n", l, mean_abs / (sizes[l] * sizes[l + 1]));
    }
}

static void walkthrough(uint64_t seed) {
    Bpe *bpe = bpe_load_gpt2();
    Rng rng;
    rng_seed(&rng, seed);
    GPTConfig cfg = gpt_config_124m();

    section("4.1 Coding an LLM architecture");
    /* torch.stack of the two texts' tokens: a batch (B,T) */
    const char *texts[] = {"Every effort moves you", "Every day holds a"};
    const int batch_B = sizeof texts / sizeof texts[0];
    IntVec tokens = {0};
    int batch_T = 0;
    for (int i = 0; i < batch_B; i++) {
        size_t before = tokens.len;
        bpe_encode(bpe, texts[i], strlen(texts[i]), false, &tokens);
        if (i == 0) batch_T = (int)tokens.len;
        if ((int)(tokens.len - before) != batch_T) fatal("the texts of a batch must have as many tokens");
    }
    const int *batch = tokens.data;
    print_id_matrix(batch, batch_B, batch_T);
    printf("GPT_CONFIG_124M: vocab_size %d, context_length %d, emb_dim %d, n_heads %d, n_layers %d, "
           "drop_rate %.1f, qkv_bias %s\n",
           cfg.vocab_size, cfg.context_length, cfg.emb_dim, cfg.n_heads, cfg.n_layers, cfg.drop_rate,
           cfg.qkv_bias ? "True" : "False");

    section("4.2 Normalizing activations with layer normalization");
    /* the book's example: nn.Linear(5, 6) + ReLU on a batch of 2 rows */
    enum { ROWS = 2, IN = 5, OUT = 6 };
    float example[ROWS * IN], W[IN * OUT], bias[OUT], out[ROWS * OUT], normed[ROWS * OUT], ones[OUT], zeros[OUT] = {0};
    const float bound = 1 / sqrtf(IN);
    rng_fill_normal(&rng, example, ROWS * IN, 0, 1);
    rng_fill_uniform(&rng, W, IN * OUT, -bound, bound);
    rng_fill_uniform(&rng, bias, OUT, -bound, bound);
    matmul_forward(out, example, W, bias, ROWS, IN, OUT);
    for (int i = 0; i < ROWS * OUT; i++) out[i] = out[i] > 0 ? out[i] : 0; /* ReLU */
    printf("Linear(%d, %d) + ReLU of a random (%d, %d) batch:\n", IN, OUT, ROWS, IN);
    print_matrix(NULL, out, ROWS, OUT);
    for (int i = 0; i < OUT; i++) ones[i] = 1.0f;
    float mean[ROWS], rstd[ROWS], var[ROWS];
    layernorm_forward(normed, mean, rstd, out, ones, zeros, ROWS, OUT);
    for (int r = 0; r < ROWS; r++) var[r] = 1 / (rstd[r] * rstd[r]) - LAYERNORM_EPS;
    printf("Mean before:\n ");
    print_matrix(NULL, mean, ROWS, 1);
    printf("Variance before:\n ");
    print_matrix(NULL, var, ROWS, 1);
    print_matrix("Normalized layer outputs:", normed, ROWS, OUT);
    for (int r = 0; r < ROWS; r++) {
        float m = 0, v = 0;
        for (int c = 0; c < OUT; c++) m += normed[r * OUT + c] / OUT;
        for (int c = 0; c < OUT; c++) v += (normed[r * OUT + c] - m) * (normed[r * OUT + c] - m) / OUT;
        printf("row %d after: mean %.4f, variance (biased) %.4f\n", r, fabsf(m) < 5e-5f ? 0.0f : m, v);
    }

    section("4.3 Implementing a feed forward network with GELU activations");
    puts("     x    GELU(x)  ReLU(x)");
    for (int i = -6; i <= 6; i++) {
        float x = i * 0.5f, g;
        gelu_forward(&g, &x, 1);
        printf("%6.2f  %8.4f  %7.4f\n", x, g, x > 0 ? x : 0.0f);
    }
    /* FeedForward(GPT_CONFIG_124M) on torch.rand(2, 3, 768): the network of
     * a model of one block (also 4.5's: the embeddings are not used), on an
     * input from a generator of its own, so that the sections after this one
     * draw what they would without it */
    GPTConfig one_block = cfg;
    one_block.n_layers = 1;
    one_block.vocab_size = 1;
    GPTModel *block_model = gpt_create(&one_block);
    gpt_init_weights(block_model, seed);
    const BlockWeights *w = &block_model->blocks[0];
    const ParamTensor *fc1 = gpt_find_param(block_model, "blocks.0.ff.fc1.weight");
    const ParamTensor *fc2 = gpt_find_param(block_model, "blocks.0.ff.fc2.weight");
    Tensor ff_in = tensor_zeros3(2, 3, fc1->shape[0]), ff_hidden = tensor_zeros3(2, 3, fc1->shape[1]);
    Tensor ff_gelu = tensor_zeros3(2, 3, fc1->shape[1]), ff_out = tensor_zeros3(2, 3, fc2->shape[1]);
    Rng ff_rng;
    rng_seed(&ff_rng, seed);
    tensor_fill_uniform(&ff_in, &ff_rng, 0, 1);
    FeedForwardParams ff = {w->fc1_weight, w->fc1_bias, w->fc2_weight, w->fc2_bias, NULL, NULL};
    feedforward_forward(ff_out.data, ff_hidden.data, ff_gelu.data, ff_in.data, &ff, ff_in.shape[0] * ff_in.shape[1],
                        ff_in.shape[2]);
    char in_shape[64], hidden_shape[64], out_shape[64];
    printf("FeedForward: %s -> expand to %s -> GELU -> %s\n", shape_tuple(&ff_in, in_shape),
           shape_tuple(&ff_hidden, hidden_shape), shape_tuple(&ff_out, out_shape));
    tensor_free(&ff_in);
    tensor_free(&ff_hidden);
    tensor_free(&ff_gelu);
    tensor_free(&ff_out);

    section("4.4 Adding shortcut connections");
    puts("without shortcut connections:");
    shortcut_gradients(false, &rng);
    puts("with shortcut connections:");
    shortcut_gradients(true, &rng);

    section("4.5 Connecting attention and linear layers in a transformer block");
    /* the block of 4.3's model on torch.rand(2, 4, 768) */
    Tensor x = tensor_zeros3(2, 4, cfg.emb_dim);
    tensor_fill_uniform(&x, &rng, 0, 1);
    const int B = x.shape[0], T = x.shape[1], C = x.shape[2];
    int *no_ids = xcalloc((size_t)B * T, sizeof(int));
    gpt_forward(block_model, no_ids, B, T); /* lays out the activation buffers */
    transformer_block_forward(&block_model->block_acts[0], x.data, &block_model->blocks[0], NULL, B, T, C, cfg.n_heads,
                              0.0f, NULL); /* no KV cache, no dropout */
    const Tensor block_out = tensor_view(block_model->block_acts[0].out, 3, (int[]){block_model->B, block_model->T, C});
    char shape[64];
    printf("Input shape: torch.Size(%s)\n", tensor_shape_str(&x, shape, sizeof shape));
    printf("Output shape: torch.Size(%s)\n", tensor_shape_str(&block_out, shape, sizeof shape));
    free(no_ids);
    tensor_free(&x);
    gpt_free(block_model);

    section("4.6 Coding the GPT model");
    fprintf(stderr, "initialising the 124M model...\n");
    GPTModel *model = gpt_create(&cfg);
    gpt_init_weights(model, seed);
    gpt_forward(model, batch, batch_B, batch_T);
    printf("Input batch:\n ");
    print_id_matrix(batch, batch_B, batch_T);
    printf("\nOutput shape: torch.Size([%d, %d, %d])\n", model->B, model->T, model->config.vocab_size);
    printf("first logits of the first token: ");
    print_matrix(NULL, model->logits, 1, 5);
    print_param_counts(&cfg);

    section("4.7 Generating text");
    const char *start = "Hello, I am";
    IntVec ids = {0};
    bpe_encode(bpe, start, strlen(start), false, &ids);
    printf("encoded: ");
    print_ids(ids.data, (int)ids.len);
    /* unsqueeze(0): generation runs on one sequence, a batch of 1 */
    printf("encoded_tensor.shape: torch.Size([1, %zu])\n", ids.len);
    int *seq = xmalloc((ids.len + 6) * sizeof(int));
    memcpy(seq, ids.data, ids.len * sizeof(int));
    int n = generate_greedy(model, seq, (int)ids.len, 6, false, NULL, NULL);
    printf("Output: ");
    print_ids(seq, n);
    printf("Output length: %d\n", n);
    print_text(bpe, seq, n);
    puts("\n(an untrained model: chapter 5 trains it)");
    free(seq);
    intvec_free(&ids);
    intvec_free(&tokens);
    gpt_free(model);
    bpe_free(bpe);
}

static void usage_walkthrough(FILE *out) {
    fprintf(out, "usage: ch04 walkthrough [--seed N]\n"
                 "Runs chapter 4's sections in order and prints what the book's notebook prints. Weights come\n"
                 "from our seeded generator (default seed 123), so the numbers differ from PyTorch's draws.\n");
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
    print_param_counts(&cfg);
    return 0;
}

static const CliCommand commands[] = {
    {"walkthrough", cmd_walkthrough, "the chapter's sections in order, as the book's notebook prints them"},
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
