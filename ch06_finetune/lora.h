/* lora.h: Appendix E, Parameter-efficient finetuning with LoRA.
 *
 * LoRA (low-rank adaptation) freezes every weight of the model and gives
 * each linear layer y = x W + b a trainable side path of rank r:
 *
 *   y = x W + b + (alpha / r) (x A) B      A (in, r), B (r, out)
 *
 * A starts like PyTorch's kaiming_uniform_(A, a=sqrt(5)) on a tensor of
 * shape (in, r), whose fan_in is its dimension 1, r: uniform in
 * +-1/sqrt(r); B starts at zero, so the model starts out exactly as it was.
 * Only A and B train: for GPT-2 small with the 2-class head at rank 16,
 * 2,666,528 parameters of 124,441,346.
 *
 * The layers adapted are the book's: in every block the query, key and value
 * projections, the attention's output projection, fc1 and fc2, and the
 * output head (the classification head, or the vocabulary head in
 * instruction finetuning). The book's query, key and value are three
 * nn.Linear layers with an adapter each; here they are one fused (C, 3C)
 * weight, so its adapter has three parts side by side: A = [A_q | A_k | A_v]
 * (C, 3r), one matrix product for all three, and B = [B_q; B_k; B_v]
 * (3r, C), part p adding (alpha/r) (x A_p) B_p to the output columns
 * p*C..(p+1)*C-1. (One adapter of rank r on the fused weight would have
 * fewer parameters than the book's three and be another model.)
 *
 * Scaling: alpha / r, as the book's code has it since September 2025; the
 * printed book's LoRALayer multiplied by alpha alone (its rank 16, alpha 16
 * are alpha 256 here).
 *
 * The frozen layers run as before; the side paths are hooks
 * (common/linear_hook.h) that the blocks and the vocabulary head call, and
 * the GPT's frozen flag makes its backward pass skip every weight gradient
 * while the input gradients still flow to the adapters below. All A and B
 * live in one buffer with a gradient twin, so AdamW over them is one group.
 * Saving merges them into the weights (W += (alpha/r) A B): a plain model
 * that needs nothing of LoRA to be used. */
#ifndef CH06_LORA_H
#define CH06_LORA_H

#include <stddef.h>
#include <stdint.h>

#include "../ch04_gpt/gpt.h"
#include "../common/linear_hook.h"
#include "trainable.h"

/* One adapted layer: in -> parts * out, parts adapters of rank r. */
typedef struct {
    char name[48];     /* "blocks.3.att.qkv", "head" */
    int in, out, parts, rank;
    float scale;       /* alpha / rank */
    float *A, *B;      /* (in, parts*rank), (parts*rank, out): views into Lora.params */
    float *grad_A, *grad_B;    /* views into Lora.grads */
    LinearHook hook;   /* ctx: this adapter */
    /* (alpha/r) x A of the last forward (M, parts*rank), for the backward;
     * then the gradient of x A there */
    float *h, *grad_h;
    int M;
    size_t capacity;   /* rows of h and grad_h */
} LoraLinear;

typedef struct {
    int rank;
    float alpha;
    int n_layers;          /* the GPT's */
    int n;                 /* adapters: 4 per block (qkv, out_proj, fc1, fc2), then the head */
    LoraLinear *layers;
    float *params, *grads; /* every A and B, one buffer each */
    size_t n_params;
    GPTModel *attached;    /* the model whose hooks point here, or NULL */
} Lora;

/* Trainable parameters of adapters of rank r on a model of config c with an
 * output head of head_out outputs (2 for the book's classifier, the
 * vocabulary size for instruction finetuning). No memory is allocated. */
size_t lora_param_count(const GPTConfig *c, int rank, int head_out);

/* Adapters for such a model: A drawn from a generator seeded with seed, B
 * zero. rank >= 1; alpha > 0. */
Lora *lora_create(const GPTConfig *c, int head_out, int rank, float alpha, uint64_t seed);
void lora_free(Lora *l);
/* The adapter on the output head. */
LoraLinear *lora_head(Lora *l);

/* Hook the blocks' adapters (and, when vocab_head, the head's on the
 * vocabulary head) into m and freeze it (m->frozen). */
void lora_attach(Lora *l, GPTModel *m, bool vocab_head);
/* Undo lora_attach: m is an ordinary model again. */
void lora_detach(Lora *l);

/* The adapter's forward and backward on M rows, as the hooks call them:
 * out (M, parts*out) += (alpha/r) (in A) B; then, from grad_out, grad_A and grad_B
 * accumulate (+=) and grad_in (M, in) += its gradient (grad_in may be NULL).
 * The backward uses the last forward's x A: it must follow that forward. */
void lora_linear_forward(LoraLinear *a, float *out, const float *in, int M);
void lora_linear_backward(LoraLinear *a, float *grad_in, const float *grad_out, const float *in, int M);
/* weight += (alpha/r) A B. transposed: weight is stored (out, in), as
 * nn.Linear and the output heads store it. */
void lora_linear_merge(const LoraLinear *a, float *weight, bool transposed);

/* Merge every block adapter into the attached model's weights and the head
 * adapter into head_weight ((out, in) layout: the classifier's weight, or
 * m->out_head, which must not be tied to the embedding), then detach. The
 * model computes what it computed with the adapters, up to rounding. */
void lora_merge(Lora *l, float *head_weight);

/* Train every A and B (one group, "lora"). */
void lora_trainable(Lora *l, Trainable *t);

#endif
