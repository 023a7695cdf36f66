/* example_loader.h: PyTorch's DataLoader over a data set of whole examples
 * (texts with labels, instructions): the order of the examples, in batches.
 * With shuffling every epoch draws a fresh order (RandomSampler); with
 * drop_last a last batch smaller than the others is left out (the book's
 * training loaders), otherwise it is kept (validation and test). */
#ifndef CH06_EXAMPLE_LOADER_H
#define CH06_EXAMPLE_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/rng.h"

typedef struct {
    int n_items, batch_size;
    bool shuffle, drop_last;
    Rng rng;
    int *order;    /* the current epoch's order of the examples */
    int n_batches; /* per epoch */
    int next_batch;
} ExampleLoader;

/* False, with a one-line reason, when the numbers make no batches (a batch
 * size below 1, or drop_last with fewer examples than one batch). */
bool example_loader_init(ExampleLoader *l, int n_items, int batch_size, bool shuffle, bool drop_last, uint64_t seed,
                         char *err, size_t err_size);
/* Start an epoch: the next batch is the first; reshuffles when shuffling. */
void example_loader_reset(ExampleLoader *l);
/* The examples of the next batch: *indices points at them (valid until the
 * next reset). Returns how many, 0 at the end of the epoch. */
int example_loader_next(ExampleLoader *l, const int **indices);
void example_loader_free(ExampleLoader *l);

#endif
