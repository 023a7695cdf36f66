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
 * generation of up to max_new_tokens after format_input_as(entry, style),
 * stopping at <|endoftext|>, with the style's tag ("### Response:", or
 * exercise 7.1's "<|assistant|>:") removed and the white space around it
 * stripped (malloc'd). instruct_response: the Alpaca style. */
char *instruct_response_as(GPTModel *m, Bpe *bpe, const InstructionEntry *e, int max_new_tokens, PromptStyle style);
char *instruct_response(GPTModel *m, Bpe *bpe, const InstructionEntry *e, int max_new_tokens);

/* The prompt style a checkpoint of `ch06 train-instruct` was trained with
 * (its metadata instruction.prompt_style); Alpaca for any other model. */
PromptStyle instruct_checkpoint_style(const char *model_path);

#endif
