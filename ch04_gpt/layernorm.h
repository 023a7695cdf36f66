/* layernorm.h: 4.2 Normalizing activations with layer normalization. */
#ifndef CH04_LAYERNORM_H
#define CH04_LAYERNORM_H

/* ==== 4.2 Normalizing activations with layer normalization ==== */

#define LAYERNORM_EPS 1e-5f

/* out, in are (N,C): each row is shifted to mean 0 and scaled to variance 1
 * (the biased variance, dividing by C as the book's unbiased=False does),
 * then out = scale * normalized + shift. mean and rstd (N) keep each row's
 * mean and 1/sqrt(var + eps) for the backward pass (either may be NULL). */
void layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *scale, const float *shift,
                       int N, int C);
/* ==== Added in chapter 5: the backward pass ==== */

/* layernorm_forward's gradient, accumulated (+=), from grad_out (N,C) and
 * the forward's in, mean and rstd. With xhat = (in - mean) * rstd and
 * g = grad_out * scale:
 *   grad_in    += rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))
 *   grad_scale += sum over rows of grad_out * xhat,  grad_shift += sum over rows of grad_out
 * (the two means are what mean and variance, shared by the whole row, pass
 * back to every element of it). grad_scale and grad_shift may both be NULL:
 * frozen, only grad_in is computed. */
void layernorm_backward(float *grad_in, float *grad_scale, float *grad_shift, const float *grad_out, const float *in,
                        const float *mean, const float *rstd, const float *scale, int N, int C);

#endif
