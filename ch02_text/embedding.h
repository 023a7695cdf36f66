/* embedding.h: 2.7 Creating token embeddings and 2.8 Encoding word
 * positions. An embedding layer is a lookup table: row i of the weight
 * matrix is the vector of token i. */
#ifndef CH02_EMBEDDING_H
#define CH02_EMBEDDING_H

/* out is (n_ids, dim): out[i] = weight[ids[i]], weight is (vocab_size, dim).
 * An id outside 0..vocab_size-1 exits with a clear message. */
void embedding_forward(float *out, const int *ids, int n_ids, const float *weight, int vocab_size, int dim);

/* Absolute positions: x is (B, T, C), pos_weight is (>= T, C);
 * x[b, t] += pos_weight[t]. */
void add_position_embeddings(float *x, const float *pos_weight, int B, int T, int C);

#endif
