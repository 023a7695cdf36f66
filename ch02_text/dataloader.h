/* dataloader.h: 2.6 Data sampling with a sliding window. A data set of
 * (input, target) windows over a token sequence, the target being the input
 * shifted by one token, and a loader that serves them in batches. */
#ifndef CH02_DATALOADER_H
#define CH02_DATALOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/rng.h"

/* ==== 2.6 Data sampling with a sliding window ==== */

typedef struct {
    const int *token_ids; /* borrowed: must outlive the data set */
    size_t n_tokens;
    int max_length;       /* tokens per window */
    int stride;           /* tokens between window starts */
    int n_samples;
} TokenDataset;

/* Windows start at 0, stride, 2*stride, ... while start < n_tokens - max_length
 * (the book's GPTDatasetV1). Returns false with a one-line reason in err when
 * the numbers make no data set (max_length or stride < 1, text too short). */
bool dataset_init(TokenDataset *ds, const int *token_ids, size_t n_tokens, int max_length, int stride, char *err,
                  size_t err_size);
/* Copy sample i: input and target, each max_length ids. */
void dataset_get(const TokenDataset *ds, int i, int *input, int *target);

typedef struct {
    const TokenDataset *ds;
    int batch_size;
    bool shuffle;
    bool drop_last; /* drop a last batch smaller than batch_size */
    Rng rng;
    int *order;     /* sample order of the current epoch */
    int n_batches;
    int next_batch;
} DataLoader;

bool loader_init(DataLoader *dl, const TokenDataset *ds, int batch_size, bool shuffle, bool drop_last, uint64_t seed,
                 char *err, size_t err_size);
/* Start an epoch: the next batch is the first; reshuffles when shuffling. */
void loader_reset(DataLoader *dl);
/* Fill inputs and targets, each (batch_size, max_length) row-major, with the
 * next batch. Returns the number of rows filled, 0 at the end of the epoch. */
int loader_next(DataLoader *dl, int *inputs, int *targets);
void loader_free(DataLoader *dl);

#endif
