/* data_parallel.h: one training step's batch as micro-batches, the way a
 * large batch is trained when it does not fit at once (gradient
 * accumulation) and when several processes share it (data parallelism over
 * MPI: each rank holds the whole model and computes its share of the
 * micro-batches; the gradients are summed and every rank takes the same
 * AdamW step).
 *
 * The sum is the same bits whoever computes it: the micro-batches'
 * gradients are added pairwise, level by level, in the order of the
 * micro-batches (((g0 + g1) + (g2 + g3)), ...), a rank's share is a whole
 * subtree of that sum, and the ranks' subtotals are added by the same tree.
 * A micro-batch's dropout mask comes from (seed, step, its index), not from
 * the rank. So 1, 2 or 4 ranks give bit-identical losses and weights. */
#ifndef CH05_DATA_PARALLEL_H
#define CH05_DATA_PARALLEL_H

#include <stdbool.h>
#include <stdint.h>

#include "../ch04_gpt/gpt.h"
#include "train.h"

/* ---- the processes ------------------------------------------------------------ */

/* This process's rank and the number of ranks: started by mpirun (or srun)
 * in a build with MPI, MPI is initialised here (once, and finalised at
 * exit); otherwise 0 of 1. */
void data_parallel_world(int *rank, int *n_ranks);
/* Whether this build can run across processes (MPI). */
bool data_parallel_has_mpi(void);
/* Seconds this process has spent in communication so far. */
double data_parallel_comm_seconds(void);

/* ---- the accumulating model ----------------------------------------------------- */

typedef struct {
    GPTModel *gpt;
    int micro_rows;       /* rows per forward and backward pass */
    uint64_t seed;        /* of the micro-batches' dropout masks */
    long step;            /* the step the next backward pass belongs to */
    int rank, n_ranks;
    float **levels;       /* the pairwise sum's partial sums, one per level in use */
    bool *level_full;
    int n_levels;
    float *losses;        /* a batch's micro-batch losses */
    int losses_cap;
} DataParallel;

void data_parallel_init(DataParallel *dp, GPTModel *m, int micro_rows, uint64_t seed);
/* The loops' Model: its loss_batch is the mean loss of a batch whose rows
 * are a whole number of micro-batches (with backward, the mean gradient
 * in m->grads on every rank). */
Model data_parallel_model(DataParallel *dp);
/* Whether n_micro micro-batches split into whole subtrees over the ranks:
 * the same number each, a power of two. */
bool data_parallel_splits(const DataParallel *dp, int n_micro);
void data_parallel_free(DataParallel *dp);

/* Rank 0's bytes to every rank (a broadcast); without MPI nothing. */
void data_parallel_broadcast(void *data, long bytes);

#endif
