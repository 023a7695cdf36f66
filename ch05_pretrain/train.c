/* train.c: see train.h. */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ch04_gpt/generate.h"
#include "loss.h"

/* ---- 5.1 Evaluating generative text models ------------------------------------ */

size_t split_by_characters(const char *text, size_t len, double ratio, size_t *train_chars) {
    size_t n_chars = 0;
    for (size_t i = 0; i < len; i++) n_chars += ((unsigned char)text[i] & 0xC0) != 0x80;
    size_t want = (size_t)(ratio * (double)n_chars), seen = 0, i = 0;
    for (; i < len; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80) {
            if (seen == want) break;
            seen++;
        }
    }
    if (train_chars) *train_chars = want;
    return i;
}

float calc_loss_batch(GPTModel *m, const int *inputs, const int *targets, int B, int T, bool backward) {
    gpt_forward(m, inputs, B, T);
    const int N = B * T, V = m->config.vocab_size;
    /* the softmax overwrites the logits: the backward pass needs only it */
    float loss = cross_entropy_forward(NULL, m->logits, m->logits, targets, N, V);
    if (backward) {
        cross_entropy_backward(m->logits, m->logits, targets, N, V);
        gpt_backward(m, m->logits);
    }
    return loss;
}

static float gpt_loss_batch(void *m, const Batch *batch, bool backward) {
    return calc_loss_batch(m, batch->inputs, batch->targets, batch->B, batch->T, backward);
}

Model gpt_model(GPTModel *m) { return (Model){.gpt = m, .loss_batch = gpt_loss_batch, .self = m}; }

double calc_loss_loader(const Model *model, BatchLoader *loader, int num_batches) {
    if (num_batches <= 0 || num_batches > loader->n_batches) num_batches = loader->n_batches;
    loader->reset(loader->self);
    double total_loss = 0.0;
    Batch batch;
    for (int i = 0; i < num_batches && loader->next(loader->self, &batch); i++)
        total_loss += model->loss_batch(model->self, &batch, false);
    return total_loss / num_batches;
}

/* ---- a loader's first batches ------------------------------------------------------ */

static void first_batches_reset(void *self) {
    FirstBatches *fb = self;
    fb->taken = 0;
    fb->inner->reset(fb->inner->self);
}

static bool first_batches_next(void *self, Batch *batch) {
    FirstBatches *fb = self;
    if (fb->taken >= fb->max_batches || !fb->inner->next(fb->inner->self, batch)) return false;
    fb->taken++;
    return true;
}

BatchLoader first_batches(FirstBatches *fb, BatchLoader *inner, int max_batches) {
    *fb = (FirstBatches){.inner = inner, .max_batches = max_batches};
    return (BatchLoader){.n_batches = max_batches < inner->n_batches ? max_batches : inner->n_batches,
                         .reset = first_batches_reset,
                         .next = first_batches_next,
                         .self = fb};
}

/* ---- 5.2 Training an LLM ---------------------------------------------------------- */

void evaluate_model(const Model *model, BatchLoader *train_loader, BatchLoader *val_loader, int eval_iter,
                    float *train_loss, float *val_loss) {
    model->gpt->training = false; /* model.eval(): no dropout */
    *train_loss = calc_loss_loader(model, train_loader, eval_iter);
    *val_loss = calc_loss_loader(model, val_loader, eval_iter);
    model->gpt->training = true; /* model.train() */
}

void generate_and_print_sample(GPTModel *model, Bpe *tokenizer, const char *start_context) {
    model->training = false;
    IntVec encoded = {0};
    bpe_encode(tokenizer, start_context, strlen(start_context), false, &encoded);
    const int max_new_tokens = 50;
    int *token_ids = xmalloc((encoded.len + max_new_tokens) * sizeof(int));
    memcpy(token_ids, encoded.data, encoded.len * sizeof(int));
    int n = generate_greedy(model, token_ids, (int)encoded.len, max_new_tokens, true, NULL, NULL);
    ByteBuf decoded = {0};
    if (!bpe_decode(tokenizer, token_ids, (size_t)n, &decoded, NULL))
        fatal("the model produced an id outside the tokenizer's vocabulary");
    for (size_t i = 0; i < decoded.len; i++)
        if (decoded.data[i] == '\n') decoded.data[i] = ' '; /* the book prints it on one line */
    if (decoded.len) fwrite(decoded.data, 1, decoded.len, stdout);
    putchar('\n');
    fflush(stdout);
    bytebuf_free(&decoded);
    free(token_ids);
    intvec_free(&encoded);
    model->training = true;
}

float train_step(const Model *model, Optimizer *optimizer, const Batch *batch) {
    /* BEGIN EXERCISE 5b: training loop (book 5.2) */
    optimizer->zero_grad(optimizer->params);
    float loss = model->loss_batch(model->self, batch, true); /* calc_loss_batch and loss.backward() */
    optimizer->step(optimizer->params, &optimizer->config);
    return loss;
    /* END EXERCISE 5b */
}

void check_loss(float loss, int epoch, long step) {
    if (!isfinite(loss))
        fatal("train: loss is %s at epoch %d step %ld (learning rate too high?)", isnan(loss) ? "nan" : "inf", epoch,
              step);
}

void record_losses(TrainRun *run, int epoch, float train_loss, float val_loss, float lr) {
    progress_clear(&run->progress);
    printf("Ep %d (Step %06ld): Train loss %.3f, Val loss %.3f", epoch, run->global_step, train_loss, val_loss);
    if (run->perplexity) printf(", Val perplexity %.1f", exp(val_loss));
    putchar('\n');
    fflush(stdout);
    if (!run->log) return;
    double epochs = (double)(run->global_step + 1) / run->steps_per_epoch;
    fprintf(run->log, "%ld,%.4f,%ld,%.6f,%.6f,%.8g\n", run->global_step, epochs, run->seen, train_loss, val_loss, lr);
    fflush(run->log);
}

void evaluate_if_due(const Model *model, BatchLoader *train_eval_loader, BatchLoader *val_loader, int eval_freq,
                     int eval_iter, int epoch, float lr, TrainRun *run) {
    if (run->global_step % eval_freq != 0) return;
    float train_loss, val_loss;
    evaluate_model(model, train_eval_loader, val_loader, eval_iter, &train_loss, &val_loss);
    record_losses(run, epoch, train_loss, val_loss, lr);
}

void train_run_begin(TrainRun *run, const BatchLoader *train_loader, int num_epochs) {
    run->steps_per_epoch = train_loader->n_batches;
    run->stopped = false;
    long total = run->max_steps > 0 ? run->max_steps : run->steps_per_epoch * num_epochs;
    progress_start(&run->progress, "train", "steps", total);
    if (run->tokens_per_step > 0) progress_rate_in(&run->progress, "tokens", (double)run->tokens_per_step);
    progress_update(&run->progress, run->global_step + 1);
}

bool train_run_should_stop(TrainRun *run) {
    if (run->after_step && run->after_step(run->user, run)) run->stopped = true;
    if (run->max_steps > 0 && run->global_step + 1 >= run->max_steps) run->stopped = true;
    return run->stopped;
}

void train_model_simple(const Model *model, BatchLoader *train_loader, BatchLoader *train_eval_loader,
                        BatchLoader *val_loader, Optimizer *optimizer, int num_epochs, int eval_freq, int eval_iter,
                        const char *start_context, Bpe *tokenizer, TrainRun *run) {
    /* BEGIN EXERCISE 5b: training loop (book 5.2) */
    train_run_begin(run, train_loader, num_epochs);
    for (int epoch = run->epochs_done; epoch < num_epochs; epoch++) {
        model->gpt->training = true; /* model.train() */
        Batch batch = {0};
        train_loader->reset(train_loader->self);
        while (train_loader->next(train_loader->self, &batch)) {
            float loss = train_step(model, optimizer, &batch);
            check_loss(loss, epoch + 1, run->global_step + 1);
            progress_note(&run->progress, "loss %.3f", loss);
            run->seen += (long)batch.B * batch.T; /* tokens_seen += input_batch.numel() */
            run->global_step++;
            progress_update(&run->progress, run->global_step + 1);
            evaluate_if_due(model, train_eval_loader, val_loader, eval_freq, eval_iter, epoch + 1, optimizer->config.lr,
                            run);
            if (train_run_should_stop(run)) break;
        }
        if (run->stopped) break; /* mid-epoch: no sample, the epoch is not done */
        if (start_context) {
            progress_clear(&run->progress);
            generate_and_print_sample(model->gpt, tokenizer, start_context);
        }
        run->epochs_done = epoch + 1;
        if (run->after_epoch) run->after_epoch(run->user, run, &batch);
    }
    progress_finish(&run->progress);
    /* END EXERCISE 5b */
}

/* ---- Appendix D: Adding bells and whistles to the training loop ------------------- */

void train_model(const Model *model, BatchLoader *train_loader, BatchLoader *train_eval_loader,
                 BatchLoader *val_loader, Optimizer *optimizer, int n_epochs, int eval_freq, int eval_iter,
                 const char *start_context, Bpe *tokenizer, long warmup_steps, float initial_lr, float min_lr,
                 float max_norm, TrainRun *run) {
    const LrSchedule schedule = {.initial_lr = initial_lr,
                                 .peak_lr = optimizer->config.lr,
                                 .min_lr = min_lr,
                                 .warmup_steps = warmup_steps,
                                 .total_steps = run->max_steps > 0 ? run->max_steps
                                                                   : (long)train_loader->n_batches * n_epochs};
    train_run_begin(run, train_loader, n_epochs);
    for (int epoch = run->epochs_done; epoch < n_epochs; epoch++) {
        model->gpt->training = true;
        Batch batch = {0};
        train_loader->reset(train_loader->self);
        while (train_loader->next(train_loader->self, &batch)) {
            optimizer->zero_grad(optimizer->params);
            run->global_step++;
            optimizer->config.lr = lr_at_step(&schedule, run->global_step); /* warm-up, then cosine decay */
            float loss = model->loss_batch(model->self, &batch, true);
            check_loss(loss, epoch + 1, run->global_step);
            progress_note(&run->progress, "loss %.3f", loss);
            if (max_norm > 0 && run->global_step >= warmup_steps)
                clip_grad_norm(model->gpt->grads, model->gpt->n_params, max_norm);
            optimizer->step(optimizer->params, &optimizer->config);
            run->seen += (long)batch.B * batch.T;
            progress_update(&run->progress, run->global_step + 1);
            evaluate_if_due(model, train_eval_loader, val_loader, eval_freq, eval_iter, epoch + 1, optimizer->config.lr,
                            run);
            if (train_run_should_stop(run)) break;
        }
        if (run->stopped) break; /* mid-epoch: no sample, the epoch is not done */
        if (start_context) {
            progress_clear(&run->progress);
            generate_and_print_sample(model->gpt, tokenizer, start_context);
        }
        run->epochs_done = epoch + 1;
        if (run->after_epoch) run->after_epoch(run->user, run, &batch);
    }
    progress_finish(&run->progress);
}

/* ---- the losses' log and its plot ---------------------------------------------------- */

FILE *csv_log_open(const char *path, const char *header, long keep_through_step) {
    ByteBuf kept = {0};
    bytebuf_append(&kept, header, strlen(header));
    if (keep_through_step >= 0 && file_exists(path)) {
        char *old = read_file(path, NULL);
        /* whole lines only: a row cut short by a crash has no newline yet */
        for (char *line = old, *end; (end = strchr(line, '\n')) != NULL; line = end + 1) {
            *end = '\0';
            long step;
            char *comma = strchr(line, ',');
            if (!comma) continue;
            *comma = '\0';
            bool keep = parse_long(line, 0, 0x7fffffffffffL, &step) && step <= keep_through_step;
            *comma = ',';
            if (keep) {
                bytebuf_append(&kept, line, strlen(line));
                bytebuf_append(&kept, "\n", 1);
            }
        }
        free(old);
    }
    write_file_atomic(path, kept.data, kept.len); /* then the rows are appended */
    bytebuf_free(&kept);
    return xfopen(path, "a");
}

void csv_log_close(FILE *log, const char *path) {
    if (fclose(log) != 0) fatal("%s: write failed", path);
}

FILE *loss_log_open(const char *path, const char *seen_column, long keep_through_step) {
    char header[128];
    snprintf(header, sizeof header, "step,epoch,%s,train_loss,val_loss,lr\n", seen_column);
    return csv_log_open(path, header, keep_through_step);
}

void plot_csv(const char *script, const char *csv, const char *png, const char *vars) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "gnuplot is not installed: no plot (apt-get install gnuplot-nox, then `make plot`)\n");
        return;
    }
    char *dir = path_join(checkout_root(), "plots");
    char *gp = path_join(dir, script);
    const char *sep = vars ? "; " : "";
    if (!vars) vars = "";
    size_t n = 2 * (strlen(gp) + strlen(csv) + strlen(vars)) + strlen(png) + 160;
    char *command = xmalloc(n);
    /* the PNG, then the same plot in the terminal */
    snprintf(command, n, "gnuplot -e \"csv='%s'; out='%s'%s%s\" '%s' && gnuplot -e \"csv='%s'; out='-'%s%s\" '%s' >&2",
             csv, png, sep, vars, gp, csv, sep, vars, gp);
    if (system(command) == 0) fprintf(stderr, "wrote %s\n", png);
    else fprintf(stderr, "gnuplot failed: no plot\n");
    free(command);
    free(gp);
    free(dir);
}
