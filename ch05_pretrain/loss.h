/* loss.h: 5.1 Calculating the text generation loss: cross entropy, the
 * average over all positions of -log(probability of the right next token),
 * as the book computes it with
 *   torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
 * Perplexity is exp(loss). */
#ifndef CH05_LOSS_H
#define CH05_LOSS_H

/* A target that takes no part in the loss: PyTorch's default ignore_index,
 * which chapter 7's collate function puts on the padding. */
#define CROSS_ENTROPY_IGNORE_INDEX (-100)

/* logits (N,V) for N positions, targets (N) in 0..V-1 or
 * CROSS_ENTROPY_IGNORE_INDEX (anything else exits with a message). Returns
 * the mean loss over the positions not ignored (NaN when all are, as
 * PyTorch's 0/0). probs (N,V) gets the softmax of each row, which the
 * backward pass needs; it may be the logits buffer itself (overwritten).
 * losses (N), when not NULL, gets each position's loss (0 where ignored). */
float cross_entropy_forward(float *losses, float *probs, const float *logits, const int *targets, int N, int V);

/* The gradient of the mean loss with respect to the logits:
 * grad_logits = (probs - onehot(targets)) / n, n the positions not ignored;
 * the rows of ignored positions are zero. grad_logits may be probs itself. */
void cross_entropy_backward(float *grad_logits, const float *probs, const int *targets, int N, int V);

#endif
