/* train.h: 5.1-5.2 and 5.4 in one place: the loss over batches and loaders,
 * the training loop of the book's train_model_simple, its CSV log, and
 * checkpoints that a run can be resumed from. */
#ifndef CH05_TRAIN_H
#define CH05_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "../ch02_text/bpe.h"
#include "../ch02_text/dataloader.h"
#include "../ch04_gpt/gpt.h"
#include "safetensors.h"

/* 5.1.2: split text by characters (code points, as Python's len(text)):
 * the first int(ratio * characters) go to training. Returns the byte offset
 * of the split. */
size_t split_by_characters(const char *text, size_t len, double ratio, size_t *train_chars);

/* 5.1.3: the mean cross-entropy of one batch (inputs, targets (B,T)). When
 * backward is set it also accumulates the gradients into m->grads. */
float calc_loss_batch(GPTModel *m, const int *inputs, const int *targets, int B, int T, bool backward);
/* The mean of calc_loss_batch over the loader's first num_batches batches
 * (all when num_batches <= 0); the loader starts a new epoch first. */
float calc_loss_loader(GPTModel *m, DataLoader *dl, int num_batches);

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
    float warmup_ratio;        /* > 0: appendix D's warm-up and cosine decay */
    float min_lr;              /* the cosine's floor */
    float clip;                /* > 0: clip gradients to this global norm after warm-up */
    int eval_freq;             /* 5 */
    int eval_iter;             /* 5 */
    int save_every;            /* save a checkpoint every N epochs (0: at the end only) */
    const char *start_context; /* "Every effort moves you" */
    bool quiet_samples;        /* don't print a sample after each epoch */
} TrainOptions;

TrainOptions train_default_options(void);

/* 5.4 resuming. Every checkpoint keeps the settings of its run as metadata
 * "train.option.<flag>" = value, one per flag of `ch05 train` that shapes
 * the run: data (an absolute path; "" for The Verdict), epochs, batch-size,
 * context, lr, weight-decay, dropout, seed, no-shuffle ("true"/"false"),
 * warmup-ratio, min-lr, clip, eval-freq, eval-iter, save-every,
 * start-context, no-samples ("true"/"false"); floats with 9 significant
 * digits, so they come back exactly. train_options_from_checkpoint sets
 * those fields of *o from sf; its text fields then point into sf, which must
 * stay open while o is in use. A checkpoint written before the settings were
 * kept sets only the context, to the model's. */
void train_options_from_checkpoint(TrainOptions *o, const SafetensorsFile *sf);
/* One line on stderr: the checkpoint, its epoch, the settings used, and
 * which of them differ from saved (the checkpoint's) because a flag said so. */
void train_print_resume(const SafetensorsFile *sf, const TrainOptions *saved, const TrainOptions *used);

/* Train as the book's train_model_simple and print its lines on stdout;
 * writes OUT/log.csv, OUT/checkpoint.safetensors and, when gnuplot is
 * installed, OUT/loss.png. Returns the last validation loss. */
float train_model(const TrainOptions *opt);

#endif
