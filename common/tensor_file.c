/* tensor_file.c: see tensor_file.h. */
#include "tensor_file.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char MAGIC[8] = {'L', 'L', 'M', 'T', 'N', 'S', 'R', '1'};

/* A cursor over the file's bytes; every read checks what is left first. */
typedef struct {
    const unsigned char *p, *end;
    const char *name;
    char *err;
    size_t err_size;
} Reader;

static size_t remaining(const Reader *r) { return (size_t)(r->end - r->p); }

/* The format is little-endian; so is every machine this project targets. */
static bool take_u32(Reader *r, uint32_t *v) {
    if (remaining(r) < 4) return set_error(r->err, r->err_size, "%s: file is truncated", r->name);
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    r->p += 4;
    return true;
}

/* Name, shape and values of tensor i. The shape is checked against the
 * bytes left before the tensor is allocated, so a stored shape can never
 * ask for more memory than the file holds. */
static bool parse_tensor(Reader *r, uint32_t i, char **name, Tensor *t) {
    uint32_t name_len, ndim;
    if (!take_u32(r, &name_len)) return false;
    if (name_len == 0 || name_len > 4096)
        return set_error(r->err, r->err_size, "%s: tensor %u has a bad name length %u", r->name, i, name_len);
    if (remaining(r) < name_len) return set_error(r->err, r->err_size, "%s: file is truncated", r->name);
    *name = xmalloc(name_len + 1);
    memcpy(*name, r->p, name_len);
    (*name)[name_len] = '\0';
    r->p += name_len;
    if (!take_u32(r, &ndim)) return false;
    if (ndim < 1 || ndim > TENSOR_MAX_DIMS)
        return set_error(r->err, r->err_size, "%s: tensor '%s' has rank %u", r->name, *name, ndim);
    int shape[TENSOR_MAX_DIMS];
    size_t numel = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        uint32_t dim;
        if (!take_u32(r, &dim)) return false;
        if (dim > 0x7fffffff || !size_mul(numel, dim, &numel))
            return set_error(r->err, r->err_size, "%s: tensor '%s' has a bad dimension", r->name, *name);
        shape[d] = (int)dim;
    }
    if (numel > remaining(r) / sizeof(float))
        return set_error(r->err, r->err_size, "%s: file is truncated: tensor '%s' needs %zu values, %zu bytes remain",
                         r->name, *name, numel, remaining(r));
    *t = tensor_zeros((int)ndim, shape);
    memcpy(t->data, r->p, numel * sizeof(float));
    r->p += numel * sizeof(float);
    return true;
}

bool tensor_file_parse(const void *bytes, size_t n, const char *name, TensorFile *out, char *err, size_t err_size) {
    Reader r = {bytes, (const unsigned char *)bytes + n, name, err, err_size};
    TensorFile tf = {.path = xstrdup(name)};
    uint32_t count;
    bool ok = false;
    if (n < 8 || memcmp(bytes, MAGIC, 8) != 0) {
        format_error(err, err_size, "%s: not a tensor file (bad magic)", name);
        goto done;
    }
    r.p += 8;
    if (!take_u32(&r, &count)) goto done;
    /* the smallest tensor takes 13 bytes: name length, a 1-byte name, rank 1, one dimension of 0 */
    if (count > remaining(&r) / 13) {
        format_error(err, err_size, "%s: implausible tensor count %u for a file of %zu bytes", name, count, n);
        goto done;
    }
    /* all zero, so tensor_file_free can free a partly read file */
    tf.count = (int)count;
    tf.names = xcalloc(count, sizeof(char *));
    tf.tensors = xcalloc(count, sizeof(Tensor));
    for (uint32_t i = 0; i < count; i++)
        if (!parse_tensor(&r, i, &tf.names[i], &tf.tensors[i])) goto done;
    if (remaining(&r) != 0) {
        format_error(err, err_size, "%s: unexpected bytes after the last tensor", name);
        goto done;
    }
    ok = true;
done:
    if (!ok) tensor_file_free(&tf);
    *out = tf;
    return ok;
}

bool tensor_file_try_read(const char *path, TensorFile *out, char *err, size_t err_size) {
    size_t n;
    char *bytes = try_read_file(path, &n, err, err_size);
    if (!bytes) {
        *out = (TensorFile){0};
        return false;
    }
    bool ok = tensor_file_parse(bytes, n, path, out, err, err_size);
    free(bytes);
    return ok;
}

TensorFile tensor_file_read(const char *path) {
    char err[512];
    TensorFile tf;
    if (!tensor_file_try_read(path, &tf, err, sizeof err)) fatal("%s", err);
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
