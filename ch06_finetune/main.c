/* ch06: Chapters 6 and 7 of the book, finetuning.
 *
 *   ch06 walkthrough          both chapters section by section, as the notebooks run
 *   ch06 prepare-spam ...     6.2: the balanced SMS spam splits as CSV files
 *   ch06 train-classifier ... 6.3-6.8: finetune a GPT to classify spam
 *   ch06 classify ...         6.8: spam or not spam, with a finetuned classifier
 *   ch06 train-instruct ...   7.2-7.7: finetune a GPT to follow instructions
 *   ch06 instruct ...         7.7: a finetuned model's response to an instruction
 *
 * MODEL is a directory with OpenAI's GPT-2 files (make gpt2-124M), a Hugging
 * Face directory (config.json and model.safetensors), a checkpoint written by
 * ch05 or ch06, or "random" for a randomly initialised model (for trying the
 * programs out quickly). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/bpe.h"
#include "../ch02_text/utf8.h"
#include "../ch04_gpt/config.h"
#include "../ch04_gpt/gpt.h"
#include "../ch05_pretrain/gpt_weights.h"
#include "../ch05_pretrain/loss.h"
#include "../ch05_pretrain/train.h"
#include "../common/ops.h"
#include "../common/tensor.h"
#include "../common/cli.h"
#include "../common/util.h"
#include "classifier.h"
#include "csv.h"
#include "example_loader.h"
#include "finetune.h"
#include "instruction_data.h"
#include "spam_data.h"
#include "train_classifier.h"
#include "train_instruct.h"

/* ---- walkthrough ------------------------------------------------------------ */

static void section(const char *title) { printf("\n== %s ==\n", title); }

static void print_ids(const int *ids, int n) {
    putchar('[');
    for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
    putchar(']');
}

static void print_matrix(const char *name, const int *x, int rows, int cols) {
    printf("%s: [", name);
    for (int r = 0; r < rows; r++) {
        if (r) printf(",\n%*s", (int)strlen(name) + 3, "");
        print_ids(x + (size_t)r * cols, cols);
    }
    printf("]\n");
}

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

/* 6.8 classify_review: text's ids cut to max_length (at most the model's
 * context: the caller checks), padded with <|endoftext|> to max_length, and
 * the argmax of the last token's logits. */
static int classify_review(Classifier *c, Bpe *bpe, const char *text, int max_length) {
    IntVec ids = {0};
    bpe_encode(bpe, text, strlen(text), false, &ids);
    int *input = xmalloc((size_t)max_length * sizeof(int));
    for (int i = 0; i < max_length; i++) input[i] = i < (int)ids.len ? ids.data[i] : bpe_eot_id(bpe);
    const int label = vec_argmax(classifier_forward(c, input, 1, max_length), c->n_classes);
    free(input);
    intvec_free(&ids);
    return label;
}

/* Before a cell's output, "In [N]: what the cell does", N the cell's number
 * in ch06.ipynb (ch07.ipynb in chapter 7's sections); "# " lines are ours. */
static void cell(int n, const char *what) { printf("In [%d]: %s\n", n, what); }

/* "tensor([[5211,  345,  423,  640]])": ids as PyTorch prints them, every
 * value right-aligned to the widest. */
static void print_id_tensor(const int *x, int rows, int cols) {
    int width = 1;
    for (int i = 0; i < rows * cols; i++) {
        int w = snprintf(NULL, 0, "%d", x[i]);
        if (w > width) width = w;
    }
    fputs("tensor([", stdout);
    for (int r = 0; r < rows; r++) {
        fputs(r ? ",\n        [" : "[", stdout);
        for (int c = 0; c < cols; c++) printf(c ? ", %*d" : "%*d", width, x[r * cols + c]);
        putchar(']');
    }
    puts("])");
}

/* "torch.Size([1, 4, 2])" */
static void print_size(const char *label, int ndim, const int *shape) {
    printf("%storch.Size([", label);
    for (int d = 0; d < ndim; d++) printf(d ? ", %d" : "%d", shape[d]);
    puts("])");
}

/* The first num_batches batches of a loader over ds (all when
 * num_batches <= 0), in evaluation mode: calc_loss_loader's mean batch loss
 * and calc_accuracy_loader's share of right predictions. */
static void loader_loss_accuracy(Classifier *c, const SpamDataset *ds, bool shuffle, uint64_t seed, int num_batches,
                                 double *loss, double *accuracy) {
    enum { BATCH_SIZE = 8 };
    ExampleLoader dl;
    char err[128];
    if (!example_loader_init(&dl, ds->n, BATCH_SIZE, shuffle, shuffle, seed, err, sizeof err)) fatal("%s", err);
    int *ids = xmalloc((size_t)BATCH_SIZE * ds->max_length * sizeof(int)), labels[BATCH_SIZE];
    const bool was_training = c->gpt->training;
    c->gpt->training = false;
    double total = 0;
    long correct = 0, examples = 0;
    int batches = 0;
    const int *idx;
    for (int n; (num_batches <= 0 || batches < num_batches) && (n = example_loader_next(&dl, &idx)) > 0; batches++) {
        spam_dataset_batch(ds, idx, n, ids, labels);
        int right;
        total += classifier_loss_batch(c, ids, labels, n, ds->max_length, false, &right);
        correct += right;
        examples += n;
    }
    c->gpt->training = was_training;
    *loss = batches ? total / batches : NAN;
    *accuracy = examples ? (double)correct / (double)examples : NAN;
    free(ids);
    example_loader_free(&dl);
}

static void print_loss_accuracy(Classifier *c, SpamDataset ds[3], uint64_t seed, int num_batches, bool loss) {
    const char *names[3] = {"Training", "Validation", "Test"};
    for (int i = 0; i < 3; i++) {
        double l, a;
        loader_loss_accuracy(c, &ds[i], i == 0, seed, num_batches, &l, &a);
        if (loss) printf("%s loss: %.3f\n", names[i], l);
        else printf("%s accuracy: %.2f%%\n", names[i], a * 100);
    }
}

/* 6.4-6.8 on a model: GPT-2 small's weights when they are there (or MODEL),
 * else a model of its shape with random weights. The steps that run over
 * the data sets use a small model of the same code unless MODEL is given. */
static void walkthrough_classifier(Bpe *bpe, SpamDataset ds[3], const char *model_path, uint64_t seed) {
    section("6.4 Initializing a model with pretrained weights");
    char *gpt2 = path_join(data_dir(), "gpt2/124M"), *hparams = path_join(gpt2, "hparams.json");
    const bool have_gpt2 = file_exists(hparams);
    ModelChoice mc = {.path = model_path ? model_path : gpt2};
    cell(17, "GPT-2 small (124M) with drop_rate 0.0 and qkv_bias True");
    if (model_path) printf("# the model: %s\n", model_path);
    else if (have_gpt2) printf("# OpenAI's GPT-2 small from %s\n", gpt2);
    else
        printf("# OpenAI's GPT-2 weights are not in %s (`make gpt2-124M` fetches them): a model of the same\n"
               "# shape with random weights (seed %llu) stands in, so the values below are ours, not the book's\n",
               gpt2, (unsigned long long)seed);
    GPTConfig small = {0}; /* BASE_CONFIG with gpt2-small (124M): qkv_bias True, drop_rate 0.0 */
    gpt_config_preset("gpt2-small", &small);
    small.drop_rate = 0;
    GPTModel *gpt;
    if (model_path || have_gpt2) {
        gpt = finetune_load_model(&mc, "124M", bpe_vocab_size(bpe));
        if (gpt->config.context_length < ds[0].max_length)
            fatal("%s: a context of %d tokens is shorter than the padded texts' %d", mc.path, gpt->config.context_length,
                  ds[0].max_length);
    }
    else {
        gpt = gpt_create(&small);
        gpt_init_weights(gpt, seed);
    }
    printf("# emb_dim %d, n_layers %d, n_heads %d, context_length %d; `ch05 generate` continues text with it (In [18]-[19])\n",
           gpt->config.emb_dim, gpt->config.n_layers, gpt->config.n_heads, gpt->config.context_length);
    free(hparams);
    free(gpt2);

    section("6.5 Adding a classification head");
    size_t total = gpt_param_count(&small);
    GPTConfig less = small;
    less.n_layers--;
    const size_t block = total - gpt_param_count(&less), C = (size_t)small.emb_dim;
    const size_t n_classes = 2, head = n_classes * C + n_classes, final_norm = 2 * C; /* weight, bias; scale, shift */
    printf("# GPT-2 small: %zu parameters; the output head (%d x %zu, tied to the embedding) gives way to a\n"
           "# linear layer %zu -> %zu with bias: %zu parameters, applied to the last token's output only\n",
           total, small.vocab_size, C, C, n_classes, head);
    printf("# Trainable: the last block %zu + the final norm %zu + the head %zu = %zu\n", block, final_norm, head,
           block + final_norm + head);
    cell(21, "freeze every parameter");
    cell(22, "a new out_head, Linear(emb_dim, 2), drawn with seed 123");
    cell(23, "the last transformer block and the final norm train again");
    printf("# what the optimiser gets:\n");
    Classifier *c = classifier_create(gpt, 2, 1, seed);
    Trainable t = {0};
    classifier_trainable(c, &t);
    const int L = gpt->config.n_layers;
    printf("Trainable parameters: %zu (", trainable_count(&t));
    if (L > 1) printf("blocks 0 to %d frozen, ", L - 2);
    printf("block %d, final_norm and out_head train)\n", L - 1);
    trainable_free(&t);

    cell(24, "the input \"Do you have time\"");
    IntVec ids = {0};
    const char *text = "Do you have time";
    bpe_encode(bpe, text, strlen(text), false, &ids);
    const int T = (int)ids.len, in_shape[2] = {1, T}, out_shape[3] = {1, T, 2};
    fputs("Inputs: ", stdout);
    print_id_tensor(ids.data, 1, T);
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

    /* 6.6-6.8 run over the data sets: GPT-2 small's size takes minutes there */
    if (!model_path) {
        classifier_free(c);
        const int context = ds[0].max_length > 128 ? ds[0].max_length : 128;
        ModelChoice tiny = {.path = "random", .emb_dim = 64, .n_layers = 2, .n_heads = 2, .context = context, .seed = seed};
        c = classifier_create(finetune_load_model(&tiny, "124M", bpe_vocab_size(bpe)), 2, 1, seed);
        printf("\n# From here on the same code on a small GPT (emb_dim %d, n_layers %d, n_heads %d, context %d,\n"
               "# random weights, seed %llu): GPT-2 small takes minutes a pass on a CPU. `ch06 walkthrough\n"
               "# --model MODEL` runs these steps on MODEL.\n",
               tiny.emb_dim, tiny.n_layers, tiny.n_heads, tiny.context, (unsigned long long)seed);
    }
    section("6.6 Calculating the classification loss and accuracy");
    enum { NUM_BATCHES = 5 };
    cell(31, "accuracy over the first 5 batches of each loader, before finetuning");
    print_loss_accuracy(c, ds, seed, NUM_BATCHES, false);
    printf("# the book's, with GPT-2 small's weights: 46.25%%, 45.00%%, 48.75%%\n");
    cell(34, "the loss over the first 5 batches");
    print_loss_accuracy(c, ds, seed, NUM_BATCHES, true);
    printf("# the book's: 2.453, 2.583, 2.322\n");

    section("6.7 Finetuning the model on supervised data");
    enum { STEPS = 6, EVAL_FREQ = 2, EVAL_ITER = 5, BATCH_SIZE = 8 };
    const float lr = 5e-5f, weight_decay = 0.1f;
    printf("# The book trains 5 epochs (AdamW, lr %g, weight decay %g, evaluating every 50 steps over 5\n"
           "# batches): `ch06 train-classifier` does that (`--model random` and the sizes for a quick try).\n"
           "# Here its first %d steps, evaluating every %d:\n",
           lr, weight_decay, STEPS, EVAL_FREQ);
    cell(37, "train_classifier_simple, the first steps");
    Trainable tr = {0};
    classifier_trainable(c, &tr);
    AdamWConfig adam = adamw_default_config();
    adam.lr = lr;
    adam.weight_decay = weight_decay;
    ExampleLoader dl;
    char err[128];
    if (!example_loader_init(&dl, ds[0].n, BATCH_SIZE, true, true, seed, err, sizeof err)) fatal("%s", err);
    int *batch = xmalloc((size_t)BATCH_SIZE * ds[0].max_length * sizeof(int)), labels[BATCH_SIZE];
    const int *idx;
    long examples_seen = 0;
    c->gpt->training = true;
    for (int step = 0, n; step < STEPS && (n = example_loader_next(&dl, &idx)) > 0; step++) {
        spam_dataset_batch(&ds[0], idx, n, batch, labels);
        trainable_zero_grad(&tr);
        classifier_loss_batch(c, batch, labels, n, ds[0].max_length, true, NULL);
        trainable_step(&tr, &adam, lr);
        examples_seen += n;
        if (step % EVAL_FREQ == 0) {
            double train_loss, val_loss, acc;
            loader_loss_accuracy(c, &ds[0], true, seed, EVAL_ITER, &train_loss, &acc);
            loader_loss_accuracy(c, &ds[1], false, seed, EVAL_ITER, &val_loss, &acc);
            printf("Ep 1 (Step %06d): Train loss %.3f, Val loss %.3f\n", step, train_loss, val_loss);
        }
    }
    printf("# %ld examples seen\n", examples_seen);
    free(batch);
    example_loader_free(&dl);
    trainable_free(&tr);

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
    classifier_free(c);
}

static void walkthrough_classification(Bpe *bpe, const char *model_path, uint64_t seed) {
    section("6.2 Preparing the dataset");
    char *sms = data_file("sms_spam/SMSSpamCollection");
    TextSet all = sms_read_collection(sms);
    cell(3, "pd.read_csv(data_file_path, sep=\"\\t\", header=None, names=[\"Label\", \"Text\"])");
    printf("%s: %d messages, read as pandas' read_csv(sep=\"\\t\") reads them\n", sms, all.n);
    print_quoted_line_breaks(sms);
    cell(4, "df[\"Label\"].value_counts()");
    printf("Label\nham     %d\nspam    %d\n", textset_count(&all, LABEL_HAM), textset_count(&all, LABEL_SPAM));
    TextSet balanced = sms_balance(&all, seed);
    cell(5, "create_balanced_dataset(df)");
    printf("Balanced: ham %d, spam %d (ham drawn at random with seed %llu)\n", textset_count(&balanced, LABEL_HAM),
           textset_count(&balanced, LABEL_SPAM), (unsigned long long)seed);
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
    printf("Padding token: %d (%s)\n", pad_id, pad_text.data);
    bytebuf_free(&pad_text);
    cell(11, "train_dataset.max_length");
    printf("Longest training text: %d tokens (the book's split: 120); every text is padded to it\n", ds[0].max_length);
    cell(12, "the validation and test sets, padded and cut to it");
    printf("Validation and test texts cut to it: %d and %d\n", ds[1].n_truncated, ds[2].n_truncated);
    const char *names[3] = {"training", "validation", "test"};
    const int batch_size = 8;
    int last_batch = 0; /* the training loader's last batch: its examples */
    cell(15, "len() of each loader");
    for (int i = 0; i < 3; i++) {
        ExampleLoader dl;
        char err[128];
        if (!example_loader_init(&dl, ds[i].n, batch_size, i == 0, i == 0, seed, err, sizeof err)) fatal("%s", err);
        printf("%d %s batches%s\n", dl.n_batches, names[i], i == 0 ? " (shuffled, last partial batch dropped)" : "");
        const int *idx;
        for (int n; i == 0 && (n = example_loader_next(&dl, &idx)) > 0;) last_batch = n;
        example_loader_free(&dl);
    }
    cell(14, "the training loader's last batch's shapes");
    const int input_shape[2] = {last_batch, ds[0].max_length};
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

/* The examples of ds at indices[0..n) collated (7.3): inputs and targets
 * (n, *T), grown as needed. */
static void instruction_batch(const InstructionDataset *ds, const int *indices, int n, int pad_id, int **inputs,
                              int **targets, int *T) {
    const int *seqs[64];
    int lengths[64];
    if (n > 64) fatal("instruction_batch: a batch of %d", n);
    for (int i = 0; i < n; i++) {
        seqs[i] = ds->encoded[indices[i]].data;
        lengths[i] = (int)ds->encoded[indices[i]].len;
    }
    *T = collate_length(lengths, n, 1024);
    *inputs = xrealloc(*inputs, (size_t)n * *T * sizeof(int));
    *targets = xrealloc(*targets, (size_t)n * *T * sizeof(int));
    collate_batch(seqs, lengths, n, *T, pad_id, *inputs, *targets);
}

/* calc_loss_loader over the first num_batches batches of 8, in evaluation mode. */
static double instruction_loss(GPTModel *m, const InstructionDataset *ds, bool shuffle, uint64_t seed, int num_batches,
                               int pad_id) {
    ExampleLoader dl;
    char err[128];
    if (!example_loader_init(&dl, ds->n, 8, shuffle, shuffle, seed, err, sizeof err)) fatal("%s", err);
    const bool was_training = m->training;
    m->training = false;
    int *inputs = NULL, *targets = NULL, T, batches = 0;
    double total = 0;
    const int *idx;
    for (int n; batches < num_batches && (n = example_loader_next(&dl, &idx)) > 0; batches++) {
        instruction_batch(ds, idx, n, pad_id, &inputs, &targets, &T);
        total += calc_loss_batch(m, inputs, targets, n, T, false);
    }
    m->training = was_training;
    free(inputs);
    free(targets);
    example_loader_free(&dl);
    return batches ? total / batches : NAN;
}

/* 7.5-7.8 on a small GPT of the same code: GPT-2 medium's 355M parameters
 * are minutes a step on a CPU. */
static void walkthrough_instruction_model(Bpe *bpe, const InstructionSet *train, const InstructionSet *val,
                                          const InstructionSet *test, uint64_t seed) {
    section("7.5 Loading a pretrained LLM");
    cell(28, "GPT-2 medium (355M): `make gpt2-355M` fetches it, `ch06 train-instruct` starts from it");
    ModelChoice tiny = {.path = "random", .emb_dim = 64, .n_layers = 2, .n_heads = 2, .context = 1024, .seed = seed};
    GPTModel *m = finetune_load_model(&tiny, "355M", bpe_vocab_size(bpe));
    printf("# here, fast, the same code on a small GPT (emb_dim %d, n_layers %d, n_heads %d, random weights,\n"
           "# seed %llu): what it writes and its losses are ours, the book's are beside them\n",
           tiny.emb_dim, tiny.n_layers, tiny.n_heads, (unsigned long long)seed);
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
    enum { NUM_BATCHES = 5, STEPS = 4, EVAL_FREQ = 2, EVAL_ITER = 1, BATCH_SIZE = 8 };
    cell(33, "the losses over the first 5 batches, before finetuning");
    printf("Training loss: ");
    print_python_float(instruction_loss(m, &train_ds, true, seed, NUM_BATCHES, pad_id));
    printf("Validation loss: ");
    print_python_float(instruction_loss(m, &val_ds, false, seed, NUM_BATCHES, pad_id));
    printf("# the book's, GPT-2 medium's: 3.8259105682373047, 3.7619349479675295\n");
    const float lr = 5e-5f, weight_decay = 0.1f;
    printf("# The book trains the whole model 2 epochs (AdamW, lr %g, weight decay %g, evaluating every 5\n"
           "# steps over 5 batches): `ch06 train-instruct` does that. Here its first %d steps, evaluating\n"
           "# every %d over %d batch:\n",
           lr, weight_decay, STEPS, EVAL_FREQ, EVAL_ITER);
    cell(34, "train_model_simple, the first steps");
    gpt_zero_grad(m);
    Trainable t = {0};
    trainable_add(&t, "gpt", m->params, m->grads, m->n_params);
    AdamWConfig adam = adamw_default_config();
    adam.lr = lr;
    adam.weight_decay = weight_decay;
    ExampleLoader dl;
    char err[128];
    if (!example_loader_init(&dl, train_ds.n, BATCH_SIZE, true, true, seed, err, sizeof err)) fatal("%s", err);
    int *inputs = NULL, *targets = NULL, T;
    long tokens_seen = 0;
    const int *idx;
    m->training = true;
    for (int step = 0, n; step < STEPS && (n = example_loader_next(&dl, &idx)) > 0; step++) {
        instruction_batch(&train_ds, idx, n, pad_id, &inputs, &targets, &T);
        trainable_zero_grad(&t);
        calc_loss_batch(m, inputs, targets, n, T, true);
        trainable_step(&t, &adam, lr);
        tokens_seen += (long)n * T;
        if (step % EVAL_FREQ == 0)
            printf("Ep 1 (Step %06d): Train loss %.3f, Val loss %.3f\n", step,
                   instruction_loss(m, &train_ds, true, seed, EVAL_ITER, pad_id),
                   instruction_loss(m, &val_ds, false, seed, EVAL_ITER, pad_id));
    }
    m->training = false;
    printf("# %ld tokens seen (padding included, as the book counts them)\n", tokens_seen);
    free(inputs);
    free(targets);
    example_loader_free(&dl);
    trainable_free(&t);
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

static void walkthrough_instructions(Bpe *bpe, uint64_t seed) {
    section("7.2 Preparing a dataset for supervised instruction finetuning");
    char *path = data_file("instruction-data.json");
    InstructionSet all = instruction_data_read(path);
    cell(2, "the instruction data");
    printf("Number of entries: %d\n", all.n);
    const int examples[2] = {50, 999};
    for (int k = 0; k < 2; k++) {
        if (examples[k] >= all.n) continue;
        char *text = format_training_text(&all.items[examples[k]]);
        printf("\n");
        cell(6 + k, k ? "format_input(data[999]) and the response" : "format_input(data[50]) and the response");
        printf("Entry %d as the model sees it:\n%s\n", examples[k], text);
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
    cell(17, "custom_collate_fn on the book's toy batch");
    printf("A toy batch: ");
    for (int i = 0; i < 3; i++) {
        if (i) printf(", ");
        print_ids(seqs[i], lengths[i]);
    }
    putchar('\n');
    print_matrix("inputs", inputs, 3, T);
    print_matrix("targets", targets, 3, T);
    printf("(one %d ends each text; the rest of the padding is %d in the targets, ignored by the loss)\n", pad_id,
           CROSS_ENTROPY_IGNORE_INDEX);
    /* the book's two rows, then a third, counted and then ignored */
    const float logits[6] = {-1.0f, 1.0f, -0.5f, 1.5f, -0.5f, 1.5f};
    const int targets_1[2] = {0, 1}, targets_2[3] = {0, 1, 1}, targets_3[3] = {0, 1, CROSS_ENTROPY_IGNORE_INDEX};
    float p[6];
    cell(18, "cross entropy of two rows");
    printf("cross entropy of ");
    print_float_rows(logits, 2, 2);
    printf(" with targets ");
    print_ids(targets_1, 2);
    printf(": %.4f\n", cross_entropy_forward(NULL, p, logits, targets_1, 2, 2));
    cell(19, "with a third row");
    printf("with a third row ");
    print_floats(logits + 4, 2);
    printf(", target %d: %.4f\n", targets_2[2], cross_entropy_forward(NULL, p, logits, targets_2, 3, 2));
    cell(20, "the third row's target -100");
    printf("with that row's target %d: %.4f (the row takes no part)\n", targets_3[2],
           cross_entropy_forward(NULL, p, logits, targets_3, 3, 2));

    section("7.4 Creating data loaders for an instruction dataset");
    InstructionDataset ds;
    instruction_dataset_init(&ds, &train, bpe);
    ExampleLoader dl;
    char err[128];
    enum { BATCH_SIZE = 8 };
    const int allowed_max_length = 1024; /* the book's collate function's */
    if (!example_loader_init(&dl, ds.n, BATCH_SIZE, true, true, seed, err, sizeof err)) fatal("%s", err);
    cell(25, "the train loader's batches");
    printf("Train loader: %d batches of %d (shuffled, last partial batch dropped); the first ones:\n", dl.n_batches,
           BATCH_SIZE);
    const int *idx;
    int longest = 0;
    for (int i = 0, n; (n = example_loader_next(&dl, &idx)) > 0; i++) {
        int lens[BATCH_SIZE];
        for (int j = 0; j < n; j++) lens[j] = (int)ds.encoded[idx[j]].len;
        int t = collate_length(lens, n, allowed_max_length);
        if (t > longest) longest = t;
        if (i < 5) printf("torch.Size([%d, %d]) torch.Size([%d, %d])\n", n, t, n, t);
    }
    printf("The longest batch: %d tokens (each batch is only as long as its longest text)\n", longest);
    example_loader_free(&dl);
    instruction_dataset_free(&ds);
    walkthrough_instruction_model(bpe, &train, &val, &test, seed);
    instruction_set_free(&train);
    instruction_set_free(&test);
    instruction_set_free(&val);
    instruction_set_free(&all);
    free(path);
}

static int cmd_walkthrough(int argc, char **argv) {
    static const struct option options[] = {{"seed", required_argument, NULL, 's'},
                                            {"model", required_argument, NULL, 'm'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    long seed = 123;
    const char *model_path = NULL;
    for (int c; (c = getopt_long(argc, argv, "s:m:h", options, NULL)) != -1;) {
        if (c == 's') seed = cli_long("--seed", optarg, 0, 0x7fffffffL);
        else if (c == 'm') model_path = optarg;
        else if (c == 'h') {
            printf("usage: ch06 walkthrough [--seed N] [--model MODEL]\n"
                   "The book's chapters 6 and 7 section by section, each notebook cell's output after\n"
                   "\"In [N]:\": the SMS spam counts and splits, padding and batches; the model with its new\n"
                   "head (GPT-2 small from DATA_DIR/gpt2/124M, else that shape with random weights), its\n"
                   "outputs, loss and accuracy before finetuning, a few training steps and classify_review\n"
                   "(on a small random GPT, fast, unless MODEL is given); the instruction data set, its\n"
                   "prompt format, the collate function and the loss that ignores padding; a small GPT's\n"
                   "response, losses, first training steps and test responses (7.5-7.7).\n"
                   "  --model MODEL   the model for chapter 6's steps (slow at GPT-2 small's size)\n");
            return 0;
        } else return cli_bad_usage("walkthrough");
    }
    cli_no_arguments("walkthrough", argc, argv);
    Bpe *bpe = bpe_load_gpt2();
    printf("# The book's chapters 6 and 7 section by section: \"In [N]\" is cell N of ch06.ipynb, and of\n"
           "# ch07.ipynb from section 7.2 on; lines starting \"# \" are ours.\n");
    walkthrough_classification(bpe, model_path, (uint64_t)seed);
    walkthrough_instructions(bpe, (uint64_t)seed);
    bpe_free(bpe);
    return 0;
}

/* ---- prepare-spam ------------------------------------------------------------ */

static int cmd_prepare_spam(int argc, char **argv) {
    static const struct option options[] = {{"out", required_argument, NULL, 'o'},
                                            {"sms", required_argument, NULL, 'i'},
                                            {"seed", required_argument, NULL, 's'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *out = NULL, *sms_path = NULL;
    long seed = 123;
    for (int c; (c = getopt_long(argc, argv, "o:i:s:h", options, NULL)) != -1;) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'i': sms_path = optarg; break;
        case 's': seed = cli_long("--seed", optarg, 0, 0x7fffffffL); break;
        case 'h':
            printf("usage: ch06 prepare-spam --out DIR [--sms FILE] [--seed N]\n"
                   "6.2: reads the SMS Spam Collection (default: DATA_DIR/sms_spam/SMSSpamCollection), keeps\n"
                   "all spam and as many ham messages drawn at random, shuffles, splits 70/10/20 and writes\n"
                   "DIR/train.csv, DIR/validation.csv and DIR/test.csv (header Label,Text; ham 0, spam 1).\n"
                   "  --seed N    seed of the draw and the shuffle (123)\n");
            return 0;
        default: return cli_bad_usage("prepare-spam");
        }
    }
    cli_no_arguments("prepare-spam", argc, argv);
    if (!out) fatal("prepare-spam: --out is required");
    char *path = sms_path ? xstrdup(sms_path) : data_file("sms_spam/SMSSpamCollection");
    TextSet all = sms_read_collection(path);
    printf("%s: ham %d, spam %d\n", path, textset_count(&all, LABEL_HAM), textset_count(&all, LABEL_SPAM));
    TextSet balanced = sms_balance(&all, (uint64_t)seed);
    TextSet sets[3];
    textset_split(&balanced, 0.7, 0.1, (uint64_t)seed, &sets[0], &sets[1], &sets[2]);
    make_dirs(out);
    const char *names[3] = {"train.csv", "validation.csv", "test.csv"};
    for (int i = 0; i < 3; i++) {
        char *p = path_join(out, names[i]);
        textset_write_csv(&sets[i], p);
        printf("%s: %d texts (ham %d, spam %d)\n", p, sets[i].n, textset_count(&sets[i], LABEL_HAM),
               textset_count(&sets[i], LABEL_SPAM));
        free(p);
        textset_free(&sets[i]);
    }
    textset_free(&balanced);
    textset_free(&all);
    free(path);
    return 0;
}

/* ---- shared flags of the training commands ---------------------------------------- */

enum {
    OPT_EMB = 256, OPT_LAYERS, OPT_HEADS, OPT_CONTEXT, OPT_DROPOUT, OPT_WD, OPT_BATCH, OPT_EVAL_FREQ, OPT_EVAL_ITER,
    OPT_MAX_LENGTH, OPT_TRAINABLE, OPT_DATA_DIR, OPT_ALLOWED, OPT_MAX_NEW, OPT_NO_SAMPLES, OPT_NO_RESPONSES,
    OPT_INSTRUCTION, OPT_INPUT, OPT_LORA_RANK, OPT_LORA_ALPHA,
};

#define MODEL_FLAGS_HELP                                                                                    \
    "  --model MODEL        the model to start from; \"random\" for a random one of this size:\n"           \
    "  --emb-dim N, --n-layers N, --n-heads N, --context N   (defaults: GPT-2 small's 768, 12, 12, 1024)\n"   \
    "  --dropout X          dropout while training (0, as the book)\n"

/* The flags every training command has; false when c is not one of them. */
static bool model_flag(int c, ModelChoice *mc) {
    switch (c) {
    case 'm': mc->path = optarg; return true;
    case OPT_EMB: mc->emb_dim = (int)cli_long("--emb-dim", optarg, 1, 1 << 16); return true;
    case OPT_LAYERS: mc->n_layers = (int)cli_long("--n-layers", optarg, 1, 1024); return true;
    case OPT_HEADS: mc->n_heads = (int)cli_long("--n-heads", optarg, 1, 1024); return true;
    case OPT_CONTEXT: mc->context = (int)cli_long("--context", optarg, 1, 1 << 20); return true;
    case OPT_DROPOUT: mc->dropout = cli_float("--dropout", optarg, 0, 0.99); return true;
    default: return false;
    }
}

#define LORA_FLAGS_HELP                                                                                     \
    "  --lora-rank N        appendix E: freeze the whole model and train LoRA adapters of rank N on every\n" \
    "                       linear layer and the head (0, the default: off; the book: 16); the checkpoint\n" \
    "                       has them merged into the weights\n"                                               \
    "  --lora-alpha X       LoRA's alpha: the adapters are scaled by alpha / rank (16)\n"

/* --lora-rank and --lora-alpha; false when c is not one of them. */
static bool lora_flag(int c, int *rank, float *alpha) {
    switch (c) {
    case OPT_LORA_RANK: *rank = (int)cli_long("--lora-rank", optarg, 0, 1 << 16); return true;
    case OPT_LORA_ALPHA: *alpha = cli_float("--lora-alpha", optarg, 1e-6, 1e6); return true;
    default: return false;
    }
}

#define MODEL_OPTIONS                                                                                                \
    {"model", required_argument, NULL, 'm'}, {"emb-dim", required_argument, NULL, OPT_EMB},                         \
        {"n-layers", required_argument, NULL, OPT_LAYERS}, {"n-heads", required_argument, NULL, OPT_HEADS},         \
        {"context", required_argument, NULL, OPT_CONTEXT}, {"dropout", required_argument, NULL, OPT_DROPOUT},       \
        {"epochs", required_argument, NULL, 'e'}, {"lr", required_argument, NULL, 'l'},                             \
        {"weight-decay", required_argument, NULL, OPT_WD}, {"batch-size", required_argument, NULL, OPT_BATCH},      \
        {"seed", required_argument, NULL, 's'}, {"eval-freq", required_argument, NULL, OPT_EVAL_FREQ},              \
        {"eval-iter", required_argument, NULL, OPT_EVAL_ITER}, {"out", required_argument, NULL, 'o'},               \
        {"lora-rank", required_argument, NULL, OPT_LORA_RANK}, {"lora-alpha", required_argument, NULL, OPT_LORA_ALPHA}, \
        {"help", no_argument, NULL, 'h'}

/* ---- train-classifier ------------------------------------------------------------------ */

static void usage_train_classifier(FILE *out) {
    fprintf(out,
            "usage: ch06 train-classifier [options]\n"
            "Finetunes a GPT to classify SMS messages as spam or not, as the book's chapter 6 does (defaults:\n"
            "the book's run on GPT-2 small from DATA_DIR/gpt2/124M, which `make gpt2-124M` downloads).\n"
            "Writes OUT/log.csv, OUT/accuracy.csv, their plots OUT/loss.png and OUT/accuracy.png, and the\n"
            "finetuned model OUT/checkpoint.safetensors for `ch06 classify`.\n" MODEL_FLAGS_HELP
            "  --data-dir DIR       train.csv, validation.csv, test.csv from `ch06 prepare-spam` (default: made\n"
            "                       from DATA_DIR/sms_spam/SMSSpamCollection and written to OUT)\n"
            "  --epochs N           (5)\n"
            "  --lr X               AdamW learning rate (5e-5)\n"
            "  --weight-decay X     AdamW weight decay (0.1)\n"
            "  --batch-size N       (8)\n"
            "  --max-length N       pad and cut every text to N tokens (default: the longest training text)\n"
            "  --trainable-blocks N train the last N transformer blocks (1); all of them trains the whole model\n"
            LORA_FLAGS_HELP
            "  --seed N             seed of the split, the new head, shuffling, dropout and LoRA's A (123)\n"
            "  --eval-freq N        evaluate the losses every N steps (50)\n"
            "  --eval-iter N        batches per evaluation and per epoch's accuracy (5)\n"
            "  --out DIR            run directory (runs/classifier)\n");
}

static int cmd_train_classifier(int argc, char **argv) {
    static const struct option options[] = {MODEL_OPTIONS,
                                            {"data-dir", required_argument, NULL, OPT_DATA_DIR},
                                            {"max-length", required_argument, NULL, OPT_MAX_LENGTH},
                                            {"trainable-blocks", required_argument, NULL, OPT_TRAINABLE},
                                            {0}};
    ClassifierTrainOptions o = classifier_train_default_options();
    long trainable = -1;
    for (int c; (c = getopt_long(argc, argv, "m:e:l:s:o:h", options, NULL)) != -1;) {
        if (model_flag(c, &o.model)) continue;
        if (lora_flag(c, &o.lora_rank, &o.lora_alpha)) continue;
        switch (c) {
        case 'e': o.epochs = (int)cli_long("--epochs", optarg, 1, 1000000); break;
        case 'l': o.lr = cli_float("--lr", optarg, 0, 10); break;
        case OPT_WD: o.weight_decay = cli_float("--weight-decay", optarg, 0, 10); break;
        case OPT_BATCH: o.batch_size = (int)cli_long("--batch-size", optarg, 1, 65536); break;
        case 's': o.seed = (uint64_t)cli_long("--seed", optarg, 0, 0x7fffffffL); break;
        case OPT_EVAL_FREQ: o.eval_freq = (int)cli_long("--eval-freq", optarg, 1, 1 << 30); break;
        case OPT_EVAL_ITER: o.eval_iter = (int)cli_long("--eval-iter", optarg, 1, 1 << 30); break;
        case 'o': o.out_dir = optarg; break;
        case OPT_DATA_DIR: o.data_dir = optarg; break;
        case OPT_MAX_LENGTH: o.max_length = (int)cli_long("--max-length", optarg, 1, 1 << 20); break;
        case OPT_TRAINABLE: trainable = cli_long("--trainable-blocks", optarg, 0, 1024); break;
        case 'h': usage_train_classifier(stdout); return 0;
        default: return cli_bad_usage("train-classifier");
        }
    }
    cli_no_arguments("train-classifier", argc, argv);
    if (trainable >= 0) o.trainable_blocks = (int)trainable;
    o.model.seed = o.seed;
    train_classifier(&o);
    return 0;
}

/* ---- classify ---------------------------------------------------------------------------- */

static int cmd_classify(int argc, char **argv) {
    static const struct option options[] = {{"model", required_argument, NULL, 'm'},
                                            {"text", required_argument, NULL, 't'},
                                            {"max-length", required_argument, NULL, OPT_MAX_LENGTH},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *model_path = NULL, *text = NULL;
    long max_length = 0;
    for (int c; (c = getopt_long(argc, argv, "m:t:h", options, NULL)) != -1;) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 't': text = optarg; break;
        case OPT_MAX_LENGTH: max_length = cli_long("--max-length", optarg, 1, 1 << 20); break;
        case 'h':
            printf("usage: ch06 classify --model CHECKPOINT --text TEXT [--max-length N]\n"
                   "6.8 classify_review: prints \"spam\" or \"not spam\" for TEXT, using a checkpoint written by\n"
                   "`ch06 train-classifier`. The text is cut and padded to the length the model was trained\n"
                   "on (stored in the checkpoint), or to N tokens.\n");
            return 0;
        default: return cli_bad_usage("classify");
        }
    }
    cli_no_arguments("classify", argc, argv);
    if (!model_path || !text) fatal("classify: --model and --text are required");
    int trained_length;
    Classifier *c = classifier_load(model_path, &trained_length);
    if (max_length == 0) max_length = trained_length;
    const int context = c->gpt->config.context_length;
    if (max_length > context) fatal("--max-length %ld is longer than the model's context of %d", max_length, context);
    Bpe *bpe = gpt_load_tokenizer(model_path);
    printf("%s\n", classify_review(c, bpe, text, (int)max_length) == LABEL_SPAM ? "spam" : "not spam");
    bpe_free(bpe);
    classifier_free(c);
    return 0;
}

/* ---- train-instruct ------------------------------------------------------------------------ */

static void usage_train_instruct(FILE *out) {
    fprintf(out,
            "usage: ch06 train-instruct [options]\n"
            "Finetunes a GPT to follow instructions, as the book's chapter 7 does (defaults: the book's run\n"
            "on GPT-2 medium from DATA_DIR/gpt2/355M, which `make gpt2-355M` downloads), then writes its\n"
            "responses to the test set. Writes OUT/log.csv, OUT/loss.png, OUT/checkpoint.safetensors and\n"
            "OUT/instruction-data-with-response.json.\n" MODEL_FLAGS_HELP
            "  --data FILE          the instruction data (default: DATA_DIR/instruction-data.json); the first\n"
            "                       85%% train, the next 10%% test, the rest validate\n"
            "  --epochs N           (2)\n"
            "  --lr X               AdamW learning rate (5e-5)\n"
            "  --weight-decay X     AdamW weight decay (0.1)\n"
            "  --batch-size N       (8)\n"
            "  --allowed-max-length N   cut batches to N tokens (1024, or the model's context if shorter)\n"
            "  --max-new-tokens N   the longest response generated for the test set (256)\n"
            LORA_FLAGS_HELP
            "  --seed N             seed of shuffling, dropout and LoRA's A (123)\n"
            "  --eval-freq N        evaluate the losses every N steps (5)\n"
            "  --eval-iter N        batches per evaluation (5)\n"
            "  --out DIR            run directory (runs/instruct)\n"
            "  --no-samples         don't print a sample response after each epoch\n"
            "  --no-responses       don't generate the test set's responses\n");
}

static int cmd_train_instruct(int argc, char **argv) {
    static const struct option options[] = {MODEL_OPTIONS,
                                            {"data", required_argument, NULL, 'd'},
                                            {"allowed-max-length", required_argument, NULL, OPT_ALLOWED},
                                            {"max-new-tokens", required_argument, NULL, OPT_MAX_NEW},
                                            {"no-samples", no_argument, NULL, OPT_NO_SAMPLES},
                                            {"no-responses", no_argument, NULL, OPT_NO_RESPONSES},
                                            {0}};
    InstructTrainOptions o = instruct_train_default_options();
    for (int c; (c = getopt_long(argc, argv, "m:d:e:l:s:o:h", options, NULL)) != -1;) {
        if (model_flag(c, &o.model)) continue;
        if (lora_flag(c, &o.lora_rank, &o.lora_alpha)) continue;
        switch (c) {
        case 'd': o.data_path = optarg; break;
        case 'e': o.epochs = (int)cli_long("--epochs", optarg, 1, 1000000); break;
        case 'l': o.lr = cli_float("--lr", optarg, 0, 10); break;
        case OPT_WD: o.weight_decay = cli_float("--weight-decay", optarg, 0, 10); break;
        case OPT_BATCH: o.batch_size = (int)cli_long("--batch-size", optarg, 1, 65536); break;
        case 's': o.seed = (uint64_t)cli_long("--seed", optarg, 0, 0x7fffffffL); break;
        case OPT_EVAL_FREQ: o.eval_freq = (int)cli_long("--eval-freq", optarg, 1, 1 << 30); break;
        case OPT_EVAL_ITER: o.eval_iter = (int)cli_long("--eval-iter", optarg, 1, 1 << 30); break;
        case 'o': o.out_dir = optarg; break;
        case OPT_ALLOWED: o.allowed_max_length = (int)cli_long("--allowed-max-length", optarg, 1, 1 << 20); break;
        case OPT_MAX_NEW: o.max_new_tokens = (int)cli_long("--max-new-tokens", optarg, 0, 1 << 20); break;
        case OPT_NO_SAMPLES: o.no_samples = true; break;
        case OPT_NO_RESPONSES: o.no_responses = true; break;
        case 'h': usage_train_instruct(stdout); return 0;
        default: return cli_bad_usage("train-instruct");
        }
    }
    cli_no_arguments("train-instruct", argc, argv);
    o.model.seed = o.seed;
    train_instruct(&o);
    return 0;
}

/* ---- instruct ------------------------------------------------------------------------------- */

static int cmd_instruct(int argc, char **argv) {
    static const struct option options[] = {{"model", required_argument, NULL, 'm'},
                                            {"instruction", required_argument, NULL, OPT_INSTRUCTION},
                                            {"input", required_argument, NULL, OPT_INPUT},
                                            {"max-new-tokens", required_argument, NULL, OPT_MAX_NEW},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *model_path = NULL, *instruction = NULL, *input = "";
    long max_new = 256;
    for (int c; (c = getopt_long(argc, argv, "m:h", options, NULL)) != -1;) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case OPT_INSTRUCTION: instruction = optarg; break;
        case OPT_INPUT: input = optarg; break;
        case OPT_MAX_NEW: max_new = cli_long("--max-new-tokens", optarg, 0, 1 << 20); break;
        case 'h':
            printf("usage: ch06 instruct --model MODEL --instruction TEXT [--input TEXT] [--max-new-tokens N]\n"
                   "7.7: the model's response to an instruction (and its input), as the book extracts it:\n"
                   "greedy decoding after the Alpaca-style prompt, stopping at <|endoftext|> or after N tokens\n"
                   "(256). Prints the response only.\n");
            return 0;
        default: return cli_bad_usage("instruct");
        }
    }
    cli_no_arguments("instruct", argc, argv);
    if (!model_path || !instruction) fatal("instruct: --model and --instruction are required");
    GPTModel *m = gpt_load_any(model_path);
    Bpe *bpe = gpt_load_tokenizer(model_path);
    if (m->config.vocab_size != bpe_vocab_size(bpe))
        fatal("the model's vocabulary (%d) is not GPT-2's tokenizer's (%d)", m->config.vocab_size, bpe_vocab_size(bpe));
    InstructionEntry e = {utf8_sanitize(instruction, strlen(instruction), NULL), utf8_sanitize(input, strlen(input), NULL),
                          xstrdup("")};
    char *response = instruct_response(m, bpe, &e, (int)max_new);
    printf("%s\n", response);
    free(response);
    free(e.instruction);
    free(e.input);
    free(e.output);
    bpe_free(bpe);
    gpt_free(m);
    return 0;
}

static const CliCommand commands[] = {
    {"walkthrough", cmd_walkthrough, "chapters 6 and 7 section by section, as the notebooks run"},
    {"prepare-spam", cmd_prepare_spam, "6.2: the balanced SMS spam splits as CSV files"},
    {"train-classifier", cmd_train_classifier, "6.3-6.8: finetune a GPT to classify spam"},
    {"classify", cmd_classify, "6.8: spam or not spam, with a finetuned classifier"},
    {"train-instruct", cmd_train_instruct, "7.2-7.7: finetune a GPT to follow instructions"},
    {"instruct", cmd_instruct, "7.7: a finetuned model's response to an instruction"},
};

int main(int argc, char **argv) {
    static const CliProgram program = {
        .name = "ch06",
        .description =
            "Chapters 6 and 7 of Build a Large Language Model (From Scratch): finetuning for\n"
            "classification and to follow instructions.",
        .footer =
            "MODEL: a directory with OpenAI's GPT-2 files (make gpt2-124M), a Hugging Face directory\n"
            "(config.json + model.safetensors), a checkpoint written by ch05 or ch06, or \"random\".\n",
        .commands = commands,
        .n_commands = sizeof commands / sizeof commands[0],
    };
    return cli_main(&program, argc, argv);
}
