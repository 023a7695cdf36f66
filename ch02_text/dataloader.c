/* dataloader.c: see dataloader.h. */
#include "dataloader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"

/* ==== 2.6 Data sampling with a sliding window ==== */

bool dataset_init(TokenDataset *ds, const int *token_ids, size_t n_tokens, int max_length, int stride, char *err,
                  size_t err_size) {
    /* BEGIN EXERCISE 2c: sliding window data set (book 2.6) */
    if (max_length < 1) return snprintf(err, err_size, "max_length must be at least 1 (got %d)", max_length), false;
    if (stride < 1) return snprintf(err, err_size, "stride must be at least 1 (got %d)", stride), false;
    if ((size_t)max_length >= n_tokens)
        return snprintf(err, err_size, "max_length %d needs a text of more than %d tokens (it has %zu)", max_length,
                        max_length, n_tokens),
               false;
    size_t span = n_tokens - (size_t)max_length;
    size_t n = (span + stride - 1) / stride;
    if (n > 0x7fffffff) return snprintf(err, err_size, "too many samples (%zu)", n), false;
    ds->token_ids = token_ids;
    ds->n_tokens = n_tokens;
    ds->max_length = max_length;
    ds->stride = stride;
    ds->n_samples = (int)n;
    return true;
    /* END EXERCISE 2c */
}

void dataset_get(const TokenDataset *ds, int i, int *input, int *target) {
    /* BEGIN EXERCISE 2c: sliding window data set (book 2.6) */
    const int *start = ds->token_ids + (size_t)i * ds->stride;
    memcpy(input, start, ds->max_length * sizeof(int));
    memcpy(target, start + 1, ds->max_length * sizeof(int));
    /* END EXERCISE 2c */
}

bool loader_init(DataLoader *dl, const TokenDataset *ds, int batch_size, bool shuffle, bool drop_last, uint64_t seed,
                 char *err, size_t err_size) {
    if (batch_size < 1) return snprintf(err, err_size, "batch size must be at least 1 (got %d)", batch_size), false;
    int n_batches = drop_last ? ds->n_samples / batch_size : (ds->n_samples + batch_size - 1) / batch_size;
    if (n_batches == 0)
        return snprintf(err, err_size, "%d samples make no full batch of %d (drop_last is on)", ds->n_samples,
                        batch_size),
               false;
    dl->ds = ds;
    dl->batch_size = batch_size;
    dl->shuffle = shuffle;
    dl->drop_last = drop_last;
    dl->n_batches = n_batches;
    rng_seed(&dl->rng, seed);
    dl->order = xmalloc(checked_mul(ds->n_samples, sizeof(int)));
    loader_reset(dl);
    return true;
}

void loader_reset(DataLoader *dl) {
    for (int i = 0; i < dl->ds->n_samples; i++) dl->order[i] = i;
    if (dl->shuffle) rng_shuffle(&dl->rng, dl->order, dl->ds->n_samples);
    dl->next_batch = 0;
}

int loader_next(DataLoader *dl, int *inputs, int *targets) {
    if (dl->next_batch >= dl->n_batches) return 0;
    int first = dl->next_batch++ * dl->batch_size;
    int rows = dl->ds->n_samples - first;
    if (rows > dl->batch_size) rows = dl->batch_size;
    int T = dl->ds->max_length;
    for (int r = 0; r < rows; r++)
        dataset_get(dl->ds, dl->order[first + r], inputs + (size_t)r * T, targets + (size_t)r * T);
    return rows;
}

void loader_free(DataLoader *dl) {
    free(dl->order);
    dl->order = NULL;
}
