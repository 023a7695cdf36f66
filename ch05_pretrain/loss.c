/* loss.c: see loss.h. */
#include "loss.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "../common/util.h"

/* The positions whose target is not CROSS_ENTROPY_IGNORE_INDEX. */
static int counted_targets(const int *targets, int N) {
    int n = 0;
    for (int i = 0; i < N; i++) n += targets[i] != CROSS_ENTROPY_IGNORE_INDEX;
    return n;
}

float cross_entropy_forward(float *losses, float *probs, const float *logits, const int *targets, int N, int V) {
    /* BEGIN EXERCISE 5a: cross-entropy loss (book 5.1.2) */
    /* check first: exiting from inside a parallel loop would be messy */
    for (int i = 0; i < N; i++)
        if ((targets[i] < 0 || targets[i] >= V) && targets[i] != CROSS_ENTROPY_IGNORE_INDEX)
            fatal("cross entropy: target %d at position %d is outside the vocabulary (0..%d)", targets[i], i, V - 1);
    const int counted = counted_targets(targets, N);
    double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total) if ((long)N * V >= (1L << 16))
    for (int i = 0; i < N; i++) {
        const float *x = logits + (size_t)i * V;
        float *p = probs + (size_t)i * V;
        /* log softmax without overflow: subtract the row's max, so every
         * exp is at most 1 and the largest is exactly 1 */
        float max = x[0];
        for (int j = 1; j < V; j++)
            if (x[j] > max) max = x[j];
        /* read the target's logit before p (maybe the same buffer) is written */
        const bool ignored = targets[i] == CROSS_ENTROPY_IGNORE_INDEX;
        const float target_logit = ignored ? max : x[targets[i]];
        double sum = 0.0;
        for (int j = 0; j < V; j++) {
            p[j] = expf(x[j] - max);
            sum += p[j];
        }
        /* -log softmax(x)[target] = log(sum) - (x[target] - max) */
        float loss = ignored ? 0.0f : (float)(log(sum) - (target_logit - max));
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < V; j++) p[j] *= inv;
        if (losses) losses[i] = loss;
        total += loss;
    }
    return counted ? (float)(total / counted) : NAN;
    /* END EXERCISE 5a */
}

void cross_entropy_backward(float *grad_logits, const float *probs, const int *targets, int N, int V) {
    /* d loss_i / d logit_j = softmax_j - [j == target]; the mean divides by
     * the positions counted, and an ignored position passes back nothing */
    const int counted = counted_targets(targets, N);
    const float inv_n = counted ? 1.0f / counted : 0.0f;
#pragma omp parallel for schedule(static) if ((long)N * V >= (1L << 16))
    for (int i = 0; i < N; i++) {
        const float *p = probs + (size_t)i * V;
        float *d = grad_logits + (size_t)i * V;
        if (targets[i] == CROSS_ENTROPY_IGNORE_INDEX) {
            memset(d, 0, (size_t)V * sizeof(float));
            continue;
        }
        for (int j = 0; j < V; j++) d[j] = p[j] * inv_n;
        d[targets[i]] -= inv_n;
    }
}
