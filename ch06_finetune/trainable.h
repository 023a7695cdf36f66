/* trainable.h: which parameters a finetuning run trains, and AdamW over
 * just those.
 *
 * The book freezes a parameter with requires_grad = False: autograd leaves
 * its gradient None and torch.optim.AdamW skips it, so it gets neither an
 * update nor weight decay. Here a run lists the ranges of parameter buffers
 * it trains, each with its own AdamW moments, and the optimiser never looks
 * outside them. The model's buffer is laid out by its parameter table in the
 * model's order, so "the last block and the final norm" is one contiguous
 * range; chapter 6's classification head is a buffer of its own; LoRA's
 * adapters (appendix E, lora.h) are one group of their own. */
#ifndef CH06_TRAINABLE_H
#define CH06_TRAINABLE_H

#include <stddef.h>

#include "../ch04_gpt/gpt.h"
#include "../ch05_pretrain/adamw.h"
#include "../ch05_pretrain/train.h"

enum { TRAINABLE_MAX_GROUPS = 8 };

typedef struct {
    char name[32];        /* for messages: "gpt", "head" */
    float *params, *grads; /* n floats each */
    size_t n;
    AdamW opt;
} ParamGroup;

typedef struct {
    ParamGroup groups[TRAINABLE_MAX_GROUPS];
    int n_groups;
} Trainable;

/* Train params[0..n) with the gradients in grads[0..n). */
void trainable_add(Trainable *t, const char *name, float *params, float *grads, size_t n);
/* The range of m's parameter buffer that holds blocks first_layer to
 * n_layers-1 and the final norm, and the embeddings too when first_layer is
 * 0 (an untied output head, which comes after the final norm, is left out):
 * *offset and *count in floats. */
void gpt_tail_range(const GPTModel *m, int first_layer, size_t *offset, size_t *count);
/* Parameters trained, over all groups. */
size_t trainable_count(const Trainable *t);
/* optimizer.zero_grad() for the trained ranges only. */
void trainable_zero_grad(Trainable *t);
/* optimizer.step(): one AdamW step (learning rate lr) on every group. */
void trainable_step(Trainable *t, const AdamWConfig *cfg, float lr);
void trainable_free(Trainable *t);
/* The groups as chapter 5's loops take an optimizer: AdamW with config
 * (its lr is the one the loops step with). t must outlive it. */
Optimizer trainable_optimizer(Trainable *t, const AdamWConfig *config);

#endif
