/* adamw.c: see adamw.h. */
#include "adamw.h"

#include <math.h>
#include <stdlib.h>

#include "../common/util.h"

AdamWConfig adamw_default_config(void) {
    return (AdamWConfig){.lr = 4e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.1f};
}

void adamw_init(AdamW *opt, size_t n_params) {
    opt->n = n_params;
    opt->m = xcalloc(n_params, sizeof(float));
    opt->v = xcalloc(n_params, sizeof(float));
    opt->step = 0;
}

void adamw_free(AdamW *opt) {
    free(opt->m);
    free(opt->v);
    opt->m = opt->v = NULL;
}

void adamw_step(AdamW *opt, float *params, const float *grads, const AdamWConfig *cfg, float lr) {
    opt->step++;
    const float b1 = cfg->beta1, b2 = cfg->beta2;
    /* early steps average over few gradients; dividing by (1 - beta^t)
     * removes the bias towards the zero the moments start from */
    const float bias_correction1 = 1.0f - powf(b1, (float)opt->step);
    const float bias_correction2_sqrt = sqrtf(1.0f - powf(b2, (float)opt->step));
    const float step_size = lr / bias_correction1;
    const float decay = 1.0f - lr * cfg->weight_decay;
    float *m = opt->m, *v = opt->v;
    const long n = (long)opt->n;
#pragma omp parallel for schedule(static) if (n >= (1L << 16))
    for (long i = 0; i < n; i++) {
        float g = grads[i];
        params[i] *= decay; /* decoupled weight decay, applied before the Adam step */
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        float denom = sqrtf(v[i]) / bias_correction2_sqrt + cfg->eps;
        params[i] -= step_size * m[i] / denom;
    }
}

float clip_grad_norm(float *grads, size_t n, float max_norm) {
    double sum_sq = 0.0;
#pragma omp parallel for reduction(+ : sum_sq) schedule(static) if (n >= (1UL << 16))
    for (long i = 0; i < (long)n; i++) sum_sq += (double)grads[i] * grads[i];
    float norm = (float)sqrt(sum_sq);
    float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f)
        for (size_t i = 0; i < n; i++) grads[i] *= coef;
    return norm;
}

float lr_at_step(const LrSchedule *s, long step) {
    if (step < s->warmup_steps)
        return s->initial_lr + (s->peak_lr - s->initial_lr) * (float)step / (float)s->warmup_steps;
    long decay_steps = s->total_steps - s->warmup_steps;
    double progress = decay_steps > 0 ? (double)(step - s->warmup_steps) / decay_steps : 1.0;
    if (progress > 1.0) progress = 1.0;
    return (float)(s->min_lr + (s->peak_lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * progress)));
}
