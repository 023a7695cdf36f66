/* adamw.h: the optimiser of 5.2 (torch.optim.AdamW), gradient clipping by
 * global norm, and appendix D's learning-rate schedule. All of them work on
 * the model's one parameter buffer and its twin of gradients. */
#ifndef CH05_ADAMW_H
#define CH05_ADAMW_H

#include <stddef.h>

typedef struct {
    float lr;           /* the learning rate, unless a schedule sets it per step */
    float beta1, beta2; /* decay rates of the moment estimates: 0.9, 0.999 */
    float eps;          /* 1e-8: keeps the step finite where the second moment is 0 */
    float weight_decay; /* decoupled: params shrink by lr * weight_decay each step */
} AdamWConfig;

/* PyTorch's defaults with the book's lr 4e-4 and weight decay 0.1. */
AdamWConfig adamw_default_config(void);

typedef struct {
    size_t n;
    float *m; /* first moment (running mean of gradients) */
    float *v; /* second moment (running mean of squared gradients) */
    long step;
} AdamW;

void adamw_init(AdamW *opt, size_t n_params);
void adamw_free(AdamW *opt);
/* One update of params from grads with learning rate lr, exactly as
 * torch.optim.AdamW does it (weight decay first, bias-corrected moments). */
void adamw_step(AdamW *opt, float *params, const float *grads, const AdamWConfig *cfg, float lr);

/* Scale grads so their global L2 norm is at most max_norm (as
 * torch.nn.utils.clip_grad_norm_); returns the norm before clipping. */
float clip_grad_norm(float *grads, size_t n, float max_norm);

/* Appendix D: linear warm-up from initial_lr to peak_lr over warmup_steps,
 * then cosine decay to min_lr at total_steps. */
typedef struct {
    float initial_lr, peak_lr, min_lr;
    long warmup_steps, total_steps;
} LrSchedule;
float lr_at_step(const LrSchedule *s, long step);

#endif
