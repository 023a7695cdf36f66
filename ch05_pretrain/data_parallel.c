/* data_parallel.c: see data_parallel.h. */
#include "data_parallel.h"

#include <stdlib.h>
#include <string.h>

#ifdef USE_MPI
#include <mpi.h>
#endif

#include "../common/rng.h"
#include "../common/util.h"

/* ---- the processes ------------------------------------------------------------ */

static double comm_seconds;

double data_parallel_comm_seconds(void) { return comm_seconds; }

#ifdef USE_MPI
bool data_parallel_has_mpi(void) { return true; }

static void finalize(void) { MPI_Finalize(); }

/* Started by a launcher: Open MPI's mpirun, or a PMI one (MPICH's, Slurm's srun). */
static bool launched_by_mpi(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

void data_parallel_world(int *rank, int *n_ranks) {
    static int world_rank = 0, world_size = 1, ready = 0;
    if (!ready) {
        ready = 1;
        int initialized;
        MPI_Initialized(&initialized);
        if (!initialized && launched_by_mpi()) {
            MPI_Init(NULL, NULL);
            atexit(finalize);
            initialized = 1;
        }
        if (initialized) {
            MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
            MPI_Comm_size(MPI_COMM_WORLD, &world_size);
        }
    }
    *rank = world_rank;
    *n_ranks = world_size;
}

void data_parallel_broadcast(void *data, long bytes) {
    int rank, n;
    data_parallel_world(&rank, &n);
    if (n == 1) return;
    double start = now_seconds();
    for (long done = 0; done < bytes;) { /* counts are ints */
        int chunk = bytes - done > (1 << 30) ? (1 << 30) : (int)(bytes - done);
        MPI_Bcast((char *)data + done, chunk, MPI_BYTE, 0, MPI_COMM_WORLD);
        done += chunk;
    }
    comm_seconds += now_seconds() - start;
}
#else
bool data_parallel_has_mpi(void) { return false; }

void data_parallel_world(int *rank, int *n_ranks) {
    *rank = 0;
    *n_ranks = 1;
}

void data_parallel_broadcast(void *data, long bytes) {
    (void)data;
    (void)bytes;
}
#endif

/* ---- the sum in a fixed order -------------------------------------------------------- */

static void add_into(float *left, const float *right, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) left[i] += right[i];
}

static float *level(DataParallel *dp, int l) {
    if (l >= dp->n_levels) {
        dp->levels = xrealloc(dp->levels, (size_t)(l + 1) * sizeof *dp->levels);
        dp->level_full = xrealloc(dp->level_full, (size_t)(l + 1) * sizeof *dp->level_full);
        for (int k = dp->n_levels; k <= l; k++) {
            dp->levels[k] = xmalloc(dp->gpt->n_params * sizeof(float));
            dp->level_full[k] = false;
        }
        dp->n_levels = l + 1;
    }
    return dp->levels[l];
}

/* The next leaf, the gradient in m->grads: like a binary counter, it joins
 * the partial sums of the levels below that are full. */
static void push_leaf(DataParallel *dp) {
    const size_t n = dp->gpt->n_params;
    const float *carry = dp->gpt->grads;
    for (int l = 0;; l++) {
        float *slot = level(dp, l);
        if (!dp->level_full[l]) {
            if (slot != carry) memcpy(slot, carry, n * sizeof(float));
            dp->level_full[l] = true;
            return;
        }
        add_into(slot, carry, n); /* the earlier micro-batches on the left */
        dp->level_full[l] = false;
        if (l + 1 < dp->n_levels && !dp->level_full[l + 1]) { /* move up without copying */
            float *t = dp->levels[l + 1];
            dp->levels[l + 1] = slot;
            dp->levels[l] = t;
            dp->level_full[l + 1] = true;
            return;
        }
        carry = slot;
    }
}

/* The partial sums, lowest level first, into one total (a level buffer). */
static float *finish_sum(DataParallel *dp) {
    float *total = NULL;
    for (int l = 0; l < dp->n_levels; l++) {
        if (!dp->level_full[l]) continue;
        if (total) add_into(dp->levels[l], total, dp->gpt->n_params);
        total = dp->levels[l];
        dp->level_full[l] = false;
    }
    return total;
}

#ifdef USE_MPI
/* The ranks' subtotals added by the same tree, onto rank 0, then to all. */
static void sum_over_ranks(DataParallel *dp, float *mine) {
    const long n = (long)dp->gpt->n_params;
    double start = now_seconds();
    float *received = xmalloc((size_t)n * sizeof(float));
    for (int stride = 1; stride < dp->n_ranks; stride *= 2) {
        if (dp->rank % (2 * stride) == 0) {
            if (dp->rank + stride >= dp->n_ranks) continue;
            for (long done = 0; done < n;) {
                int chunk = n - done > (1 << 28) ? (1 << 28) : (int)(n - done);
                MPI_Recv(received + done, chunk, MPI_FLOAT, dp->rank + stride, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                done += chunk;
            }
            add_into(mine, received, (size_t)n);
        } else {
            for (long done = 0; done < n;) {
                int chunk = n - done > (1 << 28) ? (1 << 28) : (int)(n - done);
                MPI_Send(mine + done, chunk, MPI_FLOAT, dp->rank - stride, 0, MPI_COMM_WORLD);
                done += chunk;
            }
            break;
        }
    }
    free(received);
    comm_seconds += now_seconds() - start;
    if (mine != dp->gpt->grads && dp->rank == 0) memcpy(dp->gpt->grads, mine, (size_t)n * sizeof(float));
    data_parallel_broadcast(dp->gpt->grads, n * (long)sizeof(float));
}

static void gather_losses(DataParallel *dp, int per_rank) {
    double start = now_seconds();
    MPI_Allgather(MPI_IN_PLACE, per_rank, MPI_FLOAT, dp->losses, per_rank, MPI_FLOAT, MPI_COMM_WORLD);
    comm_seconds += now_seconds() - start;
}
#endif

/* ---- the accumulating model ----------------------------------------------------------- */

void data_parallel_init(DataParallel *dp, GPTModel *m, int micro_rows, uint64_t seed) {
    *dp = (DataParallel){.gpt = m, .micro_rows = micro_rows, .seed = seed};
    data_parallel_world(&dp->rank, &dp->n_ranks);
}

bool data_parallel_splits(const DataParallel *dp, int n_micro) {
    if (n_micro % dp->n_ranks != 0) return false;
    int share = n_micro / dp->n_ranks;
    return dp->n_ranks == 1 || (share & (share - 1)) == 0;
}

/* A micro-batch's dropout: from the seed, the step and its place in the batch. */
static uint64_t micro_seed(const DataParallel *dp, long step, int micro) {
    return dp->seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(step + 1)) ^ (0xD1B54A32D192ED03ULL * (uint64_t)(micro + 1));
}

static float data_parallel_loss_batch(void *self, const Batch *batch, bool backward) {
    DataParallel *dp = self;
    GPTModel *m = dp->gpt;
    const int rows = dp->micro_rows, T = batch->T, n_micro = batch->B / rows;
    if (batch->B % rows != 0 || !data_parallel_splits(dp, n_micro))
        fatal("a batch of %d rows does not split into micro-batches of %d over %d ranks", batch->B, rows, dp->n_ranks);
    if (n_micro > dp->losses_cap) dp->losses = xrealloc(dp->losses, (size_t)(dp->losses_cap = n_micro) * sizeof(float));
    const int share = n_micro / dp->n_ranks, first = dp->rank * share;
    for (int i = first; i < first + share; i++) {
        const size_t at = (size_t)i * rows * T;
        if (backward) {
            gpt_zero_grad(m);
            rng_seed(&m->rng, micro_seed(dp, dp->step, i));
        }
        dp->losses[i] = calc_loss_batch(m, batch->inputs + at, batch->targets + at, rows, T, backward);
        if (backward && n_micro > 1) push_leaf(dp);
    }
#ifdef USE_MPI
    if (dp->n_ranks > 1) gather_losses(dp, share);
#endif
    if (backward) {
        float *total = n_micro > 1 ? finish_sum(dp) : m->grads;
        if (!total) total = m->grads; /* this rank's share was one micro-batch of several */
#ifdef USE_MPI
        if (dp->n_ranks > 1) sum_over_ranks(dp, total);
        else
#endif
            if (total != m->grads)
            memcpy(m->grads, total, m->n_params * sizeof(float));
        if (n_micro > 1) {
            const float scale = 1.0f / (float)n_micro; /* the mean of the micro-batches' gradients */
            for (size_t k = 0; k < m->n_params; k++) m->grads[k] *= scale;
        }
        dp->step++;
    }
    double sum = 0; /* in the micro-batches' order, the same on every rank */
    for (int i = 0; i < n_micro; i++) sum += dp->losses[i];
    return (float)(sum / n_micro);
}

Model data_parallel_model(DataParallel *dp) {
    return (Model){.gpt = dp->gpt, .loss_batch = data_parallel_loss_batch, .self = dp};
}

void data_parallel_free(DataParallel *dp) {
    for (int l = 0; l < dp->n_levels; l++) free(dp->levels[l]);
    free(dp->levels);
    free(dp->level_full);
    free(dp->losses);
    *dp = (DataParallel){0};
}
