/* pretrain.h: the run of `ch05 train` around chapter 5's training loop
 * (train.h), what the book's gpt_train.py does in its main(): the data
 * (The Verdict, split 90/10, in windows of the context's length), the
 * model, AdamW, the loop, the loss log and its plot; and 5.4's checkpoints,
 * which keep the run's settings and state so that it can be resumed. */
#ifndef CH05_PRETRAIN_H
#define CH05_PRETRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "../ch02_text/bpe.h"
#include "../ch02_text/dataloader.h"
#include "../common/util.h"
#include "safetensors.h"
#include "train.h"

typedef struct {
    const char *data_path;     /* training text; NULL: The Verdict */
    int epochs;                /* 10 */
    int batch_size;            /* 2 */
    int context;               /* 256: the model's context and the loaders' window and stride */
    float lr;                  /* 4e-4 */
    float weight_decay;        /* 0.1 */
    float dropout;             /* 0.1 */
    uint64_t seed;             /* 123 */
    const char *init_model;    /* start from this MODEL (any format); NULL: random GPT_CONFIG_124M */
    int emb_dim, n_layers, n_heads; /* the random model's size (0: GPT-2 small's) */
    const char *out_dir;       /* "runs/pretrain" */
    const char *resume;        /* a checkpoint of an earlier run, or NULL */
    bool shuffle;              /* true */
    float warmup_ratio;        /* > 0: appendix D's warm-up over this share of the steps, then cosine decay */
    float initial_lr;          /* 1e-4: where the warm-up starts; a warm-up rises, so lr when that is lower */
    float min_lr;              /* 1e-5: the cosine's floor */
    bool no_decay;             /* D.1: hold lr after the warm-up instead of D.2's cosine decay */
    float clip;                /* > 0: clip gradients to this global norm (after the warm-up) */
    int eval_freq;             /* 5 */
    int eval_iter;             /* 5 */
    int save_every;            /* save a checkpoint every N epochs (0: at the end only) */
    const char *start_context; /* "Every effort moves you" */
    bool quiet_samples;        /* don't print a sample after each epoch */
    /* a run from a prepared corpus (data_path a directory of shards) */
    int max_steps;             /* its length in steps */
    int total_batch;           /* tokens per step (0: batch_size x context); a multiple of
                                  those accumulates gradients over micro-batches */
    int checkpoint_every;      /* a checkpoint every N steps (0: at the end, and when stopped) */
} TrainOptions;

TrainOptions train_default_options(void);

/* 5.4 resuming. Every checkpoint keeps the settings of its run as metadata
 * "train.option.<flag>" = value, one per flag of `ch05 train` that shapes
 * the run: data (an absolute path; "" for The Verdict), epochs, batch-size,
 * context, lr, weight-decay, dropout, seed, no-shuffle ("true"/"false"),
 * warmup-ratio, initial-lr, min-lr, no-decay ("true"/"false"), clip,
 * eval-freq, eval-iter, save-every,
 * start-context, no-samples ("true"/"false"); floats with 9 significant
 * digits, so they come back exactly. train_options_from_checkpoint sets
 * those fields of *o from sf; its text fields then point into sf, which must
 * stay open while o is in use. A checkpoint written before the settings were
 * kept sets only the context, to the model's (one written before a setting
 * was added leaves that setting at its default). */
void train_options_from_checkpoint(TrainOptions *o, const SafetensorsFile *sf);
/* One line on stderr: the checkpoint, its epoch, the settings used, and
 * which of them differ from saved (the checkpoint's) because a flag said so. */
void train_print_resume(const SafetensorsFile *sf, const TrainOptions *saved, const TrainOptions *used);

/* ---- 5.1.3 the data: the book's train_loader and val_loader ---------------- */

/* Chapter 2's loader of token windows as the loops' BatchLoader
 * (token_batches_loader), with the buffers of its current batch. */
typedef struct {
    DataLoader loader;
    int *inputs, *targets; /* the current batch: (batch_size, max_length) each */
} TokenBatches;
BatchLoader token_batches_loader(TokenBatches *tb);

/* A run's text (opt->data_path, or The Verdict) split 90/10 by characters,
 * each part in windows of opt->context tokens at stride opt->context, in
 * batches of opt->batch_size: the book's loaders (create_dataloader_v1).
 * The training loader shuffles (seeded with opt->seed, unless --no-shuffle)
 * and drops a last short batch; train_eval walks the same batches in an
 * order of its own (the training losses' evaluation); val keeps every
 * window in order. The sizes go to stderr; a text too short for one window
 * exits. */
typedef struct {
    char *path;                     /* the text's file */
    Bpe *tokenizer;                 /* GPT-2's */
    IntVec train_ids, val_ids;      /* the two parts' tokens */
    TokenDataset train_ds, val_ds;  /* their windows */
    TokenBatches train, train_eval, val;
} PretrainData;
void pretrain_data_init(PretrainData *d, const TrainOptions *opt);
void pretrain_data_free(PretrainData *d);

/* Train as the book's train_model_simple does (appendix D's train_model
 * with a warm-up or clipping), printing its lines on stdout: from a text
 * file, or from a directory of token shards (`ch05 prepare-corpus`) for
 * max_steps steps of total_batch tokens, across MPI's ranks when started by
 * mpirun (rank 0 alone prints, logs and saves). Writes OUT/log.csv,
 * OUT/checkpoint.safetensors (at the end, every save_every epochs or
 * checkpoint_every steps, and on SIGINT or SIGTERM in a run from shards)
 * and, when gnuplot is installed, OUT/loss.png. */
void pretrain(const TrainOptions *opt);

#endif
