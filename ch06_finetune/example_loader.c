/* example_loader.c: see example_loader.h. */
#include "example_loader.h"

#include <stdio.h>
#include <stdlib.h>

#include "../common/util.h"

bool example_loader_init(ExampleLoader *l, int n_items, int batch_size, bool shuffle, bool drop_last, uint64_t seed,
                         char *err, size_t err_size) {
    *l = (ExampleLoader){0};
    if (batch_size < 1) {
        snprintf(err, err_size, "batch size %d: must be at least 1", batch_size);
        return false;
    }
    int n_batches = drop_last ? n_items / batch_size : (n_items + batch_size - 1) / batch_size;
    if (n_batches < 1) {
        snprintf(err, err_size, "%d example%s make no batch of %d", n_items, n_items == 1 ? "" : "s", batch_size);
        return false;
    }
    *l = (ExampleLoader){.n_items = n_items, .batch_size = batch_size, .shuffle = shuffle, .drop_last = drop_last,
                         .order = xmalloc((size_t)n_items * sizeof(int)), .n_batches = n_batches};
    rng_seed(&l->rng, seed);
    for (int i = 0; i < n_items; i++) l->order[i] = i;
    example_loader_reset(l);
    return true;
}

void example_loader_reset(ExampleLoader *l) {
    l->next_batch = 0;
    if (l->shuffle) {
        for (int i = 0; i < l->n_items; i++) l->order[i] = i; /* a fresh permutation, as RandomSampler draws */
        rng_shuffle(&l->rng, l->order, (size_t)l->n_items);
    }
}

int example_loader_next(ExampleLoader *l, const int **indices) {
    if (l->next_batch >= l->n_batches) return 0;
    int start = l->next_batch++ * l->batch_size;
    int n = l->n_items - start < l->batch_size ? l->n_items - start : l->batch_size;
    *indices = l->order + start;
    return n;
}

void example_loader_free(ExampleLoader *l) {
    free(l->order);
    l->order = NULL;
}
