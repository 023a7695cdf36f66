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
 * tensors, with named pointers into it for the code that uses them. Every
 * kind of parameter tensor is listed once, in gpt.c (ParamSpec): the
 * table, the named pointers and the names the weight files use
 * (ch05_pretrain/gpt_weights.c) are all made from that list.
 *
 * After the book's model come what later sections add, each under its own
 * banner: the KV cache that generation keeps (4.7), the backward pass
 * (chapter 5), the model without its head (chapter 6) and the frozen
 * parameters and side paths of LoRA (appendix E). */
#ifndef CH04_GPT_H
#define CH04_GPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/rng.h"
#include "../common/tensor_file.h"
#include "config.h"
#include "transformer_block.h"

/* ==== 4.6 Coding the GPT model ==== */

/* ---- the parameters ---- */

/* How PyTorch initialises each kind of tensor by default. */
typedef enum {
    INIT_NORMAL,  /* nn.Embedding: normal(0, 1) */
    INIT_LINEAR,  /* nn.Linear weight and bias: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    INIT_ONES,    /* LayerNorm scale */
    INIT_ZEROS,   /* LayerNorm shift */
} ParamInit;

/* A dimension of a parameter, as the configuration sizes it. */
typedef enum {
    DIM_NONE,    /* no such dimension: the second of a vector */
    DIM_VOCAB,   /* V */
    DIM_CONTEXT, /* context_length */
    DIM_C,
    DIM_3C,
    DIM_4C,
} ParamDim;

/* Which configurations have the tensor. */
typedef enum {
    PARAM_ALWAYS,
    PARAM_IF_QKV_BIAS,    /* qkv_bias */
    PARAM_IF_UNTIED_HEAD, /* !tie_weights: a tied head is the token embedding */
} ParamPresence;

/* One kind of parameter tensor, as gpt.c lists them: the embeddings', a
 * block's (once, for every block), the final norm's and the head's. */
typedef struct {
    /* the names: ours (the PyTorch fixtures' and ParamTensor's), Hugging
     * Face's, and OpenAI's TensorFlow checkpoint's (NULL: OpenAI has none;
     * its head is the token embedding). A block's are the part after the
     * block's prefix: blocks.L. (ours), h.L. and model/hL/. */
    const char *name, *hf, *openai;
    ParamDim shape[2]; /* (rows, cols); cols DIM_NONE for a vector */
    ParamInit init;
    ParamDim fan_in;   /* INIT_LINEAR's bound: the layer's input width */
    ParamPresence presence;
    /* where its named pointer goes: the offset of the field in BlockWeights
     * (a block's: the parameters' and, in chapter 5, the gradients' alike)
     * or in GPTModel (the others' view; grad_view their gradient's) */
    size_t view, grad_view;
} ParamSpec;

/* One parameter tensor of a model, an entry of its table. */
typedef struct {
    char name[64];   /* ours: "blocks.3.att.qkv.weight" */
    int ndim;
    int shape[2];
    size_t offset;   /* into the parameter buffer, in floats */
    size_t size;
    ParamInit init;
    int fan_in;
    const ParamSpec *spec; /* the kind of tensor it is */
    int layer;             /* the block it belongs to; -1: the embeddings, the final norm, the head */
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

    /* Training mode (model.train() in PyTorch): dropout with the config's
     * drop_rate (or, exercise 4.3, its separate rates: gpt_drop_rates)
     * after the embeddings, on the attention weights and on both shortcut
     * branches of every block, drawn from rng (seeded by the caller).
     * false, the default, is evaluation: no dropout. */
    bool training;
    Rng rng;

    /* the forward pass's activations, laid out for the last (B,T), which
     * came after past tokens in a KV cache (0 without one) */
    int B, T, past;
    float *acts;
    size_t acts_capacity;     /* floats */
    int *ids;                 /* (B,T) the input, for the embedding's gradient */
    size_t ids_capacity;
    float *embedded;          /* (B,T,C) token + position embeddings (after dropout in training) */
    float *emb_dropout;       /* (B,T,C) dropout factors in training, else NULL */
    BlockActivations *block_acts; /* n_layers */
    float *final_norm, *final_mean, *final_rstd; /* (B,T,C), (B,T), (B,T) */
    float *logits;            /* (B,T,V); NULL after gpt_forward_hidden */

    /* ---- Added in chapter 5: the backward pass ----
     * Gradients: a twin of params with the same table and offsets (NULL
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

    /* ---- Added in appendix E: LoRA ----
     * A side path on the output head (LoRA on the vocabulary head,
     * ch06_finetune/lora.h), NULL when none; the blocks have their own. */
    const LinearHook *out_head_hook;
    /* Every parameter frozen: the backward passes compute no parameter
     * gradient, only the gradient that flows back through the layers to
     * the hooks' side paths; m->grads is never needed. false, the default,
     * is ordinary training. */
    bool frozen;
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
/* The kind of tensor one of our names is ("blocks.3.att.qkv.weight"), and
 * in *layer its block (-1 outside the blocks); NULL for a name that is no
 * parameter's. */
const ParamSpec *gpt_param_spec(const char *name, int *layer);
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

/* ---- the forward pass ---- */

/* Run the model on ids (B,T), T <= context_length; logits land in m->logits.
 * An id outside the vocabulary exits with a clear message. */
void gpt_forward(GPTModel *m, const int *ids, int B, int T);

/* ==== Added in chapter 4: a KV cache for generation (4.7) ====
 * The keys and values of one sequence's tokens so far, every layer's, so
 * that each new token runs through the model alone (generate.c). The
 * forward pass is gpt_forward's, with every block's attention reading and
 * extending its layer's part of the cache. */

typedef struct {
    int n_layers, context_length, emb_dim;
    float *keys, *values; /* (n_layers, context_length, C) */
    int length;           /* tokens cached: the next one's position */
    int window_start;     /* generate.c's: where in the sequence the cached tokens start */
} KVCache;

KVCache *kv_cache_create(const GPTConfig *config);
void kv_cache_free(KVCache *cache);

/* Empty the cache and run ids (T of them, T <= context_length) through the
 * model as one sequence, filling it; returns the last token's logits (V),
 * valid until the model's next forward pass (m->logits holds all T). */
float *gpt_prefill(GPTModel *m, KVCache *cache, const int *ids, int T);
/* One token through the model at position cache->length, appending its keys
 * and values; returns its logits (V), valid until the next forward pass. A
 * full cache exits with a message. */
float *gpt_forward_cached(GPTModel *m, KVCache *cache, int token);

/* ==== Added in chapter 5: the backward pass ==== */

/* Set every gradient to zero (allocating the gradient buffer the first time). */
void gpt_zero_grad(GPTModel *m);
/* The gradients of the last gpt_forward's loss, given grad_logits (B,T,V), the
 * loss's gradient with respect to m->logits for that forward's (B,T). They
 * accumulate (+=) into m->grads, as loss.backward() does in PyTorch; in
 * training mode the forward's dropout masks are used. The logits themselves
 * are not needed, so grad_logits may be m->logits, overwritten in place.
 * When m->frozen, no parameter gets a gradient (the hooks' backward passes
 * still run). A forward pass after cached tokens has nothing to go back
 * through: that exits. */
void gpt_backward(GPTModel *m, const float *grad_logits);

/* ==== Added in chapter 6: the model without its head ==== */

/* gpt_forward without the output head: up to the final layer norm, whose
 * output (B,T,C) lands in m->final_norm; m->logits is NULL. For a head of
 * one's own (chapter 6's classifier), without the cost of vocabulary logits. */
void gpt_forward_hidden(GPTModel *m, const int *ids, int B, int T);

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
