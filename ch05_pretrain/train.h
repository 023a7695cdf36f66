/* train.h: chapter 5's training functions, in the book's order: the loss
 * over a batch and over a loader (5.1), the training loop
 * train_model_simple with evaluate_model and generate_and_print_sample
 * (5.2), and appendix D's train_model (warm-up, cosine decay, gradient
 * clipping). Chapter 6 trains with them too, as the book's chapters 6 and 7
 * import chapter 5's code. The run of `ch05 train` around them (its data,
 * settings and checkpoints) is pretrain.h.
 *
 * The book's loops take a model, data loaders and an optimizer, Python
 * objects that each chapter makes its own. Here they are three small
 * structs of function pointers, Model, BatchLoader and Optimizer: chapter 5
 * fills them with the GPT, chapter 2's token windows and AdamW; chapter 6
 * with its classifier, its labelled texts and collated instructions, and
 * AdamW over the parameters that train. */
#ifndef CH05_TRAIN_H
#define CH05_TRAIN_H

#include <stdbool.h>
#include <stdio.h>

#include "../ch02_text/bpe.h"
#include "../ch04_gpt/gpt.h"
#include "../common/util.h"
#include "adamw.h"

/* ---- what the loops work with ---------------------------------------------- */

/* One batch: inputs (B,T) token ids and their targets, the next tokens
 * (B,T) in chapters 5 and 7, class labels (B) in chapter 6. */
typedef struct {
    int B, T;
    const int *inputs, *targets;
} Batch;

/* A data loader as the book's loops use one: `for input_batch,
 * target_batch in loader` and len(loader). */
typedef struct {
    int n_batches;                          /* per epoch */
    void (*reset)(void *self);              /* start an epoch (a shuffling loader reshuffles) */
    bool (*next)(void *self, Batch *batch); /* the next batch (in the loader's buffers); at the
                                               end of the epoch false, batch as it was */
    void *self;                             /* the loader itself */
} BatchLoader;

/* The model as the loops use it: its loss on a batch (the book's
 * calc_loss_batch; with backward, loss.backward() too: the gradients
 * accumulate) and its mode, the GPT's training flag (model.train():
 * dropout on; model.eval(): off). */
typedef struct {
    GPTModel *gpt;
    float (*loss_batch)(void *self, const Batch *batch, bool backward);
    void *self; /* what loss_batch computes with: the GPT (gpt_model), chapter 6's classifier */
} Model;

/* The optimizer as the loops use it: the book's torch.optim.AdamW,
 * optimizer.zero_grad() and optimizer.step(), over whatever parameters it
 * was given. */
typedef struct {
    AdamWConfig config; /* lr, weight decay, betas, eps (appendix D sets lr before each step) */
    void (*zero_grad)(void *params);
    void (*step)(void *params, const AdamWConfig *config);
    void *params; /* the parameters, their gradients and AdamW's moments */
} Optimizer;

/* Where a run stands, and what it keeps: the book's loops count their
 * steps and tokens in local variables and append the losses to lists; a
 * run here can be resumed, so they live here, and each evaluation's losses
 * go to a CSV log (loss_log_open) instead of lists. */
typedef struct TrainRun {
    int epochs_done;  /* 0 for a fresh run; a checkpoint's to resume one */
    long global_step; /* the last step taken: -1 before the first (a fresh run: {.global_step = -1}) */
    long seen;        /* tokens_seen (chapter 6's classifier: examples_seen) */
    FILE *log;        /* each evaluation's row, or NULL */
    /* called after each epoch (after its sample) with the epoch's last
     * batch, still in the training loader's buffers (B 0: none); may be
     * NULL. Chapter 5 saves its checkpoint here. */
    void (*after_epoch)(void *user, const struct TrainRun *run, const Batch *last_batch);
    /* called after each step; true ends the run there, mid-epoch. May be
     * NULL. A run from shards saves its checkpoints here, and stops on
     * SIGINT or SIGTERM. */
    bool (*after_step)(void *user, const struct TrainRun *run);
    void *user;
    long max_steps;  /* > 0: the run ends after this many steps in all (a run from shards) */
    long tokens_per_step; /* > 0: the progress bar shows tokens/s */
    bool perplexity; /* each evaluation's line shows the validation perplexity too */
    bool stopped;    /* the loops set it when after_step or max_steps ended the run */
    long steps_per_epoch; /* the loops set these two */
    Progress progress;
} TrainRun;

/* ---- 5.1 Evaluating generative text models ------------------------------------ */

/* 5.1.2: split text by characters (code points, as Python's len(text)):
 * the first int(ratio * characters) go to training. Returns the byte offset
 * of the split. */
size_t split_by_characters(const char *text, size_t len, double ratio, size_t *train_chars);

/* 5.1.3: the mean cross-entropy of one batch (inputs, targets (B,T)). When
 * backward is set it also accumulates the gradients into m->grads. */
float calc_loss_batch(GPTModel *m, const int *inputs, const int *targets, int B, int T, bool backward);
/* The GPT as the loops' Model: calc_loss_batch on its batches. */
Model gpt_model(GPTModel *m);

/* The mean of the model's batch losses over the loader's first num_batches
 * batches (all when num_batches <= 0); the loader starts a new epoch first.
 * In double precision, as the book's Python sums loss.item() and divides. */
double calc_loss_loader(const Model *model, BatchLoader *loader, int num_batches);

/* The first max_batches batches of each of inner's epochs, in inner's order:
 * the loops below run over it as over any loader, so a run of theirs limited
 * to its first steps (the finetuning walkthrough's, which shows a run's start
 * in a moment) is the same run's start, batch for batch, and no second loop.
 * fb holds the state (it must outlive the loader); inner is not copied. */
typedef struct {
    BatchLoader *inner;
    int max_batches, taken;
} FirstBatches;
BatchLoader first_batches(FirstBatches *fb, BatchLoader *inner, int max_batches);

/* ---- 5.2 Training an LLM ---------------------------------------------------------- */

/* The mean losses over eval_iter batches of each loader, in evaluation
 * mode; the model is in training mode again after. */
void evaluate_model(const Model *model, BatchLoader *train_loader, BatchLoader *val_loader, int eval_iter,
                    float *train_loss, float *val_loss);

/* Print start_context and its greedy continuation of 50 tokens on one line
 * (line breaks as spaces), in evaluation mode. */
void generate_and_print_sample(GPTModel *model, Bpe *tokenizer, const char *start_context);

/* One step of the loops: optimizer.zero_grad(), the batch's loss and its
 * backward pass, optimizer.step(). Returns the loss. */
float train_step(const Model *model, Optimizer *optimizer, const Batch *batch);

/* A loss that is NaN or infinite ends the run (the weights are lost, and
 * every later step would stay so), naming the epoch and the step. */
void check_loss(float loss, int epoch, long step);

/* What the loops do with an evaluation: print the book's line "Ep 1 (Step
 * 000000): Train loss ..., Val loss ..." and append the losses and the
 * learning rate to run->log. */
void record_losses(TrainRun *run, int epoch, float train_loss, float val_loss, float lr);

/* The loops' evaluation, after a step: when run->global_step is a multiple of
 * eval_freq, evaluate_model over eval_iter batches of each loader and
 * record_losses (epoch counted from 1, lr the step's learning rate). */
void evaluate_if_due(const Model *model, BatchLoader *train_eval_loader, BatchLoader *val_loader, int eval_freq,
                     int eval_iter, int epoch, float lr, TrainRun *run);

/* The loops' start: steps_per_epoch and the progress bar (on a terminal). */
void train_run_begin(TrainRun *run, const BatchLoader *train_loader, int num_epochs);
/* After each step: after_step, then max_steps; true when the run ends here. */
bool train_run_should_stop(TrainRun *run);

/* The book's train_model_simple: num_epochs passes over train_loader from
 * where run stands, a step per batch; every eval_freq steps the mean losses
 * over eval_iter batches of each loader; after each epoch a sample that
 * continues start_context (none when it is NULL). The training loss is
 * evaluated over train_eval_loader: the same batches in an order of its
 * own, as a fresh pass over the book's shuffling train_loader draws one. */
void train_model_simple(const Model *model, BatchLoader *train_loader, BatchLoader *train_eval_loader,
                        BatchLoader *val_loader, Optimizer *optimizer, int num_epochs, int eval_freq, int eval_iter,
                        const char *start_context, Bpe *tokenizer, TrainRun *run);

/* ---- Appendix D: Adding bells and whistles to the training loop ------------------- */

/* train_model_simple with a learning rate that rises linearly from
 * initial_lr to the optimizer's over warmup_steps, then follows a cosine
 * down to min_lr at the last step; after the warm-up the gradients are
 * clipped to a global norm of max_norm (none when it is 0). */
void train_model(const Model *model, BatchLoader *train_loader, BatchLoader *train_eval_loader,
                 BatchLoader *val_loader, Optimizer *optimizer, int n_epochs, int eval_freq, int eval_iter,
                 const char *start_context, Bpe *tokenizer, long warmup_steps, float initial_lr, float min_lr,
                 float max_norm, TrainRun *run);

/* ---- the losses' log and its plot ---------------------------------------------------- */

/* A CSV log at path that starts with header: its rows are appended as the
 * run goes. A resumed run keeps the old file's rows whose first column (the
 * step) is at most keep_through_step and drops later ones (from a run that
 * went on after its checkpoint); -1 keeps none. */
FILE *csv_log_open(const char *path, const char *header, long keep_through_step);
void csv_log_close(FILE *log, const char *path);
/* The loss log of record_losses: step, epoch (the fractional position in
 * training), seen_column (tokens_seen, or examples_seen), train_loss,
 * val_loss, lr; plots/loss.gp draws it. */
FILE *loss_log_open(const char *path, const char *seen_column, long keep_through_step);

/* Draw png from csv with plots/<script> (vars: more gnuplot assignments,
 * "title='...'", or NULL) and a preview in the terminal on stderr, when
 * gnuplot is installed. */
void plot_csv(const char *script, const char *csv, const char *png, const char *vars);

#endif
