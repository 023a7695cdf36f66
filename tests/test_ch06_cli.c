/* Tests for the ch06 program: the walkthrough's numbers, prepare-spam, a
 * tiny end-to-end run of each kind of finetuning (a random model of 16
 * channels on a handful of examples, a few steps) whose loss falls, using
 * what they wrote (classify, instruct), and bad input. The runs are seeded,
 * so their answers are fixed: each is asserted exactly, and shown to be the
 * model's by computing it here from the checkpoint; classify and instruct
 * also run on models whose answer is known by construction.
 *
 * The runs set OMP_NUM_THREADS=1: on models this small threads only add
 * synchronisation, which on a busy machine costs more than the work. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../ch04_gpt/config.h"
#include "../ch04_gpt/gpt.h"
#include "../ch05_pretrain/gpt_weights.h"
#include "../ch05_pretrain/train.h"
#include "../ch06_finetune/classifier.h"
#include "../ch06_finetune/finetune.h"
#include "../ch06_finetune/instruction_data.h"
#include "../ch06_finetune/spam_data.h"
#include "test_helpers.h"

static char *dir;

static int ch06(char **out, char **err, const char *fmt, ...) {
    char args[2048], command[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(command, sizeof command, "OMP_NUM_THREADS=1 %s/ch06_finetune/ch06 %s", repo_root(), args);
    return run_command(command, out, err);
}

static char *in_dir(const char *name) { return path_join(dir, name); }

/* DIR/small: 40 training, 16 validation and 16 test texts of the real
 * splits; DIR/small.json: the first 10 instructions (8 train, 1 test, 1
 * validate). */
static void make_run_dir(void) {
    dir = make_temp_dir();
    if (!have_data_file("sms_spam/SMSSpamCollection") || !have_data_file("instruction-data.json") ||
        !have_data_file("gpt2/encoder.json") || !have_data_file("gpt2/vocab.bpe"))
        return;
    char *spam = in_dir("spam"), *small = in_dir("small");
    char *out;
    if (ch06(&out, NULL, "prepare-spam --out %s", spam) != 0) fatal("prepare-spam failed");
    free(out);
    make_dirs(small);
    const char *names[3] = {"train.csv", "validation.csv", "test.csv"};
    const int keep[3] = {40, 16, 16};
    for (int i = 0; i < 3; i++) {
        char *from = path_join(spam, names[i]), *to = path_join(small, names[i]);
        TextSet s = textset_read_csv(from);
        int n = s.n;
        s.n = keep[i];
        textset_write_csv(&s, to);
        s.n = n;
        textset_free(&s);
        free(from);
        free(to);
    }
    char *data = data_file("instruction-data.json"), *json = in_dir("small.json");
    InstructionSet all = instruction_data_read(data);
    InstructionSet first = {all.items, 10};
    char **outputs = malloc(10 * sizeof(char *));
    for (int i = 0; i < 10; i++) outputs[i] = all.items[i].output;
    instruction_data_write_responses(json, &first, outputs); /* the extra key is ignored when read */
    free(outputs);
    instruction_set_free(&all);
    free(data);
    free(json);
    free(spam);
    free(small);
}

static void remove_run_dir(void) {
    remove_tree(dir);
    free(dir);
}

static int count_lines(const char *text) {
    int n = 0;
    for (const char *p = text; *p; p++) n += *p == '\n';
    return n;
}

static char *read_in_dir(const char *name) {
    char *p = in_dir(name);
    char *text = read_file(p, NULL);
    free(p);
    return text;
}

/* The train loss of the first and of the last "Ep N (Step S): Train loss X" line. */
static void first_and_last_train_loss(const char *out, double *first, double *last) {
    *first = *last = NAN;
    for (const char *p = strstr(out, "Train loss "); p; p = strstr(p + 1, "Train loss ")) {
        double v = atof(p + 11);
        if (isnan(*first)) *first = v;
        *last = v;
    }
}

/* What a finetuned classifier says about a text, computed here as 6.8's
 * classify_review does it: the text's ids cut to the length the model was
 * trained on (stored in the checkpoint) and padded with <|endoftext|>, the
 * model's logits at the last position, their argmax; label 1 is spam. */
typedef struct {
    Classifier *c;
    Bpe *bpe;
    int max_length;
} Loaded;

static Loaded load_classifier(const char *checkpoint) {
    Loaded l;
    l.c = classifier_load(checkpoint, &l.max_length);
    l.bpe = gpt_load_tokenizer(checkpoint);
    return l;
}

static void free_classifier(Loaded *l) {
    classifier_free(l->c);
    bpe_free(l->bpe);
}

static int label_of(Loaded *l, const char *text) {
    IntVec ids = {0};
    bpe_encode(l->bpe, text, strlen(text), false, &ids);
    int *input = malloc((size_t)l->max_length * sizeof(int));
    for (int i = 0; i < l->max_length; i++) input[i] = i < (int)ids.len ? ids.data[i] : 50256;
    const float *logits = classifier_forward(l->c, input, 1, l->max_length);
    free(input);
    intvec_free(&ids);
    return logits[1] > logits[0] ? LABEL_SPAM : LABEL_HAM;
}

/* What classify should print for text. */
static const char *model_label(const char *checkpoint, const char *text) {
    Loaded l = load_classifier(checkpoint);
    const char *label = label_of(&l, text) == LABEL_SPAM ? "spam\n" : "not spam\n";
    free_classifier(&l);
    return label;
}

/* The percentage of a CSV split's texts the classifier labels right. */
static double accuracy_on(const char *checkpoint, const char *csv) {
    Loaded l = load_classifier(checkpoint);
    TextSet set = textset_read_csv(csv);
    int right = 0;
    for (int i = 0; i < set.n; i++) right += label_of(&l, set.items[i].text) == set.items[i].label;
    double percent = 100.0 * right / set.n;
    textset_free(&set);
    free_classifier(&l);
    return percent;
}

/* The number after the last label in out (the test fails if none). */
static double number_after_last(const char *out, const char *label) {
    const char *at = NULL;
    for (const char *p = strstr(out, label); p; p = strstr(p + 1, label)) at = p;
    ck_assert_msg(at != NULL, "no '%s' in: %s", label, out);
    return atof(at + strlen(label));
}

/* The response of the model in the checkpoint to an instruction, computed
 * here with the library's instruct_response (7.7: greedy, up to
 * max_new_tokens, the prompt's echo and "### Response:" removed), plus the
 * line end instruct prints. test_instruct_known_answers checks that
 * extraction on models whose answer is known. */
static char *model_response(const char *checkpoint, const char *instruction, int max_new_tokens) {
    GPTModel *m = gpt_load_any(checkpoint);
    Bpe *bpe = gpt_load_tokenizer(checkpoint);
    InstructionEntry e = {(char *)instruction, "", ""};
    char *response = instruct_response(m, bpe, &e, max_new_tokens);
    char *line = malloc(strlen(response) + 2);
    sprintf(line, "%s\n", response);
    free(response);
    bpe_free(bpe);
    gpt_free(m);
    return line;
}

/* A model of GPT-2's vocabulary whose every next token is `token`,
 * whatever came before: the final norm's scale is 0 and its shift the unit
 * vector e0, so every position's hidden state is e0, and the output head's
 * column 0 is 1 for token and 0 for every other, so are the logits. */
static GPTModel *constant_gpt(int token) {
    GPTConfig cfg = {.vocab_size = 50257, .context_length = 256, .emb_dim = 8, .n_heads = 2, .n_layers = 1};
    GPTModel *m = gpt_create(&cfg);
    gpt_init_weights(m, 1);
    const int C = cfg.emb_dim;
    for (int i = 0; i < C; i++) m->final_norm_scale[i] = 0.0f, m->final_norm_shift[i] = i == 0;
    memset(m->out_head, 0, (size_t)cfg.vocab_size * C * sizeof(float));
    m->out_head[(size_t)token * C] = 1.0f;
    return m;
}

START_TEST(test_help) {
    const char *commands[] = {"", "walkthrough ", "prepare-spam ", "train-classifier ", "classify ",
                              "train-instruct ", "instruct ", "exercise "};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char *out;
        ck_assert_int_eq(ch06(&out, NULL, "%s--help", commands[i]), 0);
        ck_assert_msg(strstr(out, "usage: ch06") != NULL, "no usage for '%s--help'", commands[i]);
        if (strncmp(commands[i], "train-", 6) == 0)
            ck_assert_msg(strstr(out, "--lora-rank N") && strstr(out, "--lora-alpha X"), "no LoRA flags in '%s--help'",
                          commands[i]);
        free(out);
    }
}
END_TEST

/* The text after `after` in out, up to the end of its line (malloc'd), or
 * NULL when out lacks it. */
static char *line_after(const char *out, const char *after) {
    const char *p = strstr(out, after);
    if (!p) return NULL;
    p += strlen(after);
    size_t n = strcspn(p, "\n");
    char *line = malloc(n + 1);
    memcpy(line, p, n);
    line[n] = '\0';
    return line;
}

/* GPT-2's parameters counted here from the shapes of its tensors, as
 * OpenAI's checkpoints hold them: the token and position embeddings
 * (V x C, ctx x C), per block the attention's query, key, value and output
 * projections with their biases (4 C^2 + 4 C), the feed forward's two
 * layers (C x 4C + 4C, 4C x C + C) and two norms' scales and shifts (4 C),
 * the final norm (2 C); the output head is the token embedding. Without qkv
 * bias a block has 3 C fewer. */
static size_t block_params(size_t C, bool qkv_bias) { return 12 * C * C + (qkv_bias ? 13 : 10) * C; }
static size_t gpt2_params(size_t V, size_t ctx, size_t C, size_t L) {
    return V * C + ctx * C + L * block_params(C, true) + 2 * C;
}

/* The small GPT the walkthrough says it runs on ("emb_dim C, n_layers L,
 * n_heads H,\n# context_length N"), after `after`. */
static ModelChoice walkthrough_small_model(const char *out, const char *after) {
    const char *p = strstr(out, after);
    ck_assert_ptr_nonnull(p);
    p = strstr(p, "a SMALL GPT of the same code, fast on a CPU: ");
    ck_assert_ptr_nonnull(p);
    ModelChoice mc = {.path = "random", .seed = 123};
    ck_assert_int_eq(sscanf(p, "a SMALL GPT of the same code, fast on a CPU: emb_dim %d, n_layers %d, n_heads %d,\n"
                               "# context_length %d, random weights (seed 123)",
                            &mc.emb_dim, &mc.n_layers, &mc.n_heads, &mc.context),
                     4);
    return mc;
}

/* Two numbers printed "%.4f" from floats computed in different summation
 * orders: equal to the printed digit. */
#define ck_assert_printed_eq(printed, computed) ck_assert_float_eq_tol(printed, computed, 1.5e-4)

/* In [31] and In [34] on the validation and test loaders, which do not
 * shuffle: their first 10 batches of 8 are the split's first 80 texts (5
 * batches, 40 texts, for the loss), padded to the longest training text
 * (In [11]); recomputed here on the model c before its training, from the
 * split `ch06 prepare-spam` wrote with the same seed: the accuracy exactly,
 * the loss, a mean of batch means of -log softmax, to its 3 printed
 * decimals. */
static void check_unshuffled_loaders(const char *out, Classifier *c) {
    const char *longest = strstr(out, "In [11]: train_dataset.max_length\n");
    ck_assert_ptr_nonnull(longest);
    longest = strstr(longest, "\n# ");
    ck_assert_ptr_nonnull(longest);
    longest = strchr(longest + 1, '\n'); /* past the remark, the number alone as print() writes it */
    ck_assert_ptr_nonnull(longest);
    int T;
    char end;
    ck_assert_int_eq(sscanf(longest + 1, "%d%c", &T, &end), 2);
    ck_assert_int_eq(end, '\n');
    Bpe *bpe = bpe_load_gpt2();
    const char *files[2] = {"spam/validation.csv", "spam/test.csv"}, *names[2] = {"Validation", "Test"};
    for (int f = 0; f < 2; f++) {
        char *path = in_dir(files[f]);
        TextSet set = textset_read_csv(path);
        ck_assert_int_ge(set.n, 80);
        SpamDataset ds;
        spam_dataset_init(&ds, &set, bpe, T, 50256);
        int right = 0;
        double loss = 0;
        for (int b = 0; b < 10; b++) {
            const float *logits = classifier_forward(c, ds.ids + (size_t)b * 8 * T, 8, T);
            double batch_loss = 0;
            for (int i = 0; i < 8; i++) {
                const float *l = logits + 2 * i;
                const int label = ds.labels[b * 8 + i];
                right += (l[1] > l[0]) == label;
                const double top = l[0] > l[1] ? l[0] : l[1];
                batch_loss += top + log(exp(l[0] - top) + exp(l[1] - top)) - l[label];
            }
            if (b < 5) loss += batch_loss / 8 / 5;
        }
        char key[64], want[32];
        snprintf(key, sizeof key, "%s accuracy: ", names[f]);
        char *printed = line_after(strstr(out, "In [31]"), key);
        ck_assert_ptr_nonnull(printed);
        snprintf(want, sizeof want, "%.2f%%", 100.0 * right / 80);
        ck_assert_str_eq(printed, want);
        free(printed);
        snprintf(key, sizeof key, "%s loss: ", names[f]);
        printed = line_after(strstr(out, "In [34]"), key);
        ck_assert_ptr_nonnull(printed);
        ck_assert_double_eq_tol(atof(printed), loss, 5e-4 + 1e-6);
        free(printed);
        spam_dataset_free(&ds);
        textset_free(&set);
        free(path);
    }
    bpe_free(bpe);
}

/* The walkthrough's sections 6.4-6.8 (ch06.ipynb's cells In [17]-[44]) on
 * its small GPT: the shapes, counts and formats are the book's; GPT-2
 * small's counts are recomputed here from its shapes, the small GPT's
 * trainable count from its; the model is built here again (the same
 * seed) to recompute its outputs: every position's head output is the
 * classifier's on the text up to that position (causal attention), and
 * the accuracies and losses of the loaders that do not shuffle. */
static void check_classifier_walk(const char *out) {
    const char *want[] = {
        /* In [24]: tokenizer.encode("Do you have time") as a (1, 4) tensor, PyTorch's print */
        "In [24]: the input \"Do you have time\"\nInputs: tensor([[5211,  345,  423,  640]])\n"
        "Inputs dimensions: torch.Size([1, 4])\n",
        /* In [25] */
        "Outputs dimensions: torch.Size([1, 4, 2])\n",
        /* In [37]: 6 steps of batches of 8, the log every 2 steps in the book's format, then
           train_classifier_simple's line after the epoch */
        "In [37]: train_classifier_simple, the first 6 steps: losses, then the epoch's accuracies\n"
        "Ep 1 (Step 000000): Train loss ",
        "\nEp 1 (Step 000002): Train loss ", "\nEp 1 (Step 000004): Train loss ", "\n# 48 examples seen\n",
        /* how to run it on the book's model */
        "`make gpt2-124M` downloads OpenAI's weights, then `ch06 walkthrough --model ",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(out, want[i]) != NULL, "walkthrough lacks: %s", want[i]);
    ck_assert_ptr_null(strstr(out, "Ep 1 (Step 000006)"));

    /* In [17], [21]-[23]: GPT-2 small's size and what trains in it, from its shapes; what the
       optimiser gets on the small GPT (GPT_CONFIG_124M's: no qkv bias), from its */
    char line[256];
    snprintf(line, sizeof line, "tied to the token embedding: %zu parameters", gpt2_params(50257, 1024, 768, 12));
    ck_assert_msg(strstr(out, line), "walkthrough lacks: %s", line);
    const size_t block = block_params(768, true), head = 2 * 768 + 2;
    snprintf(line, sizeof line, "# Trainable: the last block %zu + the final norm %d + the head %zu = %zu\n", block,
             2 * 768, head, block + 2 * 768 + head);
    ck_assert_msg(strstr(out, line), "walkthrough lacks: %s", line);
    const ModelChoice mc = walkthrough_small_model(out, "In [17]");
    const size_t C = (size_t)mc.emb_dim;
    ck_assert_int_ge(mc.n_layers, 2);
    snprintf(line, sizeof line, "Trainable parameters: %zu (", block_params(C, false) + 2 * C + 2 * C + 2);
    ck_assert_msg(strstr(out, line), "walkthrough lacks: %s", line);

    /* In [25]-[26]: 4 rows of 2; row p is the classifier's output on the first p + 1 tokens */
    const char *outputs = strstr(out, "Outputs:\n tensor([[[");
    ck_assert_ptr_nonnull(outputs);
    float rows[4][2];
    const char *p = outputs + strlen("Outputs:\n tensor([[");
    for (int r = 0; r < 4; r++) {
        p = strchr(p, '[');
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(sscanf(p, "[%f, %f]", &rows[r][0], &rows[r][1]), 2);
        p++;
    }
    Classifier *c = classifier_create(finetune_load_model(&mc, "124M", 50257), 2, 1, 123);
    const int ids[4] = {5211, 345, 423, 640};
    for (int r = 0; r < 4; r++) {
        const float *logits = classifier_forward(c, ids, 1, r + 1);
        ck_assert_printed_eq(rows[r][0], logits[0]);
        ck_assert_printed_eq(rows[r][1], logits[1]);
    }
    check_unshuffled_loaders(out, c);
    classifier_free(c);
    char *last = line_after(out, "Last output token: tensor([[");
    ck_assert_ptr_nonnull(last);
    float l0, l1;
    ck_assert_int_eq(sscanf(last, "%f, %f]])", &l0, &l1), 2);
    ck_assert_printed_eq(l0, rows[3][0]);
    ck_assert_printed_eq(l1, rows[3][1]);
    free(last);
    /* In [28]-[29]: softmax then argmax, and argmax alone: the larger logit's index */
    char want_label[64];
    snprintf(want_label, sizeof want_label, "In [28]: softmax, then argmax\nClass label: %d\n", l1 > l0);
    ck_assert_msg(strstr(out, want_label), "walkthrough lacks: %s", want_label);
    snprintf(want_label, sizeof want_label, "In [29]: argmax of the logits: the same\nClass label: %d\n", l1 > l0);
    ck_assert_msg(strstr(out, want_label), "walkthrough lacks: %s", want_label);

    /* In [31]: over 10 batches of 8 every accuracy is k/80, printed "%.2f%%"; In [34]: "%.3f";
       In [37]: the epoch's accuracies over 1 batch of 8 each: k/8 */
    const char *names[3] = {"Training", "Validation", "Test"};
    for (int i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s accuracy: ", names[i]);
        char *acc = line_after(strstr(out, "In [31]"), key);
        ck_assert_ptr_nonnull(acc);
        double a;
        ck_assert_int_eq(sscanf(acc, "%lf%%", &a), 1);
        const double k = a * 80 / 100;
        ck_assert_msg(fabs(k - round(k)) < 1e-9 && k >= 0 && k <= 80, "%s accuracy %s is not k/80", names[i], acc);
        free(acc);
        snprintf(key, sizeof key, "%s loss: ", names[i]);
        char *loss = line_after(strstr(out, "In [34]"), key);
        ck_assert_ptr_nonnull(loss);
        double v;
        int n = -1;
        ck_assert_int_eq(sscanf(loss, "%lf%n", &v, &n), 1);
        ck_assert_msg(n == (int)strlen(loss) && strchr(loss, '.') && strlen(strchr(loss, '.')) == 4, "loss %s", loss);
        free(loss);
    }
    char *epoch = line_after(strstr(out, "In [37]"), "Training accuracy: ");
    ck_assert_ptr_nonnull(epoch);
    double ta, va;
    ck_assert_int_eq(sscanf(epoch, "%lf%% | Validation accuracy: %lf%%", &ta, &va), 2);
    ck_assert_double_eq_tol(ta * 8 / 100, round(ta * 8 / 100), 1e-9);
    ck_assert_double_eq_tol(va * 8 / 100, round(va * 8 / 100), 1e-9);
    free(epoch);
    /* In [43]-[44]: classify_review prints one of the two answers */
    for (int i = 0; i < 2; i++) {
        char key[96];
        snprintf(key, sizeof key, "In [%d]: classify_review(text_%d, max_length=train_dataset.max_length)\n", 43 + i,
                 i + 1);
        char *answer = line_after(out, key);
        ck_assert_ptr_nonnull(answer);
        ck_assert_msg(strcmp(answer, "spam") == 0 || strcmp(answer, "not spam") == 0, "classify_review: %s", answer);
        free(answer);
    }
}

static int count_occurrences(const char *s, const char *what) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

/* A Python float as print() shows it (repr): it reads back as x, and one
 * digit fewer does not. */
static void assert_python_float(const char *line, double *x) {
    char *end;
    *x = strtod(line, &end);
    ck_assert_msg(*end == '\0' && strchr(line, '.'), "not a Python float: %s", line);
    char shorter[400];
    snprintf(shorter, sizeof shorter, "%.*g", (int)strlen(line) - 2, *x); /* one digit fewer */
    ck_assert_msg(strtod(shorter, NULL) != *x, "%s has more digits than repr's", line);
}

/* The walkthrough's sections 7.5-7.8 (ch07.ipynb's In [28]-[44]) on its
 * small GPT: the prompts and the dataset's responses are the book's;
 * GPT-2 medium's size is recomputed from its shapes; the model is built
 * here again to recompute its response to val_data[0] and its loss on the
 * first validation batch; the tokens seen are those of 7.4's first two
 * training batches (In [25]), which the steps take, as in the book. */
static void check_instruction_walk(const char *out) {
    const char *want[] = {
        /* In [29]: format_input(val_data[0]) */
        "In [29]: format_input(val_data[0])\nBelow is an instruction that describes a task. Write a response that "
        "appropriately completes the request.\n\n### Instruction:\nConvert the active sentence to passive: 'The chef "
        "cooks the meal every day.'\n",
        /* In [34]: the log's format, after the first of 2 steps (every 2) */
        "In [34]: train_model_simple, the first 2 steps\nEp 1 (Step 000000): Train loss ",
        /* In [36]: the first three test entries as the book prints them */
        "### Instruction:\nRewrite the sentence using a simile.\n\n### Input:\nThe car is very fast.\n\n"
        "Correct response:\n>> The car is as fast as lightning.\n\nModel response:\n>> ",
        "### Instruction:\nWhat type of cloud is typically associated with thunderstorms?\n\nCorrect response:\n"
        ">> The type of cloud typically associated with thunderstorms is cumulonimbus.\n\nModel response:\n>> ",
        "### Instruction:\nName the author of 'Pride and Prejudice'.\n\nCorrect response:\n>> Jane Austen.\n\n"
        "Model response:\n>> ",
        "`make gpt2-355M` downloads OpenAI's weights, then `ch06 walkthrough --instruct-model ",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(out, want[i]) != NULL, "walkthrough lacks: %s", want[i]);
    ck_assert_int_eq(count_occurrences(out, "\n-------------------------------------\n"), 3);
    ck_assert_ptr_null(strstr(out, "Ep 1 (Step 000001)"));
    char line[256];
    snprintf(line, sizeof line, "tied to the token embedding: %zu parameters", gpt2_params(50257, 1024, 1024, 24));
    ck_assert_msg(strstr(out, line), "walkthrough lacks: %s", line);

    /* In [25] -> In [34]: tokens_seen = 8 x the first two batches' lengths */
    const char *shapes = strstr(out, "the first ones:\n");
    ck_assert_ptr_nonnull(shapes);
    int b1, t1, b2, t2;
    ck_assert_int_eq(sscanf(shapes, "the first ones:\ntorch.Size([%d, %d]) torch.Size([%*d, %*d])\n"
                                    "torch.Size([%d, %d])",
                            &b1, &t1, &b2, &t2),
                     4);
    snprintf(line, sizeof line, "\n# %d tokens seen (padding included", b1 * t1 + b2 * t2);
    ck_assert_msg(strstr(out, line), "walkthrough lacks: %s", line);

    /* In [31] and In [33] recomputed on the same model */
    const ModelChoice mc = walkthrough_small_model(out, "In [28]");
    GPTModel *m = finetune_load_model(&mc, "355M", 50257);
    Bpe *bpe = bpe_load_gpt2();
    char *data = data_file("instruction-data.json");
    InstructionSet all = instruction_data_read(data), train, test, val;
    instruction_data_split(&all, &train, &test, &val);
    char *response = instruct_response(m, bpe, &val.items[0], 35);
    char *printed = malloc(strlen(response) + 128);
    sprintf(printed, "\"### Response:\" removed, stripped\n%s\n# the book's, from GPT-2 medium", response);
    ck_assert_msg(strstr(out, printed), "In [31] is not the model's response: %s", response);
    /* the first validation batch: the first 8 entries in order, collated */
    InstructionDataset val_ds;
    instruction_dataset_init(&val_ds, &val, bpe);
    const int *seqs[8];
    int lengths[8];
    for (int i = 0; i < 8; i++) seqs[i] = val_ds.encoded[i].data, lengths[i] = (int)val_ds.encoded[i].len;
    const int T = collate_length(lengths, 8, mc.context);
    int *inputs = malloc(8 * (size_t)T * sizeof(int)), *targets = malloc(8 * (size_t)T * sizeof(int));
    collate_batch(seqs, lengths, 8, T, 50256, inputs, targets);
    m->training = false;
    const double val_loss = calc_loss_batch(m, inputs, targets, 8, T, false);
    /* In [33]: print("Training loss:", x) shows repr(x). Before training, weights drawn with std
       0.02 give logits near 0: the loss is near the uniform guess's ln 50257 = 10.825 (the book's
       pretrained GPT-2 medium: 3.83) */
    const char *names[2] = {"Training loss: ", "Validation loss: "};
    for (int i = 0; i < 2; i++) {
        char *loss = line_after(strstr(out, "In [33]"), names[i]);
        ck_assert_ptr_nonnull(loss);
        double x;
        assert_python_float(loss, &x);
        ck_assert_double_eq_tol(x, log(50257.0), 0.5);
        if (i == 1) ck_assert_msg(x == val_loss, "validation loss %s, recomputed %.17g", loss, val_loss);
        free(loss);
    }
    free(inputs);
    free(targets);
    instruction_dataset_free(&val_ds);
    free(printed);
    free(response);
    instruction_set_free(&train);
    instruction_set_free(&test);
    instruction_set_free(&val);
    instruction_set_free(&all);
    free(data);
    bpe_free(bpe);
    gpt_free(m);
}

/* The cells that print the book's data and toy batches as Python does:
 * ch07.ipynb In [3], [4], [11], [13], [15], and ch06.ipynb In [20]'s
 * print(model) for GPT-2 small (237 lines: its first and last lines, and
 * every block alike). */
START_TEST(test_walkthrough_prints_the_books_python_values) {
    char *out;
    ck_assert_int_eq(ch06(&out, NULL, "walkthrough"), 0);
    const char *ch07 = find_text(out, "\n== 7.2 ");
    const struct {
        int cell;
        const char *want;
    } cells[] = {
        {3, "Example entry:\n {'instruction': 'Identify the correct spelling of the following word.', 'input': "
            "'Ocassion', 'output': \"The correct spelling is 'Occasion.'\"}\n"},
        {4, "Another example entry:\n {'instruction': \"What is an antonym of 'complicated'?\", 'input': '', "
            "'output': \"An antonym of 'complicated' is 'simple'.\"}\n"},
        {11, "[50256]\n"},
        {13, "tensor([[    0,     1,     2,     3,     4],\n        [    5,     6, 50256, 50256, 50256],\n"
             "        [    7,     8,     9, 50256, 50256]])\n"},
        {15, "tensor([[    0,     1,     2,     3,     4],\n        [    5,     6, 50256, 50256, 50256],\n"
             "        [    7,     8,     9, 50256, 50256]])\n"
             "tensor([[    1,     2,     3,     4, 50256],\n        [    6, 50256, 50256, 50256, 50256],\n"
             "        [    8,     9, 50256, 50256, 50256]])\n"},
    };
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        char *got = cell_output(ch07, cells[i].cell);
        char *trimmed = got; /* a blank line may close a cell before the next one */
        size_t n = strlen(trimmed);
        while (n > 1 && trimmed[n - 1] == '\n' && trimmed[n - 2] == '\n') trimmed[--n] = '\0';
        ck_assert_msg(strcmp(trimmed, cells[i].want) == 0, "ch07 In [%d]:\n%s\nthe notebook:\n%s", cells[i].cell, got,
                      cells[i].want);
        free(got);
    }
    char *model = cell_output(out, 20);
    ck_assert_int_eq(count_lines(model), 237);
    const char *head = "GPTModel(\n  (tok_emb): Embedding(50257, 768)\n  (pos_emb): Embedding(1024, 768)\n"
                       "  (drop_emb): Dropout(p=0.0, inplace=False)\n  (trf_blocks): Sequential(\n"
                       "    (0): TransformerBlock(\n      (att): MultiHeadAttention(\n"
                       "        (W_query): Linear(in_features=768, out_features=768, bias=True)\n";
    ck_assert_msg(strncmp(model, head, strlen(head)) == 0, "%s", model);
    const char *tail = "      (drop_resid): Dropout(p=0.0, inplace=False)\n    )\n  )\n  (final_norm): LayerNorm()\n"
                       "  (out_head): Linear(in_features=768, out_features=50257, bias=False)\n)\n";
    ck_assert_msg(strstr(model, tail) != NULL, "%s", model);
    for (int b = 0; b < 12; b++) {
        char block[64];
        snprintf(block, sizeof block, "\n    (%d): TransformerBlock(\n", b);
        find_text(model, block);
    }
    free(model);
    free(out);
}
END_TEST

START_TEST(test_walkthrough_prints_the_books_numbers) {
    char *out;
    ck_assert_int_eq(ch06(&out, NULL, "walkthrough"), 0);
    const char *want[] = {
        /* as pandas prints a value_counts() Series: the counts right-aligned, the name and dtype */
        "In [4]: df[\"Label\"].value_counts()\nLabel\nham     4825\nspam     747\nName: count, dtype: int64\n",
        "\nLabel\nham     747\nspam    747\nName: count, dtype: int64\nIn [8]: ",
        "train 1045, validation 149, test 300",
        "130 training batches",
        "19 validation batches",
        "38 test batches",
        "Training set length: 935\nValidation set length: 55\nTest set length: 110\n",
        /* ch07.ipynb In [17]-[20]: tensors as PyTorch prints them */
        "\ntensor([[    0,     1,     2,     3,     4],\n        [    5,     6, 50256, 50256, 50256],\n"
        "        [    7,     8,     9, 50256, 50256]])\n"
        "tensor([[    1,     2,     3,     4, 50256],\n        [    6, 50256,  -100,  -100,  -100],\n"
        "        [    8,     9, 50256,  -100,  -100]])\nIn [18]: ",
        "\ntensor(1.1269)\nIn [19]: ",
        "\ntensor(0.7936)\nIn [20]: ",
        "\ntensor(1.1269)\nloss_1 == loss_3: tensor(True)\n",
        /* ch06.ipynb In [9] and In [11]: print() of a list and of an int */
        "\n[50256]\nIn [11]: ",
        "\n120\nIn [12]: ",
        "Train loader: 116 batches",
        /* each cell's output after its number in ch06.ipynb: In [4], In [14] (the book's shapes'
           print, its batch of 8 and its "Label batch dimensions" without a colon) */
        "\n130 training batches\n19 validation batches\n38 test batches\nIn [14]: ",
        "In [14]: the training loader's last batch's shapes\nTrain loader:\nInput batch dimensions: torch.Size([8, ",
        "])\nLabel batch dimensions torch.Size([8])\n",
        /* ch07.ipynb In [9], In [25]: the train loader's batches, printed as torch.Size pairs */
        "In [9]: the split's sizes\nTraining set length: 935\n",
        "the first ones:\ntorch.Size([8, ",
        "### Input:\nOcassion\n\n### Response:\nThe correct spelling is 'Occasion.'",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(out, want[i]) != NULL, "walkthrough lacks: %s", want[i]);
    check_classifier_walk(out);
    check_instruction_walk(out);
    free(out);
}
END_TEST

START_TEST(test_prepare_spam_is_reproducible) {
    char *out, *again;
    ck_assert_int_eq(ch06(&out, NULL, "prepare-spam --out %s/p1", dir), 0);
    ck_assert(strstr(out, "ham 4825, spam 747") != NULL);
    ck_assert(strstr(out, "p1/train.csv: 1045 texts") != NULL);
    ck_assert(strstr(out, "p1/validation.csv: 149 texts") != NULL);
    ck_assert(strstr(out, "p1/test.csv: 300 texts") != NULL);
    free(out);
    const char *names[3] = {"train.csv", "validation.csv", "test.csv"};
    for (int i = 0; i < 3; i++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "p1/%s", names[i]);
        snprintf(b, sizeof b, "spam/%s", names[i]); /* made by the fixture, same seed */
        out = read_in_dir(a);
        again = read_in_dir(b);
        ck_assert_str_eq(out, again);
        free(out);
        free(again);
    }
    /* another seed, other rows */
    ck_assert_int_eq(ch06(NULL, NULL, "prepare-spam --out %s/p2 --seed 7", dir), 0);
    out = read_in_dir("p1/test.csv");
    again = read_in_dir("p2/test.csv");
    ck_assert_str_ne(out, again);
    free(out);
    free(again);
}
END_TEST

#define TINY_CLASSIFIER                                                                                    \
    "--model random --emb-dim 16 --n-layers 2 --n-heads 2 --context 128 --epochs 3 --batch-size 4 "        \
    "--eval-freq 5 --eval-iter 10 --lr 5e-3"

START_TEST(test_train_classifier_then_classify) {
    char *out;
    /* both blocks train: the last alone is too little for this tiny
     * model to tell the texts of the split apart in 30 steps */
    ck_assert_int_eq(ch06(&out, NULL,
                          "train-classifier " TINY_CLASSIFIER " --trainable-blocks 2 --data-dir %s/small --out %s/cls", dir,
                          dir),
                     0);
    /* 40 texts: 10 batches of 4 per epoch, 30 steps, evaluated every 5th
     * over all 10 batches (fewer make the losses too noisy to fall) */
    ck_assert_msg(strncmp(out, "Ep 1 (Step 000000): Train loss ", 31) == 0, "first line: %.60s", out);
    ck_assert(strstr(out, "Ep 3 (Step 000025): Train loss ") != NULL);
    ck_assert(strstr(out, "Ep 3 (Step 000030)") == NULL);
    ck_assert(strstr(out, "Training accuracy: ") != NULL && strstr(out, "% | Validation accuracy: ") != NULL);
    /* the final accuracies (the last lines) are the saved model's, on each
     * whole split: recomputed here text by text, as classify labels them */
    char *ckpt = in_dir("cls/checkpoint.safetensors");
    const char *splits[3][2] = {{"\nTraining accuracy: ", "small/train.csv"},
                                {"\nValidation accuracy: ", "small/validation.csv"},
                                {"\nTest accuracy: ", "small/test.csv"}};
    for (int i = 0; i < 3; i++) {
        char *csv = in_dir(splits[i][1]);
        double want = accuracy_on(ckpt, csv);
        ck_assert_msg(fabs(number_after_last(out, splits[i][0]) - want) < 0.006, "%s%.2f%% printed, %.2f%% counted",
                      splits[i][0], number_after_last(out, splits[i][0]), want); /* printed to 0.01% */
        free(csv);
    }
    double first, last;
    first_and_last_train_loss(out, &first, &last);
    ck_assert_msg(last < first, "the training loss went from %.3f to %.3f", first, last);
    free(out);
    char *log = read_in_dir("cls/log.csv");
    ck_assert(strncmp(log, "step,epoch,examples_seen,train_loss,val_loss,lr\n0,0.1000,4,", 59) == 0);
    ck_assert_int_eq(count_lines(log), 1 + 6);
    free(log);
    char *acc = read_in_dir("cls/accuracy.csv");
    ck_assert(strncmp(acc, "epoch,examples_seen,train_accuracy,val_accuracy\n1,40,", 53) == 0);
    ck_assert_int_eq(count_lines(acc), 1 + 3);
    free(acc);
    /* classify prints the finetuned model's answer (model_label). The run
     * is seeded (123: the head, the shuffling, the dropout), so the answers
     * are fixed, and they are right: a spam message of the collection's
     * test split, which these 40 training texts do not hold, and a message
     * of our own. (The book's "You are a winner..." is not spam to this
     * tiny model.) */
    const char *texts[2] = {"URGENT! You have won a 1 week FREE membership in our 100000 prize Jackpot! "
                            "Txt the word: CLAIM to No: 81010",
                            "Hey, are we still meeting for lunch today? I can bring the notes from class."};
    const char *seeded[2] = {"spam\n", "not spam\n"};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(ch06(&out, NULL, "classify --model %s --text '%s'", ckpt, texts[i]), 0);
        ck_assert_str_eq(out, model_label(ckpt, texts[i]));
        ck_assert_str_eq(out, seeded[i]);
        free(out);
    }
    free(ckpt);
}
END_TEST

/* 6.8's classify on classifiers whose answer is known: a head with zero
 * weights answers by its bias alone, whatever the text, and label 1 is
 * spam (the book's mapping, which classify prints). */
START_TEST(test_classify_known_answers) {
    const float biases[2][2] = {{0.0f, 1.0f}, {1.0f, 0.0f}};
    const char *want[2] = {"spam\n", "not spam\n"};
    char *path = in_dir("known.safetensors"), *out;
    for (int k = 0; k < 2; k++) {
        Classifier *c = classifier_create(constant_gpt(0), 2, 1, 5);
        memset(c->weight, 0, (size_t)2 * c->gpt->config.emb_dim * sizeof(float));
        memcpy(c->bias, biases[k], sizeof biases[k]);
        classifier_save(c, path, 8);
        classifier_free(c);
        ck_assert_int_eq(ch06(&out, NULL, "classify --model %s --text 'Call now to win a prize'", path), 0);
        ck_assert_str_eq(out, want[k]);
        free(out);
    }
    free(path);
}
END_TEST

/* 7.7's response on models whose next token is known (constant_gpt): the
 * same word N times, or nothing when the first token is <|endoftext|>. */
START_TEST(test_instruct_known_answers) {
    char *path = in_dir("constant.safetensors"), *out;
    Bpe *bpe = gpt_load_tokenizer(path); /* GPT-2's, from DATA_DIR */
    IntVec blue = {0};
    bpe_encode(bpe, " blue", 5, false, &blue);
    ck_assert_int_eq((int)blue.len, 1);
    GPTModel *m = constant_gpt(blue.data[0]);
    gpt_save_checkpoint(m, path, NULL);
    gpt_free(m);
    /* " blue" three times, the leading space stripped as the book strips */
    ck_assert_int_eq(ch06(&out, NULL, "instruct --model %s --instruction 'Name a color.' --max-new-tokens 3", path), 0);
    ck_assert_str_eq(out, "blue blue blue\n");
    free(out);
    m = constant_gpt(bpe_eot_id(bpe));
    gpt_save_checkpoint(m, path, NULL);
    gpt_free(m);
    ck_assert_int_eq(ch06(&out, NULL, "instruct --model %s --instruction 'Name a color.' --max-new-tokens 3", path), 0);
    ck_assert_str_eq(out, "\n");
    free(out);
    free(path);
    intvec_free(&blue);
    bpe_free(bpe);
}
END_TEST

/* Every step computes logits over GPT-2's 50257 tokens, the bulk of the
 * work (and slow under the sanitizers): a few short steps only. */
#define TINY_INSTRUCT                                                                                      \
    "--model random --emb-dim 16 --n-layers 1 --n-heads 2 --context 128 --epochs 1 --batch-size 2 "       \
    "--eval-freq 3 --eval-iter 1 --lr 1e-2 --max-new-tokens 8"

START_TEST(test_train_instruct_then_instruct) {
    char *out;
    ck_assert_int_eq(ch06(&out, NULL, "train-instruct " TINY_INSTRUCT " --data %s/small.json --out %s/ins", dir, dir), 0);
    /* 8 training entries: 4 batches of 2, evaluated at steps 0 and 3 */
    ck_assert_msg(strncmp(out, "Ep 1 (Step 000000): Train loss ", 31) == 0, "first line: %.60s", out);
    ck_assert(strstr(out, "Ep 1 (Step 000003): Train loss ") != NULL);
    /* the sample after each epoch starts with the first validation prompt */
    ck_assert(strstr(out, "Below is an instruction that describes a task.") != NULL);
    ck_assert(strstr(out, "Correct response:\n>> ") != NULL && strstr(out, "Model response:\n>> ") != NULL);
    double first, last;
    first_and_last_train_loss(out, &first, &last);
    ck_assert_msg(last < first, "the training loss went from %.3f to %.3f", first, last);
    free(out);
    char *log = read_in_dir("ins/log.csv");
    ck_assert(strncmp(log, "step,epoch,tokens_seen,train_loss,val_loss,lr\n0,", 48) == 0);
    ck_assert_int_eq(count_lines(log), 1 + 2);
    free(log);
    /* the test set (entry 8) with the model's response */
    char *json = read_in_dir("ins/instruction-data-with-response.json");
    cJSON *root = cJSON_Parse(json);
    ck_assert(cJSON_IsArray(root));
    ck_assert_int_eq(cJSON_GetArraySize(root), 1);
    cJSON *e = cJSON_GetArrayItem(root, 0);
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(e, "model_response")));
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(e, "instruction")));
    cJSON_Delete(root);
    free(json);
    /* instruct prints the model's response (model_response); the seeded
     * run fixes it (4 steps of a 16-channel model: no answer yet, just the
     * tokens it now favours) */
    char *ckpt = in_dir("ins/checkpoint.safetensors"), *want = model_response(ckpt, "Name a color.", 6);
    ck_assert_int_eq(ch06(&out, NULL, "instruct --model %s --instruction 'Name a color.' --max-new-tokens 6", ckpt), 0);
    ck_assert_str_eq(out, want);
    ck_assert_str_eq(out, "SAY was Hem Robbins actors Annual\n");
    free(out);
    free(want);
    free(ckpt);
}
END_TEST

/* Appendix E: both runs with LoRA adapters (rank 4, alpha 8) instead of
 * trainable layers; the loss falls, and the checkpoints, adapters merged,
 * are plain models that classify and instruct read. */
START_TEST(test_lora_runs_write_plain_models) {
    char *out, *err;
    ck_assert_int_eq(ch06(&out, &err, "train-classifier " TINY_CLASSIFIER " --lora-rank 4 --lora-alpha 8 --data-dir %s/small "
                                      "--out %s/lora-cls", dir, dir),
                     0);
    ck_assert_msg(strstr(err, "2376 LoRA parameters train (rank 4, alpha 8)") != NULL, "%s", err);
    double first, last;
    first_and_last_train_loss(out, &first, &last);
    ck_assert_msg(last < first, "the training loss went from %.3f to %.3f", first, last);
    /* the merged checkpoint is a plain classifier, the one evaluated:
     * its test accuracy, and classify gives the model's answer
     * (model_label), fixed by the seed */
    char *ckpt = in_dir("lora-cls/checkpoint.safetensors"), *csv = in_dir("small/test.csv");
    double accuracy = accuracy_on(ckpt, csv);
    ck_assert_msg(fabs(number_after_last(out, "\nTest accuracy: ") - accuracy) < 0.006, "%s: %.2f%% counted", out,
                  accuracy);
    free(csv);
    free(out);
    free(err);
    ck_assert_int_eq(ch06(&out, NULL, "classify --model %s --text 'Call now to win'", ckpt), 0);
    ck_assert_str_eq(out, model_label(ckpt, "Call now to win"));
    ck_assert_str_eq(out, "not spam\n");
    free(out);
    free(ckpt);

    ck_assert_int_eq(ch06(&out, &err, "train-instruct " TINY_INSTRUCT " --lora-rank 4 --lora-alpha 8 --data %s/small.json "
                                      "--out %s/lora-ins", dir, dir),
                     0);
    ck_assert_msg(strstr(err, "LoRA parameters train (rank 4, alpha 8)") != NULL, "%s", err);
    first_and_last_train_loss(out, &first, &last);
    ck_assert_msg(last < first, "the training loss went from %.3f to %.3f", first, last);
    free(out);
    free(err);
    ckpt = in_dir("lora-ins/checkpoint.safetensors");
    char *want = model_response(ckpt, "Name a color.", 4);
    ck_assert_int_eq(ch06(&out, NULL, "instruct --model %s --instruction 'Name a color.' --max-new-tokens 4", ckpt), 0);
    ck_assert_str_eq(out, want);
    ck_assert_str_eq(out, "SAY ellipt Record mastered\n");
    free(out);
    free(want);
    free(ckpt);
}
END_TEST

/* ---- the exercises ------------------------------------------------------------------------------- */

/* What `ch06 exercise` computes without training, against the numbers
 * the solutions notebooks print (and the book's model sizes). */
START_TEST(test_exercise_prints_the_notebooks_numbers) {
    char *out;
    ck_assert_int_eq(ch06(&out, NULL, "exercise --no-run"), 0);
    const char *want[] = {
        /* 6.1: max_length = BASE_CONFIG["context_length"]; the split's longest text is the book's 120 */
        "max_length = BASE_CONFIG[\"context_length\"] = 1024",
        "The training split (the book's rows): 1045 texts",
        "the longest 120\n",
        "ch06_finetune/ch06 train-classifier --max-length context",
        /* 6.2: appendix E's "Total trainable parameters before: 124,441,346"; the chapter's 7,090,946 */
        "Trainable parameters: 124,441,346 (all); the book's chapter 6: 7,090,946",
        "token embedding 38,597,376 + position embedding 786,432 + 12 blocks 85,054,464 + final norm 1,536 + head 1,538",
        "ch06_finetune/ch06 train-classifier --trainable-blocks all",
        "ch06_finetune/ch06 train-classifier --token first",
        /* 7.1: In [2], and the tip's token ids */
        "In [2]: format_input in the Phi-3 style, an entry with an input and one without\n<|user|>\n"
        "Identify the correct spelling of the following word.\nOcassion\n\n<|user|>\n"
        "What is an antonym of 'complicated'?\n",
        "<|user|> is 5 tokens, (27, 91, 7220, 91, 29)",
        "ch06_finetune/ch06 train-instruct --prompt-style phi3",
        /* 7.2: In [10]-[13] */
        "Train loader:\ntorch.Size([3, 64]) torch.Size([3, 64])\n",
        "Inputs:\n tensor([21106,   318,   281, 12064,   326,  8477,   257,  4876,    13, 19430,\n"
        "          257,  2882,   326, 20431, 32543,   262,  2581,    13,   198,   198,\n"
        "        21017, 46486,    25,   198, 42758,   262,  1708,  1351,   287, 24830,\n"
        "          605,  1502,    13,   198,   198, 21017, 23412,    25,   198,    57,\n"
        "        37052,    11, 42651,    11,  9325, 19815,   576,   198,   198, 21017,\n"
        "        18261,    25,   198,    34, 12204,   375,   576,    11, 42651,    11,\n"
        "         1168, 37052, 50256, 50256])\n\n\nTargets:\n"
        " tensor([ -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,\n"
        "         -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,\n"
        "         -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,\n"
        "         -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,\n"
        "         -100,  -100,  -100,  -100,  -100,  -100,   198,   198, 21017, 18261,\n"
        "           25,   198,    34, 12204,   375,   576,    11, 42651,    11,  1168,\n"
        "        37052, 50256,  -100,  -100])\n",
        "### Response:\nCrocodile, Elephant, Zebra<|endoftext|><|endoftext|>\nIn [13]",
        "In [13]: the targets that are not -100, decoded\n\n\n### Response:\nCrocodile, Elephant, Zebra<|endoftext|>\n",
        "ch06_finetune/ch06 train-instruct --mask-instructions",
        /* 7.3 (DATA_DIR has no alpaca_data.json: the split of its 52,002 entries) */
        "Training set length: 44201\nValidation set length: 2601\nTest set length: 5200\n",
        "make alpaca\nch06_finetune/ch06 train-instruct --data DATA_DIR/alpaca_data.json --batch-size 4 "
        "--allowed-max-length 512",
        /* 7.4 */
        "Total trainable parameters before: 406,286,336\nTotal trainable parameters after: 0\n"
        "Total trainable LoRA parameters: 7,898,384\n",
        "ch06_finetune/ch06 train-instruct --lora-rank 16 --lora-alpha 256",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(out, want[i]) != NULL, "exercise lacks: %s", want[i]);
    ck_assert(strstr(out, "# quick version") == NULL); /* --no-run */
    free(out);
    /* one exercise alone */
    ck_assert_int_eq(ch06(&out, NULL, "exercise 7.4 --no-run"), 0);
    ck_assert(strncmp(out, "\n== Exercise 7.4 ", 17) == 0);
    ck_assert(strstr(out, "Exercise 7.3") == NULL);
    free(out);
}
END_TEST

/* 6.3's first-token bound, recomputed here from the split: each first
 * token's majority label on the training texts. */
START_TEST(test_exercise_first_token_bound) {
    char *out;
    ck_assert_int_eq(ch06(&out, NULL, "exercise 6.3 --no-run"), 0);
    char *csv = in_dir("spam/train.csv"); /* the book's split, seed 123, as the exercise's */
    TextSet train = textset_read_csv(csv);
    Bpe *bpe = gpt_load_tokenizer(csv);
    int *counts = calloc(2 * 50257, sizeof(int)), distinct = 0, right = 0; /* (first token, label) */
    for (int i = 0; i < train.n; i++) {
        IntVec ids = {0};
        bpe_encode(bpe, train.items[i].text, strlen(train.items[i].text), false, &ids);
        if (ids.len) {
            int *c = counts + 2 * ids.data[0];
            if (c[0] + c[1] == 0) distinct++;
            c[train.items[i].label]++;
        }
        intvec_free(&ids);
    }
    for (int v = 0; v < 50257; v++) right += counts[2 * v] > counts[2 * v + 1] ? counts[2 * v] : counts[2 * v + 1];
    char want[160];
    snprintf(want, sizeof want, "Training texts: %d, with %d different first tokens\n", train.n, distinct);
    ck_assert_msg(strstr(out, want) != NULL, "no '%s' in %s", want, out);
    snprintf(want, sizeof want, "training accuracy %.2f%%", 100.0 * right / train.n);
    ck_assert_msg(strstr(out, want) != NULL, "no '%s' in %s", want, out);
    free(counts);
    bpe_free(bpe);
    textset_free(&train);
    free(csv);
    free(out);
}
END_TEST

/* 7.3 with alpaca_data.json there (a stand-in: the book's first 20
 * entries, in a DATA_DIR of links to the real data): the split is the
 * file's, and the quick run trains on its first ten entries with the
 * book's batch size 4. */
START_TEST(test_exercise_7_3_reads_the_alpaca_file) {
    char *data = in_dir("alpaca-data"), *gpt2 = in_dir("alpaca-data/gpt2"), *alpaca = in_dir("alpaca-data/alpaca_data.json");
    make_dirs(gpt2);
    char command[2048];
    snprintf(command, sizeof command, "ln -sf %s/gpt2/encoder.json %s/gpt2/vocab.bpe %s/ && ln -sf %s/sms_spam %s/",
             data_dir(), data_dir(), gpt2, data_dir(), data);
    ck_assert_int_eq(system(command), 0);
    char *book = data_file("instruction-data.json");
    InstructionSet all = instruction_data_read(book);
    InstructionSet first = {all.items, 20};
    char **outputs = malloc(20 * sizeof(char *));
    for (int i = 0; i < 20; i++) outputs[i] = all.items[i].output;
    instruction_data_write_responses(alpaca, &first, outputs); /* the extra key is ignored when read */
    free(outputs);
    instruction_set_free(&all);
    char *out, *err;
    snprintf(command, sizeof command, "DATA_DIR=%s OMP_NUM_THREADS=1 %s/ch06_finetune/ch06 exercise 7.3 --out %s/ex73",
             data, repo_root(), dir);
    ck_assert_int_eq(run_command(command, &out, &err), 0);
    /* int(20 * 0.85) = 17, int(20 * 0.1) = 2, the rest 1 */
    ck_assert_msg(strstr(out, "alpaca_data.json: 20 entries\nTraining set length: 17\nValidation set length: 1\n"
                              "Test set length: 2\n") != NULL, "%s", out);
    ck_assert(strstr(out, "--batch-size 4 ") != NULL && strstr(out, "--allowed-max-length 512 --data ") != NULL);
    ck_assert_msg(strstr(err, "alpaca-small.json: 10 entries: 8 train, 1 test, 1 validate\n2 training batches") != NULL,
                  "%s", err);
    ck_assert(strstr(out, "Ep 1 (Step 000000): Train loss ") != NULL);
    free(out);
    free(err);
    free(book);
    free(alpaca);
    free(gpt2);
    free(data);
}
END_TEST

/* The quick version of 6.3: train-classifier --token first on the tiny
 * model; the checkpoint says so, and its final accuracies are those of the
 * first-token classifier it holds (accuracy_on reads the token from it). */
START_TEST(test_exercise_6_3_quick_run) {
    char *out, *err;
    ck_assert_int_eq(ch06(&out, &err, "exercise 6.3 --out %s/ex", dir), 0);
    ck_assert(strstr(out, "# quick version") != NULL && strstr(out, "--token first --data-dir") != NULL);
    ck_assert_msg(strstr(err, "the head reads the first token's output") != NULL, "%s", err);
    char *ckpt = in_dir("ex/6.3/checkpoint.safetensors"), *csv = in_dir("ex/data/spam-small/test.csv");
    Loaded l = load_classifier(ckpt);
    ck_assert_int_eq(l.c->token, CLASSIFIER_TOKEN_FIRST);
    free_classifier(&l);
    double accuracy = accuracy_on(ckpt, csv);
    ck_assert_msg(fabs(number_after_last(out, "\nTest accuracy: ") - accuracy) < 0.006, "%.2f%% counted", accuracy);
    free(ckpt);
    free(csv);
    free(out);
    free(err);
}
END_TEST

/* The quick version of 7.1: Phi-3 prompts in the sample, the style in the
 * checkpoint, and instruct, reading it from there, answers as
 * instruct_response_as with Phi-3 prompts does. */
START_TEST(test_exercise_7_1_quick_run) {
    char *out;
    ck_assert_int_eq(ch06(&out, NULL, "exercise 7.1 --out %s/ex", dir), 0);
    ck_assert(strstr(out, "--prompt-style phi3 --data") != NULL);
    ck_assert_msg(strstr(out, "\n<|user|> Convert the active sentence to passive") != NULL, "%s", out); /* the sample */
    ck_assert(strstr(out, "<|user|>\nRewrite the following sentence so that it is in active voice.\n"
                          "The cake was baked by Sarah.\n\nCorrect response:") != NULL);
    free(out);
    char *ckpt = in_dir("ex/7.1/checkpoint.safetensors");
    ck_assert_int_eq(instruct_checkpoint_style(ckpt), PROMPT_PHI3);
    GPTModel *m = gpt_load_any(ckpt);
    Bpe *bpe = gpt_load_tokenizer(ckpt);
    InstructionEntry e = {"Name a color.", "", ""};
    char *phi3 = instruct_response_as(m, bpe, &e, 6, PROMPT_PHI3), *alpaca = instruct_response_as(m, bpe, &e, 6, PROMPT_ALPACA);
    ck_assert_str_ne(phi3, alpaca);
    ck_assert_int_eq(ch06(&out, NULL, "instruct --model %s --instruction 'Name a color.' --max-new-tokens 6", ckpt), 0);
    out[strlen(out) - 1] = '\0';
    ck_assert_str_eq(out, phi3);
    free(out);
    ck_assert_int_eq(
        ch06(&out, NULL, "instruct --model %s --instruction 'Name a color.' --max-new-tokens 6 --prompt-style alpaca",
             ckpt),
        0);
    out[strlen(out) - 1] = '\0';
    ck_assert_str_eq(out, alpaca);
    free(out);
    free(phi3);
    free(alpaca);
    bpe_free(bpe);
    gpt_free(m);
    free(ckpt);
}
END_TEST

/* --mask-instructions changes what the loss counts: the same seeded run's
 * first losses differ (the unit tests show which targets it masks). And
 * --max-length context pads to the model's context, --trainable-blocks
 * all trains every parameter. */
START_TEST(test_new_training_options_change_the_runs) {
    char *plain, *masked, *err;
    ck_assert_int_eq(ch06(&plain, NULL, "train-instruct " TINY_INSTRUCT " --no-samples --no-responses --data %s/small.json "
                                        "--out %s/m0", dir, dir), 0);
    ck_assert_int_eq(ch06(&masked, &err, "train-instruct " TINY_INSTRUCT " --no-samples --no-responses "
                                         "--mask-instructions --data %s/small.json --out %s/m1", dir, dir), 0);
    ck_assert_msg(strstr(err, "the loss counts the responses only") != NULL, "%s", err);
    double a0, a1, b0, b1;
    first_and_last_train_loss(plain, &a0, &a1);
    first_and_last_train_loss(masked, &b0, &b1);
    ck_assert_msg(a0 != b0, "the first losses agree: %.3f", a0);
    free(plain);
    free(masked);
    free(err);
    ck_assert_int_eq(ch06(&plain, &err, "train-classifier " TINY_CLASSIFIER " --epochs 1 --max-length context "
                                        "--trainable-blocks all --data-dir %s/small --out %s/ctx", dir, dir), 0);
    ck_assert_msg(strstr(err, "padded to 128 tokens") != NULL, "%s", err);
    long trained = 0, total = -1;
    const char *at = strstr(err, " parameters train (all: the embeddings");
    ck_assert_msg(at != NULL, "%s", err);
    while (at > err && at[-1] != '\n') at--;
    ck_assert_int_eq(sscanf(at, "%ld of %ld", &trained, &total), 2);
    /* the random model of TINY_CLASSIFIER, untied: its parameters less the vocabulary head, plus the new head */
    GPTConfig cfg = gpt_config_124m();
    cfg.emb_dim = 16, cfg.n_layers = 2, cfg.n_heads = 2, cfg.context_length = 128;
    ck_assert_int_eq(trained, total);
    ck_assert_int_eq(trained, (long)(gpt_param_count(&cfg) - (size_t)cfg.vocab_size * 16 + 2 * 16 + 2));
    char *ckpt = in_dir("ctx/checkpoint.safetensors");
    Loaded l = load_classifier(ckpt);
    ck_assert_int_eq(l.max_length, 128);
    free_classifier(&l);
    free(ckpt);
    free(plain);
    free(err);
}
END_TEST

static void expect_error(int want_status, const char *want, const char *fmt, ...) {
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char *err;
    int status = ch06(NULL, &err, "%s", args);
    ck_assert_msg(status == want_status, "'%s' exited with %d, not %d (%s)", args, status, want_status, err);
    ck_assert_msg(strstr(err, want) != NULL, "'%s' said '%s', not '%s'", args, err, want);
    free(err);
}

START_TEST(test_bad_input) {
    expect_error(1, "ch06: unknown command 'frobnicate'", "frobnicate");
    expect_error(1, "ch06: --epochs: '0' is not a whole number in 1..", "train-classifier --epochs 0");
    expect_error(1, "--lr: 'abc' is not a number", "train-instruct --lr abc");
    expect_error(2, "try 'ch06 train-classifier --help'", "train-classifier --bogus");
    expect_error(1, "prepare-spam: --out is required", "prepare-spam");
    expect_error(1, "classify: --model and --text are required", "classify --text hi");
    expect_error(1, "instruct: --model and --instruction are required", "instruct --input hi");
    expect_error(1, "none/train.csv: No such file or directory",
                 "train-classifier " TINY_CLASSIFIER " --data-dir %s/none --out %s/x", dir, dir);
    expect_error(1, "more than the model's context of 8: give a smaller --max-length",
                 "train-classifier " TINY_CLASSIFIER " --context 8 --data-dir %s/small --out %s/x", dir, dir);
    expect_error(1, "use them with --model random", "train-classifier --model %s/none --emb-dim 16 --data-dir %s/small",
                 dir, dir);
    expect_error(1, "--trainable-blocks", "train-classifier --trainable-blocks x");
    expect_error(1, "--lora-rank: '-1' is not a whole number in 0..", "train-classifier --lora-rank -1");
    expect_error(1, "--lora-alpha: '0' is not a number", "train-instruct --lora-alpha 0");
    expect_error(1, "--token: 'middle' is not 'first' or 'last'", "train-classifier --token middle");
    expect_error(1, "--prompt-style: 'phi' is not 'alpaca' or 'phi3'", "train-instruct --prompt-style phi");
    expect_error(1, "--prompt-style: 'x' is not 'alpaca' or 'phi3'", "instruct --model m --instruction i --prompt-style x");
    expect_error(1, "--max-length: 'contexts' is not a whole number", "train-classifier --max-length contexts");
    expect_error(1, "exercise: no exercise '6.4' in chapters 6 and 7", "exercise 6.4");
    expect_error(1, "exercise: unexpected argument '7.2'", "exercise 7.1 7.2");
    expect_error(1, "3 trainable blocks: the model has 2", "train-classifier " TINY_CLASSIFIER
                 " --trainable-blocks 3 --data-dir %s/small --out %s/x", dir, dir);
    /* a GPT without a classification head */
    GPTConfig cfg = {.vocab_size = 50257, .context_length = 8, .emb_dim = 8, .n_heads = 2, .n_layers = 1};
    GPTModel *m = gpt_create(&cfg);
    char *plain = in_dir("plain.safetensors");
    gpt_save_checkpoint(m, plain, NULL);
    gpt_free(m);
    expect_error(1, "plain.safetensors: not a classifier", "classify --model %s --text hi", plain);
    free(plain);
    /* broken data files */
    char *bad = in_dir("bad.json");
    write_file_atomic(bad, "[{\"instruction\": ", 17);
    expect_error(1, "bad.json: not valid JSON", "train-instruct " TINY_INSTRUCT " --data %s --out %s/x", bad, dir);
    free(bad);
    /* no GPT-2 weights where the default model should be: the make target
     * that downloads them (DATA_DIR holds only the tokenizer) */
    char *data = in_dir("data"), *gpt2 = in_dir("data/gpt2");
    make_dirs(gpt2);
    char command[2048];
    snprintf(command, sizeof command, "ln -s %s/gpt2/encoder.json %s/gpt2/vocab.bpe %s/", data_dir(), data_dir(), gpt2);
    ck_assert_int_eq(system(command), 0);
    char *err;
    snprintf(command, sizeof command, "DATA_DIR=%s %s/ch06_finetune/ch06 train-classifier --data-dir %s/small --out %s/x",
             data, repo_root(), dir, dir);
    ck_assert_int_eq(run_command(command, NULL, &err), 1);
    ck_assert_msg(strstr(err, "no GPT-2 124M weights there: download them with `make gpt2-124M`") != NULL, "%s", err);
    free(err);
    free(data);
    free(gpt2);
}
END_TEST

Suite *ch06_cli_suite(void) {
    Suite *s = suite_create("ch06_cli");
    TCase *tc = tcase_create("program");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, make_run_dir, remove_run_dir);
    tcase_add_checked_fixture(tc, require_sms, NULL);
    tcase_add_checked_fixture(tc, require_instructions, NULL);
    tcase_add_checked_fixture(tc, require_gpt2_tokenizer, NULL);
    add_test(tc, test_help);
    add_test(tc, test_walkthrough_prints_the_books_numbers);
    add_test(tc, test_walkthrough_prints_the_books_python_values);
    add_test(tc, test_prepare_spam_is_reproducible);
    add_test(tc, test_train_classifier_then_classify);
    add_test(tc, test_classify_known_answers);
    add_test(tc, test_instruct_known_answers);
    add_test(tc, test_lora_runs_write_plain_models);
    add_test(tc, test_train_instruct_then_instruct);
    add_test(tc, test_exercise_prints_the_notebooks_numbers);
    add_test(tc, test_exercise_first_token_bound);
    add_test(tc, test_exercise_6_3_quick_run);
    add_test(tc, test_exercise_7_3_reads_the_alpaca_file);
    add_test(tc, test_exercise_7_1_quick_run);
    add_test(tc, test_new_training_options_change_the_runs);
    add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
