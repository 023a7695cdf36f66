/* train_instruct.h: 7.5-7.7, instruction finetuning: chapter 5's
 * train_model_simple, called as the book's chapter 7 calls it, on the
 * collated instruction batches (a sample after each epoch), the checkpoint,
 * and the model's responses to the test set
 * (instruction-data-with-response.json). */
#ifndef CH06_TRAIN_INSTRUCT_H
#define CH06_TRAIN_INSTRUCT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../ch05_pretrain/train.h"
#include "example_loader.h"
#include "finetune.h"
#include "instruction_data.h"

typedef struct {
    ModelChoice model;        /* path NULL: GPT-2 medium (DATA_DIR/gpt2/355M), as the book */
    const char *data_path;    /* NULL: DATA_DIR/instruction-data.json */
    int epochs;               /* 2 */
    int batch_size;           /* 8 */
    int allowed_max_length;   /* 1024: batches are cut to this many tokens */
    float lr;                 /* 5e-5 */
    float weight_decay;       /* 0.1 */
    int lora_rank;            /* appendix E: 0, off; else LoRA adapters of this rank, all else frozen */
    float lora_alpha;         /* 16 */
    int eval_freq, eval_iter; /* 5, 5 */
    int max_new_tokens;       /* 256: the longest response generated for the test set */
    PromptStyle prompt_style; /* Alpaca's (exercise 7.1: Phi-3's); stored in the checkpoint */
    bool mask_instructions;   /* exercise 7.2: the prompts' targets ignored by the loss too */
    uint64_t seed;            /* 123 */
    const char *out_dir;      /* runs/instruct */
    bool no_samples;          /* no sample after each epoch */
    bool no_responses;        /* skip the test set's responses */
} InstructTrainOptions;

InstructTrainOptions instruct_train_default_options(void);

/* ---- the pieces of the run (the walkthrough calls them one by one) ---------------- */

/* 7.3-7.4: an InstructionDataset's examples in batches as chapter 5's loops
 * take them, each collated: as long as its longest text, at most
 * allowed_max_length, padded with pad_id, the padding after the first
 * ignored by the loss. */
typedef struct {
    ExampleLoader order;
    const InstructionDataset *ds;
    int allowed_max_length, pad_id;
    bool mask_prompts; /* exercise 7.2: the prompts' targets are ignored too */
    const int **seqs;  /* the batch's texts, their lengths and their prompts' */
    int *lengths, *prompt_lengths;
    int *inputs, *targets; /* the current batch, grown as needed */
    size_t capacity;
} InstructionBatches;
/* what: the data's name in an error message. Set ib->allowed_max_length
 * (the model's context, or less) before the first batch. */
void instruction_batches_init(InstructionBatches *ib, const InstructionDataset *ds, int batch_size, bool shuffle,
                              bool drop_last, uint64_t seed, int pad_id, const char *what);
BatchLoader instruction_batches_loader(InstructionBatches *ib);
void instruction_batches_free(InstructionBatches *ib);

/* Finetune and print the book's lines on stdout; writes OUT/log.csv (the
 * columns of ch05's), OUT/loss.png, OUT/checkpoint.safetensors (LoRA
 * adapters merged into the weights, the head untied from the embedding;
 * metadata task "instruction" and instruction.prompt_style) and
 * OUT/instruction-data-with-response.json. */
void train_instruct(const InstructTrainOptions *o);

#endif
