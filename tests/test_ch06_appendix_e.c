/* Tests for `ch06 appendix-e` (ch06_finetune/appendix_e.c): every value the
 * walkthrough prints that does not depend on torch's random generator or
 * OpenAI's weights, against the book's notebook (appendix-E.ipynb): the
 * shapes and batch counts of the real data, the trainable parameter counts
 * of GPT-2 small, print(model) after replace_linear_with_lora, the
 * accuracy left unchanged by the adapters; and the stand-in model's counts
 * against its configuration, the quick run's form, bad input.
 *
 * The walkthrough runs once, with --model random (the small stand-in model
 * it runs without OpenAI's weights, which would take minutes) and
 * OMP_NUM_THREADS=1 (the model is tiny: threads only add synchronisation),
 * in the test case's unchecked fixture; the tests read its output. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../ch04_gpt/config.h"
#include "../ch04_gpt/gpt.h"
#include "../ch06_finetune/lora.h"
#include "test_helpers.h"

static char *out, *err;
static int status = -1;

static void run_walkthrough(void) {
    if (!have_data_file("sms_spam/SMSSpamCollection") || !have_data_file("gpt2/encoder.json") ||
        !have_data_file("gpt2/vocab.bpe"))
        return;
    char command[1024];
    snprintf(command, sizeof command, "OMP_NUM_THREADS=1 %s/ch06_finetune/ch06 appendix-e --model random", repo_root());
    status = run_command(command, &out, &err);
}

static void free_walkthrough(void) {
    free(out);
    free(err);
}

/* "812,786" (Python's f"{n:,}") at s -> 812786 */
static size_t with_commas_at(const char *s) {
    size_t n = 0;
    bool any = false;
    for (; (*s >= '0' && *s <= '9') || (any && *s == ','); s++)
        if (*s != ',') n = n * 10 + (size_t)(*s - '0'), any = true;
    ck_assert_msg(any, "no number at '%.20s'", s);
    return n;
}

static void expect_cell(int number, const char *want) {
    char *got = cell_output(out, number);
    ck_assert_msg(strcmp(got, want) == 0, "In [%d] printed\n%s\nnot\n%s", number, got, want);
    free(got);
}

START_TEST(test_runs_every_cell_in_order) {
    ck_assert_msg(status == 0, "appendix-e exited with %d: %s", status, err ? err : "");
    /* the notebook's section headings (E.1-E.4; it has no E.5) and cells, in order */
    const char *banners[4] = {"== E.1 Introduction to LoRA ==", "== E.2 Preparing the dataset ==",
                              "== E.3 Initializing the model ==", "== E.4 Parameter-efficient finetuning with LoRA =="};
    const char *at = out;
    for (int i = 0; i < 4; i++) at = find_text(at, banners[i]);
    at = out;
    for (int n = 2; n <= 21; n++) {
        if (n == 20) continue; /* the loss figure */
        char marker[16];
        snprintf(marker, sizeof marker, "\nIn [%d]: ", n);
        at = find_text(at, marker);
    }
    ck_assert_ptr_null(strstr(out, "In [20]: "));
}
END_TEST

/* E.2 on the real data: the book's split, so the book's shapes and counts */
START_TEST(test_data_cells_match_the_book) {
    ck_assert_int_eq(status, 0);
    expect_cell(2, "train_df: 1045 rows, validation_df: 149 rows, test_df: 300 rows\n");
    expect_cell(3, "train_dataset.max_length: 120\n");
    expect_cell(5, "Train loader:\nInput batch dimensions: torch.Size([8, 120])\n"
                   "Label batch dimensions torch.Size([8])\n");
    expect_cell(6, "130 training batches\n19 validation batches\n38 test batches\n");
}
END_TEST

/* In [15]-[16]: GPT-2 small's numbers, from its configuration and the
 * adapters' layout; the stand-in's, from the model itself (classifier_trainable),
 * equal what its configuration gives. */
START_TEST(test_parameter_counts_match_the_book) {
    ck_assert_int_eq(status, 0);
    expect_cell(15, "Total trainable parameters before: 124,441,346\nTotal trainable parameters after: 0\n");
    expect_cell(16, "Total trainable LoRA parameters: 2,666,528\n");
    char *text = cell_text(out, 16);
    find_text(text, "# 46.7 times fewer than before");
    free(text);

    GPTConfig c;
    ck_assert(gpt_config_preset("gpt2-small", &c));
    const char *line = find_text(out, "\nstand-in: ");
    ck_assert_int_eq(sscanf(line, "\nstand-in: %d layers, emb_dim %d, %d heads, context %d", &c.n_layers, &c.emb_dim,
                            &c.n_heads, &c.context_length),
                     4);
    const char *tag = "# the stand-in: ";
    text = cell_text(out, 15);
    const size_t before = with_commas_at(find_text(text, tag) + strlen(tag));
    free(text);
    text = cell_text(out, 16);
    const size_t lora = with_commas_at(find_text(text, tag) + strlen(tag));
    free(text);
    /* the GPT without its vocabulary head (tied), plus the (2, C) head and its bias */
    ck_assert_uint_eq(before, gpt_param_count(&c) + 2 * (size_t)c.emb_dim + 2);
    ck_assert_uint_eq(lora, lora_param_count(&c, 16, 2));
}
END_TEST

/* The notebook's print(model) after replace_linear_with_lora: its first
 * block is (0); the other eleven differ only in their number. */
static const char *const header = "GPTModel(\n"
                                  "  (tok_emb): Embedding(50257, 768)\n"
                                  "  (pos_emb): Embedding(1024, 768)\n"
                                  "  (drop_emb): Dropout(p=0.0, inplace=False)\n"
                                  "  (trf_blocks): Sequential(\n";
static const char *const block = "    (%d): TransformerBlock(\n"
                                 "      (att): MultiHeadAttention(\n"
                                 "        (W_query): LinearWithLoRA(\n"
                                 "          (linear): Linear(in_features=768, out_features=768, bias=True)\n"
                                 "          (lora): LoRALayer()\n"
                                 "        )\n"
                                 "        (W_key): LinearWithLoRA(\n"
                                 "          (linear): Linear(in_features=768, out_features=768, bias=True)\n"
                                 "          (lora): LoRALayer()\n"
                                 "        )\n"
                                 "        (W_value): LinearWithLoRA(\n"
                                 "          (linear): Linear(in_features=768, out_features=768, bias=True)\n"
                                 "          (lora): LoRALayer()\n"
                                 "        )\n"
                                 "        (out_proj): LinearWithLoRA(\n"
                                 "          (linear): Linear(in_features=768, out_features=768, bias=True)\n"
                                 "          (lora): LoRALayer()\n"
                                 "        )\n"
                                 "        (dropout): Dropout(p=0.0, inplace=False)\n"
                                 "      )\n"
                                 "      (ff): FeedForward(\n"
                                 "        (layers): Sequential(\n"
                                 "          (0): LinearWithLoRA(\n"
                                 "            (linear): Linear(in_features=768, out_features=3072, bias=True)\n"
                                 "            (lora): LoRALayer()\n"
                                 "          )\n"
                                 "          (1): GELU()\n"
                                 "          (2): LinearWithLoRA(\n"
                                 "            (linear): Linear(in_features=3072, out_features=768, bias=True)\n"
                                 "            (lora): LoRALayer()\n"
                                 "          )\n"
                                 "        )\n"
                                 "      )\n"
                                 "      (norm1): LayerNorm()\n"
                                 "      (norm2): LayerNorm()\n"
                                 "      (drop_resid): Dropout(p=0.0, inplace=False)\n"
                                 "    )\n";
static const char *const tail = "  )\n"
                                "  (final_norm): LayerNorm()\n"
                                "  (out_head): LinearWithLoRA(\n"
                                "    (linear): Linear(in_features=768, out_features=2, bias=True)\n"
                                "    (lora): LoRALayer()\n"
                                "  )\n"
                                ")\n";

START_TEST(test_printed_model_matches_the_book) {
    ck_assert_int_eq(status, 0);
    size_t cap = strlen(header) + 12 * (strlen(block) + 8) + strlen(tail) + 1, len = 0;
    char *want = malloc(cap);
    len += (size_t)snprintf(want + len, cap - len, "%s", header);
    for (int b = 0; b < 12; b++) len += (size_t)snprintf(want + len, cap - len, block, b);
    snprintf(want + len, cap - len, "%s", tail);
    expect_cell(17, want);
    free(want);
}
END_TEST

/* In [18]: B starts at zero, so the adapters change nothing: the
 * accuracies of In [11] again, and not a logit moved. Over 10 batches of 8
 * each accuracy is a multiple of 1/80 (1.25%). */
START_TEST(test_adapters_leave_the_outputs_unchanged) {
    ck_assert_int_eq(status, 0);
    char *first = cell_output(out, 11), *again = cell_output(out, 18);
    ck_assert_str_eq(first, again);
    const char *labels[3] = {"Training accuracy: ", "Validation accuracy: ", "Test accuracy: "};
    for (int i = 0; i < 3; i++) {
        double pct;
        ck_assert_int_eq(sscanf(find_text(first, labels[i]) + strlen(labels[i]), "%lf", &pct), 1);
        ck_assert(pct >= 0 && pct <= 100);
        const double in_80ths = pct / 1.25;
        ck_assert_msg(fabs(in_80ths - round(in_80ths)) < 1e-6, "%s%.2f%% is not a count out of 80", labels[i], pct);
    }
    free(first);
    free(again);
    char *text = cell_text(out, 18);
    find_text(text, "# the same as In [11]: B = 0, so x A B = 0; the last validation batch's logits changed by at "
                    "most 0\n");
    free(text);
}
END_TEST

/* In [19]: the quick run, 2 epochs of 5 batches: evaluations at steps 0 and
 * 5, an accuracy line per epoch, and B no longer zero. In [21]: three
 * accuracies. */
START_TEST(test_quick_run_trains_the_adapters) {
    ck_assert_int_eq(status, 0);
    char *run = cell_output(out, 19);
    ck_assert_msg(strncmp(run, "Ep 1 (Step 000000): Train loss ", 31) == 0, "%s", run);
    find_text(run, "\nEp 2 (Step 000005): Train loss ");
    ck_assert_ptr_null(strstr(run, "(Step 000010)"));
    const char *at = run;
    for (int epoch = 0; epoch < 2; epoch++) at = find_text(at, "Training accuracy: ") + 1;
    ck_assert_ptr_null(strstr(at, "Training accuracy: "));
    find_text(run, "Training completed in ");
    free(run);
    char *text = cell_text(out, 19);
    double largest_b;
    ck_assert_int_eq(sscanf(find_text(text, "largest |B| now "), "largest |B| now %lf", &largest_b), 1);
    ck_assert(largest_b > 0);
    free(text);
    char *final = cell_output(out, 21);
    find_text(final, "Training accuracy: ");
    find_text(final, "\nValidation accuracy: ");
    find_text(final, "\nTest accuracy: ");
    free(final);
}
END_TEST

START_TEST(test_help_and_bad_input) {
    char *o, *e;
    ck_assert_int_eq(run_program(&o, &e, "ch06_finetune/ch06", "appendix-e --help"), 0);
    find_text(o, "usage: ch06 appendix-e [--model MODEL] [--seed N] [--full]");
    free(o);
    free(e);
    ck_assert_int_ne(run_program(&o, &e, "ch06_finetune/ch06", "appendix-e --seed -1"), 0);
    find_text(e, "--seed");
    free(o);
    free(e);
    ck_assert_int_ne(run_program(&o, &e, "ch06_finetune/ch06", "appendix-e extra"), 0);
    ck_assert_str_eq(o, "");
    free(o);
    free(e);
    ck_assert_int_ne(run_program(&o, &e, "ch06_finetune/ch06", "appendix-e --model /nonexistent/model"), 0);
    find_text(e, "/nonexistent/model");
    free(o);
    free(e);
}
END_TEST

Suite *ch06_appendix_e_suite(void) {
    Suite *s = suite_create("ch06_appendix_e");
    TCase *tc = tcase_create("walkthrough");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, run_walkthrough, free_walkthrough);
    tcase_add_checked_fixture(tc, require_sms, NULL);
    tcase_add_checked_fixture(tc, require_gpt2_tokenizer, NULL);
    add_test(tc, test_runs_every_cell_in_order);
    add_test(tc, test_data_cells_match_the_book);
    add_test(tc, test_parameter_counts_match_the_book);
    add_test(tc, test_printed_model_matches_the_book);
    add_test(tc, test_adapters_leave_the_outputs_unchanged);
    add_test(tc, test_quick_run_trains_the_adapters);
    add_test(tc, test_help_and_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
