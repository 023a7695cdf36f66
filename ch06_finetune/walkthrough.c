/* walkthrough.c: see walkthrough.h. */
#include "walkthrough.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/bpe.h"
#include "../ch04_gpt/config.h"
#include "../ch04_gpt/gpt.h"
#include "../ch05_pretrain/loss.h"
#include "../ch05_pretrain/train.h"
#include "../common/printing.h"
#include "../common/cli.h"
#include "../common/ops.h"
#include "../common/tensor.h"
#include "../common/util.h"
#include "classifier.h"
#include "csv.h"
#include "example_loader.h"
#include "finetune.h"
#include "instruction_data.h"
#include "spam_data.h"
#include "train_classifier.h"
#include "train_instruct.h"
#include "trainable.h"

/* ---- printing as the notebooks print ------------------------------------------------ */

/* "[-0.5, 1.5]": floats as Python prints them (shortest) */
static void print_floats(const float *x, int n) {
    putchar('[');
    for (int i = 0; i < n; i++) printf(i ? ", %g" : "%g", x[i]);
    putchar(']');
}

static void print_float_rows(const float *x, int rows, int cols) {
    putchar('[');
    for (int r = 0; r < rows; r++) {
        if (r) printf(", ");
        print_floats(x + (size_t)r * cols, cols);
    }
    putchar(']');
}

/* A message that a quote carries over line breaks: why the file has more
 * lines than messages. */
static void print_quoted_line_breaks(const char *sms) {
    CsvTable table = csv_read_file(sms, '\t', 2);
    for (int r = 0; r + 1 < table.n_rows; r++) {
        int lines = table.lines[r + 1] - table.lines[r];
        if (lines > 1 && strchr(csv_cell(&table, r, 1), '\n'))
            printf("(line %d opens a quote that closes %d lines down: %d lines, 1 message)\n", table.lines[r],
                   lines - 1, lines);
    }
    csv_free(&table);
}

/* df["Label"].value_counts() as pandas prints it: the labels left-aligned,
 * the counts right-aligned four spaces past the widest, then the Series' name
 * and type ("spam     747"). */
static void print_value_counts(int ham, int spam) {
    const int width = snprintf(NULL, 0, "%d", ham > spam ? ham : spam) + 4;
    printf("Label\n%-4s%*d\n%-4s%*d\nName: count, dtype: int64\n", "ham", width, ham, "spam", width, spam);
}

/* "torch.Size([1, 4, 2])" */
static void print_size(const char *label, int ndim, const int *shape) {
    printf("%storch.Size([", label);
    for (int d = 0; d < ndim; d++) printf(d ? ", %d" : "%d", shape[d]);
    puts("])");
}

/* A Python float's repr for print("...", x): the fewest digits that read
 * back as the same double ("3.8259105682373047", "10.0"). */
static void print_python_float(double x) {
    char s[40];
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(s, sizeof s, "%.*g", digits, x);
        if (strtod(s, NULL) == x) break;
    }
    printf("%s%s\n", s, strpbrk(s, ".eEn") ? "" : ".0");
}

/* ---- the model the walkthrough runs on ------------------------------------------- */

/* A small GPT of the book's code, random weights: chapter 6's and 7's cells
 * in a moment on a CPU (GPT-2 small's forward and backward passes over the
 * data sets take minutes there). The same sizes with `--model random` and
 * the sizes' flags give `ch06 train-classifier` and `ch06 train-instruct`
 * this model. */
static ModelChoice small_model(uint64_t seed) {
    return (ModelChoice){.path = "random", .emb_dim = 32, .n_layers = 2, .n_heads = 4, .context = 256, .seed = seed};
}

/* "GPT-2 small (124M): emb_dim 768, ...: 124439808 parameters": the book's
 * model, its size counted from its configuration (nothing is allocated). */
static void print_book_model(const char *name, const char *preset) {
    GPTConfig config = {0};
    gpt_config_preset(preset, &config);
    printf("# %s: emb_dim %d, n_layers %d, n_heads %d, context_length %d, qkv_bias %s, the output head\n"
           "# %s the token embedding: %zu parameters (counted from this configuration)\n",
           name, config.emb_dim, config.n_layers, config.n_heads, config.context_length,
           config.qkv_bias ? "True" : "False", config.tie_weights ? "tied to" : "apart from", gpt_param_count(&config));
}

/* The model of a chapter's cells: model_path's (with the book's dropout 0),
 * else the small GPT, said so with the way to the book's (size: "124M" or
 * "355M", flag: the walkthrough's flag that takes a model). */
static GPTModel *walkthrough_model(const char *model_path, const char *size, const char *flag, Bpe *bpe,
                                   uint64_t seed) {
    if (model_path) {
        ModelChoice mc = {.path = model_path, .seed = seed};
        GPTModel *m = finetune_load_model(&mc, size, bpe_vocab_size(bpe));
        printf("# the model here: %s (emb_dim %d, n_layers %d, n_heads %d, context_length %d)\n", model_path,
               m->config.emb_dim, m->config.n_layers, m->config.n_heads, m->config.context_length);
        return m;
    }
    const ModelChoice mc = small_model(seed);
    printf("# The model here is a SMALL GPT of the same code, fast on a CPU: emb_dim %d, n_layers %d, n_heads %d,\n"
           "# context_length %d, random weights (seed %llu); what it computes is ours, not the book's.\n",
           mc.emb_dim, mc.n_layers, mc.n_heads, mc.context, (unsigned long long)seed);
    char rel[32];
    snprintf(rel, sizeof rel, "gpt2/%s", size);
    char *dir = path_join(data_dir(), rel), *hparams = path_join(dir, "hparams.json");
    if (file_exists(hparams))
        printf("# The book's model, OpenAI's weights, is in %s: `ch06 walkthrough %s %s`\n"
               "# runs these cells on it (minutes on a CPU)\n",
               dir, flag, dir);
    else
        printf("# The book's model: `make gpt2-%s` downloads OpenAI's weights, then `ch06 walkthrough %s %s`\n"
               "# runs these cells on them (minutes on a CPU)\n",
               size, flag, dir);
    free(hparams);
    free(dir);
    return finetune_load_model(&mc, size, bpe_vocab_size(bpe));
}

/* "blocks 0 to 10 frozen, block 11": which blocks the optimiser gets */
static void print_trainable_blocks(int n_layers) {
    if (n_layers == 2) printf("block 0 frozen, ");
    else if (n_layers > 2) printf("blocks 0 to %d frozen, ", n_layers - 2);
    printf("block %d, final_norm and out_head train", n_layers - 1);
}

/* ---- chapter 6 ---------------------------------------------------------------------- */

/* 6.4-6.8 on the small GPT, or on MODEL. */
static void walkthrough_classifier(Bpe *bpe, SpamDataset ds[3], const char *model_path, uint64_t seed) {
    section("6.4 Initializing a model with pretrained weights");
    cell(17, "GPT-2 small (124M) with drop_rate 0.0 and qkv_bias True");
    print_book_model("GPT-2 small (124M)", "gpt2-small");
    GPTModel *gpt = walkthrough_model(model_path, "124M", "--model", bpe, seed);
    if (gpt->config.context_length < ds[0].max_length)
        fatal("%s: a context of %d tokens is shorter than the padded texts' %d", model_path ? model_path : "the model",
              gpt->config.context_length, ds[0].max_length);
    printf("# In [18]-[19] continue a text with it: `ch05 generate --model MODEL --prompt TEXT`\n");

    section("6.5 Adding a classification head");
    GPTConfig small = {0}; /* BASE_CONFIG with gpt2-small (124M): qkv_bias True, drop_rate 0.0 */
    gpt_config_preset("gpt2-small", &small);
    GPTConfig less = small;
    less.n_layers--;
    cell(20, "print(model)");
    printf("# GPT-2 small's modules, from its configuration (the small GPT here has the same ones, smaller)\n");
    GPTConfig base = small;
    base.drop_rate = 0.0f; /* BASE_CONFIG's "drop_rate": 0.0 */
    print_gpt_modules(&base, base.vocab_size, false, NULL);
    const size_t total = gpt_param_count(&small), block = total - gpt_param_count(&less), C = (size_t)small.emb_dim;
    const size_t n_classes = 2, head = n_classes * C + n_classes, final_norm = 2 * C; /* weight, bias; scale, shift */
    printf("# GPT-2 small's output head (%d x %zu, tied to the embedding) gives way to a linear layer %zu -> %zu\n"
           "# with bias: %zu parameters, applied to the last token's output only. Of its %zu parameters these train:\n",
           small.vocab_size, C, C, n_classes, head, total);
    printf("# Trainable: the last block %zu + the final norm %zu + the head %zu = %zu\n", block, final_norm, head,
           block + final_norm + head);
    cell(21, "freeze every parameter");
    cell(22, "a new out_head, Linear(emb_dim, 2), drawn with seed 123");
    cell(23, "the last transformer block and the final norm train again");
    printf("# what the optimiser gets here:\n");
    Classifier *c = classifier_create(gpt, 2, 1, seed);
    Trainable trainable = {0};
    classifier_trainable(c, &trainable);
    printf("Trainable parameters: %zu (", trainable_count(&trainable));
    print_trainable_blocks(gpt->config.n_layers);
    printf(")\n");

    cell(24, "the input \"Do you have time\"");
    IntVec ids = {0};
    const char *text = "Do you have time";
    bpe_encode(bpe, text, strlen(text), false, &ids);
    const int T = (int)ids.len, in_shape[2] = {1, T}, out_shape[3] = {1, T, 2};
    fputs("Inputs: ", stdout);
    print_int_tensor(ids.data, 1, T);
    print_size("Inputs dimensions: ", 2, in_shape);
    cell(25, "the model's outputs: the head on every position");
    gpt->training = false;
    gpt_forward_hidden(gpt, ids.data, 1, T);
    float *outputs = xmalloc((size_t)T * 2 * sizeof(float));
    const int E = gpt->config.emb_dim;
    for (int p = 0; p < T; p++)
        for (int k = 0; k < 2; k++) {
            float s = c->bias[k];
            for (int i = 0; i < E; i++) s += gpt->final_norm[(size_t)p * E + i] * c->weight[(size_t)k * E + i];
            outputs[p * 2 + k] = s;
        }
    Tensor view = tensor_view(outputs, 3, out_shape);
    fputs("Outputs:\n ", stdout);
    tensor_print(stdout, &view, 4);
    print_size("Outputs dimensions: ", 3, out_shape);
    cell(26, "the last token's output (what the classifier computes: only that one)");
    const float *last = classifier_forward(c, ids.data, 1, T);
    const int last_shape[2] = {1, 2};
    Tensor last_view = tensor_view((float *)last, 2, last_shape);
    fputs("Last output token: ", stdout);
    tensor_print(stdout, &last_view, 4);
    float probs[2];
    softmax_rows(probs, last, 1, 2);
    cell(28, "softmax, then argmax");
    printf("Class label: %d\n", vec_argmax(probs, 2));
    cell(29, "argmax of the logits: the same");
    printf("Class label: %d\n", vec_argmax(last, 2));
    printf("# the book's (GPT-2 small's weights): [-3.5983, 3.9902], class 1\n");
    free(outputs);
    intvec_free(&ids);

    section("6.6 Calculating the classification loss and accuracy");
    enum { BATCH_SIZE = 8, ACCURACY_BATCHES = 10, LOSS_BATCHES = 5 };
    SpamBatches batches[3], train_eval;
    for (int i = 0; i < 3; i++) /* the training loader shuffles (torch.manual_seed(123)) and drops the last batch */
        spam_batches_init(&batches[i], &ds[i], BATCH_SIZE, i == 0, i == 0, seed, "the SMS data");
    BatchLoader loaders[3];
    for (int i = 0; i < 3; i++) loaders[i] = spam_batches_loader(&batches[i]);
    const char *names[3] = {"Training", "Validation", "Test"};
    cell(31, "calc_accuracy_loader over the first 10 batches of each loader, before finetuning");
    for (int i = 0; i < 3; i++)
        printf("%s accuracy: %.2f%%\n", names[i], calc_accuracy_loader(c, &loaders[i], ACCURACY_BATCHES) * 100);
    printf("# the book's, with GPT-2 small's weights: 46.25%%, 45.00%%, 48.75%%\n");
    cell(34, "calc_loss_loader over the first 5 batches");
    const Model model = classifier_model(c);
    for (int i = 0; i < 3; i++)
        printf("%s loss: %.3f\n", names[i], calc_loss_loader(&model, &loaders[i], LOSS_BATCHES));
    printf("# the book's: 2.453, 2.583, 2.322\n");

    section("6.7 Finetuning the model on supervised data");
    enum { STEPS = 6, EVAL_FREQ = 2, EVAL_ITER = 1 };
    const float lr = 5e-5f, weight_decay = 0.1f;
    printf("# The book runs train_classifier_simple 5 epochs (AdamW, lr %g, weight decay %g, evaluating every\n"
           "# 50 steps over 5 batches): `ch06 train-classifier` does that. Here the same function over the\n"
           "# training loader's first %d batches, evaluating every %d steps over %d batch:\n",
           lr, weight_decay, STEPS, EVAL_FREQ, EVAL_ITER);
    cell(37, "train_classifier_simple, the first 6 steps: losses, then the epoch's accuracies");
    /* torch.manual_seed(123) again: the training batches come in the order of the loader's first pass */
    spam_batches_free(&batches[0]);
    spam_batches_init(&batches[0], &ds[0], BATCH_SIZE, true, true, seed, "the SMS data");
    /* the training loss is evaluated in an order of its own, as `ch06 train-classifier` does */
    spam_batches_init(&train_eval, &ds[0], BATCH_SIZE, true, true, seed + 1, "the SMS data");
    BatchLoader train_eval_loader = spam_batches_loader(&train_eval);
    FirstBatches first;
    BatchLoader first_steps = first_batches(&first, &loaders[0], STEPS);
    AdamWConfig adam = adamw_default_config();
    adam.lr = lr;
    adam.weight_decay = weight_decay;
    Optimizer optimizer = trainable_optimizer(&trainable, &adam);
    TrainRun run = {.global_step = -1};
    train_classifier_simple(c, &first_steps, &train_eval_loader, &loaders[1], &optimizer, 1, EVAL_FREQ, EVAL_ITER,
                            &run, NULL);
    printf("# %ld examples seen\n", run.seen);

    section("6.8 Using the LLM as a spam classifier");
    const char *texts[2] = {"You are a winner you have been specially selected to receive $1000 cash or a $2000 award.",
                            "Hey, just wanted to check if we're still on for dinner tonight? Let me know!"};
    for (int i = 0; i < 2; i++) {
        cell(43 + i, i ? "classify_review(text_2, max_length=train_dataset.max_length)"
                       : "classify_review(text_1, max_length=train_dataset.max_length)");
        printf("%s\n", classify_review(c, bpe, texts[i], ds[0].max_length) == LABEL_SPAM ? "spam" : "not spam");
    }
    printf("# the book's, finetuned: spam, not spam; ours depend on the model above. `ch06 classify\n"
           "# --model CHECKPOINT --text TEXT` asks a classifier that `ch06 train-classifier` wrote\n");
    for (int i = 0; i < 3; i++) spam_batches_free(&batches[i]);
    spam_batches_free(&train_eval);
    trainable_free(&trainable);
    classifier_free(c);
}

/* 6.2-6.3, then 6.4-6.8 */
static void walkthrough_classification(Bpe *bpe, const char *model_path, uint64_t seed) {
    section("6.2 Preparing the dataset");
    char *sms = data_file("sms_spam/SMSSpamCollection");
    TextSet all = sms_read_collection(sms);
    cell(3, "pd.read_csv(data_file_path, sep=\"\\t\", header=None, names=[\"Label\", \"Text\"])");
    printf("%s: %d messages, read as pandas' read_csv(sep=\"\\t\") reads them\n", sms, all.n);
    print_quoted_line_breaks(sms);
    cell(4, "df[\"Label\"].value_counts()");
    print_value_counts(textset_count(&all, LABEL_HAM), textset_count(&all, LABEL_SPAM));
    TextSet balanced = sms_balance(&all, seed);
    cell(5, "create_balanced_dataset(df): balanced_df[\"Label\"].value_counts()");
    printf("# ham drawn at random with seed %llu\n", (unsigned long long)seed);
    print_value_counts(textset_count(&balanced, LABEL_HAM), textset_count(&balanced, LABEL_SPAM));
    TextSet sets[3];
    const double train_frac = 0.7, val_frac = 0.1;
    textset_split(&balanced, train_frac, val_frac, seed, &sets[0], &sets[1], &sets[2]);
    cell(8, "random_split(balanced_df, 0.7, 0.1)");
    printf("Split %.0f/%.0f/%.0f after shuffling: train %d, validation %d, test %d\n", 100 * train_frac, 100 * val_frac,
           100 * (1 - train_frac - val_frac), sets[0].n, sets[1].n, sets[2].n);
    printf("# In [6] mapped the labels ham -> %d, spam -> %d; `ch06 prepare-spam --out DIR` writes them as CSV files\n", LABEL_HAM,
           LABEL_SPAM);

    section("6.3 Creating data loaders");
    const int pad_id = bpe_eot_id(bpe);
    SpamDataset ds[3];
    spam_dataset_init(&ds[0], &sets[0], bpe, 0, pad_id);
    for (int i = 1; i < 3; i++) spam_dataset_init(&ds[i], &sets[i], bpe, ds[0].max_length, pad_id);
    ByteBuf pad_text = {0};
    bpe_decode(bpe, &pad_id, 1, &pad_text, NULL);
    cell(9, "tokenizer.encode(\"<|endoftext|>\"): the padding token");
    printf("# the padding token, %s\n", pad_text.data);
    write_int_list(&pad_id, 1);
    putchar('\n');
    bytebuf_free(&pad_text);
    cell(11, "train_dataset.max_length");
    printf("# the longest training text's tokens (as the book's, the split being its rows); every text is padded to it\n");
    printf("%d\n", ds[0].max_length);
    cell(12, "the validation and test sets, padded and cut to it");
    printf("Validation and test texts cut to it: %d and %d\n", ds[1].n_truncated, ds[2].n_truncated);
    const char *names[3] = {"training", "validation", "test"};
    const int batch_size = 8;
    int last_batch = 0; /* the training loader's last batch: its examples */
    cell(15, "len() of each loader");
    printf("# the training loader shuffles and drops its last partial batch\n");
    for (int i = 0; i < 3; i++) {
        ExampleLoader dl;
        char err[128];
        if (!example_loader_init(&dl, ds[i].n, batch_size, i == 0, i == 0, seed, err, sizeof err)) fatal("%s", err);
        printf("%d %s batches\n", dl.n_batches, names[i]);
        const int *idx;
        for (int n; i == 0 && (n = example_loader_next(&dl, &idx)) > 0;) last_batch = n;
        example_loader_free(&dl);
    }
    cell(14, "the training loader's last batch's shapes");
    const int input_shape[2] = {last_batch, ds[0].max_length};
    printf("Train loader:\n");
    print_size("Input batch dimensions: ", 2, input_shape);
    print_size("Label batch dimensions ", 1, &last_batch); /* sic: the book's print has no colon here */

    walkthrough_classifier(bpe, ds, model_path, seed);

    for (int i = 0; i < 3; i++) {
        spam_dataset_free(&ds[i]);
        textset_free(&sets[i]);
    }
    textset_free(&balanced);
    textset_free(&all);
    free(sms);
}


/* ---- chapter 7 ---------------------------------------------------------------------- */

/* 7.5-7.8 on the small GPT, or on MODEL. */
static void walkthrough_instruction_model(Bpe *bpe, const InstructionSet *train, const InstructionSet *val,
                                          const InstructionSet *test, const char *model_path, uint64_t seed) {
    section("7.5 Loading a pretrained LLM");
    cell(28, "GPT-2 medium (355M) with drop_rate 0.0 and qkv_bias True");
    print_book_model("GPT-2 medium (355M)", "gpt2-medium");
    GPTModel *m = walkthrough_model(model_path, "355M", "--instruct-model", bpe, seed);
    cell(29, "format_input(val_data[0])");
    char *input_text = format_input(&val->items[0]);
    printf("%s\n", input_text);
    free(input_text);
    enum { MAX_NEW = 35 };
    cell(31, "its response: greedy, up to 35 new tokens or <|endoftext|>, \"### Response:\" removed, stripped");
    char *response = instruct_response(m, bpe, &val->items[0], MAX_NEW);
    printf("%s\n", response);
    free(response);
    printf("# the book's, from GPT-2 medium before finetuning: \"The chef cooks the meal every day.\" and the\n"
           "# prompt again\n");

    section("7.6 Finetuning the LLM on instruction data");
    const int pad_id = bpe_eot_id(bpe);
    InstructionDataset train_ds, val_ds;
    instruction_dataset_init(&train_ds, train, bpe);
    instruction_dataset_init(&val_ds, val, bpe);
    /* the book's loss cell reads 5 batches, its run 2 epochs: each batch here is 8 x ~70 rows of
       50257 logits, a quarter of a second or so on a CPU even on the small GPT, so fewer */
    enum { BATCH_SIZE = 8, LOSS_BATCHES = 1, STEPS = 2, EVAL_FREQ = 2, EVAL_ITER = 1 };
    /* the batches as `ch06 train-instruct` makes them: the training loss evaluated in an order of its own */
    InstructionBatches train_batches, train_eval_batches, val_batches;
    instruction_batches_init(&train_batches, &train_ds, BATCH_SIZE, true, true, seed, pad_id, "training data");
    instruction_batches_init(&train_eval_batches, &train_ds, BATCH_SIZE, true, true, seed + 1, pad_id, "training data");
    instruction_batches_init(&val_batches, &val_ds, BATCH_SIZE, false, false, 0, pad_id, "validation data");
    const int allowed = 1024 < m->config.context_length ? 1024 : m->config.context_length; /* the book's 1024 */
    train_batches.allowed_max_length = train_eval_batches.allowed_max_length = val_batches.allowed_max_length = allowed;
    BatchLoader train_loader = instruction_batches_loader(&train_batches),
                train_eval_loader = instruction_batches_loader(&train_eval_batches),
                val_loader = instruction_batches_loader(&val_batches);
    const Model model = gpt_model(m);
    cell(33, "calc_loss_loader before finetuning (here over the first batch; the book: 5)");
    m->training = false;
    printf("Training loss: ");
    print_python_float(calc_loss_loader(&model, &train_loader, LOSS_BATCHES));
    printf("Validation loss: ");
    print_python_float(calc_loss_loader(&model, &val_loader, LOSS_BATCHES));
    printf("# the book's, GPT-2 medium's: 3.8259105682373047, 3.7619349479675295\n");
    const float lr = 5e-5f, weight_decay = 0.1f;
    printf("# The book runs train_model_simple on the whole model 2 epochs (AdamW, lr %g, weight decay %g,\n"
           "# evaluating every 5 steps over 5 batches, a sample after each epoch): `ch06 train-instruct` does\n"
           "# that. Here the same function over the training loader's first %d batches, evaluating every\n"
           "# %d steps over %d batch (so after the first step only), no sample:\n",
           lr, weight_decay, STEPS, EVAL_FREQ, EVAL_ITER);
    cell(34, "train_model_simple, the first 2 steps");
    /* torch.manual_seed(123) again: the training batches come in the order of the loader's first
       pass, the one In [25] of 7.4 shows */
    instruction_batches_free(&train_batches);
    instruction_batches_init(&train_batches, &train_ds, BATCH_SIZE, true, true, seed, pad_id, "training data");
    train_batches.allowed_max_length = allowed;
    gpt_zero_grad(m);
    Trainable trainable = {0};
    trainable_add(&trainable, "gpt", m->params, m->grads, m->n_params);
    AdamWConfig adam = adamw_default_config();
    adam.lr = lr;
    adam.weight_decay = weight_decay;
    Optimizer optimizer = trainable_optimizer(&trainable, &adam);
    FirstBatches first;
    BatchLoader first_steps = first_batches(&first, &train_loader, STEPS);
    TrainRun run = {.global_step = -1};
    train_model_simple(&model, &first_steps, &train_eval_loader, &val_loader, &optimizer, 1, EVAL_FREQ, EVAL_ITER,
                       NULL, bpe, &run);
    m->training = false;
    printf("# %ld tokens seen (padding included, as the book counts them)\n", run.seen);
    trainable_free(&trainable);
    instruction_batches_free(&train_batches);
    instruction_batches_free(&train_eval_batches);
    instruction_batches_free(&val_batches);
    instruction_dataset_free(&train_ds);
    instruction_dataset_free(&val_ds);

    section("7.7 Extracting and saving responses");
    cell(36, "the first 3 test entries: the prompt, the dataset's response, the model's (here up to 35 tokens)");
    for (int i = 0; i < 3 && i < test->n; i++) {
        char *prompt = format_input(&test->items[i]);
        char *r = instruct_response(m, bpe, &test->items[i], MAX_NEW);
        printf("%s\n\nCorrect response:\n>> %s\n\nModel response:\n>> %s\n-------------------------------------\n",
               prompt, test->items[i].output, r);
        free(r);
        free(prompt);
    }
    printf("# `ch06 train-instruct` writes all %d to OUT/instruction-data-with-response.json and the model to\n"
           "# OUT/checkpoint.safetensors (In [37]-[39]); `ch06 instruct` answers one instruction\n",
           test->n);

    section("7.8 Evaluating the finetuned LLM");
    printf("# The book scores the responses 0-100 with Llama 3 (8B) through Ollama (In [40]-[44]; its\n"
           "# notebook: 110 of 110 scored, average 49.45). Neither is here: not done.\n");
    gpt_free(m);
}

/* print(entry): the JSON entry as the dict Python prints */
static void print_entry_dict(const InstructionEntry *e) {
    printf("{'instruction': ");
    print_repr(e->instruction);
    printf(", 'input': ");
    print_repr(e->input);
    printf(", 'output': ");
    print_repr(e->output);
    printf("}\n");
}

/* 7.2-7.4, then 7.5-7.8 */
static void walkthrough_instructions(Bpe *bpe, const char *instruct_model, uint64_t seed) {
    section("7.2 Preparing a dataset for supervised instruction finetuning");
    char *path = data_file("instruction-data.json");
    InstructionSet all = instruction_data_read(path);
    cell(2, "the instruction data");
    printf("Number of entries: %d\n", all.n);
    if (all.n > 999) {
        cell(3, "print(\"Example entry:\\n\", data[50])");
        printf("Example entry:\n ");
        print_entry_dict(&all.items[50]);
        cell(4, "print(\"Another example entry:\\n\", data[999])");
        printf("Another example entry:\n ");
        print_entry_dict(&all.items[999]);
    }
    const int examples[2] = {50, 999};
    for (int k = 0; k < 2; k++) {
        if (examples[k] >= all.n) continue;
        char *text = format_training_text(&all.items[examples[k]]);
        printf("\n");
        cell(6 + k, k ? "format_input(data[999]) and the response" : "format_input(data[50]) and the response");
        printf("# entry %d as the model sees it:\n%s\n", examples[k], text);
        free(text);
    }
    InstructionSet train, test, val;
    instruction_data_split(&all, &train, &test, &val);
    printf("\n");
    cell(9, "the split's sizes");
    printf("Training set length: %d\nValidation set length: %d\nTest set length: %d\n", train.n, val.n, test.n);

    section("7.3 Organizing data into training batches");
    const int a[] = {0, 1, 2, 3, 4}, b[] = {5, 6}, c[] = {7, 8, 9};
    const int *seqs[3] = {a, b, c};
    const int lengths[3] = {5, 2, 3};
    const int pad_id = bpe_eot_id(bpe);
    int T = collate_length(lengths, 3, 0), inputs[15], targets[15];
    collate_batch(seqs, lengths, 3, T, pad_id, inputs, targets);
    IntVec eot = {0};
    bpe_encode(bpe, "<|endoftext|>", strlen("<|endoftext|>"), true, &eot);
    cell(11, "tokenizer.encode(\"<|endoftext|>\", allowed_special={\"<|endoftext|>\"})");
    write_int_list(eot.data, (size_t)eot.len);
    putchar('\n');
    intvec_free(&eot);
    cell(13, "custom_collate_draft_1(batch): each text, one end-of-text, padded to the longest + 1, the last cut");
    print_int_tensor(inputs, 3, T);
    /* draft 2 is custom_collate_fn before the padding after each text's
     * first end-of-text became -100: the same targets, that one unmasked */
    int draft_targets[15];
    for (int i = 0; i < 3 * T; i++) draft_targets[i] = targets[i] == CROSS_ENTROPY_IGNORE_INDEX ? pad_id : targets[i];
    cell(15, "custom_collate_draft_2(batch): the targets, the inputs shifted by one");
    print_int_tensor(inputs, 3, T);
    print_int_tensor(draft_targets, 3, T);
    cell(17, "custom_collate_fn on the book's toy batch: print(inputs), print(targets)");
    printf("# the toy batch: ");
    for (int i = 0; i < 3; i++) {
        if (i) printf(", ");
        write_int_list(seqs[i], lengths[i]);
    }
    printf("; one %d ends each text, the rest of the padding is %d in the targets, ignored by the loss\n", pad_id,
           CROSS_ENTROPY_IGNORE_INDEX);
    print_int_tensor(inputs, 3, T);
    print_int_tensor(targets, 3, T);
    /* the book's two rows, then a third, counted and then ignored */
    const float logits[6] = {-1.0f, 1.0f, -0.5f, 1.5f, -0.5f, 1.5f};
    const int targets_1[2] = {0, 1}, targets_2[3] = {0, 1, 1}, targets_3[3] = {0, 1, CROSS_ENTROPY_IGNORE_INDEX};
    float p[6];
    cell(18, "loss_1: the cross entropy of two rows");
    printf("# the logits ");
    print_float_rows(logits, 2, 2);
    printf(", the targets ");
    write_int_list(targets_1, 2);
    putchar('\n');
    const float loss_1 = cross_entropy_forward(NULL, p, logits, targets_1, 2, 2);
    printf("tensor(%.4f)\n", loss_1);
    cell(19, "loss_2: with a third row");
    printf("# the third row ");
    print_floats(logits + 4, 2);
    printf(", its target %d\n", targets_2[2]);
    printf("tensor(%.4f)\n", cross_entropy_forward(NULL, p, logits, targets_2, 3, 2));
    cell(20, "loss_3: the third row's target -100; loss_1 == loss_3");
    printf("# the row takes no part\n");
    const float loss_3 = cross_entropy_forward(NULL, p, logits, targets_3, 3, 2);
    printf("tensor(%.4f)\nloss_1 == loss_3: tensor(%s)\n", loss_3, loss_1 == loss_3 ? "True" : "False");

    section("7.4 Creating data loaders for an instruction dataset");
    InstructionDataset ds;
    instruction_dataset_init(&ds, &train, bpe);
    enum { BATCH_SIZE = 8 };
    InstructionBatches batches; /* torch.manual_seed(123), then the train loader */
    instruction_batches_init(&batches, &ds, BATCH_SIZE, true, true, seed, pad_id, "training data");
    batches.allowed_max_length = 1024; /* the book's collate function's */
    BatchLoader loader = instruction_batches_loader(&batches);
    cell(25, "the train loader's batches");
    printf("Train loader: %d batches of %d (shuffled, last partial batch dropped); the first ones:\n", loader.n_batches,
           BATCH_SIZE);
    int longest = 0;
    Batch batch;
    loader.reset(loader.self);
    for (int i = 0; loader.next(loader.self, &batch); i++) {
        if (batch.T > longest) longest = batch.T;
        if (i < 5) printf("torch.Size([%d, %d]) torch.Size([%d, %d])\n", batch.B, batch.T, batch.B, batch.T);
    }
    printf("The longest batch: %d tokens (each batch is only as long as its longest text)\n", longest);
    instruction_batches_free(&batches);
    instruction_dataset_free(&ds);
    walkthrough_instruction_model(bpe, &train, &val, &test, instruct_model, seed);
    instruction_set_free(&train);
    instruction_set_free(&test);
    instruction_set_free(&val);
    instruction_set_free(&all);
    free(path);
}


/* ---- the command -------------------------------------------------------------------- */

int ch06_walkthrough(int argc, char **argv) {
    enum { OPT_INSTRUCT_MODEL = 256 };
    static const struct option options[] = {{"seed", required_argument, NULL, 's'},
                                            {"model", required_argument, NULL, 'm'},
                                            {"instruct-model", required_argument, NULL, OPT_INSTRUCT_MODEL},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    long seed = 123;
    const char *model_path = NULL, *instruct_model = NULL;
    for (int c; (c = getopt_long(argc, argv, "s:m:h", options, NULL)) != -1;) {
        if (c == 's') seed = cli_long("--seed", optarg, 0, 0x7fffffffL);
        else if (c == 'm') model_path = optarg;
        else if (c == OPT_INSTRUCT_MODEL) instruct_model = optarg;
        else if (c == 'h') {
            const ModelChoice small = small_model(0);
            printf("usage: ch06 walkthrough [--seed N] [--model MODEL] [--instruct-model MODEL]\n"
                   "The book's chapters 6 and 7 section by section, each notebook cell's output after\n"
                   "\"In [N]:\": the SMS spam counts and splits, padding and batches; the model with its new\n"
                   "head, its outputs, loss and accuracy before finetuning, the first steps of\n"
                   "train_classifier_simple and classify_review (6.4-6.8); the instruction data set, its\n"
                   "prompt format, the collate function and the loss that ignores padding; the model's\n"
                   "response, losses, the first steps of train_model_simple and test responses (7.5-7.7).\n"
                   "The models are a SMALL GPT of the same code (emb_dim %d, %d layers, %d heads, context %d,\n"
                   "random weights), which takes seconds; the book's GPT-2 sizes take minutes on a CPU:\n"
                   "  --model MODEL            chapter 6's model; the book's: DATA_DIR/gpt2/124M (`make gpt2-124M`)\n"
                   "  --instruct-model MODEL   chapter 7's model; the book's: DATA_DIR/gpt2/355M (`make gpt2-355M`)\n"
                   "                           (MODEL \"random\": GPT_CONFIG_124M's shape with random weights)\n"
                   "  --seed N                 seed of the split, the shuffling and the new weights (123)\n",
                   small.emb_dim, small.n_layers, small.n_heads, small.context);
            return 0;
        } else return cli_bad_usage("walkthrough");
    }
    cli_no_arguments("walkthrough", argc, argv);
    Bpe *bpe = bpe_load_gpt2();
    printf("# The book's chapters 6 and 7 section by section: \"In [N]\" is cell N of ch06.ipynb, and of\n"
           "# ch07.ipynb from section 7.2 on; lines starting \"# \" are ours.\n");
    walkthrough_classification(bpe, model_path, (uint64_t)seed);
    walkthrough_instructions(bpe, instruct_model, (uint64_t)seed);
    bpe_free(bpe);
    return 0;
}
