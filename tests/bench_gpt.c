/* bench_gpt.c: the GPT-2 124M model (the book's GPT_CONFIG_124M, random
 * weights):
 *  - forward tokens/s at batch 4 x 256 tokens, against PyTorch on the same
 *    shapes (when Debian's python3-torch is installed);
 *  - batch-1 decode tokens/s with and without the KV cache, against the
 *    memory-bandwidth bound (every weight is read once per token);
 *  - training tokens/s (forward, backward, AdamW) at 2 x 256 and 4 x 64,
 *    against PyTorch, as a share of the machine's measured peak FLOP/s, and
 *    the peak memory of both. */
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../ch04_gpt/generate.h"
#include "../ch05_pretrain/adamw.h"
#include "../ch05_pretrain/train.h"
#include "../ch04_gpt/gpt.h"
#include "../common/util.h"
#include "bench_helpers.h"

/* A PyTorch process that answers "forward B T" lines (torch_forward_bench.py). */
typedef struct {
    pid_t pid;
    FILE *to, *from;
} TorchPeer;

static bool torch_start(TorchPeer *peer, char *version, size_t version_size) {
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0)
        return false;
    int in_pipe[2], out_pipe[2];
    if (pipe(in_pipe) || pipe(out_pipe)) return false;
    char *dir = path_join(checkout_root(), "tests/reference");
    peer->pid = fork();
    if (peer->pid == 0) {
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        close(in_pipe[1]);
        close(out_pipe[0]);
        if (chdir(dir) != 0) _exit(127);
        execl("/usr/bin/python3", "python3", "torch_forward_bench.py", (char *)NULL);
        _exit(127);
    }
    free(dir);
    close(in_pipe[0]);
    close(out_pipe[1]);
    peer->to = fdopen(in_pipe[1], "w");
    peer->from = fdopen(out_pipe[0], "r");
    char line[256];
    if (!fgets(line, sizeof line, peer->from) || strncmp(line, "ready ", 6) != 0) return false;
    line[strcspn(line, "\n")] = '\0';
    snprintf(version, version_size, "%.60s", line + 6);
    return true;
}

/* Print what the peer ran on (its "about" lines); its WARNING lines become
 * the bench's warnings. */
static void torch_describe(TorchPeer *peer) {
    fprintf(peer->to, "about\n");
    fflush(peer->to);
    char line[1024];
    while (fgets(line, sizeof line, peer->from) && strcmp(line, "end\n") != 0) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "WARNING: ", 9) == 0)
            bench_warning("%s", line + 9);
        else
            printf("  %s\n", line);
    }
    fflush(stdout);
}

/* Send one command line and read back one number. */
static double torch_ask(TorchPeer *peer, const char *command) {
    fprintf(peer->to, "%s\n", command);
    fflush(peer->to);
    char line[64];
    return fgets(line, sizeof line, peer->from) ? atof(line) : 0;
}

static double torch_forward(TorchPeer *peer, int B, int T) {
    char command[64];
    snprintf(command, sizeof command, "forward %d %d", B, T);
    return torch_ask(peer, command);
}

static void torch_stop(TorchPeer *peer) {
    fclose(peer->to);
    fclose(peer->from);
    waitpid(peer->pid, NULL, 0);
}

typedef struct {
    double first, last;
    int count;
} TokenClock;

static void tick(int token, void *user) {
    (void)token;
    TokenClock *c = user;
    double now = now_seconds();
    if (c->count++ == 0) c->first = now;
    c->last = now;
}

/* Decode tokens/s at batch 1: the time between the first and the last new
 * token, so the prompt's prefill is not counted. */
static double decode_rate(GPTModel *m, bool use_cache, int n_new) {
    int *ids = xmalloc((4 + n_new) * sizeof(int));
    int prompt[4] = {15496, 11, 314, 716}; /* "Hello, I am" */
    memcpy(ids, prompt, sizeof prompt);
    TokenClock clock = {0};
    generate_greedy(m, ids, 4, n_new, use_cache, tick, &clock);
    free(ids);
    return (clock.count - 1) / (clock.last - clock.first);
}

/* Peak resident memory of this process in MB (VmHWM). */
static double peak_memory_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    double kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lf kB", &kb) == 1) break;
    fclose(f);
    return kb / 1024;
}

/* The machine's peak float32 FLOP/s: one thread runs 12 independent chains
 * of fused multiply-adds (explicit FMA instructions: in ISO C mode gcc does
 * not fuse a * b + c by itself), and the peak is that times the number of
 * cores (measuring one core at a time is less disturbed by whatever else
 * runs on a shared machine). */
#if defined(__AVX512F__)
#include <immintrin.h>
typedef __m512 FmaVec;
#define FMA_LANES 16
static FmaVec fma_vec(FmaVec a, FmaVec b, FmaVec c) { return _mm512_fmadd_ps(a, b, c); }
static FmaVec fma_set(float x) { return _mm512_set1_ps(x); }
static float fma_first(FmaVec v) { return _mm512_cvtss_f32(v); }
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
typedef __m256 FmaVec;
#define FMA_LANES 8
static FmaVec fma_vec(FmaVec a, FmaVec b, FmaVec c) { return _mm256_fmadd_ps(a, b, c); }
static FmaVec fma_set(float x) { return _mm256_set1_ps(x); }
static float fma_first(FmaVec v) { return _mm256_cvtss_f32(v); }
#else
typedef float FmaVec;
#define FMA_LANES 1
static FmaVec fma_vec(FmaVec a, FmaVec b, FmaVec c) { return fmaf(a, b, c); }
static FmaVec fma_set(float x) { return x; }
static float fma_first(FmaVec v) { return v; }
#endif

static double measure_peak_gflops(void) {
    const long iterations = 20000000;
    double best = 0;
    for (int trial = 0; trial < 3; trial++) {
        FmaVec acc[12], a = fma_set(1.0000001f), b = fma_set(1e-8f);
        for (int k = 0; k < 12; k++) acc[k] = fma_set((float)k);
        double t0 = now_seconds();
        for (long it = 0; it < iterations; it++)
            for (int k = 0; k < 12; k++) acc[k] = fma_vec(acc[k], a, b);
        double seconds = now_seconds() - t0;
        float sink = 0;
        for (int k = 0; k < 12; k++) sink += fma_first(acc[k]);
        if (sink == 12345.0f) printf(" "); /* keep the loop from being optimised away */
        double gflops = 2.0 * FMA_LANES * 12 * iterations / seconds / 1e9;
        if (gflops > best) best = gflops;
    }
    return best * omp_get_num_procs();
}

/* Training steps at (B,T): one warm-up step, then n timed steps; prints
 * "tokens/s MB" (MB: this process's peak memory). `bench train-child B T N`
 * runs it in a fresh process (see train_rate). */
void bench_train_child(int B, int T, int n_steps) {
    GPTConfig cfg = gpt_config_124m();
    cfg.context_length = T > 256 ? T : 256;
    GPTModel *m = gpt_create(&cfg);
    gpt_init_weights(m, 123);
    rng_seed(&m->rng, 7);
    m->training = true;
    AdamW opt;
    adamw_init(&opt, m->n_params);
    AdamWConfig adam = adamw_default_config();
    int *ids = xmalloc((size_t)B * (T + 1) * sizeof(int)), *inputs = xmalloc((size_t)B * T * sizeof(int)),
        *targets = xmalloc((size_t)B * T * sizeof(int));
    Rng rng;
    rng_seed(&rng, 3);
    double times[16];
    for (int step = 0; step <= n_steps; step++) {
        for (int i = 0; i < B * (T + 1); i++) ids[i] = (int)rng_below(&rng, cfg.vocab_size);
        for (int b = 0; b < B; b++) {
            memcpy(inputs + b * T, ids + b * (T + 1), T * sizeof(int));
            memcpy(targets + b * T, ids + b * (T + 1) + 1, T * sizeof(int));
        }
        double t0 = now_seconds();
        gpt_zero_grad(m);
        calc_loss_batch(m, inputs, targets, B, T, true);
        adamw_step(&opt, m->params, m->grads, &adam, adam.lr);
        if (step > 0) times[step - 1] = now_seconds() - t0;
    }
    printf("%f %f\n", B * T / median(times, n_steps), peak_memory_mb());
    adamw_free(&opt);
    free(ids);
    free(inputs);
    free(targets);
    gpt_free(m);
}

/* Run bench_train_child in a new process (a fresh program: OpenMP's thread
 * pool does not survive a plain fork), so its peak memory is its own. */
static bool train_rate(int B, int T, int n_steps, double *tokens_per_s, double *memory_mb) {
    char exe[4096], command[4200];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return false;
    exe[n] = '\0';
    snprintf(command, sizeof command, "'%s' train-child %d %d %d", exe, B, T, n_steps);
    FILE *p = popen(command, "r");
    if (!p) return false;
    int got = fscanf(p, "%lf %lf", tokens_per_s, memory_mb);
    return pclose(p) == 0 && got == 2;
}

void bench_train(int rounds) {
    (void)rounds;
    GPTConfig cfg = gpt_config_124m();
    size_t n_params = gpt_param_count(&cfg);
    printf("GPT-2 124M training step (forward, backward, AdamW; dropout 0.1)\n");
    double peak = measure_peak_gflops();
    printf("  peak float32 multiply-add throughput: %.0f GFLOP/s (one core's, times %d cores)\n", peak,
           omp_get_num_procs());
    TorchPeer peer;
    char torch_version[64] = "";
    bool have_torch = torch_start(&peer, torch_version, sizeof torch_version);
    if (have_torch) torch_describe(&peer);
    const int shapes[2][2] = {{2, 256}, {4, 64}};
    CpuWatch watch;
    cpu_watch_start(&watch);
    for (int s = 0; s < 2; s++) {
        int B = shapes[s][0], T = shapes[s][1];
        /* 6 flops per parameter and token (forward 2, backward 4) for every
         * matrix (the token embedding is a lookup, the head a matmul), plus
         * attention's two (T,T) products per layer, also forward and back */
        double matrix_params = (double)n_params - (double)cfg.vocab_size * cfg.emb_dim - (double)cfg.context_length * cfg.emb_dim;
        double flops_per_token = 6.0 * matrix_params + 6.0 * 2.0 * cfg.n_layers * T * cfg.emb_dim;
        double ours = 0, memory = 0;
        if (!train_rate(B, T, 4, &ours, &memory)) {
            printf("  %d x %d: the training child failed\n", B, T);
            continue;
        }
        printf("  %d x %3d: ours %6.1f tokens/s, %.0f%% of peak, peak memory %.0f MB\n", B, T, ours,
               100 * ours * flops_per_token / (peak * 1e9), memory);
        if (have_torch) {
            char command[64];
            snprintf(command, sizeof command, "train %d %d", B, T);
            torch_ask(&peer, command); /* warm-up */
            double t[3];
            for (int r = 0; r < 3; r++) t[r] = B * T / torch_ask(&peer, command);
            double theirs = median(t, 3);
            printf("  %d x %3d: PyTorch %6.1f tokens/s, %.0f%% of peak; ratio ours / PyTorch %.2fx\n", B, T, theirs,
                   100 * theirs * flops_per_token / (peak * 1e9), ours / theirs);
        }
    }
    if (have_torch) {
        printf("  PyTorch peak memory (after both shapes): %.0f MB\n", torch_ask(&peer, "memory"));
        torch_stop(&peer);
    }
    cpu_watch_report(&watch);
}

void bench_gpt(int rounds) {
    GPTConfig cfg = gpt_config_124m();
    printf("GPT-2 124M (GPT_CONFIG_124M, random weights)\n");
    GPTModel *m = gpt_create(&cfg);
    gpt_init_weights(m, 123);
    const int B = 4, T = 256;
    int *ids = xmalloc(B * T * sizeof(int));
    Rng rng;
    rng_seed(&rng, 1);
    for (int i = 0; i < B * T; i++) ids[i] = (int)rng_below(&rng, cfg.vocab_size);
    TorchPeer peer;
    char torch_version[64] = "";
    bool have_torch = torch_start(&peer, torch_version, sizeof torch_version);
    if (have_torch) torch_describe(&peer);
    int n_rounds = rounds < 3 ? 3 : rounds > 5 ? 5 : rounds;
    double ours[5], theirs[5];
    CpuWatch watch;
    cpu_watch_start(&watch);
    gpt_forward(m, ids, B, T); /* warm-up: page in the weights and activations */
    if (have_torch) torch_forward(&peer, B, T);
    for (int r = 0; r < n_rounds; r++) {
        double t0 = now_seconds();
        gpt_forward(m, ids, B, T);
        ours[r] = B * T / (now_seconds() - t0);
        if (have_torch) theirs[r] = B * T / torch_forward(&peer, B, T);
    }
    double ours_fwd = median(ours, n_rounds);
    printf("  forward, batch %d x %d tokens: ours %8.0f tokens/s\n", B, T, ours_fwd);
    if (have_torch) {
        double t = median(theirs, n_rounds);
        char version[32] = "?";
        int threads = 0;
        sscanf(torch_version, "%31s %d", version, &threads);
        printf("  forward, batch %d x %d tokens: PyTorch %s (%d threads) %8.0f tokens/s\n", B, T, version, threads, t);
        printf("  ratio ours / PyTorch: %.2fx\n", ours_fwd / t);
        torch_stop(&peer);
    } else {
        printf("  PyTorch: not measured (needs Debian's python3-torch)\n");
    }
    cpu_watch_report(&watch);

    cpu_watch_start(&watch);
    const Bandwidth *bw = memory_read_bandwidth(); /* the bench's one measurement */
    /* per token every weight is read once, except the embeddings, of which
     * one row each */
    double bytes = 4.0 * ((double)m->n_params - (double)cfg.vocab_size * cfg.emb_dim -
                          (double)cfg.context_length * cfg.emb_dim + 2.0 * cfg.emb_dim);
    double bound = bw->median_gbs * 1e9 / bytes, bound_low = bw->min_gbs * 1e9 / bytes,
           bound_high = bw->max_gbs * 1e9 / bytes;
    double cached = decode_rate(m, true, 64), uncached = decode_rate(m, false, 12);
    printf("  decode at batch 1, KV cache:    %6.1f tokens/s\n", cached);
    printf("  decode at batch 1, no cache:    %6.1f tokens/s (the book's generate_text_simple, short context)\n",
           uncached);
    char text[96];
    bandwidth_text(bw, text, sizeof text);
    printf("  bandwidth bound: %s read, %d thread%s / %.0f MB of weights per token = %.1f tokens/s (%.1f-%.1f); "
           "KV cache reaches %.0f%%\n",
           text, bw->threads, bw->threads == 1 ? "" : "s", bytes / 1e6, bound, bound_low, bound_high,
           100 * cached / bound);
    cpu_watch_report(&watch);
    free(ids);
    gpt_free(m);
}
