/* Tests for the ch06 program: the walkthrough's numbers, prepare-spam, a
 * tiny end-to-end run of each kind of finetuning (a random model of 16
 * channels on a handful of examples, a few steps) whose loss falls, using
 * what they wrote (classify, instruct), and bad input.
 *
 * The runs set OMP_NUM_THREADS=1: on models this small threads only add
 * synchronisation, which on a busy machine costs more than the work. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../ch04_gpt/gpt.h"
#include "../ch05_pretrain/gpt_weights.h"
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

START_TEST(test_help) {
    const char *commands[] = {"", "walkthrough ", "prepare-spam ", "train-classifier ", "classify ",
                              "train-instruct ", "instruct "};
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

START_TEST(test_walkthrough_prints_the_books_numbers) {
    char *out;
    ck_assert_int_eq(ch06(&out, NULL, "walkthrough"), 0);
    const char *want[] = {
        "ham     4825\nspam    747\n",
        "Balanced: ham 747, spam 747",
        "train 1045, validation 149, test 300",
        "130 training batches",
        "19 validation batches",
        "38 test batches",
        "Trainable: the last block 7087872 + the final norm 1536 + the head 1538 = 7090946",
        "Training set length: 935\nValidation set length: 55\nTest set length: 110\n",
        "inputs: [[0, 1, 2, 3, 4],\n         [5, 6, 50256, 50256, 50256],\n         [7, 8, 9, 50256, 50256]]",
        "targets: [[1, 2, 3, 4, 50256],\n          [6, 50256, -100, -100, -100],\n          [8, 9, 50256, -100, -100]]",
        "with targets [0, 1]: 1.1269",
        "target 1: 0.7936",
        "with that row's target -100: 1.1269",
        "Train loader: 116 batches",
        "### Input:\nOcassion\n\n### Response:\nThe correct spelling is 'Occasion.'",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(out, want[i]) != NULL, "walkthrough lacks: %s", want[i]);
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
    "--model random --emb-dim 16 --n-layers 2 --n-heads 2 --context 64 --epochs 3 --batch-size 4 "        \
    "--eval-freq 5 --eval-iter 2 --lr 5e-3"

START_TEST(test_train_classifier_then_classify) {
    char *out;
    ck_assert_int_eq(ch06(&out, NULL, "train-classifier " TINY_CLASSIFIER " --data-dir %s/small --out %s/cls", dir, dir),
                     0);
    /* 40 texts: 10 batches of 4 per epoch, 30 steps, evaluated every 5th */
    ck_assert_msg(strncmp(out, "Ep 1 (Step 000000): Train loss ", 31) == 0, "first line: %.60s", out);
    ck_assert(strstr(out, "Ep 3 (Step 000025): Train loss ") != NULL);
    ck_assert(strstr(out, "Ep 3 (Step 000030)") == NULL);
    ck_assert(strstr(out, "Training accuracy: ") != NULL && strstr(out, "% | Validation accuracy: ") != NULL);
    ck_assert(strstr(out, "\nTest accuracy: ") != NULL);
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
    /* the finetuned model classifies, the same way every time */
    char *again;
    const char *text = "You are a winner you have been specially selected to receive $1000 cash or a $2000 award.";
    ck_assert_int_eq(ch06(&out, NULL, "classify --model %s/cls/checkpoint.safetensors --text '%s'", dir, text), 0);
    ck_assert_msg(strcmp(out, "spam\n") == 0 || strcmp(out, "not spam\n") == 0, "classify printed: %s", out);
    ck_assert_int_eq(ch06(&again, NULL, "classify --model %s/cls/checkpoint.safetensors --text '%s'", dir, text), 0);
    ck_assert_str_eq(out, again);
    free(out);
    free(again);
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
    char *again;
    ck_assert_int_eq(ch06(&out, NULL, "instruct --model %s/ins/checkpoint.safetensors --instruction 'Name a color.' "
                                      "--max-new-tokens 6", dir),
                     0);
    ck_assert(strlen(out) > 0 && out[strlen(out) - 1] == '\n');
    ck_assert_int_eq(ch06(&again, NULL, "instruct --model %s/ins/checkpoint.safetensors --instruction 'Name a color.' "
                                        "--max-new-tokens 6", dir),
                     0);
    ck_assert_str_eq(out, again);
    free(out);
    free(again);
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
    ck_assert(strstr(out, "\nTest accuracy: ") != NULL);
    free(out);
    free(err);
    ck_assert_int_eq(ch06(&out, NULL, "classify --model %s/lora-cls/checkpoint.safetensors --text 'Call now to win'", dir),
                     0);
    ck_assert_msg(strcmp(out, "spam\n") == 0 || strcmp(out, "not spam\n") == 0, "classify printed: %s", out);
    free(out);

    ck_assert_int_eq(ch06(&out, &err, "train-instruct " TINY_INSTRUCT " --lora-rank 4 --lora-alpha 8 --data %s/small.json "
                                      "--out %s/lora-ins", dir, dir),
                     0);
    ck_assert_msg(strstr(err, "LoRA parameters train (rank 4, alpha 8)") != NULL, "%s", err);
    first_and_last_train_loss(out, &first, &last);
    ck_assert_msg(last < first, "the training loss went from %.3f to %.3f", first, last);
    free(out);
    free(err);
    ck_assert_int_eq(ch06(&out, NULL, "instruct --model %s/lora-ins/checkpoint.safetensors --instruction 'Name a color.' "
                                      "--max-new-tokens 4", dir),
                     0);
    ck_assert(strlen(out) > 0 && out[strlen(out) - 1] == '\n');
    free(out);
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
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_walkthrough_prints_the_books_numbers);
    tcase_add_test(tc, test_prepare_spam_is_reproducible);
    tcase_add_test(tc, test_train_classifier_then_classify);
    tcase_add_test(tc, test_lora_runs_write_plain_models);
    tcase_add_test(tc, test_train_instruct_then_instruct);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
