/* shard_loader.h: training batches from a prepared corpus's token shards
 * (corpus.h), the book's create_dataloader_v1 (windows of the context's
 * length at a stride of the same, each with its next tokens as targets)
 * over shards too large to hold as one list: they are memory-mapped, and an
 * epoch's shuffled order is drawn shard by shard. The order is a function
 * of the seed and the epoch's number alone (the shards' order, then each
 * shard's windows), so a run resumed at (epoch, batch) reads exactly the
 * batches a run that never stopped would have read. */
#ifndef CH05_SHARD_LOADER_H
#define CH05_SHARD_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "corpus.h"
#include "train.h"

typedef struct {
    Shard *shards;
    int n_shards;
    long *n_windows;    /* per shard */
    long total_windows;
    int T, rows;        /* a batch: rows windows of T tokens */
    int n_batches;      /* per epoch; the last windows that fill no batch are left out */
    bool shuffle;
    uint64_t seed;
    /* where it stands */
    long epoch;         /* the epoch being read: -1 before the first reset */
    long next_batch;    /* within it */
    bool keep_position; /* a resumed loader: the next reset continues instead of starting an epoch */
    /* the epoch's order */
    int *shard_order;
    long *order_start;  /* the first window of shard_order[p] in the epoch's order (n_shards + 1) */
    int cached_shard;   /* the shard whose window order is in window_order, or -1 */
    int *window_order;
    int *inputs, *targets; /* the current batch (rows, T) */
} ShardBatches;

/* Batches of rows windows of T tokens over the shards at paths; false with
 * a reason when a shard is bad or they hold no batch at all. */
bool shard_batches_init(ShardBatches *sb, char *const *paths, int n_paths, int T, int rows, bool shuffle,
                        uint64_t seed, char *err, size_t err_size);
/* The loops' view of it: reset starts the next epoch, next gives its next batch. */
BatchLoader shard_batches_loader(ShardBatches *sb);
/* Resume at batch next_batch of epoch epoch: the next reset continues there. */
void shard_batches_seek(ShardBatches *sb, long epoch, long next_batch);
void shard_batches_free(ShardBatches *sb);

#endif
