/* shard_loader.c: see shard_loader.h. */
#include "shard_loader.h"

#include <stdlib.h>
#include <string.h>

#include "../common/rng.h"
#include "../common/util.h"

bool shard_batches_init(ShardBatches *sb, char *const *paths, int n_paths, int T, int rows, bool shuffle,
                        uint64_t seed, char *err, size_t err_size) {
    *sb = (ShardBatches){.n_shards = n_paths, .T = T, .rows = rows, .shuffle = shuffle, .seed = seed, .epoch = -1,
                         .cached_shard = -1};
    sb->shards = xcalloc((size_t)n_paths, sizeof *sb->shards);
    sb->n_windows = xcalloc((size_t)n_paths, sizeof *sb->n_windows);
    for (int i = 0; i < n_paths; i++) {
        if (!shard_open(paths[i], &sb->shards[i], err, err_size)) {
            shard_batches_free(sb);
            return false;
        }
        long n = sb->shards[i].n;
        sb->n_windows[i] = n > T ? (n - 1) / T : 0; /* range(0, len - T, T) */
        sb->total_windows += sb->n_windows[i];
    }
    if (sb->total_windows / rows < 1) {
        format_error(err, err_size, "%d shard(s) of %ld windows of %d tokens: not one batch of %d", n_paths,
                     sb->total_windows, T, rows);
        shard_batches_free(sb);
        return false;
    }
    if (sb->total_windows / rows > 0x7fffffff) {
        format_error(err, err_size, "%ld batches per epoch: more than this loader counts", sb->total_windows / rows);
        shard_batches_free(sb);
        return false;
    }
    sb->n_batches = (int)(sb->total_windows / rows);
    sb->shard_order = xmalloc((size_t)n_paths * sizeof *sb->shard_order);
    sb->order_start = xmalloc((size_t)(n_paths + 1) * sizeof *sb->order_start);
    long most = 0;
    for (int i = 0; i < n_paths; i++) most = sb->n_windows[i] > most ? sb->n_windows[i] : most;
    sb->window_order = xmalloc((size_t)(most ? most : 1) * sizeof *sb->window_order);
    sb->inputs = xmalloc((size_t)rows * T * sizeof *sb->inputs);
    sb->targets = xmalloc((size_t)rows * T * sizeof *sb->targets);
    return true;
}

/* A generator for one epoch (and one shard of it: shard -1 for the shards'
 * order), from the seed alone. */
static void order_rng(const ShardBatches *sb, long epoch, int shard, Rng *rng) {
    rng_seed(rng, sb->seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(epoch + 1)) ^
                      (0xBF58476D1CE4E5B9ULL * (uint64_t)(shard + 2)));
}

/* The epoch's order of the shards, and where each starts in it. */
static void order_shards(ShardBatches *sb) {
    for (int i = 0; i < sb->n_shards; i++) sb->shard_order[i] = i;
    if (sb->shuffle) {
        Rng rng;
        order_rng(sb, sb->epoch, -1, &rng);
        rng_shuffle(&rng, sb->shard_order, (size_t)sb->n_shards);
    }
    sb->order_start[0] = 0;
    for (int p = 0; p < sb->n_shards; p++) sb->order_start[p + 1] = sb->order_start[p] + sb->n_windows[sb->shard_order[p]];
    sb->cached_shard = -1;
}

/* Window g of the epoch's order: its shard and its first token there. */
static const uint16_t *window_at(ShardBatches *sb, long g) {
    int lo = 0, hi = sb->n_shards - 1; /* the position p with order_start[p] <= g < order_start[p + 1] */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (sb->order_start[mid] <= g) lo = mid;
        else hi = mid - 1;
    }
    int shard = sb->shard_order[lo];
    long w = g - sb->order_start[lo];
    if (sb->shuffle) {
        if (sb->cached_shard != shard) {
            for (long i = 0; i < sb->n_windows[shard]; i++) sb->window_order[i] = (int)i;
            Rng rng;
            order_rng(sb, sb->epoch, shard, &rng);
            rng_shuffle(&rng, sb->window_order, (size_t)sb->n_windows[shard]);
            sb->cached_shard = shard;
        }
        w = sb->window_order[w];
    }
    return sb->shards[shard].tokens + w * sb->T;
}

static void shard_batches_reset(void *self) {
    ShardBatches *sb = self;
    if (sb->keep_position) {
        sb->keep_position = false;
    } else {
        sb->epoch++;
        sb->next_batch = 0;
    }
    order_shards(sb);
}

static bool shard_batches_next(void *self, Batch *batch) {
    ShardBatches *sb = self;
    if (sb->next_batch >= sb->n_batches) return false;
    const int T = sb->T;
    for (int r = 0; r < sb->rows; r++) {
        const uint16_t *window = window_at(sb, sb->next_batch * sb->rows + r);
        for (int t = 0; t < T; t++) {
            sb->inputs[r * T + t] = window[t];
            sb->targets[r * T + t] = window[t + 1];
        }
    }
    sb->next_batch++;
    *batch = (Batch){.B = sb->rows, .T = T, .inputs = sb->inputs, .targets = sb->targets};
    return true;
}

BatchLoader shard_batches_loader(ShardBatches *sb) {
    return (BatchLoader){.n_batches = sb->n_batches, .reset = shard_batches_reset, .next = shard_batches_next, .self = sb};
}

void shard_batches_seek(ShardBatches *sb, long epoch, long next_batch) {
    sb->epoch = epoch;
    sb->next_batch = next_batch;
    sb->keep_position = true;
}

void shard_batches_free(ShardBatches *sb) {
    for (int i = 0; i < sb->n_shards; i++) shard_close(&sb->shards[i]);
    free(sb->shards);
    free(sb->n_windows);
    free(sb->shard_order);
    free(sb->order_start);
    free(sb->window_order);
    free(sb->inputs);
    free(sb->targets);
    *sb = (ShardBatches){0};
}
