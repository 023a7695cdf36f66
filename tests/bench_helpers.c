/* bench_helpers.c: see bench_helpers.h. */
#include "bench_helpers.h"

#include <stdio.h>
#include <stdlib.h>
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
