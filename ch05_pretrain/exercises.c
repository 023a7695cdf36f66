/* exercises.c: see exercises.h. Each exercise prints its question, then
 * our solution's results, the solutions notebook's cells labelled as the
 * walkthrough labels ch05.ipynb's (notebook.h). Where the book needs
 * OpenAI's weights or the model trained in 5.2, --model (or DATA_DIR/gpt2/)
 * gives them; without them the same code runs on a small GPT, so every
 * exercise runs in seconds. */
#include "exercises.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/utf8.h"
#include "../ch04_gpt/generate.h"
#include "../common/cli.h"
#include "../common/util.h"
#include "gpt_weights.h"
#include "notebook.h"
#include "pretrain.h"
#include "sampling.h"
#include "train.h"

static const char START_CONTEXT[] = "Every effort moves you";

/* ---- the models the exercises run ------------------------------------------ */

/* The small GPT of the exercises' quick versions: the book's
 * GPT_CONFIG_124M with the given context and 32 channels in 2 layers of 2
 * heads, random weights (seed 123). */
static GPTModel *small_gpt(int context) {
    GPTConfig c = gpt_config_124m();
    c.context_length = context;
    c.emb_dim = 32, c.n_layers = 2, c.n_heads = 2;
    GPTModel *m = gpt_create(&c);
    gpt_init_weights(m, 123);
    return m;
}

typedef struct {
    GPTModel *gpt;
    Bpe *tokenizer;
} LoadedModel;

/* The model at path (any of gpt_load_any's formats), or the small GPT when
 * path is NULL; in evaluation mode. A remark says which. */
static LoadedModel exercise_model(const char *path, int small_context) {
    LoadedModel lm;
    if (path) {
        lm.gpt = gpt_load_any(path);
        lm.tokenizer = gpt_load_tokenizer(path);
        if (bpe_vocab_size(lm.tokenizer) > lm.gpt->config.vocab_size) {
            int tokens = bpe_vocab_size(lm.tokenizer), vocab = lm.gpt->config.vocab_size;
            gpt_free(lm.gpt); /* freed before exiting, so that LeakSanitizer sees no leak at any -O */
            bpe_free(lm.tokenizer);
            fatal("the tokenizer has %d tokens but the model only %d", tokens, vocab);
        }
        printf("# the model: %s\n", path);
    } else {
        lm.gpt = small_gpt(small_context);
        lm.tokenizer = bpe_load_gpt2();
        printf("# the model: a small GPT_CONFIG_124M (%d channels, %d layers) with random weights\n",
               lm.gpt->config.emb_dim, lm.gpt->config.n_layers);
    }
    lm.gpt->training = false;
    return lm;
}

static void model_free(LoadedModel *lm) {
    gpt_free(lm->gpt);
    bpe_free(lm->tokenizer);
}

/* OpenAI's GPT-2 of this size in DATA_DIR/gpt2/SIZE, if `make gpt2-SIZE`
 * has fetched it (malloc'd), else NULL. */
static char *openai_model_dir(const char *size) {
    char relative[64];
    snprintf(relative, sizeof relative, "gpt2/%s", size);
    char *dir = path_join(data_dir(), relative), *hparams = path_join(dir, "hparams.json"), *index = path_join(dir, "model.ckpt.index");
    bool present = file_exists(hparams) && file_exists(index);
    free(hparams);
    free(index);
    if (present) return dir;
    free(dir);
    return NULL;
}

/* start_context continued by max_new tokens, decoded (malloc'd): greedy
 * without the KV cache, as the book's generate_text_simple, when s is NULL,
 * else the book's generate() with sampler s. */
static char *continue_text(LoadedModel *lm, int max_new, Sampler *s) {
    IntVec ids = {0};
    bpe_encode(lm->tokenizer, START_CONTEXT, strlen(START_CONTEXT), false, &ids);
    int *seq = xmalloc((ids.len + max_new) * sizeof(int));
    memcpy(seq, ids.data, ids.len * sizeof(int));
    int n = s ? generate(lm->gpt, seq, (int)ids.len, max_new, s, NULL, NULL)
              : generate_greedy(lm->gpt, seq, (int)ids.len, max_new, false, NULL, NULL);
    ByteBuf text = {0};
    if (!bpe_decode(lm->tokenizer, seq, n, &text, NULL)) fatal("the model produced an id outside the tokenizer's vocabulary");
    bytebuf_append(&text, "", 1);
    free(seq);
    intvec_free(&ids);
    return text.data;
}

/* print("Output text:\n", token_ids_to_text(token_ids, tokenizer)) */
static void print_output_text(const char *text) { printf("Output text:\n %s\n", text); }

/* ---- Exercise 5.1 ------------------------------------------------------------ */

static void exercise_5_1(void) {
    section("Exercise 5.1 Temperature-scaled softmax scores and sampling probabilities");
    puts("# How often is \"pizza\" drawn in 1000 samples at the temperatures 1, 0.1 and 5, and what is the\n"
         "# actual probability of drawing it?");
    const float temperatures[] = {1.0f, 0.1f, 5.0f};
    enum { N_T = sizeof temperatures / sizeof temperatures[0], V = TOY_VOCAB_SIZE, PIZZA = 6 };
    float scaled_probas[N_T][V];
    for (int t = 0; t < N_T; t++)
        softmax_with_temperature(scaled_probas[t], TOY_NEXT_TOKEN_LOGITS, V, temperatures[t]);
    cell(2, "scaled_probas = [softmax_with_temperature(next_token_logits, T) for T in temperatures]");
    puts("# the cell prints nothing; the probabilities it computes, temperature by temperature:");
    for (int t = 0; t < N_T; t++) {
        printf("Temperature %g: ", temperatures[t]);
        print_torch_vector(scaled_probas[t], V);
    }
    cell(3, "print_sampled_tokens(probas) at each temperature");
    puts("# the book draws with torch's random generator; these 1000 draws at each temperature are\n# ours (seed 123)");
    int counts[N_T][V];
    for (int t = 0; t < N_T; t++) {
        printf("\n\nTemperature: %g\n", temperatures[t]);
        print_sampled_tokens(scaled_probas[t], 123, 0, counts[t]);
    }
    cell(4, "scaled_probas[2][6]: the probability of \"pizza\" at temperature 5");
    print_torch_scalar(scaled_probas[2][PIZZA]);
    printf("# \"pizza\" was drawn %d, %d and %d times: at temperature 5 an estimate of %.1f%%, its probability\n"
           "# %.1f%%; at 1 and 0.1 its probability is only %.1e and %.1e\n",
           counts[0][PIZZA], counts[1][PIZZA], counts[2][PIZZA], counts[2][PIZZA] / 10.0,
           100.0 * scaled_probas[2][PIZZA], scaled_probas[0][PIZZA], scaled_probas[1][PIZZA]);
}

/* ---- Exercise 5.2 ------------------------------------------------------------ */

/* The entropy in bits of the next token's distribution after the prompt
 * under s's top-k and temperature: how much choice the setting leaves. */
static double first_token_entropy(LoadedModel *lm, const Sampler *s) {
    IntVec ids = {0};
    bpe_encode(lm->tokenizer, START_CONTEXT, strlen(START_CONTEXT), false, &ids);
    gpt_forward(lm->gpt, ids.data, 1, (int)ids.len);
    const int V = lm->gpt->config.vocab_size;
    float *probas = xmalloc((size_t)V * sizeof(float));
    memcpy(probas, lm->gpt->logits + (ids.len - 1) * (size_t)V, (size_t)V * sizeof(float));
    top_k_filter(probas, V, s->top_k);
    softmax_with_temperature(probas, probas, V, s->temperature);
    double h = 0;
    for (int i = 0; i < V; i++)
        if (probas[i] > 0) h -= probas[i] * log2(probas[i]);
    free(probas);
    intvec_free(&ids);
    return h;
}

static void exercise_5_2(const char *model_path) {
    section("Exercise 5.2 Different temperature and top-k settings");
    puts("# Generate with several temperatures and top-k values: which settings suit which applications?\n"
         "# The notebook answers in words. Low temperatures and small top-k make the text less random,\n"
         "# what educational or technical writing, question answering, data analysis and code need; high\n"
         "# ones make it more varied, for brainstorming and creative writing. With the model of `make run`:\n"
         "#   ch05_pretrain/ch05 generate --model runs/verdict-124M/checkpoint.safetensors \\\n"
         "#       --prompt \"Every effort moves you\" --temperature 0.5 --top-k 5 --seed 1\n"
         "#   (then --temperature 1.4 --top-k 25, --temperature 3 --top-k 0, other seeds)\n"
         "# The same settings here, three seeds each, and how much choice each leaves for the first token:");
    LoadedModel lm = exercise_model(model_path, 256);
    const struct {
        float temperature;
        int top_k;
    } settings[] = {{0.5f, 5}, {1.4f, 25}, {3.0f, 0}};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        Sampler s = {.temperature = settings[i].temperature, .top_k = settings[i].top_k, .top_p = 1.0f, .eos_id = -1};
        printf("temperature %g, top-k %d: the first token's distribution has %.2f bits of entropy\n", s.temperature,
               s.top_k, first_token_entropy(&lm, &s));
        for (int seed = 1; seed <= 3; seed++) {
            rng_seed(&s.rng, (uint64_t)seed);
            char *text = continue_text(&lm, 10, &s);
            for (char *c = text; *c; c++)
                if (*c == '\n') *c = ' ';
            printf("  seed %d: %s\n", seed, text);
            free(text);
        }
    }
    model_free(&lm);
}

/* ---- Exercise 5.3 ------------------------------------------------------------ */

static void exercise_5_3(const char *model_path) {
    section("Exercise 5.3 Deterministic behavior in the decoding functions");
    puts("# Which settings make generate() deterministic, like generate_text_simple? Temperature 0 (the\n"
         "# argmax), or top_k=1 (a single token left to draw).");
    LoadedModel lm = exercise_model(model_path, 256);
    if (!model_path)
        puts("# (the model trained by `make run`: --model runs/verdict-124M/checkpoint.safetensors)");
    cell(7, "generate_text_simple, 25 new tokens");
    char *simple = continue_text(&lm, 25, NULL);
    print_output_text(simple);
    Sampler greedy = {.temperature = 0.0f, .top_p = 1.0f, .eos_id = -1};
    char *runs[2];
    for (int i = 0; i < 2; i++) {
        cell(8 + i, i == 0 ? "generate(top_k=None, temperature=0.0)" : "the same cell again");
        runs[i] = continue_text(&lm, 25, &greedy);
        print_output_text(runs[i]);
    }
    /* top-k 1 at temperature 1: every draw has one token of probability 1 */
    bool top1_same = true;
    for (int seed = 1; seed <= 3; seed++) {
        Sampler top1 = {.temperature = 1.0f, .top_k = 1, .top_p = 1.0f, .eos_id = -1};
        rng_seed(&top1.rng, (uint64_t)seed);
        char *text = continue_text(&lm, 25, &top1);
        top1_same &= strcmp(text, simple) == 0;
        free(text);
    }
    printf("# In [7], [8] and [9] give the same text: %s\n", !strcmp(simple, runs[0]) && !strcmp(simple, runs[1]) ? "yes" : "no");
    printf("# generate(top_k=1, temperature=1.0) with the seeds 1, 2 and 3 gives it too: %s\n", top1_same ? "yes" : "no");
    free(simple);
    free(runs[0]);
    free(runs[1]);
    model_free(&lm);
}

/* ---- Exercise 5.4 ------------------------------------------------------------ */

/* One evaluation of a run's log.csv (loss_log_open's columns). */
typedef struct {
    long step;
    double train_loss, val_loss;
} LogRow;

/* The row of OUT/log.csv for the first step after `after` (-1: the first
 * row), or the last row when last is set. */
static LogRow log_row(const char *out_dir, long after, bool last) {
    char *path = path_join(out_dir, "log.csv");
    char *csv = read_file(path, NULL);
    LogRow found = {.step = -1}, row;
    for (char *line = strchr(csv, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        if (sscanf(line + 1, "%ld,%*f,%*d,%lf,%lf", &row.step, &row.train_loss, &row.val_loss) != 3)
            fatal("%s: a row that is not step,epoch,tokens_seen,train_loss,val_loss,lr", path);
        if (last) found = row;
        else if (row.step > after) {
            found = row;
            break;
        }
    }
    if (found.step < 0) fatal("%s: no evaluation after step %ld", path, after);
    free(csv);
    free(path);
    return found;
}

static void exercise_5_4(const char *out_dir) {
    section("Exercise 5.4 Continued pretraining");
    puts("# Load the model and the optimizer saved after chapter 5's training and train one more epoch.\n"
         "# Every `ch05 train` saves both in OUT/checkpoint.safetensors, with AdamW's moments, the run's\n"
         "# settings and where it stands; after `make run` (10 epochs in runs/verdict-124M), one more is\n"
         "#   ch05_pretrain/ch05 train --resume runs/verdict-124M/checkpoint.safetensors --epochs 11\n"
         "# A quick version: a GPT of 16 channels and 1 layer, context 16, learning rate 0.005, on the first\n"
         "# 3000 bytes of The Verdict; one epoch, then one more from its checkpoint.");
    make_dirs(out_dir);
    char *verdict = data_file("the-verdict.txt"), *small = path_join(out_dir, "the-verdict-3000.txt");
    size_t len;
    char *text = read_text_file(verdict, &len);
    write_file_atomic(small, text, len < 3000 ? len : 3000);
    free(text);

    TrainOptions first = train_default_options();
    first.data_path = small;
    first.emb_dim = 16, first.n_layers = 1, first.n_heads = 2, first.context = 16;
    first.lr = 0.005f;
    first.epochs = 1;
    first.out_dir = out_dir;
    printf("# the first run (%s), one epoch:\n", out_dir);
    fflush(stdout);
    pretrain(&first);
    LogRow fresh = log_row(out_dir, -1, false), saved = log_row(out_dir, 0, true);

    /* what `ch05 train --resume CKPT --epochs 2` does: the checkpoint's
     * settings, one more epoch */
    char *ckpt_path = path_join(out_dir, "checkpoint.safetensors");
    SafetensorsFile *ckpt = safetensors_open(ckpt_path);
    TrainOptions kept = train_default_options();
    train_options_from_checkpoint(&kept, ckpt);
    kept.out_dir = out_dir;
    TrainOptions resumed = kept;
    resumed.resume = ckpt_path;
    resumed.epochs = 2;
    train_print_resume(ckpt, &kept, &resumed);
    cell(12, "train_model_simple for one more epoch, from the saved model and optimizer");
    fflush(stdout);
    pretrain(&resumed);
    safetensors_close(ckpt);
    LogRow next = log_row(out_dir, saved.step, false);
    printf("# losses at step %ld (a fresh model): train %.3f, val %.3f; step %ld (the checkpoint): train %.3f,\n"
           "# val %.3f; step %ld (the first evaluation after resuming): train %.3f, val %.3f\n",
           fresh.step, fresh.train_loss, fresh.val_loss, saved.step, saved.train_loss, saved.val_loss, next.step,
           next.train_loss, next.val_loss);
    bool continues = fabs(next.train_loss - saved.train_loss) < fabs(next.train_loss - fresh.train_loss) &&
                     next.val_loss < fresh.val_loss;
    printf("# the resumed run continues from the checkpoint, not from scratch: %s\n", continues ? "yes" : "no");
    free(ckpt_path);
    free(small);
    free(verdict);
}

/* ---- Exercise 5.5 ------------------------------------------------------------ */

/* calc_loss_loader over the book's train_loader and val_loader (The
 * Verdict, context 256, batch size 2) */
static void verdict_losses(GPTModel *m, float *train_loss, float *val_loss) {
    TrainOptions o = train_default_options(); /* the book's loaders: context 256, batch size 2, seed 123 */
    if (m->config.context_length < o.context)
        fatal("exercise 5.5: the book's loaders have windows of %d tokens, more than the model's context of %d",
              o.context, m->config.context_length);
    PretrainData data;
    pretrain_data_init(&data, &o);
    m->training = false;
    Model model = gpt_model(m);
    BatchLoader train = token_batches_loader(&data.train), val = token_batches_loader(&data.val);
    *train_loss = calc_loss_loader(&model, &train, 0);
    *val_loss = calc_loss_loader(&model, &val, 0);
    pretrain_data_free(&data);
}

static void exercise_5_5(const char *model_path) {
    section("Exercise 5.5 Training and validation set losses of the pretrained model");
    puts("# What are the training and validation losses of OpenAI's GPT-2 124M on The Verdict's loaders?");
    char *openai = model_path ? NULL : openai_model_dir("124M");
    const char *path = model_path ? model_path : openai;
    if (!path)
        puts("# OpenAI's weights are not in DATA_DIR/gpt2/124M: `make gpt2-124M` fetches them (or give --model).\n"
             "# The same code on a small GPT with random weights: its losses are near ln(50257) = 10.82.");
    LoadedModel lm = exercise_model(path, 1024);
    float train_loss, val_loss;
    verdict_losses(lm.gpt, &train_loss, &val_loss);
    cell(18, "calc_loss_loader over train_loader and val_loader");
    printf("Training loss: %.7g\nValidation loss: %.7g\n", train_loss, val_loss);
    printf("# the book's, with GPT-2 124M: 3.7547486888037787 and 3.5596182346343994%s\n",
           openai ? "" : " (with its weights only)");
    model_free(&lm);
    free(openai);

    char *xl = openai_model_dir("1558M");
    if (xl && !model_path) {
        LoadedModel big = exercise_model(xl, 1024);
        verdict_losses(big.gpt, &train_loss, &val_loss);
        cell(19, "the same with GPT-2 XL (1558M)");
        printf("Training loss: %.7g\nValidation loss: %.7g\n", train_loss, val_loss);
        model_free(&big);
    } else if (!model_path) {
        puts("# In [19], GPT-2 1558M: `make gpt2-1558M` fetches it;");
    }
    if (!model_path) puts("# the book's, with GPT-2 1558M: 3.3046312861972384 and 3.1195147037506104");
    free(xl);
}

/* ---- Exercise 5.6 ------------------------------------------------------------ */

static void exercise_5_6(void) {
    section("Exercise 5.6 Trying larger models");
    puts("# Generate text with GPT-2 1558M instead of 124M: which settings change?");
    static const char *const presets[] = {"gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl"};
    enum { N = sizeof presets / sizeof presets[0] };
    size_t totals[N];
    GPTConfig configs[N];
    for (int i = 0; i < N; i++) {
        gpt_config_preset(presets[i], &configs[i]);
        int count;
        char err[256];
        ParamTensor *table = gpt_param_table(&configs[i], &count, &totals[i], err, sizeof err);
        if (!table) fatal("%s: %s", presets[i], err);
        free(table);
    }
    cell(21, "model_configs; NEW_CONFIG: GPT_CONFIG_124M with gpt2-xl's, context 1024 and qkv_bias");
    puts("# the sizes in the names are the parameters each configuration makes, counted here (context 1024,\n"
         "# qkv biases, the output head tied to the token embedding, as OpenAI's weights are)");
    puts("model_configs = {");
    for (int i = 0; i < N; i++)
        printf("    \"%s (%.0fM)\": {\"emb_dim\": %d, \"n_layers\": %d, \"n_heads\": %d},\n", presets[i],
               round(totals[i] / 1e6), configs[i].emb_dim, configs[i].n_layers, configs[i].n_heads);
    puts("}");
    const GPTConfig *xl = &configs[N - 1];
    printf("NEW_CONFIG = {\"vocab_size\": %d, \"context_length\": %d, \"emb_dim\": %d, \"n_heads\": %d, \"n_layers\": %d, "
           "\"drop_rate\": %g, \"qkv_bias\": %s}\n",
           xl->vocab_size, xl->context_length, xl->emb_dim, xl->n_heads, xl->n_layers, xl->drop_rate,
           xl->qkv_bias ? "True" : "False");
    printf("# parameters: %zu, %zu, %zu and %zu\n", totals[0], totals[1], totals[2], totals[3]);

    char *dir = openai_model_dir("1558M");
    if (!dir)
        puts("# `make gpt2-1558M` fetches GPT-2 XL into DATA_DIR/gpt2/1558M; then In [23] is\n"
             "#   ch05_pretrain/ch05 generate --model data/gpt2/1558M --prompt \"Every effort moves you\" \\\n"
             "#       --max-new-tokens 25 --top-k 50 --temperature 1.5 --seed 123\n"
             "# Here the same settings on a small GPT (torch's draws in the book, ours here):");
    LoadedModel lm = exercise_model(dir, 1024);
    cell(23, "generate(top_k=50, temperature=1.5), 25 new tokens");
    Sampler s = {.temperature = 1.5f, .top_k = 50, .top_p = 1.0f, .eos_id = -1};
    rng_seed(&s.rng, 123);
    char *text = continue_text(&lm, 25, &s);
    print_output_text(text);
    free(text);
    model_free(&lm);
    free(dir);
}

/* ---- the command ---------------------------------------------------------------- */

static void usage_exercise(FILE *out) {
    fprintf(out, "usage: ch05 exercise [5.1|5.2|5.3|5.4|5.5|5.6] [--model MODEL] [--out DIR]\n"
                 "Solves one of chapter 5's exercises (all of them, in order, when none is named), as the book's\n"
                 "exercise-solutions notebook does: prints the question, then our solution's results.\n"
                 "  5.1   temperature-scaled probabilities and 1000 draws at temperatures 1, 0.1 and 5\n"
                 "  5.2   generating with different temperatures and top-k\n"
                 "  5.3   deterministic decoding: temperature 0 or top-k 1 give generate_text_simple's text\n"
                 "  5.4   continued pretraining from a saved model and optimizer (a quick run in DIR)\n"
                 "  5.5   the training and validation losses of GPT-2 124M on The Verdict\n"
                 "  5.6   the larger GPT-2 models: their settings and sizes, generating with 1558M\n"
                 "  --model MODEL   the model of 5.2, 5.3 and 5.5 (5.5: DATA_DIR/gpt2/124M when present);\n"
                 "                  without it they run on a small GPT with random weights\n"
                 "  --out DIR       where 5.4's quick run trains (runs/exercise-5.4)\n");
}

int cmd_exercise(int argc, char **argv) {
    static const struct option options[] = {{"model", required_argument, NULL, 'm'},
                                            {"out", required_argument, NULL, 'o'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *model_path = NULL, *out_dir = "runs/exercise-5.4";
    bool out_given = false;
    for (int c; (c = getopt_long(argc, argv, "m:o:h", options, NULL)) != -1;) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'o': out_dir = optarg, out_given = true; break;
        case 'h': usage_exercise(stdout); return 0;
        default: return cli_bad_usage("exercise");
        }
    }
    if (optind + 1 < argc) fatal("exercise: unexpected argument '%s'", argv[optind + 1]);
    static const char *const numbers[] = {"5.1", "5.2", "5.3", "5.4", "5.5", "5.6"};
    const char *number = optind < argc ? argv[optind] : NULL;
    int only = -1;
    for (int i = 0; number && i < 6; i++)
        if (strcmp(number, numbers[i]) == 0) only = i;
    if (number && only < 0) fatal("exercise: no exercise '%s' in chapter 5 (there are 5.1 to 5.6)", number);
    if (model_path && only >= 0 && only != 1 && only != 2 && only != 4)
        fatal("exercise %s takes no --model (5.2, 5.3 and 5.5 do)", number);
    if (out_given && only >= 0 && only != 3)
        fatal("exercise %s takes no --out (5.4 does)", number);
    if (only < 0 || only == 0) exercise_5_1();
    if (only < 0 || only == 1) exercise_5_2(model_path);
    if (only < 0 || only == 2) exercise_5_3(model_path);
    if (only < 0 || only == 3) exercise_5_4(out_dir);
    if (only < 0 || only == 4) exercise_5_5(model_path);
    if (only < 0 || only == 5) exercise_5_6();
    return 0;
}
