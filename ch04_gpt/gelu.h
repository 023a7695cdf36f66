/* gelu.h: 4.3 GELU, the smooth activation of GPT-2's feed-forward layers,
 * in its tanh approximation:
 *   GELU(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
#ifndef CH04_GELU_H
#define CH04_GELU_H

#include <stddef.h>

/* ==== 4.3 Implementing a feed forward network with GELU activations ==== */

void gelu_forward(float *out, const float *in, size_t n);
/* ==== Added in chapter 5: the backward pass ==== */

/* grad_in += grad_out * GELU'(in) */
void gelu_backward(float *grad_in, const float *in, const float *grad_out, size_t n);

#endif
