/* linear_hook.h: a side path on a linear layer, for finetuning methods that
 * leave the layer's weights frozen and train something beside them (LoRA,
 * the book's appendix E, in ch06_finetune/lora.c).
 *
 * A layer out = in @ W + b with a hook computes, in its forward pass,
 *   out += hook(in)
 * and, in its backward pass, after its own input gradient,
 *   grad_in += d hook(in) / d in . grad_out     (and the hook's own gradients)
 * The layers (attention, feed-forward, the vocabulary head) only call the
 * hook; what it computes and trains is the hook's business, so chapters 3
 * and 4 know nothing of LoRA. A NULL hook is no side path. */
#ifndef COMMON_LINEAR_HOOK_H
#define COMMON_LINEAR_HOOK_H

typedef struct {
    /* out (M, out) += the side path of in (M, in) */
    void (*forward)(void *ctx, float *out, const float *in, int M);
    /* the side path's gradients from grad_out (M, out), given the forward's
     * in: grad_in (M, in) += its input gradient (grad_in may be NULL) */
    void (*backward)(void *ctx, float *grad_in, const float *grad_out, const float *in, int M);
    void *ctx;
} LinearHook;

static inline void linear_hook_forward(const LinearHook *h, float *out, const float *in, int M) {
    if (h) h->forward(h->ctx, out, in, M);
}

static inline void linear_hook_backward(const LinearHook *h, float *grad_in, const float *grad_out, const float *in, int M) {
    if (h) h->backward(h->ctx, grad_in, grad_out, in, M);
}

#endif
