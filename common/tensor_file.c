/* tensor_file.c: see tensor_file.h. */
#include "tensor_file.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char MAGIC[8] = {'L', 'L', 'M', 'T', 'N', 'S', 'R', '1'};

/* The format is little-endian; so is every machine this project targets. */
static uint32_t read_u32(FILE *f, const char *path) {
    unsigned char b[4];
    xfread(b, 4, f, path);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

TensorFile tensor_file_read(const char *path) {
    TensorFile tf = {0};
    tf.path = xstrdup(path);
    FILE *f = xfopen(path, "rb");
    char magic[8];
    xfread(magic, 8, f, path);
    if (memcmp(magic, MAGIC, 8) != 0) fatal("%s: not a tensor file (bad magic)", path);
    uint32_t count = read_u32(f, path);
    if (count > 1000000) fatal("%s: implausible tensor count %u", path, count);
    tf.count = (int)count;
    tf.names = xcalloc(count, sizeof(char *));
    tf.tensors = xcalloc(count, sizeof(Tensor));
    for (uint32_t i = 0; i < count; i++) {
        uint32_t name_len = read_u32(f, path);
        if (name_len == 0 || name_len > 4096) fatal("%s: tensor %u has a bad name length %u", path, i, name_len);
        tf.names[i] = xmalloc(name_len + 1);
        xfread(tf.names[i], name_len, f, path);
        tf.names[i][name_len] = '\0';
        uint32_t ndim = read_u32(f, path);
        if (ndim < 1 || ndim > TENSOR_MAX_DIMS) fatal("%s: tensor '%s' has rank %u", path, tf.names[i], ndim);
        int shape[TENSOR_MAX_DIMS];
        for (uint32_t d = 0; d < ndim; d++) {
            uint32_t dim = read_u32(f, path);
            if (dim > 0x7fffffff) fatal("%s: tensor '%s' has a bad dimension", path, tf.names[i]);
            shape[d] = (int)dim;
        }
        tf.tensors[i] = tensor_zeros((int)ndim, shape);
        xfread(tf.tensors[i].data, checked_mul(tf.tensors[i].size, sizeof(float)), f, path);
    }
    if (fgetc(f) != EOF) fatal("%s: unexpected bytes after the last tensor", path);
    fclose(f);
    return tf;
}

void tensor_file_free(TensorFile *tf) {
    for (int i = 0; i < tf->count; i++) {
        free(tf->names[i]);
        tensor_free(&tf->tensors[i]);
    }
    free(tf->names);
    free(tf->tensors);
    free(tf->path);
    *tf = (TensorFile){0};
}

const Tensor *tensor_file_find(const TensorFile *tf, const char *name) {
    for (int i = 0; i < tf->count; i++)
        if (strcmp(tf->names[i], name) == 0) return &tf->tensors[i];
    return NULL;
}

const Tensor *tensor_file_expect(const TensorFile *tf, const char *name, int ndim, const int shape[]) {
    const Tensor *t = tensor_file_find(tf, name);
    if (!t) fatal("%s: no tensor named '%s'", tf->path, name);
    Tensor want = tensor_view(NULL, ndim, shape);
    bool same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char got_s[64], want_s[64];
        fatal("%s: tensor '%s' has shape %s, expected %s", tf->path, name, tensor_shape_str(t, got_s, sizeof got_s),
              tensor_shape_str(&want, want_s, sizeof want_s));
    }
    return t;
}

static void write_u32(FILE *f, uint32_t v) {
    unsigned char b[4] = {v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, v >> 24};
    fwrite(b, 1, 4, f);
}

void tensor_file_write(const char *path, int count, const char *const names[], const Tensor tensors[]) {
    AtomicFile af = atomic_file_open(path);
    fwrite(MAGIC, 1, 8, af.f);
    write_u32(af.f, (uint32_t)count);
    for (int i = 0; i < count; i++) {
        write_u32(af.f, (uint32_t)strlen(names[i]));
        fputs(names[i], af.f);
        write_u32(af.f, (uint32_t)tensors[i].ndim);
        for (int d = 0; d < tensors[i].ndim; d++) write_u32(af.f, (uint32_t)tensors[i].shape[d]);
        fwrite(tensors[i].data, sizeof(float), tensors[i].size, af.f);
    }
    atomic_file_commit(&af);
}
