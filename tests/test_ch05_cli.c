/* Tests for the ch05 program: a tiny training run, its log and checkpoint,
 * resuming it, generating and scoring with the checkpoint, bad input, the
 * walkthrough's cells against ch05.ipynb and the exercises against the
 * solutions notebook.
 * The model is tiny (16 channels, 1 layer) but keeps GPT-2's vocabulary, so
 * the runs take a second or two. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/utf8.h"
#include "../ch05_pretrain/gpt_weights.h"
#include "../ch05_pretrain/sampling.h"
#include "../common/tensor_file.h"
#include "test_helpers.h"

static char *dir, *text_path, *tiny_path;

/* The first 3000 characters of The Verdict: 2700 train on 676 tokens, 42
 * windows of 16, so 21 batches of 2 per epoch. */
static void make_run_dir(void) {
    dir = make_temp_dir();
    text_path = path_join(dir, "small.txt");
    tiny_path = path_join(dir, "tiny.txt");
    if (!have_data_file("the-verdict.txt")) return;
    char *verdict = data_file("the-verdict.txt");
    char *text = read_file(verdict, NULL);
    write_file_atomic(text_path, text, 3000);
    write_file_atomic(tiny_path, text, 100);
    free(text);
    free(verdict);
}

static void remove_run_dir(void) {
    remove_tree(dir);
    free(text_path);
    free(tiny_path);
    free(dir);
}

static const char CH05[] = "ch05_pretrain/ch05";

#define TINY "--emb-dim 16 --n-layers 1 --n-heads 2 --context 16 --batch-size 2 --eval-freq 2 --eval-iter 1 --no-samples"
/* Smaller still, for tiny.txt (the first 100 characters: 22 training tokens,
 * at context 2 10 windows, so 3 batches of 3), where the runs' steps, not
 * their results, are what a test looks at. */
#define MINI "--emb-dim 2 --n-layers 1 --n-heads 1 --context 2 --batch-size 3 --eval-freq 1 --eval-iter 1 --no-samples"

static char *read_path(const char *a, const char *b) {
    char *p = path_join(a, b);
    char *text = read_file(p, NULL);
    free(p);
    return text;
}

START_TEST(test_train_writes_log_and_checkpoint) {
    char *out, *err;
    ck_assert_int_eq(run_program(&out, &err, CH05, "train --data %s " TINY " --epochs 2 --out %s/a", text_path, dir), 0);
    ck_assert_msg(strncmp(out, "Ep 1 (Step 000000): Train loss ", 31) == 0, "first line: %.60s", out);
    ck_assert(strstr(out, "Ep 2 (Step 000040): Train loss ") != NULL); /* 2 epochs x 21 batches, every 2nd step */
    char *log = read_path(dir, "a/log.csv");
    ck_assert(strncmp(log, "step,epoch,tokens_seen,train_loss,val_loss,lr\n0,", 48) == 0);
    int rows = 0;
    for (char *p = log; *p; p++) rows += *p == '\n';
    ck_assert_int_eq(rows, 1 + 21); /* header + steps 0, 2, ..., 40 */
    free(log);
    char *ckpt = path_join(dir, "a/checkpoint.safetensors");
    ck_assert(file_exists(ckpt));
    free(ckpt);
    /* no temporary file left behind */
    char *listing;
    char command[1024];
    snprintf(command, sizeof command, "ls %s/a | grep -c tmp", dir);
    run_command(command, &listing, NULL);
    ck_assert_str_eq(listing, "0\n");
    free(listing);
    free(out);
    free(err);
}
END_TEST

/* 5.4: a run resumed from a checkpoint gives the same losses as a run that
 * never stopped: same weights, AdamW moments, shuffling and dropout draws. */
START_TEST(test_resume_matches_uninterrupted_run) {
    char *out;
    ck_assert_int_eq(run_program(&out, NULL, CH05, "train --data %s " TINY " --epochs 3 --out %s/full 2>/dev/null", text_path, dir), 0);
    free(out);
    ck_assert_int_eq(run_program(&out, NULL, CH05, "train --data %s " TINY " --epochs 2 --out %s/part 2>/dev/null", text_path, dir), 0);
    free(out);
    ck_assert_int_eq(run_program(&out, NULL, CH05, "train --data %s " TINY " --epochs 3 --out %s/part --resume %s/part/checkpoint.safetensors 2>/dev/null",
                          text_path, dir, dir),
                     0);
    ck_assert_msg(strncmp(out, "Ep 3 (Step 000042)", 18) == 0, "resumed run starts with: %.40s", out);
    free(out);
    char *full = read_path(dir, "full/log.csv"), *resumed = read_path(dir, "part/log.csv");
    ck_assert_str_eq(resumed, full);
    free(full);
    free(resumed);
}
END_TEST

START_TEST(test_generate_and_loss_with_checkpoint) {
    char *out, *again;
    ck_assert_int_eq(run_program(NULL, NULL, CH05, "train --data %s " TINY " --epochs 1 --out %s/g 2>/dev/null", text_path, dir), 0);
    ck_assert_int_eq(run_program(&out, NULL, CH05, "generate --model %s/g/checkpoint.safetensors --prompt 'Every effort' --max-new-tokens 5 2>/dev/null", dir), 0);
    ck_assert_msg(strncmp(out, "Every effort", 12) == 0 && strlen(out) > 13, "generate printed: %s", out);
    ck_assert_int_eq(run_program(&again, NULL, CH05, "generate --model %s/g/checkpoint.safetensors --prompt 'Every effort' --max-new-tokens 5 2>/dev/null", dir), 0);
    ck_assert_str_eq(out, again); /* greedy: the same every time */
    free(out);
    free(again);
    ck_assert_int_eq(run_program(&out, NULL, CH05, "generate --model %s/g/checkpoint.safetensors --prompt 'Every effort' --temperature 1.5 --top-k 50 --seed 7 --max-new-tokens 8 2>/dev/null", dir), 0);
    ck_assert_int_eq(run_program(&again, NULL, CH05, "generate --model %s/g/checkpoint.safetensors --prompt 'Every effort' --temperature 1.5 --top-k 50 --seed 7 --max-new-tokens 8 2>/dev/null", dir), 0);
    ck_assert_str_eq(out, again); /* seeded sampling is reproducible */
    free(out);
    free(again);
    char *err;
    ck_assert_int_eq(run_program(&out, &err, CH05, "loss --model %s/g/checkpoint.safetensors --text-file %s --context 16", dir, text_path), 0);
    /* 5.1's loss over small.txt, recomputed here: the windows of 16 tokens
     * at stride 16 (the book's dataset: a window starts at every i < n - 16),
     * each token's -log softmax(logits)[target] in double, their mean. The
     * model's float32 logits round to ~1e-6 of the loss, which is printed to
     * 6 decimals: 1e-4. */
    char *ckpt = path_join(dir, "g/checkpoint.safetensors");
    GPTModel *m = gpt_load_checkpoint(ckpt, NULL);
    Bpe *bpe = gpt_load_tokenizer(ckpt);
    char *text = read_file(text_path, NULL);
    IntVec ids = {0};
    bpe_encode(bpe, text, strlen(text), false, &ids);
    enum { T = 16 };
    const int V = m->config.vocab_size;
    double sum = 0;
    int windows = 0;
    m->training = false;
    for (size_t i = 0; i + T < ids.len; i += T, windows++) {
        gpt_forward(m, ids.data + i, 1, T);
        for (int t = 0; t < T; t++) {
            const float *logits = m->logits + (size_t)t * V;
            double largest = logits[0], z = 0;
            for (int v = 1; v < V; v++) largest = fmax(largest, logits[v]);
            for (int v = 0; v < V; v++) z += exp(logits[v] - largest);
            sum += largest + log(z) - logits[ids.data[i + t + 1]];
        }
    }
    char want[128];
    snprintf(want, sizeof want, ": %zu tokens, %d windows of 16\n", ids.len, windows);
    ck_assert_msg(strstr(err, want) != NULL, "loss said: %s, not %s", err, want);
    ck_assert_msg(fabs(atof(out) - sum / (windows * T)) < 1e-4, "loss printed %s, the mean is %.6f", out, sum / (windows * T));
    intvec_free(&ids);
    free(text);
    bpe_free(bpe);
    gpt_free(m);
    free(ckpt);
    free(out);
    free(err);
}
END_TEST

/* 5.4: a resumed run takes its settings from the checkpoint (here context 2,
 * batch size 3 and learning rate 0.001, not the defaults 256, 2 and 0.0004);
 * a flag given with --resume overrides that one setting only. */
START_TEST(test_resume_takes_settings_from_checkpoint) {
    char *err;
    ck_assert_int_eq(run_program(NULL, NULL, CH05, "train --data %s " MINI " --lr 0.001 --epochs 1 --out %s/s 2>/dev/null", tiny_path, dir), 0);
    ck_assert_int_eq(run_program(NULL, NULL, CH05, "train --data %s " MINI " --lr 0.001 --epochs 2 --out %s/s-ref 2>/dev/null", tiny_path, dir), 0);
    /* only --epochs: the rest, the run directory included, come from the checkpoint */
    ck_assert_int_eq(run_program(NULL, &err, CH05, "train --resume %s/s/checkpoint.safetensors --epochs 2", dir), 0);
    ck_assert_msg(strstr(err, "s/checkpoint.safetensors after epoch 1 of 2: ") &&
                      strstr(err, " --batch-size 3 --context 2 --lr 0.001 ") &&
                      strstr(err, "(from the checkpoint; from the command line: --epochs)\n"),
                  "the resume line: %s", err);
    free(err);
    char *log = read_path(dir, "s/log.csv"), *ref = read_path(dir, "s-ref/log.csv");
    ck_assert_str_eq(log, ref); /* exactly the losses of a run of 2 epochs */
    free(log);
    free(ref);

    ck_assert_int_eq(run_program(NULL, &err, CH05, "train --resume %s/s/checkpoint.safetensors --epochs 3 --lr 0.0005", dir), 0);
    ck_assert_msg(strstr(err, "from the command line: --epochs, --lr)\n") && strstr(err, " --context 2 --lr 0.0005 "),
                  "the resume line: %s", err);
    free(err);
    /* the log's learning rates: 0.001 up to step 5 (epochs 1-2), 0.0005 after */
    log = read_path(dir, "s/log.csv");
    int rows = 0;
    for (char *line = strchr(log, '\n') + 1; *line; line = strchr(line, '\n') + 1, rows++) {
        long step;
        double lr;
        ck_assert(sscanf(line, "%ld,%*f,%*d,%*f,%*f,%lf", &step, &lr) == 2);
        ck_assert_msg(fabs(lr - (step <= 5 ? 1e-3 : 5e-4)) < 1e-9, "step %ld has lr %g", step, lr); /* floats' %.8g */
    }
    ck_assert_int_eq(rows, 9); /* steps 0-8 */
    free(log);
    /* the model's size is the checkpoint's: repeating it is fine, changing it is an error */
    ck_assert_int_eq(run_program(NULL, &err, CH05, "train --resume %s/s/checkpoint.safetensors --emb-dim 8", dir), 1);
    ck_assert_msg(strstr(err, "ch05: train: --emb-dim 8, but the model in ") && strstr(err, " has 2: a resumed run keeps its model\n"),
                  "%s", err);
    free(err);
}
END_TEST

/* Into a pipe, generate writes exactly the prompt and the continuation the
 * model produced (no newline of its own); on a terminal it ends the line. */
START_TEST(test_generate_writes_exact_bytes) {
    ck_assert_int_eq(run_program(NULL, NULL, CH05, "train --data %s " MINI " --epochs 1 --out %s/p 2>/dev/null", tiny_path, dir), 0);
    char *ckpt = path_join(dir, "p/checkpoint.safetensors"), *out;
    ck_assert_int_eq(run_program(&out, NULL, CH05, "generate --model %s --prompt 'I HAD always' --max-new-tokens 6 2>/dev/null", ckpt), 0);

    /* the same generation here: greedy, 6 tokens after the prompt's */
    GPTModel *m = gpt_load_checkpoint(ckpt, NULL);
    Bpe *bpe = gpt_load_tokenizer(ckpt);
    IntVec ids = {0};
    bpe_encode(bpe, "I HAD always", 12, false, &ids);
    int *seq = xmalloc((ids.len + 6) * sizeof(int));
    memcpy(seq, ids.data, ids.len * sizeof(int));
    Sampler greedy = {.temperature = 0.0f, .top_p = 1.0f, .eos_id = -1};
    int n = generate(m, seq, (int)ids.len, 6, &greedy, NULL, NULL);
    ck_assert_int_eq(n, (int)ids.len + 6);
    ByteBuf want = {0};
    ck_assert(bpe_decode(bpe, seq, n, &want, NULL));
    ck_assert_uint_eq(strlen(out), want.len);
    ck_assert_msg(memcmp(out, want.data, want.len) == 0, "generate printed '%s', the model's text is '%s'", out, want.data);

    /* on a terminal (script(1) runs it on a pseudo-terminal, which turns
     * each \n into \r\n): the same text and a final newline */
    char *tty_out;
    if (run_command("command -v script >/dev/null", NULL, NULL) == 0) {
        char command[4096];
        snprintf(command, sizeof command, "script -qec \"%s/ch05_pretrain/ch05 generate --model %s --prompt 'I HAD always' "
                 "--max-new-tokens 6 2>/dev/null\" /dev/null </dev/null", repo_root(), ckpt);
        ck_assert_int_eq(run_command(command, &tty_out, NULL), 0);
        ByteBuf on_tty = {0};
        for (size_t i = 0; i < want.len; i++) bytebuf_append(&on_tty, want.data[i] == '\n' ? "\r\n" : &want.data[i], want.data[i] == '\n' ? 2 : 1);
        bytebuf_append(&on_tty, "\r\n", 2);
        ck_assert_str_eq(tty_out, on_tty.data);
        bytebuf_free(&on_tty);
        free(tty_out);
    }
    bytebuf_free(&want);
    free(seq);
    intvec_free(&ids);
    bpe_free(bpe);
    gpt_free(m);
    free(out);
    free(ckpt);
}
END_TEST

/* The last line of err (its last '\n'-ended line). */
static const char *last_line(const char *err) {
    const char *end = err + strlen(err);
    if (end > err && end[-1] == '\n') end--;
    while (end > err && end[-1] != '\n') end--;
    return end;
}

/* Weight decay 10 at learning rate 10 flips the weights' sign and grows
 * them about 99-fold every step, until the loss is not a number. */
START_TEST(test_nan_loss_stops_the_run) {
    char *err;
    /* inside an epoch (112 steps of 3 windows of small.txt): the step's loss */
    ck_assert_int_eq(run_program(NULL, &err, CH05, "train --data %s " MINI " --epochs 1 --lr 10 --weight-decay 10 --out %s/nan", text_path, dir), 1);
    int epoch;
    long step;
    char what[8];
    const char *line = last_line(err);
    ck_assert_msg(sscanf(line, "ch05: train: loss is %3s at epoch %d step %ld (learning rate too high?)", what, &epoch, &step) == 3 &&
                      (strcmp(what, "nan") == 0 || strcmp(what, "inf") == 0) && epoch == 1 && step > 0 &&
                      strstr(line, "(learning rate too high?)\n") != NULL,
                  "the error: %s", line);
    free(err);
    char *never = path_join(dir, "nan/checkpoint.safetensors");
    ck_assert(!file_exists(never));
    free(never);

    /* One step an epoch (a batch of all 10 windows) and a checkpoint after
     * each: the update that breaks the weights is the epoch's last, so only
     * the check before saving stands between them and the checkpoint. The
     * checkpoint left is the last good one. */
    ck_assert_int_eq(run_program(NULL, &err, CH05, "train --data %s " MINI " --batch-size 10 --epochs 100 --save-every 1 --lr 10 --weight-decay 10 --out %s/nan1", tiny_path, dir), 1);
    line = last_line(err);
    const char *after = strstr(line, " after epoch ");
    ck_assert_msg(strncmp(line, "ch05: train: ", 13) == 0 && after && sscanf(after, " after epoch %d step %ld", &epoch, &step) == 2 &&
                      strstr(line, "(learning rate too high?); ") && strstr(line, "nan1/checkpoint.safetensors is left as it was\n"),
                  "the error: %s", line);
    free(err);
    char *ckpt = path_join(dir, "nan1/checkpoint.safetensors");
    SafetensorsFile *sf;
    GPTModel *m = gpt_load_checkpoint(ckpt, &sf);
    long saved;
    ck_assert(parse_long(safetensors_metadata(sf, "train.epochs_done"), 0, 100, &saved));
    ck_assert_int_eq(saved, epoch - 1);
    for (size_t i = 0; i < m->n_params; i++) ck_assert_msg(isfinite(m->params[i]), "weight %zu is %g", i, m->params[i]);
    safetensors_close(sf);
    gpt_free(m);
    free(ckpt);
}
END_TEST

START_TEST(test_bad_input) {
    char *err;
    ck_assert_int_eq(run_program(NULL, &err, CH05, "train --epochs 0"), 1);
    ck_assert(strstr(err, "ch05: --epochs: '0' is not a whole number in 1..") != NULL);
    free(err);
    ck_assert_int_eq(run_program(NULL, &err, CH05, "train --lr abc"), 1);
    ck_assert(strstr(err, "--lr: 'abc' is not a number") != NULL);
    free(err);
    ck_assert_int_eq(run_program(NULL, &err, CH05, "train --data %s " TINY " --resume %s/none.safetensors --out %s/x", text_path, dir, dir), 1);
    ck_assert(strstr(err, "none.safetensors: No such file or directory") != NULL);
    free(err);
    ck_assert_int_eq(run_program(NULL, &err, CH05, "generate --prompt hi"), 1);
    ck_assert(strstr(err, "--model and --prompt are required") != NULL);
    free(err);
    /* a directory with neither OpenAI's nor Hugging Face's files: the
     * message names it and what was looked for */
    char want[1024];
    ck_assert_int_eq(run_program(NULL, &err, CH05, "loss --model %s --text-file %s", dir, text_path), 1);
    snprintf(want, sizeof want, "ch05: %s: no model in this directory: looked for hparams.json and model.ckpt.index "
             "(OpenAI's GPT-2 release) and for config.json and model.safetensors (Hugging Face)\n", dir);
    ck_assert_str_eq(err, want);
    free(err);
    /* windows of 2000 tokens from small.txt's 2700 training characters (676 tokens) */
    ck_assert_int_eq(run_program(NULL, &err, CH05, "train --data %s " TINY " --context 2000 --out %s/x", text_path, dir), 1);
    ck_assert_str_eq(last_line(err),
                     "ch05: training data: max_length 2000 needs a text of more than 2000 tokens (it has 676)\n");
    free(err);
}
END_TEST

/* The learning rates of a CSV that `ch05 appendix-d` wrote: step,lr rows
 * from step 0, n of them. */
static void read_lrs(const char *name, float *lrs, int n) {
    char file[64];
    snprintf(file, sizeof file, "ad/%s", name);
    char *csv = read_path(dir, file);
    ck_assert_msg(strncmp(csv, "step,lr\n", 8) == 0, "%s starts: %.20s", name, csv);
    int rows = 0;
    for (char *line = csv + 8; *line; line = strchr(line, '\n') + 1, rows++) {
        long step;
        float lr;
        ck_assert(sscanf(line, "%ld,%f", &step, &lr) == 2);
        ck_assert_int_eq(step, rows);
        ck_assert(rows < n);
        lrs[rows] = lr;
    }
    ck_assert_int_eq(rows, n);
    free(csv);
}

/* Appendix D's notebook: len(train_loader) 9 (In [3]), print(warmup_steps)
 * 27 (In [5]), the 135 learning rates of D.1, D.2 and D.4 in their CSVs,
 * and the text's clipping example. The rates are compared with the book's
 * loops run in Python (adamw.bin's appendix_d.d2_lrs and appendix_d.lrs,
 * the same loop as D.4's train_model) and D.1's formula in double: the
 * warm-up is computed in float, a few roundings of 6e-8 each, and the CSV
 * keeps 9 digits, so 1e-6 relative (test_adamw's); a step off is 2e-4 of
 * the value or more. */
START_TEST(test_appendix_d) {
    char *out, *err;
    ck_assert_int_eq(run_program(&out, &err, CH05, "appendix-d --out %s/ad", dir), 0);
    ck_assert_msg(strstr(out, "len(train_loader)\n9\n") != NULL, "In [3]: %s", out);
    ck_assert_msg(strstr(out, "print(warmup_steps): 20% of len(train_loader) * n_epochs\n27\n") != NULL, "In [5]: %s",
                  out);
    ck_assert(strstr(out, "||G||_2 = 5\ntensor([[0.2000, 0.4000],\n        [0.4000, 0.8000]])\n") != NULL);
    enum { STEPS = 135, WARMUP = 27 };
    float lrs[STEPS], want[STEPS];
    read_lrs("d1_lrs.csv", lrs, STEPS);
    for (int step = 0; step < STEPS; step++)
        want[step] = (float)(step < WARMUP ? 1e-4 + step * (0.01 - 1e-4) / WARMUP : 0.01);
    assert_all_close("D.1 learning rates", lrs, want, STEPS, 1e-6f, 0);
    TensorFile fx = read_fixture("adamw.bin");
    read_lrs("d2_lrs.csv", lrs, STEPS);
    const Tensor *d2 = tensor_file_expect(&fx, "appendix_d.d2_lrs", 1, (int[]){STEPS});
    assert_all_close("D.2 learning rates", lrs, d2->data, STEPS, 1e-6f, 0);
    read_lrs("d4_lrs.csv", lrs, STEPS);
    const Tensor *d4 = tensor_file_expect(&fx, "appendix_d.lrs", 1, (int[]){STEPS});
    assert_all_close("D.4 learning rates", lrs, d4->data, STEPS, 1e-6f, 0);
    tensor_file_free(&fx);
    free(out);
    free(err);
}
END_TEST

/* D.1 in training: --no-decay keeps --lr after the warm-up, where D.2's
 * cosine would fall towards --min-lr; the warm-up count is printed. Here
 * 2 epochs of 3 batches, 3 warm-up steps (50%). */
START_TEST(test_train_no_decay) {
    char *err;
    for (int decay = 0; decay < 2; decay++) {
        ck_assert_int_eq(run_program(NULL, &err, CH05, "train --data %s " MINI " --lr 0.001 --epochs 2 --warmup-ratio 0.5 %s --out %s/nd%d",
                              tiny_path, decay ? "" : "--no-decay", dir, decay),
                         0);
        ck_assert_msg(strstr(err, "appendix D: 3 warm-up steps of 6, from 0.0001 to 0.001, then ") != NULL, "%s", err);
        free(err);
        char name[32];
        snprintf(name, sizeof name, "nd%d/log.csv", decay);
        char *log = read_path(dir, name);
        int rows = 0;
        for (char *line = strchr(log, '\n') + 1; *line; line = strchr(line, '\n') + 1, rows++) {
            long step;
            double lr;
            ck_assert(sscanf(line, "%ld,%*f,%*d,%*f,%*f,%lf", &step, &lr) == 2);
            /* the rates are floats (1e-4 and 1e-3 within 5e-8 of themselves),
             * logged to 8 digits: 1e-7 relative */
            if (step == 0) ck_assert_msg(fabs(lr - 1e-4) < 1e-11, "step 0: lr %g", lr); /* initial-lr */
            if (step >= 3 && !decay) ck_assert_msg(fabs(lr - 1e-3) < 1e-10, "step %ld: lr %.9g, not 0.001", step, lr);
            /* D.2: the cosine at 2/3 of the decay: 1e-5 + (1e-3 - 1e-5) * 0.25 */
            if (step == 5 && decay) ck_assert_msg(fabs(lr - 2.575e-4) < 1e-9, "step 5: lr %.9g", lr);
        }
        ck_assert_int_eq(rows, 6);
        free(log);
    }
}
END_TEST

/* The output of cell n equals the notebook's (want). */
static void expect_cell(const char *out, int n, const char *want) {
    char *got = cell_output(out, n);
    ck_assert_msg(strcmp(got, want) == 0, "In [%d] printed:\n%s\nthe notebook's:\n%s", n, got, want);
    free(got);
}

/* The numbers of a printed "tensor([a, b, ...])" after label (n of them). */
static void read_tensor_values(const char *text, const char *label, float *values, int n) {
    const char *p = find_text(find_text(text, label), "tensor([") + strlen("tensor([");
    for (int i = 0; i < n; i++) {
        char *end;
        values[i] = strtof(p, &end);
        ck_assert_msg(end != p, "value %d of %s is not a number: %.20s", i, label, p);
        p = end + strspn(end, ", \n");
    }
    ck_assert_msg(strncmp(p, "])", 2) == 0, "%s has more than %d values: %.20s", label, n, p);
}

/* The value of "tensor(x)" in a cell's output. */
static double cell_scalar(const char *out, int n) {
    char *c = cell_output(out, n);
    double x;
    ck_assert_msg(sscanf(c, "tensor(%lf)\n", &x) == 1, "In [%d]: %s", n, c);
    free(c);
    return x;
}

/* print_sampled_tokens' lines, "N x word" for each of the nine words: the counts sum to 1000. */
static void check_sample_counts(const char *lines, int *counts) {
    static const char *const vocab[] = {"closer", "every", "effort", "forward", "inches", "moves", "pizza", "toward", "you"};
    int total = 0;
    const char *p = lines;
    for (int i = 0; i < 9; i++) {
        char word[16];
        ck_assert_msg(sscanf(p, "%d x %15s\n", &counts[i], word) == 2 && strcmp(word, vocab[i]) == 0, "line %d: %.30s", i, p);
        total += counts[i];
        p = strchr(p, '\n') + 1;
    }
    ck_assert_int_eq(total, 1000);
}

START_TEST(test_help) {
    const char *commands[] = {"", "walkthrough ", "train ", "generate ", "loss ", "exercise ", "appendix-d "};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char *out;
        ck_assert_int_eq(run_program(&out, NULL, CH05, "%s--help", commands[i]), 0);
        ck_assert_msg(strstr(out, "usage: ch05") != NULL, "no usage for '%s--help'", commands[i]);
        free(out);
    }
}
END_TEST

/* Every cell of ch05.ipynb whose output depends neither on torch's random
 * numbers nor on OpenAI's weights, against the notebook's output; and the
 * cells whose values are ours, against how they follow from each other. */
START_TEST(test_walkthrough) {
    char *out;
    ck_assert_int_eq(run_program(&out, NULL, CH05, "walkthrough 2>/dev/null"), 0);
    /* 5.1.2: the tensors of In [4]'s source, and the shapes */
    expect_cell(out, 4, "tensor([[16833,  3626,  6100],\n        [   40,  1107,   588]])\n"
                        "tensor([[ 3626,  6100,   345],\n        [ 1107,   588, 11311]])\n");
    expect_cell(out, 5, "torch.Size([2, 3, 50257])\n");
    char *c6 = cell_output(out, 6);
    ck_assert_msg(strncmp(c6, "Token IDs:\n tensor([[[", 22) == 0 && strstr(c6, "]],\n\n        [[") &&
                      strcmp(c6 + strlen(c6) - 5, "]]])\n") == 0,
                  "In [6]: %s", c6);
    free(c6);
    char *c7 = cell_output(out, 7);
    ck_assert_msg(strncmp(c7, "Targets batch 1:  effort moves you\nOutputs batch 1: ", 52) == 0, "In [7]: %s", c7);
    free(c7);
    expect_cell(out, 12, "Logits shape: torch.Size([2, 3, 50257])\nTargets shape: torch.Size([2, 3])\n");
    expect_cell(out, 13, "Flattened logits: torch.Size([6, 50257])\nFlattened targets: torch.Size([6])\n");
    /* our model's numbers, printed to 5 significant digits or 4 decimals:
     * In [9] is the log of In [8]'s six probabilities, In [10] their mean,
     * In [11] its negative, and cross_entropy (In [14]) the same loss
     * computed from the logits; In [15] its exp */
    char *c8 = cell_output(out, 8), *c9 = cell_output(out, 9);
    float probas[6], logs[6];
    read_tensor_values(c8, "Text 1: ", probas, 3);
    read_tensor_values(c8, "Text 2: ", probas + 3, 3);
    read_tensor_values(c9, "", logs, 6);
    double mean = 0;
    for (int i = 0; i < 6; i++) {
        ck_assert_msg(fabs(log(probas[i]) - logs[i]) < 2e-4, "log(%g) = %g, not %g", probas[i], log(probas[i]), logs[i]);
        mean += logs[i] / 6;
    }
    free(c8);
    free(c9);
    double avg = cell_scalar(out, 10), neg = cell_scalar(out, 11), loss = cell_scalar(out, 14);
    ck_assert_msg(fabs(avg - mean) < 1.5e-4 && neg == -avg && fabs(loss - neg) < 1.5e-4, "In [10] %g, In [11] %g, In [14] %g", avg, neg, loss);
    ck_assert_msg(fabs(cell_scalar(out, 15) - exp(loss)) < exp(loss) * 1e-4, "In [15] is not exp(%g)", loss);

    /* 5.1.3 */
    expect_cell(out, 17, "I HAD always thought Jack Gisburn rather a cheap genius--though a good fellow enough--so it was no \n");
    expect_cell(out, 18, "it for me! The Strouds stand alone, and happen once--but there's no exterminating our kind of art.\"\n");
    expect_cell(out, 19, "Characters: 20479\nTokens: 5145\n");
    expect_cell(out, 21, ""); /* the sanity check passes: nothing printed */
    expect_cell(out, 22, "Train loader:\n"
                         "torch.Size([2, 256]) torch.Size([2, 256])\ntorch.Size([2, 256]) torch.Size([2, 256])\n"
                         "torch.Size([2, 256]) torch.Size([2, 256])\ntorch.Size([2, 256]) torch.Size([2, 256])\n"
                         "torch.Size([2, 256]) torch.Size([2, 256])\ntorch.Size([2, 256]) torch.Size([2, 256])\n"
                         "torch.Size([2, 256]) torch.Size([2, 256])\ntorch.Size([2, 256]) torch.Size([2, 256])\n"
                         "torch.Size([2, 256]) torch.Size([2, 256])\n\nValidation loader:\n"
                         "torch.Size([2, 256]) torch.Size([2, 256])\n");
    expect_cell(out, 23, "Training tokens: 4608\nValidation tokens: 512\nAll tokens: 5120\n");

    /* 5.3: the toy vocabulary */
    expect_cell(out, 30, "forward\n");
    int counts[9];
    const int cells[] = {32, 35, 36};
    for (int i = 0; i < 3; i++) {
        char *c = cell_output(out, cells[i]);
        check_sample_counts(c, counts);
        free(c);
    }
    /* In [34]'s bars: softmax(logits / T), here in double */
    static const double logits[9] = {4.51, 0.89, -1.90, 6.75, 1.63, -1.62, -1.89, 6.28, 1.79};
    char *c34 = cell_output(out, 34);
    const char *labels[] = {"Temperature = 1: ", "Temperature = 0.1: ", "Temperature = 5: "};
    const double temperatures[] = {1, 0.1, 5};
    for (int t = 0; t < 3; t++) {
        float got[9];
        read_tensor_values(c34, labels[t], got, 9);
        double z = 0;
        for (int i = 0; i < 9; i++) z += exp(logits[i] / temperatures[t]);
        for (int i = 0; i < 9; i++) {
            double want = exp(logits[i] / temperatures[t]) / z;
            /* 5 significant digits, or 4 decimals */
            ck_assert_msg(fabs(got[i] - want) <= 6e-5 * want + (t == 2 ? 5e-5 : 1e-44), "T %g, %d: %g, want %g", temperatures[t], i, got[i], want);
        }
    }
    free(c34);
    expect_cell(out, 37, "Top logits: tensor([6.7500, 6.2800, 4.5100])\nTop positions: tensor([3, 7, 0])\n");
    expect_cell(out, 38, "tensor([4.5100,   -inf,   -inf, 6.7500,   -inf,   -inf,   -inf, 6.2800,   -inf])\n");
    expect_cell(out, 39, "tensor([0.0615, 0.0000, 0.0000, 0.5775, 0.0000, 0.0000, 0.0000, 0.3610, 0.0000])\n");

    /* 5.5 */
    expect_cell(out, 50, "Settings: {'n_vocab': 50257, 'n_ctx': 1024, 'n_embd': 768, 'n_head': 12, 'n_layer': 12}\n");
    expect_cell(out, 51, "Parameter dictionary keys: dict_keys(['blocks', 'b', 'g', 'wpe', 'wte'])\n");
    expect_cell(out, 52, "Token embedding weight tensor dimensions: (50257, 768)\n");
    free(out);
}
END_TEST

/* ---- the exercises (exercise-solutions.ipynb) ---- */

START_TEST(test_exercise_5_1) {
    char *out;
    ck_assert_int_eq(run_program(&out, NULL, CH05, "exercise 5.1"), 0);
    find_text(out, "== Exercise 5.1 Temperature-scaled softmax scores and sampling probabilities ==\n");
    expect_cell(out, 4, "tensor(0.0430)\n"); /* the notebook's scaled_probas[2][6] */
    char *c2 = cell_output(out, 2);
    find_text(c2, "Temperature 5: tensor([0.1546, 0.0750, 0.0429, 0.2421, 0.0869, 0.0454, 0.0430, 0.2203, 0.0898])\n");
    free(c2);
    /* 1000 draws each: at temperature 5 "pizza" (p = 0.043, 6.4 draws' standard
     * deviation) within 3 standard deviations of 43; at 0.1, only "forward" and
     * "toward" have a chance (bincount stops at the last one drawn) */
    char *c3 = cell_output(out, 3);
    int counts[9];
    const char *t5 = find_text(c3, "\n\nTemperature: 5\n") + strlen("\n\nTemperature: 5\n");
    check_sample_counts(t5, counts);
    ck_assert_msg(abs(counts[6] - 43) <= 19, "pizza drawn %d times at temperature 5", counts[6]);
    const char *t01 = find_text(c3, "\n\nTemperature: 0.1\n0 x closer\n0 x every\n0 x effort\n");
    int forward, toward;
    ck_assert(sscanf(t01 + strlen("\n\nTemperature: 0.1\n0 x closer\n0 x every\n0 x effort\n"),
                     "%d x forward\n0 x inches\n0 x moves\n0 x pizza\n%d x toward\n\n", &forward, &toward) == 2);
    ck_assert_int_eq(forward + toward, 1000);
    free(c3);
    free(out);
}
END_TEST

/* Entropy falls with the temperature and top-k: at most log2(5) bits with top-k 5. */
START_TEST(test_exercise_5_2) {
    char *out;
    ck_assert_int_eq(run_program(&out, NULL, CH05, "exercise 5.2"), 0);
    const char *settings[] = {"temperature 0.5, top-k 5: ", "temperature 1.4, top-k 25: ", "temperature 3, top-k 0: "};
    double bits[3];
    for (int i = 0; i < 3; i++) {
        const char *p = find_text(out, settings[i]) + strlen(settings[i]);
        ck_assert(sscanf(p, "the first token's distribution has %lf bits of entropy\n", &bits[i]) == 1);
        p = strchr(p, '\n') + 1;
        for (int seed = 1; seed <= 3; seed++) {
            char want[64];
            snprintf(want, sizeof want, "  seed %d: Every effort moves you", seed);
            ck_assert_msg(strncmp(p, want, strlen(want)) == 0, "%s", p);
            p = strchr(p, '\n') + 1;
        }
    }
    ck_assert_msg(bits[0] <= log2(5) + 1e-6 && bits[0] < bits[1] && bits[1] < bits[2], "%g %g %g", bits[0], bits[1], bits[2]);
    free(out);
}
END_TEST

/* generate_text_simple, generate() at temperature 0 twice, and at top-k 1
 * with three seeds: one text. */
START_TEST(test_exercise_5_3) {
    char *out;
    ck_assert_int_eq(run_program(&out, NULL, CH05, "exercise 5.3 2>/dev/null"), 0);
    char *c7 = cell_output(out, 7), *c8 = cell_output(out, 8), *c9 = cell_output(out, 9);
    ck_assert_msg(strncmp(c7, "Output text:\n Every effort moves you", 36) == 0 && strlen(c7) > 40, "In [7]: %s", c7);
    ck_assert_str_eq(c8, c7);
    ck_assert_str_eq(c9, c7);
    find_text(out, "# In [7], [8] and [9] give the same text: yes\n"
                   "# generate(top_k=1, temperature=1.0) with the seeds 1, 2 and 3 gives it too: yes\n");
    free(c7);
    free(c8);
    free(c9);
    free(out);
}
END_TEST

/* The resumed run goes on from the checkpoint's losses, not a fresh model's. */
START_TEST(test_exercise_5_4) {
    char *out;
    ck_assert_int_eq(run_program(&out, NULL, CH05, "exercise 5.4 --out %s/ex54 2>/dev/null", dir), 0);
    find_text(out, "ch05_pretrain/ch05 train --resume runs/verdict-124M/checkpoint.safetensors --epochs 11\n");
    /* 2700 characters train: 21 batches of 2 windows of 16 an epoch, an evaluation every 5 steps */
    char *c12 = cell_output(out, 12);
    ck_assert_msg(strncmp(c12, "Ep 2 (Step 000025): Train loss ", 31) == 0, "In [12]: %s", c12);
    free(c12);
    long s0, s1, s2;
    double fresh_train, fresh_val, saved_train, saved_val, next_train, next_val;
    const char *p = find_text(out, "# losses at step ");
    ck_assert(sscanf(p, "# losses at step %ld (a fresh model): train %lf, val %lf; step %ld (the checkpoint): train %lf,\n"
                        "# val %lf; step %ld (the first evaluation after resuming): train %lf, val %lf\n",
                     &s0, &fresh_train, &fresh_val, &s1, &saved_train, &saved_val, &s2, &next_train, &next_val) == 9);
    ck_assert(s0 == 0 && s1 == 20 && s2 == 25);
    /* a fresh model is near ln(50257) = 10.8; a step of training moves the loss far less than an epoch */
    ck_assert_msg(fresh_train > 10.5 && next_train < fresh_train - 1 && fabs(next_train - saved_train) < 0.6,
                  "fresh %g, checkpoint %g, resumed %g", fresh_train, saved_train, next_train);
    find_text(out, "# the resumed run continues from the checkpoint, not from scratch: yes\n");
    free(out);
}
END_TEST

/* Without OpenAI's weights: the command that fetches them, the book's
 * numbers, and the same code on a random model (near ln(50257) = 10.8);
 * 5.6's configurations with the sizes counted from them. */
START_TEST(test_exercise_5_5_and_5_6) {
    char *out;
    ck_assert_int_eq(run_program(&out, NULL, CH05, "exercise 5.5 2>/dev/null"), 0);
    char *c18 = cell_output(out, 18);
    double train, val;
    ck_assert(sscanf(c18, "Training loss: %lf\nValidation loss: %lf\n", &train, &val) == 2);
    ck_assert_msg(fabs(train - log(50257)) < 0.5 && fabs(val - log(50257)) < 0.5, "losses %g and %g", train, val);
    free(c18);
    if (!have_data_file("gpt2/124M/model.ckpt.index")) find_text(out, "`make gpt2-124M` fetches them");
    find_text(out, "3.7547486888037787 and 3.5596182346343994");
    find_text(out, "3.3046312861972384 and 3.1195147037506104");
    free(out);

    ck_assert_int_eq(run_program(&out, NULL, CH05, "exercise 5.6 2>/dev/null"), 0);
    char *c21 = cell_output(out, 21);
    find_text(c21, "model_configs = {\n"
                   "    \"gpt2-small (124M)\": {\"emb_dim\": 768, \"n_layers\": 12, \"n_heads\": 12},\n"
                   "    \"gpt2-medium (355M)\": {\"emb_dim\": 1024, \"n_layers\": 24, \"n_heads\": 16},\n"
                   "    \"gpt2-large (774M)\": {\"emb_dim\": 1280, \"n_layers\": 36, \"n_heads\": 20},\n"
                   "    \"gpt2-xl (1558M)\": {\"emb_dim\": 1600, \"n_layers\": 48, \"n_heads\": 25},\n}\n");
    free(c21);
    find_text(out, "# parameters: 124439808, 354823168, 774030080 and 1557611200\n");
    if (!have_data_file("gpt2/1558M/model.ckpt.index")) find_text(out, "`make gpt2-1558M` fetches GPT-2 XL");
    char *c23 = cell_output(out, 23);
    ck_assert_msg(strncmp(c23, "Output text:\n Every effort moves you", 36) == 0, "In [23]: %s", c23);
    free(c23);
    free(out);
}
END_TEST

START_TEST(test_exercise_bad_input) {
    char *err;
    ck_assert_int_eq(run_program(NULL, &err, CH05, "exercise 5.7"), 1);
    ck_assert_str_eq(err, "ch05: exercise: no exercise '5.7' in chapter 5 (there are 5.1 to 5.6)\n");
    free(err);
    ck_assert_int_eq(run_program(NULL, &err, CH05, "exercise 5.1 --model x"), 1);
    ck_assert_str_eq(err, "ch05: exercise 5.1 takes no --model (5.2, 5.3 and 5.5 do)\n");
    free(err);
    ck_assert_int_eq(run_program(NULL, &err, CH05, "exercise 5.5 --out x"), 1);
    ck_assert_str_eq(err, "ch05: exercise 5.5 takes no --out (5.4 does)\n");
    free(err);
}
END_TEST

Suite *ch05_cli_suite(void) {
    Suite *s = suite_create("ch05_cli");
    TCase *tc = tcase_create("program");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, make_run_dir, remove_run_dir);
    tcase_add_checked_fixture(tc, require_verdict, NULL);
    tcase_add_checked_fixture(tc, require_gpt2_tokenizer, NULL);
    add_test(tc, test_train_writes_log_and_checkpoint);
    add_test(tc, test_resume_matches_uninterrupted_run);
    add_test(tc, test_generate_and_loss_with_checkpoint);
    add_test(tc, test_resume_takes_settings_from_checkpoint);
    add_test(tc, test_generate_writes_exact_bytes);
    add_test(tc, test_nan_loss_stops_the_run);
    add_test(tc, test_bad_input);
    add_test(tc, test_appendix_d);
    add_test(tc, test_train_no_decay);
    add_test(tc, test_help);
    add_test(tc, test_walkthrough);
    add_test(tc, test_exercise_5_1);
    add_test(tc, test_exercise_5_2);
    add_test(tc, test_exercise_5_3);
    add_test(tc, test_exercise_5_4);
    add_test(tc, test_exercise_5_5_and_5_6);
    add_test(tc, test_exercise_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
