/* tensor.c: see tensor.h. */
#include "tensor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static size_t shape_size(int ndim, const int shape[]) {
    if (ndim < 1 || ndim > TENSOR_MAX_DIMS) fatal("tensor rank %d is not in 1..%d", ndim, TENSOR_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) fatal("tensor dimension %d is negative (%d)", i, shape[i]);
        n = checked_mul(n, (size_t)shape[i]);
    }
    return n;
}

Tensor tensor_view(float *data, int ndim, const int shape[]) {
    Tensor t = {0};
    t.size = shape_size(ndim, shape);
    t.ndim = ndim;
    memcpy(t.shape, shape, ndim * sizeof(int));
    t.data = data;
    t.owns_data = 0;
    return t;
}

Tensor tensor_zeros(int ndim, const int shape[]) {
    Tensor t = tensor_view(NULL, ndim, shape);
    t.data = xcalloc(t.size, sizeof(float));
    t.owns_data = 1;
    return t;
}

Tensor tensor_zeros1(int d0) { return tensor_zeros(1, (int[]){d0}); }
Tensor tensor_zeros2(int d0, int d1) { return tensor_zeros(2, (int[]){d0, d1}); }
Tensor tensor_zeros3(int d0, int d1, int d2) { return tensor_zeros(3, (int[]){d0, d1, d2}); }

void tensor_free(Tensor *t) {
    if (t->owns_data) free(t->data);
    t->data = NULL;
    t->size = 0;
    t->ndim = 0;
}

Tensor tensor_reshape(const Tensor *t, int ndim, const int shape[]) {
    Tensor r = tensor_view(t->data, ndim, shape);
    if (r.size != t->size) fatal("cannot reshape %zu elements into %zu", t->size, r.size);
    return r;
}

const char *tensor_shape_str(const Tensor *t, char *buf, size_t bufsize) {
    size_t used = snprintf(buf, bufsize, "[");
    for (int i = 0; i < t->ndim && used < bufsize; i++)
        used += snprintf(buf + used, bufsize - used, "%s%d", i ? ", " : "", t->shape[i]);
    if (used < bufsize) snprintf(buf + used, bufsize - used, "]");
    return buf;
}

/* Recursive printer: one bracket level per dimension, rows on their own lines. */
static void print_level(FILE *out, const Tensor *t, int dim, size_t offset, int decimals, int width) {
    if (dim >= TENSOR_MAX_DIMS) return;
    fputc('[', out);
    size_t stride = 1;
    for (int i = dim + 1; i < t->ndim; i++) stride *= t->shape[i];
    for (int i = 0; i < t->shape[dim]; i++) {
        if (i > 0) {
            fputc(',', out);
            if (dim < t->ndim - 1) {
                for (int k = dim; k < t->ndim - 1; k++) fputc('\n', out);
                fprintf(out, "%*s", 8 + dim, "");
            } else {
                fputc(' ', out);
            }
        }
        if (dim == t->ndim - 1) fprintf(out, "%*.*f", width, decimals, t->data[offset + i]);
        else print_level(out, t, dim + 1, offset + i * stride, decimals, width);
    }
    fputc(']', out);
}

void tensor_print(FILE *out, const Tensor *t, int decimals) {
    /* one width for all values so the columns line up, as PyTorch does */
    int width = 1;
    for (size_t i = 0; i < t->size; i++) {
        int w = snprintf(NULL, 0, "%.*f", decimals, t->data[i]);
        if (w > width) width = w;
    }
    fputs("tensor(", out);
    print_level(out, t, 0, 0, decimals, width);
    fputs(")\n", out);
}

void tensor_fill_normal(Tensor *t, Rng *rng, float mean, float std) { rng_fill_normal(rng, t->data, t->size, mean, std); }
void tensor_fill_uniform(Tensor *t, Rng *rng, float lo, float hi) { rng_fill_uniform(rng, t->data, t->size, lo, hi); }
