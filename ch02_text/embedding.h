/* embedding.h: 2.7 Creating token embeddings and 2.8 Encoding word
 * positions. An embedding layer is a lookup table: row i of the weight
 * matrix is the vector of token i. Each layer's backward pass, which
 * chapter 5's training adds, sits beside its forward pass. */
#ifndef CH02_EMBEDDING_H
#define CH02_EMBEDDING_H

/* ==== 2.7 Creating token embeddings ==== */

/* out is (n_ids, dim): out[i] = weight[ids[i]], weight is (vocab_size, dim).
 * An id outside 0..vocab_size-1 exits with a clear message. */
void embedding_forward(float *out, const int *ids, int n_ids, const float *weight, int vocab_size, int dim);
/* Its gradient: grad_weight[ids[i]] += grad_out[i] for each i. A token that occurs
 * several times collects the sum of its rows' gradients; tokens that do not
 * occur get nothing. ids were checked by the forward pass. */
void embedding_backward(float *grad_weight, const float *grad_out, const int *ids, int n_ids, int dim);

/* ==== 2.8 Encoding word positions ==== */

/* Absolute positions: x is (B, T, C), pos_weight is (>= T, C);
 * x[b, t] += pos_weight[t]. */
void add_position_embeddings(float *x, const float *pos_weight, int B, int T, int C);
/* Its gradient: grad_pos_weight[t] += sum over the batch of grad_x[b, t]. (The
 * gradient with respect to x is grad_x itself, so there is nothing to do.) */
void add_position_embeddings_backward(float *grad_pos_weight, const float *grad_x, int B, int T, int C);

#endif
