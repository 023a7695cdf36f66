/* bench.c: `make bench`. Each benchmark prints its figures on stdout; the
 * README records them. Usage: build/bench [ROUNDS] (default 7). */
#include <stdio.h>
#include <stdlib.h>

#include "../common/util.h"
#include "bench_helpers.h"

int main(int argc, char **argv) {
    set_program_name(argv[0]);
    long rounds = 7;
    if (argc > 1 && !parse_long(argv[1], 1, 1000, &rounds)) fatal("rounds: '%s' is not a whole number in 1..1000", argv[1]);
    bench_tokenizer((int)rounds);
    bench_matmul((int)rounds);
    bench_gpt((int)rounds);
    bench_train((int)rounds);
    return 0;
}
