/* exercises.c: see exercises.h. */
#include "exercises.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/bpe.h"
#include "../ch04_gpt/config.h"
#include "../ch04_gpt/gpt.h"
#include "../ch05_pretrain/loss.h"
#include "../common/printing.h"
#include "../common/cli.h"
#include "../common/util.h"
#include "classifier.h"
#include "instruction_data.h"
#include "lora.h"
#include "spam_data.h"
#include "train_classifier.h"
#include "train_instruct.h"

/* What every exercise gets: the tokenizer, where the quick runs write, and
 * whether to run them. */
typedef struct {
    Bpe *bpe;
    const char *out_dir;
    bool run;
    char *spam_dir;   /* the quick runs' SMS splits (made on first use) */
    char *instr_path; /* the quick runs' instructions (made on first use) */
} Exercises;

/* print(tensor) of a 1-D integer tensor as PyTorch writes it: every value
 * right-aligned to the widest, as many to a line as fit in 80 columns after
 * the "tensor([" indent, continuation lines indented under the first value. */
static void print_torch_ints(const int *x, int n) {
    enum { LINEWIDTH = 80, INDENT = 8 }; /* strlen("tensor([") */
    int width = 1;
    for (int i = 0; i < n; i++) {
        int w = snprintf(NULL, 0, "%d", x[i]);
        if (w > width) width = w;
    }
    const int per_line = (LINEWIDTH - INDENT) / (width + 2);
    fputs("tensor([", stdout);
    for (int i = 0; i < n; i++) {
        if (i) printf(i % per_line == 0 ? ",\n%*s" : ", ", i % per_line == 0 ? INDENT : 0, "");
        printf("%*d", width, x[i]);
    }
    puts("])");
}

static void print_decoded(Bpe *bpe, const int *ids, int n) {
    ByteBuf text = {0};
    if (!bpe_decode(bpe, ids, (size_t)n, &text, NULL)) fatal("exercise: an id outside the vocabulary");
    if (text.len) fwrite(text.data, 1, text.len, stdout);
    putchar('\n');
    bytebuf_free(&text);
}

static int encoded_length(Bpe *bpe, const char *text) {
    IntVec ids = {0};
    bpe_encode(bpe, text, strlen(text), false, &ids);
    int n = (int)ids.len;
    intvec_free(&ids);
    return n;
}

/* ---- the quick runs ------------------------------------------------------------- */

/* The tiny model of every quick run: GPT-2's vocabulary, 16 channels, 2
 * blocks, a context of 128 tokens, initialised with the run's seed. */
#define QUICK_MODEL "--model random --emb-dim 16 --n-layers 2 --n-heads 2 --context 128"
static ModelChoice quick_model(void) {
    return (ModelChoice){.path = "random", .emb_dim = 16, .n_layers = 2, .n_heads = 2, .context = 128, .seed = 123};
}

static void quick_banner(const Exercises *x, const char *command) {
    if (!x->run) return;
    printf("# quick version (the same code on a tiny random model, a handful of examples, a few steps;\n"
           "# its numbers say only that every step runs):\n# ch06 %s\n", command);
    fflush(stdout);
}

/* 40 training, 16 validation and 16 test texts of the book's split (seed 123) */
static const char *quick_spam_dir(Exercises *x) {
    if (x->spam_dir) return x->spam_dir;
    x->spam_dir = path_join(x->out_dir, "data/spam-small");
    if (!x->run) return x->spam_dir; /* --no-run: only the commands, nothing written */
    make_dirs(x->spam_dir);
    char *sms = data_file("sms_spam/SMSSpamCollection");
    TextSet sets[3];
    spam_prepare_splits(sms, 123, &sets[0], &sets[1], &sets[2]);
    const char *names[3] = {"train.csv", "validation.csv", "test.csv"};
    const int keep[3] = {40, 16, 16};
    for (int i = 0; i < 3; i++) {
        int n = sets[i].n;
        if (sets[i].n > keep[i]) sets[i].n = keep[i];
        char *path = path_join(x->spam_dir, names[i]);
        textset_write_csv(&sets[i], path);
        free(path);
        sets[i].n = n;
        textset_free(&sets[i]);
    }
    free(sms);
    return x->spam_dir;
}

/* The first 10 entries of a data file (8 train, 1 test, 1 validate), as JSON. */
static char *write_first_entries(const char *from, const char *to) {
    InstructionSet all = instruction_data_read(from);
    cJSON *root = cJSON_CreateArray();
    for (int i = 0; i < all.n && i < 10; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "instruction", all.items[i].instruction);
        cJSON_AddStringToObject(e, "input", all.items[i].input);
        cJSON_AddStringToObject(e, "output", all.items[i].output);
        cJSON_AddItemToArray(root, e);
    }
    char *json = cJSON_Print(root);
    write_file_atomic(to, json, strlen(json));
    cJSON_free(json);
    cJSON_Delete(root);
    instruction_set_free(&all);
    return xstrdup(to);
}

static const char *quick_instructions(Exercises *x) {
    if (x->instr_path) return x->instr_path;
    char *dir = path_join(x->out_dir, "data"), *to = path_join(dir, "instructions-small.json");
    if (!x->run) { /* --no-run: only the commands, nothing written */
        free(dir);
        return x->instr_path = to;
    }
    make_dirs(dir);
    char *from = data_file("instruction-data.json");
    x->instr_path = write_first_entries(from, to);
    free(from);
    free(to);
    free(dir);
    return x->instr_path;
}

static ClassifierTrainOptions quick_classifier(Exercises *x, const char *name) {
    ClassifierTrainOptions o = classifier_train_default_options();
    o.model = quick_model();
    o.data_dir = quick_spam_dir(x);
    o.epochs = 2;
    o.batch_size = 4;
    o.eval_freq = 5;
    o.eval_iter = 2;
    o.lr = 5e-3f;
    o.out_dir = path_join(x->out_dir, name); /* freed by the caller */
    return o;
}

static InstructTrainOptions quick_instruct(Exercises *x, const char *name, const char *data) {
    InstructTrainOptions o = instruct_train_default_options();
    o.model = quick_model();
    o.data_path = data ? data : quick_instructions(x);
    o.epochs = 1;
    o.batch_size = 2;
    o.eval_freq = 2;
    o.eval_iter = 1;
    o.lr = 1e-2f;
    o.max_new_tokens = 8;
    o.out_dir = path_join(x->out_dir, name);
    return o;
}

static void run_classifier(Exercises *x, ClassifierTrainOptions *o, const char *flags) {
    char command[512];
    snprintf(command, sizeof command,
             "train-classifier " QUICK_MODEL " --epochs %d --batch-size %d --eval-freq %d --eval-iter %d --lr %g %s "
             "--data-dir %s --out %s",
             o->epochs, o->batch_size, o->eval_freq, o->eval_iter, o->lr, flags, o->data_dir, o->out_dir);
    quick_banner(x, command);
    if (x->run) train_classifier(o);
    free((char *)o->out_dir);
}

static void run_instruct(Exercises *x, InstructTrainOptions *o, const char *flags) {
    char command[768];
    snprintf(command, sizeof command,
             "train-instruct " QUICK_MODEL " --epochs %d --batch-size %d --eval-freq %d --eval-iter %d --lr %g "
             "--max-new-tokens %d %s --data %s --out %s",
             o->epochs, o->batch_size, o->eval_freq, o->eval_iter, o->lr, o->max_new_tokens, flags, o->data_path,
             o->out_dir);
    quick_banner(x, command);
    if (x->run) train_instruct(o);
    free((char *)o->out_dir);
}

static void full_run(const char *command) { printf("# the full run, at the book's settings:\n%s\n", command); }

/* ---- Exercise 6.1: Increasing the context length ------------------------------------ */

/* The balanced split of the book (seed 123) and its texts' token counts. */
typedef struct {
    TextSet sets[3]; /* train, validation, test */
    IntVec *train_ids;
} SpamSplit;

static SpamSplit spam_split(Bpe *bpe) {
    SpamSplit s;
    char *sms = data_file("sms_spam/SMSSpamCollection");
    spam_prepare_splits(sms, 123, &s.sets[0], &s.sets[1], &s.sets[2]);
    free(sms);
    s.train_ids = xcalloc((size_t)s.sets[0].n, sizeof(IntVec));
    for (int i = 0; i < s.sets[0].n; i++)
        bpe_encode(bpe, s.sets[0].items[i].text, strlen(s.sets[0].items[i].text), false, &s.train_ids[i]);
    return s;
}

static void spam_split_free(SpamSplit *s) {
    for (int i = 0; i < s->sets[0].n; i++) intvec_free(&s->train_ids[i]);
    free(s->train_ids);
    for (int i = 0; i < 3; i++) textset_free(&s->sets[i]);
}

static void exercise_6_1(Exercises *x) {
    section("Exercise 6.1 Increasing the context length");
    puts("# How does the classifier do when every text is padded to the most tokens the model takes\n"
         "# (its context, 1024) instead of to the longest training text?");
    GPTConfig small;
    gpt_config_preset("gpt2-small", &small);
    SpamSplit s = spam_split(x->bpe);
    long tokens = 0;
    int longest = 0;
    for (int i = 0; i < s.sets[0].n; i++) {
        tokens += (long)s.train_ids[i].len;
        if ((int)s.train_ids[i].len > longest) longest = (int)s.train_ids[i].len;
    }
    const int n = s.sets[0].n;
    printf("max_length = BASE_CONFIG[\"context_length\"] = %d (GPT-2 small's pos_emb has %d rows)\n",
           small.context_length, small.context_length);
    printf("The training split (the book's rows): %d texts of %.1f tokens on average, the longest %d\n", n,
           (double)tokens / n, longest);
    printf("Padding: %.1f%% of the inputs' positions padded to %d tokens, %.1f%% padded to %d\n",
           100.0 * (1.0 - (double)tokens / ((double)n * longest)), longest,
           100.0 * (1.0 - (double)tokens / ((double)n * small.context_length)), small.context_length);
    printf("# and each step costs about %.1fx the work (attention more). The book's test accuracy: 78.33%%,\n"
           "# against 95.67%% padded to the longest text.\n",
           (double)small.context_length / longest);
    spam_split_free(&s);
    full_run("ch06_finetune/ch06 train-classifier --max-length context --out runs/exercise-6.1");
    ClassifierTrainOptions o = quick_classifier(x, "6.1");
    o.max_length = CLASSIFIER_MAX_LENGTH_CONTEXT;
    run_classifier(x, &o, "--max-length context");
}

/* ---- Exercise 6.2: Finetuning the whole model ---------------------------------------- */

static size_t table_sum(const ParamTensor *t, int n, const char *prefix, int layer_from) {
    size_t sum = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(t[i].name, prefix, strlen(prefix)) == 0 && t[i].layer >= layer_from) sum += t[i].size;
    return sum;
}

static void exercise_6_2(Exercises *x) {
    section("Exercise 6.2 Finetuning the whole model");
    puts("# How does the classifier do when every parameter trains, not only the last block, the final\n"
         "# norm and the new head?");
    GPTConfig small;
    gpt_config_preset("gpt2-small", &small);
    int n;
    size_t total;
    char err[256], a[32], b[32], c[32], d[32], e[32];
    ParamTensor *t = gpt_param_table(&small, &n, &total, err, sizeof err);
    if (!t) fatal("exercise 6.2: %s", err);
    const size_t head = 2 * (size_t)small.emb_dim + 2, last_block = table_sum(t, n, "blocks.", small.n_layers - 1);
    const size_t final_norm = table_sum(t, n, "final_norm.", -1);
    printf("--trainable-blocks all trains (GPT-2 small, the 2-class head; the head it replaces is the\n"
           "token embedding, tied, so counted once):\n");
    printf("  token embedding %s + position embedding %s + %d blocks %s + final norm %s + head %s\n",
           with_commas(table_sum(t, n, "tok_emb.", -1), a), with_commas(table_sum(t, n, "pos_emb.", -1), b),
           small.n_layers, with_commas(table_sum(t, n, "blocks.", 0), c), with_commas(final_norm, d),
           with_commas(head, e));
    printf("Trainable parameters: %s (all); the book's chapter 6: %s (the last block, the final norm, the head)\n",
           with_commas(total + head, a), with_commas(last_block + final_norm + head, b));
    puts("# the book's test accuracy: 96.67%, against 95.67% with the last block only");
    free(t);
    full_run("ch06_finetune/ch06 train-classifier --trainable-blocks all --out runs/exercise-6.2");
    ClassifierTrainOptions o = quick_classifier(x, "6.2");
    o.trainable_blocks = CLASSIFIER_TRAINABLE_ALL;
    run_classifier(x, &o, "--trainable-blocks all");
}

/* ---- Exercise 6.3: Finetuning the first versus last token ------------------------------ */

/* Through causal attention the first position sees the first token only:
 * a classifier of the first token's output is a function of the first
 * token. The best such function on the training set labels each first
 * token with its texts' majority; the same table on the test set (the
 * training set's majority for first tokens it never saw) is what the best
 * first-token classifier learned from that set would score. */
static void first_token_bound(const SpamSplit *s, Bpe *bpe, int *distinct, double *train_acc, double *test_acc) {
    const int V = bpe_vocab_size(bpe);
    int *count[2] = {xcalloc((size_t)V, sizeof(int)), xcalloc((size_t)V, sizeof(int))};
    int labels[2] = {0, 0};
    for (int i = 0; i < s->sets[0].n; i++) {
        int label = s->sets[0].items[i].label;
        labels[label]++;
        if (s->train_ids[i].len) count[label][s->train_ids[i].data[0]]++;
    }
    const int majority = labels[LABEL_SPAM] > labels[LABEL_HAM] ? LABEL_SPAM : LABEL_HAM;
    int right = 0;
    *distinct = 0;
    for (int v = 0; v < V; v++) {
        *distinct += count[0][v] + count[1][v] > 0;
        right += count[0][v] > count[1][v] ? count[0][v] : count[1][v];
    }
    *train_acc = 100.0 * right / s->sets[0].n;
    right = 0;
    const TextSet *test = &s->sets[2];
    for (int i = 0; i < test->n; i++) {
        IntVec ids = {0};
        bpe_encode(bpe, test->items[i].text, strlen(test->items[i].text), false, &ids);
        int guess = majority;
        if (ids.len) {
            int v = ids.data[0];
            if (count[0][v] + count[1][v] > 0) guess = count[LABEL_SPAM][v] > count[LABEL_HAM][v] ? LABEL_SPAM : LABEL_HAM;
        }
        right += guess == test->items[i].label;
        intvec_free(&ids);
    }
    *test_acc = 100.0 * right / test->n;
    free(count[0]);
    free(count[1]);
}

static void exercise_6_3(Exercises *x) {
    section("Exercise 6.3 Finetuning the first versus last token");
    puts("# How does the classifier do when its head reads the first token's output, model(x)[:, 0, :],\n"
         "# instead of the last one's?");
    SpamSplit s = spam_split(x->bpe);
    int distinct;
    double train_acc, test_acc;
    first_token_bound(&s, x->bpe, &distinct, &train_acc, &test_acc);
    printf("# Under causal attention the first position has seen the first token only, so a first-token\n"
           "# classifier answers from the first token alone. On the training split:\n");
    printf("Training texts: %d, with %d different first tokens\n", s.sets[0].n, distinct);
    printf("The best answer from the first token (each one's majority label): training accuracy %.2f%%,\n"
           "test accuracy %.2f%% (that table applied to the test texts)\n",
           train_acc, test_acc);
    puts("# the book's test accuracy: 75.00%, against 95.67% from the last token");
    spam_split_free(&s);
    full_run("ch06_finetune/ch06 train-classifier --token first --out runs/exercise-6.3");
    ClassifierTrainOptions o = quick_classifier(x, "6.3");
    o.token = CLASSIFIER_TOKEN_FIRST;
    run_classifier(x, &o, "--token first");
}

/* ---- Exercise 7.1: Changing prompt styles ------------------------------------------ */

/* In [2]'s and In [8]'s sample entries */
static const InstructionEntry spelling = {"Identify the correct spelling of the following word.", "Ocassion",
                                          "The correct spelling is 'Occasion.'"};
static const InstructionEntry antonym = {"What is an antonym of 'complicated'?", "",
                                         "An antonym of 'complicated' is 'simple'."};
static const InstructionEntry sort_list = {"Sort the following list in alphabetical order.",
                                           "Zebra, Elephant, Crocodile", "Crocodile, Elephant, Zebra"};
static const InstructionEntry descending = {"Arrange the given numbers in descending order.", "5, 12, 8, 3, 15",
                                            "15, 12, 8, 5, 3."};

static long dataset_tokens(const InstructionSet *s, Bpe *bpe, PromptStyle style) {
    long n = 0;
    for (int i = 0; i < s->n; i++) {
        char *text = format_training_text_as(&s->items[i], style);
        n += encoded_length(bpe, text);
        free(text);
    }
    return n;
}

static void exercise_7_1(Exercises *x) {
    section("Exercise 7.1 Changing prompt styles");
    puts("# Finetune with Phi-3's prompt template (<|user|> ... <|assistant|>:) instead of Alpaca's.");
    cell(2, "format_input in the Phi-3 style, an entry with an input and one without");
    char *a = format_input_as(&spelling, PROMPT_PHI3), *b = format_input_as(&antonym, PROMPT_PHI3);
    printf("%s\n\n%s\n", a, b);
    free(a);
    free(b);
    char *text = format_training_text_as(&spelling, PROMPT_PHI3);
    printf("# what the model trains on (the response after \"\\n<|assistant|>:\\n\"):\n%s\n", text);
    free(text);
    IntVec ids = {0};
    bpe_encode(x->bpe, "<|user|>", 8, false, &ids);
    printf("# GPT-2's tokenizer has no such special token: <|user|> is %zu tokens, (", ids.len);
    for (size_t i = 0; i < ids.len; i++) printf(i ? ", %d" : "%d", ids.data[i]);
    printf(")\n");
    intvec_free(&ids);
    char *path = data_file("instruction-data.json");
    InstructionSet all = instruction_data_read(path);
    InstructionSet train, test, val;
    instruction_data_split(&all, &train, &test, &val);
    long alpaca = dataset_tokens(&train, x->bpe, PROMPT_ALPACA), phi3 = dataset_tokens(&train, x->bpe, PROMPT_PHI3);
    printf("The %d training texts: %ld tokens with Alpaca's prompts, %ld with Phi-3's (%.1f%% fewer)\n", train.n,
           alpaca, phi3, 100.0 * (1.0 - (double)phi3 / (double)alpaca));
    puts("# the book: 1.50 against 1.80 minutes of training, about 17% faster; a score of 48.87 (Ollama)");
    instruction_set_free(&train);
    instruction_set_free(&test);
    instruction_set_free(&val);
    instruction_set_free(&all);
    free(path);
    full_run("ch06_finetune/ch06 train-instruct --prompt-style phi3 --out runs/exercise-7.1\n"
             "ch06_finetune/ch06 instruct --model runs/exercise-7.1/checkpoint.safetensors --instruction '...'\n"
             "# (instruct reads the prompt style from the checkpoint)");
    InstructTrainOptions o = quick_instruct(x, "7.1", NULL);
    o.prompt_style = PROMPT_PHI3;
    run_instruct(x, &o, "--prompt-style phi3");
}

/* ---- Exercise 7.2: Instruction and input masking ----------------------------------- */

static void exercise_7_2(Exercises *x) {
    section("Exercise 7.2 Instruction and input masking");
    puts("# Finetune with the instruction and the input masked out of the loss (their targets -100), so\n"
         "# that only the response counts.");
    InstructionEntry entries[3] = {antonym, sort_list, descending};
    InstructionSet sample = {entries, 3};
    InstructionDataset ds;
    instruction_dataset_init(&ds, &sample, x->bpe);
    const int *seqs[3];
    int lengths[3];
    for (int i = 0; i < 3; i++) seqs[i] = ds.encoded[i].data, lengths[i] = (int)ds.encoded[i].len;
    const int T = collate_length(lengths, 3, 0);
    int *inputs = xmalloc((size_t)3 * T * sizeof(int)), *targets = xmalloc((size_t)3 * T * sizeof(int));
    collate_batch(seqs, lengths, 3, T, bpe_eot_id(x->bpe), inputs, targets);
    collate_mask_prompts(targets, 3, T, ds.prompt_lengths);
    printf("# the prompts' lengths (format_input encoded alone): %d, %d, %d tokens\n", ds.prompt_lengths[0],
           ds.prompt_lengths[1], ds.prompt_lengths[2]);
    cell(10, "the sample batch of In [8]'s three entries, collated with the prompts masked");
    printf("Train loader:\ntorch.Size([3, %d]) torch.Size([3, %d])\n", T, T);
    cell(11, "the second entry's inputs and targets");
    printf("Inputs:\n ");
    print_torch_ints(inputs + T, T);
    printf("\n\nTargets:\n ");
    print_torch_ints(targets + T, T);
    cell(12, "the inputs decoded");
    print_decoded(x->bpe, inputs + T, T);
    cell(13, "the targets that are not -100, decoded");
    int kept[1024], n_kept = 0;
    for (int j = 0; j < T && n_kept < 1024; j++)
        if (targets[T + j] != CROSS_ENTROPY_IGNORE_INDEX) kept[n_kept++] = targets[T + j];
    print_decoded(x->bpe, kept, n_kept);
    puts("# the book: a score of 47.73 (Ollama), against about 50 without the masking");
    free(inputs);
    free(targets);
    instruction_dataset_free(&ds);
    full_run("ch06_finetune/ch06 train-instruct --mask-instructions --out runs/exercise-7.2");
    InstructTrainOptions o = quick_instruct(x, "7.2", NULL);
    o.mask_instructions = true;
    run_instruct(x, &o, "--mask-instructions");
}

/* ---- Exercise 7.3: Finetuning on the original Alpaca dataset ---------------------------- */

enum { ALPACA_ENTRIES = 52002 }; /* alpaca_data.json's entries */

static void exercise_7_3(Exercises *x) {
    section("Exercise 7.3 Finetuning on the original Alpaca dataset");
    puts("# Finetune on Stanford Alpaca's 52,002 instructions instead of the book's 1,100.");
    char *path = path_join(data_dir(), "alpaca_data.json");
    int n = ALPACA_ENTRIES;
    const bool have = file_exists(path);
    if (have) {
        InstructionSet all = instruction_data_read(path);
        n = all.n;
        printf("%s: %d entries\n", path, n);
        instruction_set_free(&all);
    } else {
        printf("# %s is not there: `make alpaca` downloads it (22 MB). The split of its %d entries:\n", path, n);
    }
    int train, test, val;
    instruction_split_sizes(n, &train, &test, &val);
    printf("Training set length: %d\nValidation set length: %d\nTest set length: %d\n", train, val, test);
    puts("# the book's settings for it: batches of 4 (not 8) and allowed_max_length 512 (not 1024), for\n"
         "# the memory of longer texts; 196 minutes of training and 3 hours of responses on a GPU, a\n"
         "# score of 48.16 (Ollama)");
    full_run("make alpaca\n"
             "ch06_finetune/ch06 train-instruct --data DATA_DIR/alpaca_data.json --batch-size 4 "
             "--allowed-max-length 512 --out runs/exercise-7.3");
    if (have) { /* its first ten entries */
        char *dir = path_join(x->out_dir, "data"), *to = path_join(dir, "alpaca-small.json");
        if (x->run) make_dirs(dir);
        char *small = x->run ? write_first_entries(path, to) : xstrdup(to);
        InstructTrainOptions o = quick_instruct(x, "7.3", small);
        o.batch_size = 4;
        o.allowed_max_length = 512;
        run_instruct(x, &o, "--allowed-max-length 512");
        free(small);
        free(to);
        free(dir);
    } else {
        if (x->run) puts("# (without the file, the quick version runs on the book's first ten entries)");
        InstructTrainOptions o = quick_instruct(x, "7.3", NULL);
        o.batch_size = 4;
        o.allowed_max_length = 512;
        run_instruct(x, &o, "--allowed-max-length 512");
    }
    free(path);
}

/* ---- Exercise 7.4: Parameter-efficient finetuning with LoRA ------------------------------ */

static void exercise_7_4(Exercises *x) {
    section("Exercise 7.4 Parameter-efficient finetuning with LoRA");
    puts("# Instruction-finetune GPT-2 medium with LoRA adapters of rank 16 (appendix E) instead of\n"
         "# training every parameter.");
    GPTConfig medium;
    gpt_config_preset("gpt2-medium", &medium);
    medium.tie_weights = false; /* the book's model: out_head is a parameter of its own */
    const int rank = 16;
    char a[32];
    printf("# counted from GPT-2 medium's configuration (no model is allocated):\n");
    printf("Total trainable parameters before: %s\n", with_commas(gpt_param_count(&medium), a));
    printf("Total trainable parameters after: %d\n", 0);
    printf("Total trainable LoRA parameters: %s\n", with_commas(lora_param_count(&medium, rank, medium.vocab_size), a));
    puts("# the adapters: the query, key, value and output projections, fc1 and fc2 of every block, and the\n"
         "# vocabulary head. The exercise's script scales by alpha (16), ours (like appendix E today) by\n"
         "# alpha / rank: its rank 16, alpha 16 is --lora-alpha 256 here. The book: 1.30 against 1.80\n"
         "# minutes of training, a score of 50.23 (Ollama)");
    full_run("ch06_finetune/ch06 train-instruct --lora-rank 16 --lora-alpha 256 --out runs/exercise-7.4");
    InstructTrainOptions o = quick_instruct(x, "7.4", NULL);
    o.lora_rank = rank;
    o.lora_alpha = 256;
    run_instruct(x, &o, "--lora-rank 16 --lora-alpha 256");
}

/* ---- the command ----------------------------------------------------------------------- */

typedef struct {
    const char *number;
    void (*solve)(Exercises *x);
    const char *what;
} Exercise;

static const Exercise exercises[] = {
    {"6.1", exercise_6_1, "pad the texts to the model's context (train-classifier --max-length context)"},
    {"6.2", exercise_6_2, "finetune the whole model (train-classifier --trainable-blocks all)"},
    {"6.3", exercise_6_3, "classify from the first token (train-classifier --token first)"},
    {"7.1", exercise_7_1, "Phi-3's prompt template (train-instruct --prompt-style phi3)"},
    {"7.2", exercise_7_2, "mask the prompts out of the loss (train-instruct --mask-instructions)"},
    {"7.3", exercise_7_3, "Stanford Alpaca's 52k instructions (make alpaca; train-instruct --data)"},
    {"7.4", exercise_7_4, "LoRA (train-instruct --lora-rank 16)"},
};
enum { N_EXERCISES = sizeof exercises / sizeof exercises[0] };

static void usage_exercise(FILE *out) {
    fprintf(out, "usage: ch06 exercise [6.1|6.2|6.3|7.1|7.2|7.3|7.4] [--out DIR] [--no-run]\n"
                 "Solves one of chapters 6 and 7's exercises (all of them, in order, when none is named), as the\n"
                 "book's exercise-solutions notebooks do: prints the question, what can be computed without\n"
                 "training, the full run at the book's settings (hours on a CPU), then runs a quick version\n"
                 "of it: the same code on a tiny random model, a handful of examples, a few steps (seconds).\n");
    for (int i = 0; i < N_EXERCISES; i++) fprintf(out, "  %s   %s\n", exercises[i].number, exercises[i].what);
    fprintf(out, "  --out DIR   where the quick runs write (runs/exercises: DIR/6.1, ..., DIR/data)\n"
                 "  --no-run    print the results and the commands only, without the quick runs\n");
}

int cmd_exercise(int argc, char **argv) {
    static const struct option options[] = {{"out", required_argument, NULL, 'o'},
                                            {"no-run", no_argument, NULL, 'n'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    Exercises x = {.out_dir = "runs/exercises", .run = true};
    for (int c; (c = getopt_long(argc, argv, "o:h", options, NULL)) != -1;) {
        switch (c) {
        case 'o': x.out_dir = optarg; break;
        case 'n': x.run = false; break;
        case 'h': usage_exercise(stdout); return 0;
        default: return cli_bad_usage("exercise");
        }
    }
    if (optind + 1 < argc) fatal("exercise: unexpected argument '%s'", argv[optind + 1]);
    const char *number = optind < argc ? argv[optind] : NULL;
    int chosen = -1;
    for (int i = 0; number && i < N_EXERCISES; i++)
        if (strcmp(number, exercises[i].number) == 0) chosen = i;
    if (number && chosen < 0)
        fatal("exercise: no exercise '%s' in chapters 6 and 7 (there are 6.1, 6.2, 6.3, 7.1, 7.2, 7.3 and 7.4)",
              number);
    x.bpe = bpe_load_gpt2();
    for (int i = 0; i < N_EXERCISES; i++)
        if (chosen < 0 || chosen == i) {
            exercises[i].solve(&x);
            fflush(stdout);
        }
    bpe_free(x.bpe);
    free(x.spam_dir);
    free(x.instr_path);
    return 0;
}
