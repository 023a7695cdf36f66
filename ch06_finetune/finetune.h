/* finetune.h: what the two finetuning runs share beyond chapter 5's
 * training functions (ch05_pretrain/train.h: the loops, the loss log and
 * its plot): the model they start from, and greedy generation of an
 * instruction's response. */
#ifndef CH06_FINETUNE_H
#define CH06_FINETUNE_H

#include <stdbool.h>
#include <stdint.h>

#include "../ch02_text/bpe.h"
#include "../ch04_gpt/gpt.h"
#include "instruction_data.h"

/* The model a run starts from. */
typedef struct {
    const char *path;        /* a MODEL (OpenAI or Hugging Face directory, or a .safetensors
                                checkpoint), "random", or NULL: DATA_DIR/gpt2/<default size> */
    int emb_dim, n_layers, n_heads, context; /* "random": the size (0: GPT_CONFIG_124M's, context 1024) */
    float dropout;           /* the run's dropout (the book's finetuning: 0) */
    uint64_t seed;           /* "random": the initialisation's seed */
} ModelChoice;

/* Load (or initialise) the model, with the choice's dropout. A missing
 * default model exits with the make target that downloads it. The model's
 * vocabulary must be GPT-2's (vocab_size tokens). */
GPTModel *finetune_load_model(const ModelChoice *mc, const char *default_size, int vocab_size);

/* 7.7: the model's answer to an entry, as the book extracts it: greedy
 * generation of up to max_new_tokens after format_input(entry), stopping at
 * <|endoftext|>, with "### Response:" removed and the white space around it
 * stripped (malloc'd). */
char *instruct_response(GPTModel *m, Bpe *bpe, const InstructionEntry *e, int max_new_tokens);

#endif
