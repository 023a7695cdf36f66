/* loss.h: 5.1 Calculating the text generation loss: cross entropy, the
 * average over all positions of -log(probability of the right next token),
 * as the book computes it with
 *   torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
 * Perplexity is exp(loss). */
#ifndef CH05_LOSS_H
#define CH05_LOSS_H

/* logits (N,V) for N positions, targets (N) in 0..V-1 (anything else exits
 * with a message). Returns the mean loss. probs (N,V) gets the softmax of
 * each row, which the backward pass needs; it may be the logits buffer
 * itself (overwritten). losses (N), when not NULL, gets each position's loss. */
float cross_entropy_forward(float *losses, float *probs, const float *logits, const int *targets, int N, int V);

/* The gradient of the mean loss with respect to the logits:
 * d_logits = (probs - onehot(targets)) / N. d_logits may be probs itself. */
void cross_entropy_backward(float *d_logits, const float *probs, const int *targets, int N, int V);

#endif
