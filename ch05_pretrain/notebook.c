/* notebook.c: see notebook.h. */
#include "notebook.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../common/rng.h"
#include "sampling.h"

/* PyTorch's formatter: scientific notation when the nonzero finite
 * magnitudes span more than 1000x, exceed 1e8 or fall below 1e-4. */
static bool torch_sci_mode(const float *x, int n) {
    float lo = INFINITY, hi = 0;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a == 0 || !isfinite(a)) continue;
        if (a < lo) lo = a;
        if (a > hi) hi = a;
    }
    return hi > 0 && (hi / lo > 1000.0f || hi > 1e8f || lo < 1e-4f);
}

static int format_value(char *buf, size_t size, float v, bool sci) {
    if (isinf(v)) return snprintf(buf, size, v < 0 ? "-inf" : "inf");
    if (isnan(v)) return snprintf(buf, size, "nan");
    return snprintf(buf, size, sci ? "%.4e" : "%.4f", v);
}

void print_torch_vector(const float *x, int n) {
    bool sci = torch_sci_mode(x, n);
    int width = 1;
    char buf[64];
    for (int i = 0; i < n; i++) {
        int w = format_value(buf, sizeof buf, x[i], sci);
        if (w > width) width = w;
    }
    /* as many values a line as fit in 80 columns after "tensor(" */
    const int indent = 7, per_line = (80 - indent) / (width + 2) > 0 ? (80 - indent) / (width + 2) : 1;
    fputs("tensor([", stdout);
    for (int i = 0; i < n; i++) {
        if (i) fputs(i % per_line ? ", " : ",\n        ", stdout);
        format_value(buf, sizeof buf, x[i], sci);
        printf("%*s", width, buf);
    }
    puts("])");
}

void print_torch_scalar(float x) {
    char buf[64];
    format_value(buf, sizeof buf, x, torch_sci_mode(&x, 1));
    printf("tensor(%s)\n", buf);
}

const char *const TOY_VOCAB[TOY_VOCAB_SIZE] = {"closer", "every", "effort", "forward", "inches",
                                               "moves",  "pizza", "toward", "you"};
const float TOY_NEXT_TOKEN_LOGITS[TOY_VOCAB_SIZE] = {4.51f, 0.89f, -1.90f, 6.75f, 1.63f, -1.62f, -1.89f, 6.28f, 1.79f};

void print_sampled_tokens(const float *probas, uint64_t seed, int minlength, int counts[TOY_VOCAB_SIZE]) {
    Rng rng;
    rng_seed(&rng, seed);
    int freq[TOY_VOCAB_SIZE] = {0}, shown = minlength;
    for (int i = 0; i < 1000; i++) {
        int id = multinomial_draw(&rng, probas, TOY_VOCAB_SIZE);
        freq[id]++;
        if (id + 1 > shown) shown = id + 1;
    }
    for (int i = 0; i < shown; i++) printf("%d x %s\n", freq[i], TOY_VOCAB[i]);
    if (counts) memcpy(counts, freq, sizeof freq);
}
