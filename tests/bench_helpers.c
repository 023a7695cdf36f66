/* bench_helpers.c: see bench_helpers.h. */
#include "bench_helpers.h"

#include <omp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../common/util.h"

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double median(double *values, int n) {
    qsort(values, n, sizeof(double), compare_doubles);
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

/* Busy time of all cores in seconds: user+nice+system+irq+softirq+steal. */
static double machine_busy_seconds(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
    int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait, &irq,
                     &softirq, &steal);
    fclose(f);
    if (got != 8) return 0;
    return (double)(user + nice + sys + irq + softirq + steal) / sysconf(_SC_CLK_TCK);
}

static double own_cpu_seconds(void) {
    struct rusage self, children;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    return self.ru_utime.tv_sec + self.ru_stime.tv_sec + children.ru_utime.tv_sec + children.ru_stime.tv_sec +
           1e-6 * (self.ru_utime.tv_usec + self.ru_stime.tv_usec + children.ru_utime.tv_usec +
                   children.ru_stime.tv_usec);
}

void cpu_watch_start(CpuWatch *w) {
    w->start_busy = machine_busy_seconds();
    w->start_own = own_cpu_seconds();
    w->start_wall = now_seconds();
}

void cpu_watch_report(const CpuWatch *w) {
    double wall = now_seconds() - w->start_wall;
    double others = (machine_busy_seconds() - w->start_busy) - (own_cpu_seconds() - w->start_own);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (others < 0) others = 0;
    printf("  other processes used %.0f%% of %ld cores during the run (%.1f s)%s\n",
           wall > 0 ? 100.0 * others / (wall * cores) : 0.0, cores, wall,
           wall > 0 && others / (wall * cores) > 0.10 ? "  <- noisy: figures may be low" : "");
}

/* ---- memory bandwidth ---------------------------------------------------- */

/* The first line of a small text file, without its newline. */
static bool read_first_line(const char *path, char *line, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool ok = fgets(line, (int)size, f) != NULL;
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    return ok;
}

/* "32768K", "32M" (sysfs cache sizes) in bytes */
static size_t parse_size(const char *text) {
    char *end;
    unsigned long long n = strtoull(text, &end, 10);
    switch (*end) {
    case 'K': return (size_t)n << 10;
    case 'M': return (size_t)n << 20;
    case 'G': return (size_t)n << 30;
    default: return (size_t)n;
    }
}

/* The last-level cache: the larger of what the C library says (from
 * CPUID) and what the kernel lists for cpu0. Virtual machines disagree
 * with themselves here, and a buffer sized from the larger is safe. */
static size_t last_level_cache_bytes(void) {
    long from_libc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    size_t best = from_libc > 0 ? (size_t)from_libc : 0;
    int best_level = 0;
    size_t from_sysfs = 0;
    for (int i = 0; i < 16; i++) {
        char path[96], level[16], size[32];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        if (!read_first_line(path, level, sizeof level)) break;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (!read_first_line(path, size, sizeof size) || atoi(level) < best_level) continue;
        best_level = atoi(level);
        from_sysfs = parse_size(size);
    }
    return from_sysfs > best ? from_sysfs : best;
}

/* 8 lanes of 64-bit integers, one AVX-512 register (GCC lowers it to what
 * the target has) */
typedef uint64_t U64x8 __attribute__((vector_size(64)));

/* One timed pass: the sum of all of x, in seconds. Four independent vector
 * sums, so the adds never wait on each other and only memory sets the pace. */
static double timed_sum(const uint64_t *x, size_t n, int threads, uint64_t *total) {
    uint64_t sum = 0;
    double t0 = now_seconds();
#pragma omp parallel num_threads(threads) reduction(+ : sum)
    {
        U64x8 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
#pragma omp for schedule(static)
        for (size_t i = 0; i < n; i += 32) {
            const U64x8 *v = (const U64x8 *)(x + i); /* 64-byte aligned */
            s0 += v[0], s1 += v[1], s2 += v[2], s3 += v[3];
        }
        U64x8 s = (s0 + s1) + (s2 + s3);
        for (int j = 0; j < 8; j++) sum += s[j];
    }
    *total = sum;
    return now_seconds() - t0;
}

/* Buffer size: at least 256 MiB and 8 times the last-level cache, at most a
 * quarter of the memory, a whole number of 256-byte steps. */
static size_t bandwidth_buffer_bytes(size_t cache_bytes) {
    size_t bytes = (size_t)256 << 20;
    if (8 * cache_bytes > bytes) bytes = 8 * cache_bytes;
    size_t memory = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
    if (memory > 0 && bytes > memory / 4) bytes = memory / 4;
    return bytes / 256 * 256;
}

static Bandwidth measure_bandwidth(void) {
    enum { RUNS = 7 };
    Bandwidth bw = {.runs = RUNS, .threads = omp_get_max_threads(), .cache_bytes = last_level_cache_bytes()};
    bw.buffer_bytes = bandwidth_buffer_bytes(bw.cache_bytes);
    size_t n = bw.buffer_bytes / sizeof(uint64_t);
    uint64_t *x = aligned_alloc(64, bw.buffer_bytes);
    if (!x) fatal("bandwidth: out of memory for %zu MiB", bw.buffer_bytes >> 20);
    /* every page different (no page can be shared or deduplicated behind
     * our back), written first by the thread that will read it */
#pragma omp parallel for num_threads(bw.threads) schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = i;
    /* the sum of 0..n-1, modulo 2^64 like the sums themselves */
    uint64_t expected = n % 2 ? n * ((n - 1) / 2) : (n / 2) * (n - 1), total;
    timed_sum(x, n, bw.threads, &total); /* warm-up: wakes the threads */
    double gbs[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double seconds = timed_sum(x, n, bw.threads, &total);
        if (total != expected) fatal("bandwidth: wrong sum %llu", (unsigned long long)total);
        gbs[r] = (double)bw.buffer_bytes / seconds / 1e9;
    }
    free(x);
    bw.median_gbs = median(gbs, RUNS); /* sorts gbs */
    bw.min_gbs = gbs[0];
    bw.max_gbs = gbs[RUNS - 1];
    return bw;
}

const Bandwidth *memory_read_bandwidth(void) {
    static Bandwidth bw;
    static bool measured;
    if (!measured) {
        bw = measure_bandwidth();
        measured = true;
    }
    return &bw;
}

void bandwidth_text(const Bandwidth *bw, char *out, size_t size) {
    snprintf(out, size, "%.1f GB/s (median of %d, %.1f-%.1f)", bw->median_gbs, bw->runs, bw->min_gbs, bw->max_gbs);
}

/* ---- warnings and the environment ------------------------------------------ */

enum { MAX_WARNINGS = 32 };
static char *warnings[MAX_WARNINGS];
static int n_warnings;

void bench_warning(const char *fmt, ...) {
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    printf("  WARNING: %s\n", text);
    fflush(stdout);
    if (n_warnings < MAX_WARNINGS) warnings[n_warnings++] = xstrdup(text);
}

void bench_warnings_summary(void) {
    if (n_warnings == 0) return;
    printf("\n%d WARNING%s in this run (figures they concern are not comparable):\n", n_warnings,
           n_warnings > 1 ? "S" : "");
    for (int i = 0; i < n_warnings; i++) {
        printf("  WARNING: %s\n", warnings[i]);
        free(warnings[i]);
    }
    n_warnings = 0;
}

/* Environment variables that slow a contender down: some choose a kernel
 * (any value is a warning), the others cap threads (a warning below the
 * number of cores). */
typedef struct {
    const char *name;
    bool caps_threads;
    const char *what;
} EnvKnob;

static const EnvKnob env_knobs[] = {
    {"OPENBLAS_CORETYPE", false, "forces OpenBLAS's kernel instead of the one for this CPU"},
    {"OPENBLAS_NUM_THREADS", true, "caps OpenBLAS's threads (PyTorch's BLAS)"},
    {"GOTO_NUM_THREADS", true, "caps OpenBLAS's threads (PyTorch's BLAS)"},
    {"OMP_NUM_THREADS", true, "caps our OpenMP threads and OpenBLAS's default"},
    {"OMP_THREAD_LIMIT", true, "caps OpenMP threads, ours and PyTorch's"},
    {"MKL_NUM_THREADS", true, "caps MKL's threads"},
    {"MKL_DEBUG_CPU_TYPE", false, "forces MKL's kernel"},
    {"MKL_ENABLE_INSTRUCTIONS", false, "limits MKL's instruction set"},
    {"ATEN_CPU_CAPABILITY", false, "forces PyTorch's CPU kernels"},
};

static void check_environment_variables(long cores) {
    for (size_t i = 0; i < sizeof env_knobs / sizeof env_knobs[0]; i++) {
        const EnvKnob *k = &env_knobs[i];
        const char *value = getenv(k->name);
        if (!value) continue;
        if (!k->caps_threads)
            bench_warning("%s=%s %s", k->name, value, k->what);
        else if (atol(value) < cores)
            bench_warning("%s=%s %s, below the %ld cores", k->name, value, k->what, cores);
        else
            printf("  environment: %s=%s (%s, not below the %ld cores)\n", k->name, value, k->what, cores);
    }
}

static void cpu_model(char *model, size_t size) {
    snprintf(model, size, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(model, size, "%s", colon + 2);
            break;
        }
    }
    fclose(f);
}

#ifdef __clang__
#define COMPILER __VERSION__
#else
#define COMPILER "gcc " __VERSION__
#endif

void bench_print_environment(void) {
    char model[128];
    cpu_model(model, sizeof model);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    int usable = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)cores;
    int threads = omp_get_max_threads();
    printf("machine: %s, %ld cores online; ours: %s, %d OpenMP thread%s\n", model, cores, COMPILER, threads,
           threads == 1 ? "" : "s");
    if (usable < cores) bench_warning("this process may run on only %d of the %ld cores (CPU affinity)", usable, cores);
    check_environment_variables(cores);
}
