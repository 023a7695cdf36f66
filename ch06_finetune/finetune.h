/* finetune.h: what the two finetuning runs share: the model they start
 * from, evaluation-free bookkeeping (the loss CSV), the gnuplot figures, and
 * greedy generation of an instruction's response. */
#ifndef CH06_FINETUNE_H
#define CH06_FINETUNE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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

/* OUT/NAME with its header line, ready for rows (exits if it cannot be written). */
FILE *finetune_open_csv(const char *out_dir, const char *name, const char *header, char **path);
void finetune_close_csv(FILE *f, const char *path);

/* Draw png from csv with plots/<script> and the extra gnuplot assignments
 * vars ("title='...'; x2label='...'"), and a terminal preview on stderr,
 * when gnuplot is installed. */
void finetune_plot(const char *script, const char *csv, const char *png, const char *vars);

/* 7.7: the model's answer to an entry, as the book extracts it: greedy
 * generation of up to max_new_tokens after format_input(entry), stopping at
 * <|endoftext|>, with "### Response:" removed and the white space around it
 * stripped (malloc'd). */
char *instruct_response(GPTModel *m, Bpe *bpe, const InstructionEntry *e, int max_new_tokens);

/* The prompt and its greedy continuation of max_new_tokens on one line
 * (line breaks as spaces), as the book prints a sample after each epoch. */
void print_sample(GPTModel *m, Bpe *bpe, const char *prompt, int max_new_tokens);

#endif
