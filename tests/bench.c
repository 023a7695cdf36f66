/* bench.c: `make bench`. Each benchmark prints its figures on stdout; the
 * README records them. Usage: build/bench [ROUNDS] (default 7), or
 * build/bench [ROUNDS] SECTION... with sections tokenizer, matmul, gpt, train, corpus. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "bench_helpers.h"

/* The memory bandwidth that the matmul and decode sections use, measured
 * here once, before any section changes the thread count. */
static void print_bandwidth(void) {
    const Bandwidth *bw = memory_read_bandwidth();
    char text[96];
    bandwidth_text(bw, text, sizeof text);
    printf("memory read bandwidth: %s, %d thread%s, %zu MiB buffer (the last-level cache: %zu MiB)\n", text,
           bw->threads, bw->threads == 1 ? "" : "s", bw->buffer_bytes >> 20, bw->cache_bytes >> 20);
}

int main(int argc, char **argv) {
    set_program_name(argv[0]);
    long B, T, steps;
    if (argc == 5 && strcmp(argv[1], "train-child") == 0) {
        if (!parse_long(argv[2], 1, 4096, &B) || !parse_long(argv[3], 1, 1024, &T) || !parse_long(argv[4], 1, 16, &steps))
            fatal("train-child: expected B T STEPS");
        bench_train_child((int)B, (int)T, (int)steps);
        return 0;
    }
    long rounds = 7;
    if (argc > 1 && !parse_long(argv[1], 1, 1000, &rounds)) fatal("rounds: '%s' is not a whole number in 1..1000", argv[1]);
    const char *sections = argc > 2 ? "" : "tokenizer matmul gpt train corpus";
    enum { N_SECTIONS = 5 };
    bool want[N_SECTIONS];
    const char *names[N_SECTIONS] = {"tokenizer", "matmul", "gpt", "train", "corpus"};
    for (int s = 0; s < N_SECTIONS; s++) {
        want[s] = strstr(sections, names[s]) != NULL;
        for (int a = 2; a < argc; a++) want[s] |= strcmp(argv[a], names[s]) == 0;
    }
    bench_print_environment();
    if (want[1] || want[2]) print_bandwidth();
    void (*const run[N_SECTIONS])(int) = {bench_tokenizer, bench_matmul, bench_gpt, bench_train, bench_corpus};
    for (int s = 0; s < N_SECTIONS; s++) {
        if (!want[s]) continue;
        printf("\n");
        run[s]((int)rounds);
    }
    bench_warnings_summary();
    return 0;
}
