/* layernorm.h: 4.2 Normalizing activations with layer normalization. */
#ifndef CH04_LAYERNORM_H
#define CH04_LAYERNORM_H

#define LAYERNORM_EPS 1e-5f

/* out, in are (N,C): each row is shifted to mean 0 and scaled to variance 1
 * (the biased variance, dividing by C as the book's unbiased=False does),
 * then out = scale * normalized + shift. mean and rstd (N) keep each row's
 * mean and 1/sqrt(var + eps) for the backward pass (either may be NULL). */
void layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *scale, const float *shift,
                       int N, int C);

#endif
