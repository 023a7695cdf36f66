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
/* Its gradient, accumulated (+=), from d_out (N,C) and the forward's in,
 * mean and rstd. With xhat = (in - mean) * rstd and g = d_out * scale:
 *   d_in    += rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))
 *   d_scale += sum over rows of d_out * xhat,  d_shift += sum over rows of d_out
 * (the two means are what mean and variance, shared by the whole row, pass
 * back to every element of it). d_scale and d_shift may both be NULL:
 * frozen, only d_in is computed. */
void layernorm_backward(float *d_in, float *d_scale, float *d_shift, const float *d_out, const float *in,
                        const float *mean, const float *rstd, const float *scale, int N, int C);

#endif
