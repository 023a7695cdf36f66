/* train_classifier.h: 6.7 Finetuning the model on supervised data and 6.8
 * Using the LLM as a spam classifier: the book's train_classifier_simple,
 * built from chapter 5's training functions, with the run around it: the
 * data, the model, the CSV logs and figures, the checkpoint, and the final
 * accuracies. */
#ifndef CH06_TRAIN_CLASSIFIER_H
#define CH06_TRAIN_CLASSIFIER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../ch05_pretrain/train.h"
#include "classifier.h"
#include "example_loader.h"
#include "finetune.h"
#include "spam_data.h"

/* max_length: pad every text to the model's context length (exercise 6.1,
 * the book's max_length = BASE_CONFIG["context_length"]). */
enum { CLASSIFIER_MAX_LENGTH_CONTEXT = -1 };
/* trainable_blocks: every parameter trains (exercise 6.2). */
enum { CLASSIFIER_TRAINABLE_ALL = -1 };

typedef struct {
    ModelChoice model;       /* path NULL: GPT-2 small (DATA_DIR/gpt2/124M), as the book */
    const char *data_dir;    /* train.csv, validation.csv, test.csv; NULL: prepared from
                                DATA_DIR/sms_spam/SMSSpamCollection (and written to out_dir) */
    int epochs;              /* 5 */
    int batch_size;          /* 8 */
    int max_length;          /* 0: the longest training text (the book's 120);
                                CLASSIFIER_MAX_LENGTH_CONTEXT: the model's context */
    int trainable_blocks;    /* 1: the last block (with the final norm and the head);
                                CLASSIFIER_TRAINABLE_ALL: the whole model */
    ClassifierToken token;   /* the position the head reads: the last (exercise 6.3: the first) */
    int lora_rank;           /* appendix E: 0, off; else LoRA adapters of this rank, all else frozen */
    float lora_alpha;        /* 16 (the book's rank and alpha: 16, 16) */
    float lr;                /* 5e-5 */
    float weight_decay;      /* 0.1 */
    int eval_freq, eval_iter; /* 50, 5 */
    uint64_t seed;           /* 123: the split, the head, the shuffling */
    const char *out_dir;     /* runs/classifier */
} ClassifierTrainOptions;

ClassifierTrainOptions classifier_train_default_options(void);

/* ---- the pieces of the run (the walkthrough calls them one by one) ---------------- */

/* 6.3: a SpamDataset's examples in batches as chapter 5's loops take them:
 * inputs the padded ids (B, max_length), targets the labels (B). */
typedef struct {
    ExampleLoader order;
    const SpamDataset *ds;
    int *ids, *labels; /* the current batch */
} SpamBatches;
/* what: the data's name in an error message */
void spam_batches_init(SpamBatches *sb, const SpamDataset *ds, int batch_size, bool shuffle, bool drop_last,
                       uint64_t seed, const char *what);
BatchLoader spam_batches_loader(SpamBatches *sb);
void spam_batches_free(SpamBatches *sb);

/* 6.6: the classifier as chapter 5's loops take a model: its loss_batch is
 * the cross entropy of the last token's logits (calc_loss_batch), so
 * calc_loss_loader gives the classification loss. */
Model classifier_model(Classifier *c);

/* 6.6 calc_accuracy_loader: the share of right predictions (the argmax of
 * the last token's logits) over the loader's first num_batches batches
 * (all when num_batches <= 0; the loader starts a new epoch first), in
 * evaluation mode (no dropout), the model's mode as it was after. */
float calc_accuracy_loader(Classifier *model, BatchLoader *loader, int num_batches);

/* 6.7 The book's train_classifier_simple: chapter 5's train_model_simple
 * with the classifier's loss, examples counted in place of tokens
 * (run->seen), and after each epoch the accuracies over eval_iter batches
 * (printed, and appended to accuracy_log unless it is NULL) in place of a
 * sample. */
void train_classifier_simple(Classifier *model, BatchLoader *train_loader, BatchLoader *train_eval_loader,
                             BatchLoader *val_loader, Optimizer *optimizer, int num_epochs, int eval_freq,
                             int eval_iter, TrainRun *run, FILE *accuracy_log);

/* Finetune and print the book's lines on stdout ("Ep 1 (Step 000000): Train
 * loss ..., Val loss ...", the accuracies after each epoch over eval_iter
 * batches, and finally over the whole sets). Writes OUT/log.csv (step,
 * epoch, examples_seen, train_loss, val_loss, lr), OUT/accuracy.csv, their
 * figures OUT/loss.png and OUT/accuracy.png when gnuplot is installed, and
 * OUT/checkpoint.safetensors (classifier_save; LoRA adapters merged into
 * the weights first, so the final accuracies are the saved model's). */
void train_classifier(const ClassifierTrainOptions *o);

#endif
