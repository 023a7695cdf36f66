/* embedding.c: see embedding.h. */
#include "embedding.h"

#include <string.h>

#include "../common/util.h"

/* ==== 2.7 Creating token embeddings ==== */

void embedding_forward(float *out, const int *ids, int n_ids, const float *weight, int vocab_size, int dim) {
    for (int i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= vocab_size)
            fatal("token id %d is outside the vocabulary (0..%d)", ids[i], vocab_size - 1);
        memcpy(out + (size_t)i * dim, weight + (size_t)ids[i] * dim, dim * sizeof(float));
    }
}

void embedding_backward(float *grad_weight, const float *grad_out, const int *ids, int n_ids, int dim) {
    /* serial: two positions may hold the same token and add to the same row */
    for (int i = 0; i < n_ids; i++) {
        float *row = grad_weight + (size_t)ids[i] * dim;
        const float *g = grad_out + (size_t)i * dim;
        for (int c = 0; c < dim; c++) row[c] += g[c];
    }
}

/* ==== 2.8 Encoding word positions ==== */

void add_position_embeddings(float *x, const float *pos_weight, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *row = x + ((size_t)b * T + t) * C;
            const float *pos = pos_weight + (size_t)t * C;
            for (int c = 0; c < C; c++) row[c] += pos[c];
        }
}

void add_position_embeddings_backward(float *grad_pos_weight, const float *grad_x, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *g = grad_x + ((size_t)b * T + t) * C;
            float *pos = grad_pos_weight + (size_t)t * C;
            for (int c = 0; c < C; c++) pos[c] += g[c];
        }
}
