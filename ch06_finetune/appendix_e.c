/* appendix_e.c: see appendix_e.h.
 *
 * Each notebook cell's output follows a line "In [N]: what the cell does"
 * (N its execution count in appendix-E.ipynb); our remarks are "# " lines.
 * The data steps run on the real SMS collection at the book's settings, and
 * the split is the book's (spam_data.h), so the shapes and batch counts are
 * the book's. The model is OpenAI's GPT-2 small when its weights are there
 * (DATA_DIR/gpt2/124M, or --model); otherwise the cells that run a model
 * run a small random GPT of the same code, and the cells about GPT-2
 * small's size (In [15]-[17]) still describe GPT-2 small, computed from its
 * configuration and the adapters' layout (no 124M model is allocated). */
#include "appendix_e.h"

#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch04_gpt/config.h"
#include "../ch04_gpt/generate.h"
#include "../common/printing.h"
#include "../common/cli.h"
#include "../common/rng.h"
#include "../common/util.h"
#include "classifier.h"
#include "finetune.h"
#include "lora.h"
#include "spam_data.h"
#include "train_classifier.h"
#include "trainable.h"

/* The notebook's settings */
enum { NUM_CLASSES = 2, BATCH_SIZE = 8, LORA_RANK = 16, ACCURACY_BATCHES = 10 };
static const float LORA_ALPHA = 16.0f, LR = 8e-4f, WEIGHT_DECAY = 0.1f;
enum { EPOCHS = 5, EVAL_FREQ = 50, EVAL_ITER = 5 };
/* The quick run: 2 epochs over the first 40 training texts (5 batches) */
enum { QUICK_TEXTS = 40, QUICK_EPOCHS = 2, QUICK_EVAL_FREQ = 5 };

/* ---- E.2 Preparing the dataset ------------------------------------------------ */

typedef struct {
    TextSet sets[3];       /* train, validation, test */
    SpamDataset ds[3];
    SpamBatches batches[3]; /* the book's train_loader (shuffled, drop_last), val_loader, test_loader */
    BatchLoader loaders[3];
} SpamData;

static void prepare_data(SpamData *d, Bpe *bpe, uint64_t seed) {
    section("E.2 Preparing the dataset");
    cell(2, "read the SMS collection, balance it, random_split(balanced_df, 0.7, 0.1)");
    char *sms = data_file("sms_spam/SMSSpamCollection");
    spam_prepare_splits(sms, seed, &d->sets[0], &d->sets[1], &d->sets[2]);
    printf("# %s, pandas' draws with random_state=%llu: the book's rows\n", sms, (unsigned long long)seed);
    printf("train_df: %d rows, validation_df: %d rows, test_df: %d rows\n", d->sets[0].n, d->sets[1].n, d->sets[2].n);
    printf("# `ch06 prepare-spam --out DIR` writes them as train.csv, validation.csv and test.csv\n");
    free(sms);

    cell(3, "SpamDataset(train.csv, max_length=None), then validation and test at its max_length");
    const int pad_id = bpe_eot_id(bpe);
    spam_dataset_init(&d->ds[0], &d->sets[0], bpe, 0, pad_id);
    for (int i = 1; i < 3; i++) spam_dataset_init(&d->ds[i], &d->sets[i], bpe, d->ds[0].max_length, pad_id);
    printf("train_dataset.max_length: %d\n", d->ds[0].max_length);
    printf("# every text padded with %d to it (validation and test texts cut to it: %d and %d)\n", pad_id,
           d->ds[1].n_truncated, d->ds[2].n_truncated);

    cell(4, "torch.manual_seed(123); DataLoaders of batch_size 8 (train: shuffle, drop_last)");
    static const char *const what[3] = {"training data", "validation data", "test data"};
    for (int i = 0; i < 3; i++) {
        spam_batches_init(&d->batches[i], &d->ds[i], BATCH_SIZE, i == 0, i == 0, seed, what[i]);
        d->loaders[i] = spam_batches_loader(&d->batches[i]);
    }
    printf("# the training order is drawn with seed %llu by our generator, not torch's\n", (unsigned long long)seed);

    cell(5, "the shapes of the training loader's last batch");
    BatchLoader *train = &d->loaders[0];
    Batch batch = {0};
    train->reset(train->self);
    while (train->next(train->self, &batch)) {}
    printf("Train loader:\nInput batch dimensions: torch.Size([%d, %d])\nLabel batch dimensions torch.Size([%d])\n",
           batch.B, batch.T, batch.B);

    cell(6, "len() of each loader");
    static const char *const names[3] = {"training", "validation", "test"};
    for (int i = 0; i < 3; i++) printf("%d %s batches\n", d->loaders[i].n_batches, names[i]);
}

static void free_data(SpamData *d) {
    for (int i = 0; i < 3; i++) {
        spam_batches_free(&d->batches[i]);
        spam_dataset_free(&d->ds[i]);
        textset_free(&d->sets[i]);
    }
}

/* ---- E.3 Initializing the model ------------------------------------------------- */

/* The book's BASE_CONFIG for "gpt2-small (124M)": GPT-2 small with
 * dropout 0 and biases on the query, key and value projections. */
static GPTConfig gpt2_small(void) {
    GPTConfig c;
    gpt_config_preset("gpt2-small", &c);
    c.drop_rate = 0.0f;
    return c;
}

/* OpenAI's GPT-2 small (or MODEL), or, without its weights, a small random
 * GPT of the same code: *stand_in says which. */
static GPTModel *load_model(const char *model, int vocab_size, uint64_t seed, bool *stand_in) {
    char *dir = path_join(data_dir(), "gpt2/124M"), *hparams = path_join(dir, "hparams.json");
    GPTModel *m;
    const bool random = model && strcmp(model, "random") == 0;
    *stand_in = random || (!model && !file_exists(hparams));
    if (!*stand_in) {
        const ModelChoice mc = {.path = model}; /* NULL: DATA_DIR/gpt2/124M; dropout 0 */
        m = finetune_load_model(&mc, "124M", vocab_size);
        printf("%s: %d layers, emb_dim %d, %d heads, context %d\n", model ? model : dir, m->config.n_layers,
               m->config.emb_dim, m->config.n_heads, m->config.context_length);
    } else {
        GPTConfig c = gpt2_small();
        c.emb_dim = 16;
        c.n_layers = 2;
        c.n_heads = 2;
        c.context_length = 128; /* room for the 120 tokens of a text */
        m = gpt_create(&c);
        gpt_init_weights(m, seed);
        if (random) printf("# --model random:");
        else
            printf("# %s has no OpenAI weights: `make gpt2-124M` fetches them (or give --model MODEL).\n"
                   "# Until then",
                   dir);
        printf(" the cells that run the model run a random GPT of the same code, drawn with seed %llu:\n",
               (unsigned long long)seed);
        printf("stand-in: %d layers, emb_dim %d, %d heads, context %d\n", c.n_layers, c.emb_dim, c.n_heads,
               c.context_length);
    }
    free(hparams);
    free(dir);
    return m;
}

/* In [8]: generate_text_simple, 15 tokens after "Every effort moves you" */
static void print_continuation(GPTModel *m, Bpe *bpe) {
    const char *text_1 = "Every effort moves you";
    enum { MAX_NEW = 15 };
    IntVec ids = {0};
    bpe_encode(bpe, text_1, strlen(text_1), false, &ids);
    int *seq = xmalloc((ids.len + MAX_NEW) * sizeof(int));
    memcpy(seq, ids.data, ids.len * sizeof(int));
    m->training = false; /* model.eval() */
    int n = generate_greedy(m, seq, (int)ids.len, MAX_NEW, true, NULL, NULL);
    ByteBuf out = {0};
    if (!bpe_decode(bpe, seq, (size_t)n, &out, NULL)) fatal("the model produced an id outside the vocabulary");
    printf("%.*s\n", (int)out.len, out.data ? out.data : "");
    bytebuf_free(&out);
    free(seq);
    intvec_free(&ids);
}

/* calc_accuracy_loader over num_batches of each loader (all: 0), after
 * torch.manual_seed(123): the training loader draws the same order each
 * time, so the same batches are counted. */
static void print_accuracies(Classifier *c, SpamData *d, int num_batches, uint64_t seed, float acc[3]) {
    rng_seed(&d->batches[0].order.rng, seed);
    for (int i = 0; i < 3; i++) acc[i] = calc_accuracy_loader(c, &d->loaders[i], num_batches);
    printf("Training accuracy: %.2f%%\nValidation accuracy: %.2f%%\nTest accuracy: %.2f%%\n", acc[0] * 100,
           acc[1] * 100, acc[2] * 100);
}

/* ---- E.4 Parameter-efficient finetuning with LoRA ---------------------------------- */

/* sum(p.numel() for p in model.parameters() if p.requires_grad) before
 * freezing: the GPT without its vocabulary head, which the classifier's
 * head replaced (so counted as a tied model is), and that head. */
static size_t classifier_param_count(const GPTConfig *c, int n_classes) {
    GPTConfig body = *c;
    body.tie_weights = true;
    return gpt_param_count(&body) + (size_t)n_classes * c->emb_dim + n_classes;
}

static float largest_abs(const float *x, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    return m;
}

/* The last validation batch's logits (B, K), for comparing the model
 * before and after the adapters. */
static int last_val_logits(Classifier *c, SpamData *d, float *out) {
    BatchLoader *val = &d->loaders[1];
    Batch batch = {0};
    val->reset(val->self);
    while (val->next(val->self, &batch)) {}
    c->gpt->training = false;
    memcpy(out, classifier_forward(c, batch.inputs, batch.B, batch.T), (size_t)batch.B * c->n_classes * sizeof(float));
    return batch.B * c->n_classes;
}

/* In [19]: train_classifier_simple with AdamW (lr 8e-4, weight decay 0.1)
 * over the adapters; the book's run with full, else the quick one. */
static void finetune(Classifier *c, Trainable *trainable, SpamData *d, Bpe *bpe, uint64_t seed, bool full) {
    SpamDataset quick_ds;
    const SpamDataset *train_ds = &d->ds[0];
    if (!full) {
        const TextSet first = {d->sets[0].items, QUICK_TEXTS < d->sets[0].n ? QUICK_TEXTS : d->sets[0].n};
        spam_dataset_init(&quick_ds, &first, bpe, d->ds[0].max_length, d->ds[0].pad_id);
        train_ds = &quick_ds;
    }
    /* the training loader as torch.manual_seed(123) leaves it, and an
     * order of its own for evaluating the training loss (as train-classifier) */
    SpamBatches train, train_eval;
    spam_batches_init(&train, train_ds, BATCH_SIZE, true, true, seed, "training data");
    spam_batches_init(&train_eval, train_ds, BATCH_SIZE, true, true, seed + 1, "training data");
    BatchLoader train_loader = spam_batches_loader(&train), train_eval_loader = spam_batches_loader(&train_eval);
    const int epochs = full ? EPOCHS : QUICK_EPOCHS, eval_freq = full ? EVAL_FREQ : QUICK_EVAL_FREQ;
    if (full)
        printf("# the book's run: %d epochs of %d batches, evaluated every %d steps over %d batches\n", epochs,
               train_loader.n_batches, eval_freq, EVAL_ITER);
    else
        printf("# a quick run (--full: the book's %d epochs over all %d batches): %d epochs over the first %d\n"
               "# training texts (%d batches), evaluated every %d steps over %d batches\n",
               EPOCHS, d->loaders[0].n_batches, epochs, train_ds->n, train_loader.n_batches, eval_freq, EVAL_ITER);
    AdamWConfig adam = adamw_default_config();
    adam.lr = LR;
    adam.weight_decay = WEIGHT_DECAY;
    Optimizer optimizer = trainable_optimizer(trainable, &adam);
    rng_seed(&c->gpt->rng, seed + 2); /* dropout, if any (as train-classifier) */
    TrainRun run = {.global_step = -1};
    const double start = now_seconds();
    train_classifier_simple(c, &train_loader, &train_eval_loader, &d->loaders[1], &optimizer, epochs, eval_freq,
                            EVAL_ITER, &run, NULL);
    printf("Training completed in %.2f minutes.\n", (now_seconds() - start) / 60);
    spam_batches_free(&train);
    spam_batches_free(&train_eval);
    if (!full) spam_dataset_free(&quick_ds);
}

typedef struct {
    const char *model;
    uint64_t seed;
    bool full;
} AppendixEOptions;

static void appendix_e(const AppendixEOptions *o) {
    char buf[32];
    section("E.1 Introduction to LoRA");
    printf("# no code: x (W + A B) = x W + x A B, so the frozen W and the small A (in, r), B (r, out) can stay\n"
           "# apart; lora.c adds (alpha/r) (x A) B beside every linear layer and merges it into W on saving\n");

    Bpe *bpe = bpe_load_gpt2();
    SpamData d;
    prepare_data(&d, bpe, o->seed);

    section("E.3 Initializing the model");
    cell(7, "GPTModel(BASE_CONFIG) with OpenAI's gpt2-small (124M) weights, model.eval()");
    bool stand_in;
    GPTModel *gpt = load_model(o->model, bpe_vocab_size(bpe), o->seed, &stand_in);
    if (d.ds[0].max_length > gpt->config.context_length)
        fatal("the texts are %d tokens, more than the model's context of %d", d.ds[0].max_length,
              gpt->config.context_length);
    /* In [15]-[17] describe GPT-2 small, or the model given */
    const GPTConfig book = stand_in ? gpt2_small() : gpt->config;

    cell(8, "generate_text_simple: 15 tokens after \"Every effort moves you\"");
    print_continuation(gpt, bpe);
    if (stand_in) printf("# (random weights: the book's GPT-2 small says \"forward.\\n\\nThe first step is...\")\n");

    cell(9, "torch.manual_seed(123); model.out_head = torch.nn.Linear(in_features=768, out_features=2)");
    Classifier *c = classifier_create(gpt, NUM_CLASSES, gpt->config.n_layers, o->seed); /* nothing frozen yet */
    printf("out_head: Linear(in_features=%d, out_features=%d, bias=True)\n", gpt->config.emb_dim, c->n_classes);

    cell(10, "the device");
    printf("Device: cpu\n");

    cell(11, "calc_accuracy_loader over 10 batches of each loader, before finetuning");
    float before[3], after[3];
    print_accuracies(c, &d, ACCURACY_BATCHES, o->seed, before);
    if (stand_in) printf("# the book's GPT-2 small: 46.25%%, 45.00%%, 48.75%%\n");

    section("E.4 Parameter-efficient finetuning with LoRA");
    cell(12, "class LoRALayer: A (in_dim, rank) kaiming_uniform_, B (rank, out_dim) zeros, (alpha/rank) x A B");
    printf("# lora.h's LoraLinear\n");
    cell(13, "class LinearWithLoRA: self.linear(x) + self.lora(x)");
    printf("# the adapter runs as a hook of the layer it adapts (common/linear_hook.h)\n");
    cell(14, "replace_linear_with_lora(model, rank, alpha): every nn.Linear wrapped");
    printf("# lora_attach hooks the adapters into every block; the head's runs in classifier_forward\n");

    cell(15, "trainable parameters before and after freezing every parameter");
    const size_t total = classifier_param_count(&book, NUM_CLASSES);
    printf("Total trainable parameters before: %s\n", with_commas(total, buf));
    /* the adapters come with the freeze: lora_attach sets the GPT's frozen
     * flag and the classifier's head freezes with it; nothing else trains */
    printf("Total trainable parameters after: %s\n", with_commas(0, buf));
    Trainable whole = {0};
    if (stand_in) {
        classifier_trainable(c, &whole); /* every block, the embeddings, the final norm, the head */
        printf("# the stand-in: %s before\n", with_commas(trainable_count(&whole), buf));
        trainable_free(&whole);
    }

    cell(16, "replace_linear_with_lora(model, rank=16, alpha=16): the trainable LoRA parameters");
    float logits_before[BATCH_SIZE * NUM_CLASSES], logits_after[BATCH_SIZE * NUM_CLASSES];
    const int n_logits = last_val_logits(c, &d, logits_before);
    classifier_use_lora(c, LORA_RANK, LORA_ALPHA, o->seed + 3);
    Trainable trainable = {0};
    classifier_trainable(c, &trainable); /* the adapters alone */
    Lora *book_lora = stand_in ? lora_create(&book, NUM_CLASSES, LORA_RANK, LORA_ALPHA, o->seed + 3) : c->lora;
    printf("Total trainable LoRA parameters: %s\n", with_commas(book_lora->n_params, buf));
    printf("# %.1f times fewer than before\n", (double)total / (double)book_lora->n_params);
    if (stand_in) printf("# the stand-in: %s\n", with_commas(trainable_count(&trainable), buf));
    const LoraLinear *first = &c->lora->layers[0];
    const size_t n_A = (size_t)first->in * first->parts * LORA_RANK;
    const size_t n_B = (size_t)first->parts * LORA_RANK * first->out;
    printf("# each adapter: A (in, %d) uniform in +-1/sqrt(%d) (the first's largest |A|: %.4f), B (%d, out) zero\n"
           "# (largest |B|: %g), scaled by alpha/rank = %g\n",
           LORA_RANK, LORA_RANK, largest_abs(first->A, n_A), LORA_RANK, largest_abs(first->B, n_B), first->scale);

    cell(17, "print(model)");
    print_gpt_modules(&book, 2, true, book_lora);
    if (stand_in) {
        lora_free(book_lora);
        printf("# (GPT-2 small's; the stand-in's is the same with its sizes)\n");
    }

    cell(18, "torch.manual_seed(123); calc_accuracy_loader as in In [11], with the adapters");
    print_accuracies(c, &d, ACCURACY_BATCHES, o->seed, after);
    last_val_logits(c, &d, logits_after);
    float change = 0;
    for (int i = 0; i < n_logits; i++) change = fmaxf(change, fabsf(logits_after[i] - logits_before[i]));
    printf("# %s In [11]: B = 0, so x A B = 0; the last validation batch's logits changed by at most %g\n",
           memcmp(before, after, sizeof before) == 0 ? "the same as" : "NOT the same as", change);

    cell(19, "torch.manual_seed(123); AdamW(lr=8e-4, weight_decay=0.1); train_classifier_simple");
    finetune(c, &trainable, &d, bpe, o->seed, o->full);
    printf("# B moved off zero: largest |B| now %.3g; the GPT and the head stayed frozen\n",
           largest_abs(first->B, n_B));
    printf("# In [20]'s loss figure: `ch06 train-classifier --lora-rank 16 --lora-alpha 16 --lr 8e-4` draws it\n");

    cell(21, "calc_accuracy_loader over the whole of each loader");
    if (!o->full)
        printf("# (the quick run: over the first %d batches of each, as In [11]; --full: all)\n", ACCURACY_BATCHES);
    print_accuracies(c, &d, o->full ? 0 : ACCURACY_BATCHES, o->seed, after);
    if (stand_in || !o->full)
        printf("# the book's GPT-2 small after its run (--full with OpenAI's weights): 99.81%%, 97.99%%, 96.67%%\n");
    else
        printf("# the book's: 99.81%%, 97.99%%, 96.67%% (our loaders' order and A are drawn by our generator,\n"
               "# not torch's)\n");
    trainable_free(&trainable);
    classifier_free(c);
    free_data(&d);
    bpe_free(bpe);
}

int cmd_appendix_e(int argc, char **argv) {
    static const struct option options[] = {{"model", required_argument, NULL, 'm'},
                                            {"seed", required_argument, NULL, 's'},
                                            {"full", no_argument, NULL, 'f'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    AppendixEOptions o = {.seed = 123};
    for (int c; (c = getopt_long(argc, argv, "m:s:fh", options, NULL)) != -1;) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case 's': o.seed = (uint64_t)cli_long("--seed", optarg, 0, 0x7fffffffL); break;
        case 'f': o.full = true; break;
        case 'h':
            printf("usage: ch06 appendix-e [--model MODEL] [--seed N] [--full]\n"
                   "The book's appendix E notebook (LoRA) cell by cell: the SMS data and loaders, GPT-2 small\n"
                   "with a 2-class head, its accuracy, LoRA adapters of rank 16 (alpha 16) on every linear layer,\n"
                   "the trainable parameter counts, the adapted model as PyTorch prints it, the finetuning with\n"
                   "chapter 6's train_classifier_simple (AdamW lr 8e-4) and the final accuracies.\n"
                   "  --model MODEL   the model (default: OpenAI's GPT-2 small in DATA_DIR/gpt2/124M, which\n"
                   "                  `make gpt2-124M` fetches; without it, or with \"random\", a small random\n"
                   "                  GPT stands in)\n"
                   "  --seed N        the split, the loaders' order, the head and LoRA's A (123)\n"
                   "  --full          the book's training run (5 epochs over all 130 batches) instead of a\n"
                   "                  quick one (2 epochs over 5 batches)\n");
            return 0;
        default: return cli_bad_usage("appendix-e");
        }
    }
    cli_no_arguments("appendix-e", argc, argv);
    appendix_e(&o);
    return 0;
}
