/* gpt.h: 4.6 Coding the GPT model.
 *
 *   token ids (B,T)
 *   -> token embedding + position embedding        (B,T,C)
 *   -> n_layers transformer blocks                 (B,T,C)
 *   -> final layer norm                            (B,T,C)
 *   -> output head: logits over the vocabulary     (B,T,V)
 *
 * All parameters live in one contiguous buffer (so the optimiser and the
 * checkpoint code are one loop over it), described by a table of named
 * tensors, with named pointers into it for the code that uses them. */
#ifndef CH04_GPT_H
#define CH04_GPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/rng.h"
#include "../common/tensor_file.h"
#include "config.h"
#include "transformer_block.h"

/* How PyTorch initialises each kind of tensor by default. */
typedef enum {
    INIT_NORMAL,  /* nn.Embedding: normal(0, 1) */
    INIT_LINEAR,  /* nn.Linear weight and bias: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    INIT_ONES,    /* LayerNorm scale */
    INIT_ZEROS,   /* LayerNorm shift */
} ParamInit;

typedef struct {
    char name[64];   /* as in the PyTorch fixtures: "blocks.3.att.qkv.weight" */
    int ndim;
    int shape[2];
    size_t offset;   /* into the parameter buffer, in floats */
    size_t size;
    ParamInit init;
    int fan_in;
    /* where the model's named view of this tensor goes: the block it
     * belongs to (-1: the embeddings, the final norm, the head) and, in a
     * block, the offset of its pointer in BlockWeights */
    int layer;
    size_t block_field;
} ParamTensor;

typedef struct {
    GPTConfig config;
    float *params;            /* every parameter, one buffer */
    size_t n_params;
    ParamTensor *tensors;     /* the table that describes the buffer */
    int n_tensors;

    /* named views into params */
    float *tok_emb;           /* (V,C) */
    float *pos_emb;           /* (context_length,C) */
    BlockWeights *blocks;     /* n_layers */
    float *final_norm_scale;  /* (C) */
    float *final_norm_shift;  /* (C) */
    float *out_head;          /* (V,C), nn.Linear's layout; == tok_emb when tied */
    /* a side path on the output head (LoRA on the vocabulary head,
     * ch06_finetune/lora.h), NULL when none; the blocks have their own */
    const LinearHook *out_head_hook;

    /* Training mode (model.train() in PyTorch): dropout with the config's
     * drop_rate after the embeddings, on the attention weights and on both
     * shortcut branches of every block, drawn from rng (seeded by the
     * caller). false, the default, is evaluation: no dropout. */
    bool training;
    Rng rng;

    /* Every parameter frozen (LoRA, the book's appendix E): the backward
     * passes compute no parameter gradient, only the gradient that flows
     * back through the layers to the hooks' side paths; m->grads is never
     * needed. false, the default, is ordinary training. */
    bool frozen;

    /* the forward pass's activations, laid out for the last (B,T) */
    int B, T;
    float *acts;
    size_t acts_capacity;     /* floats */
    int *ids;                 /* (B,T) the input, for the embedding's gradient */
    size_t ids_capacity;
    float *embedded;          /* (B,T,C) token + position embeddings (after dropout in training) */
    float *emb_dropout;       /* (B,T,C) dropout factors in training, else NULL */
    BlockActivations *block_acts; /* n_layers */
    float *final_norm, *final_mean, *final_rstd; /* (B,T,C), (B,T), (B,T) */
    float *logits;            /* (B,T,V); NULL after gpt_forward_hidden */

    /* Gradients: a twin of params with the same table and offsets (NULL
     * until gpt_zero_grad or gpt_backward allocates it), and named views
     * into it like those into params. */
    float *grads;
    float *grad_tok_emb, *grad_pos_emb;
    BlockWeights *grad_blocks;            /* n_layers */
    float *grad_final_norm_scale, *grad_final_norm_shift;
    float *grad_out_head;                    /* == grad_tok_emb when tied: both uses add to it */

    /* the backward pass's buffers, laid out for (B,T) */
    float *grad_acts;
    size_t grad_acts_capacity; /* floats */
    float *grad_x;                /* (B,T,C) gradient of the residual stream */
    BlockScratch scratch;      /* shared by the blocks, which go one at a time */
} GPTModel;

/* A model with all parameters zero; NULL with err set when the config
 * makes no model or the memory is not there (gpt_create exits instead,
 * with "bad model configuration: ..."). */
GPTModel *gpt_try_create(const GPTConfig *config, char *err, size_t err_size);
GPTModel *gpt_create(const GPTConfig *config);
/* The table of a config's parameters in buffer order, as the model built
 * from it would have it (malloc'd: *count entries, *total floats in all);
 * NULL with err set when the config makes no model. Only the table is
 * allocated (12 entries a layer), never the parameters, so a loader can
 * compare a configuration with a checkpoint before committing memory. */
ParamTensor *gpt_param_table(const GPTConfig *config, int *count, size_t *total, char *err, size_t err_size);
/* PyTorch's default initialisation, drawn from a generator seeded with seed. */
void gpt_init_weights(GPTModel *m, uint64_t seed);
void gpt_free(GPTModel *m);

/* The parameter named name, or NULL. */
const ParamTensor *gpt_find_param(const GPTModel *m, const char *name);
/* Parameters a config has, stored once (a tied head is not counted twice);
 * 0 for a config that makes no model. */
size_t gpt_param_count(const GPTConfig *config);

/* Copy every parameter of the model from a tensor file holding tensors of
 * the same names (extra tensors are ignored); a missing tensor or a wrong
 * shape exits with a message naming it. */
void gpt_load_params(GPTModel *m, const TensorFile *tf);

/* Run the model on ids (B,T), T <= context_length; logits land in m->logits.
 * An id outside the vocabulary exits with a clear message. */
void gpt_forward(GPTModel *m, const int *ids, int B, int T);

/* gpt_forward without the output head: up to the final layer norm, whose
 * output (B,T,C) lands in m->final_norm; m->logits is NULL. For a head of
 * one's own (chapter 6's classifier), without the cost of vocabulary logits. */
void gpt_forward_hidden(GPTModel *m, const int *ids, int B, int T);

/* Set every gradient to zero (allocating the gradient buffer the first time). */
void gpt_zero_grad(GPTModel *m);
/* The gradients of the last gpt_forward's loss, given grad_logits (B,T,V), the
 * loss's gradient with respect to m->logits for that forward's (B,T). They
 * accumulate (+=) into m->grads, as loss.backward() does in PyTorch; in
 * training mode the forward's dropout masks are used. The logits themselves
 * are not needed, so grad_logits may be m->logits, overwritten in place.
 * When m->frozen, no parameter gets a gradient (the hooks' backward passes
 * still run). */
void gpt_backward(GPTModel *m, const float *grad_logits);

/* gpt_backward from the gradient of the final layer norm's output,
 * grad_final_norm (B,T,C), instead of the logits' (after gpt_forward_hidden
 * or gpt_forward). Only the final norm and the blocks first_layer..n_layers-1
 * get gradients, and the embeddings when first_layer is 0; below
 * first_layer nothing is computed and the gradients are left as they are.
 * first_layer = n_layers - 1 is the book's chapter 6: all but the last block
 * frozen, so autograd stops there. When m->frozen, the blocks are gone
 * through for the hooks' sake but no parameter gets a gradient. */
void gpt_backward_hidden(GPTModel *m, const float *grad_final_norm, int first_layer);

#endif
