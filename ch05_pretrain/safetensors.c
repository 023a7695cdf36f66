/* safetensors.c: see safetensors.h. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/util.h"

/* Tensor bytes go to and from memory as they are: the format is
 * little-endian, and so is every machine this project targets. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian machine"
#endif

/* ---- dtypes ---------------------------------------------------------------- */

/* In the order of the Python library's Dtype enum, which is also by size:
 * the writer sorts by it. */
static const struct {
    const char *name;
    size_t size;
} DTYPES[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
    {"BF16", 2}, {"I32", 4}, {"U32", 4},  {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8},
};

static int dtype_index(const char *dtype) {
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (strcmp(dtype, DTYPES[i].name) == 0) return (int)i;
    return -1;
}

size_t safetensors_dtype_size(const char *dtype) {
    int i = dtype_index(dtype);
    return i < 0 ? 0 : DTYPES[i].size;
}

static float float_from_bits(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* IEEE half: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Every half is
 * a float exactly; only the exponent is rebiased (to 127), except for the
 * subnormals, whose value is mantissa * 2^-24. */
float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
    if (exponent == 0x1F) return float_from_bits(sign | 0x7F800000u | mantissa << 13); /* inf, nan */
    if (exponent != 0) return float_from_bits(sign | (exponent + 127 - 15) << 23 | mantissa << 13);
    float v = (float)mantissa * 0x1p-24f; /* zero or subnormal */
    return sign ? -v : v;
}

/* bfloat16 is the top half of a float32. */
float bf16_to_f32(uint16_t b) { return float_from_bits((uint32_t)b << 16); }

/* ---- reading the header ------------------------------------------------------ */

/* A JSON number that is a whole number from 0 to 2^53 (beyond that a double,
 * which is how cJSON holds numbers, is no longer exact). */
static bool json_uint(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return false;
    double v = item->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || v != floor(v)) return false;
    *out = (uint64_t)v;
    return true;
}

static bool parse_metadata(SafetensorsFile *sf, const cJSON *meta, char *err, size_t err_size) {
    if (sf->meta_keys) return set_error(err, err_size, "%s: __metadata__ appears twice", sf->path);
    if (!cJSON_IsObject(meta)) return set_error(err, err_size, "%s: __metadata__ is not a JSON object", sf->path);
    int n = cJSON_GetArraySize(meta);
    sf->meta_keys = xcalloc(n, sizeof(char *));
    sf->meta_values = xcalloc(n, sizeof(char *));
    for (const cJSON *kv = meta->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv))
            return set_error(err, err_size, "%s: __metadata__ value of '%s' is not a string", sf->path, kv->string);
        sf->meta_keys[sf->n_meta] = xstrdup(kv->string);
        sf->meta_values[sf->n_meta] = xstrdup(kv->valuestring);
        sf->n_meta++;
    }
    return true;
}

static bool parse_shape(const SafetensorsFile *sf, const cJSON *shape, SafetensorsTensor *t, char *err,
                        size_t err_size) {
    const char *path = sf->path, *name = t->name;
    if (!cJSON_IsArray(shape)) return set_error(err, err_size, "%s: tensor '%s' has no shape array", path, name);
    t->ndim = cJSON_GetArraySize(shape);
    if (t->ndim > SAFETENSORS_MAX_DIMS)
        return set_error(err, err_size, "%s: tensor '%s' has %d dimensions (at most %d are supported)", path, name,
                         t->ndim, SAFETENSORS_MAX_DIMS);
    t->numel = 1;
    int d = 0;
    for (const cJSON *dim = shape->child; dim; dim = dim->next, d++) {
        uint64_t v;
        if (!json_uint(dim, &v) || v > INT64_MAX)
            return set_error(err, err_size, "%s: tensor '%s': shape entry %d is not a size", path, name, d);
        t->shape[d] = (int64_t)v;
        if (!size_mul(t->numel, (size_t)v, &t->numel))
            return set_error(err, err_size, "%s: tensor '%s': shape is too large", path, name);
    }
    return true;
}

/* data_offsets: inside the data section, and exactly as long as the dtype
 * and shape say. */
static bool parse_offsets(const SafetensorsFile *sf, const cJSON *offsets, SafetensorsTensor *t, char *err,
                          size_t err_size) {
    const char *path = sf->path, *name = t->name;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
        return set_error(err, err_size, "%s: tensor '%s' has no data_offsets pair", path, name);
    if (!json_uint(offsets->child, &t->begin) || !json_uint(offsets->child->next, &t->end))
        return set_error(err, err_size, "%s: tensor '%s': data_offsets are not byte offsets", path, name);
    if (t->begin > t->end)
        return set_error(err, err_size, "%s: tensor '%s': data_offsets [%llu, %llu] run backwards", path, name,
                         (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > sf->data_size)
        return set_error(err, err_size,
                         "%s: tensor '%s': data_offsets end at %llu but the data section has only %llu bytes "
                         "(file truncated?)",
                         path, name, (unsigned long long)t->end, (unsigned long long)sf->data_size);
    size_t nbytes;
    if (!size_mul(t->numel, t->dtype_size, &nbytes))
        return set_error(err, err_size, "%s: tensor '%s': shape is too large", path, name);
    if (t->end - t->begin != nbytes)
        return set_error(err, err_size, "%s: tensor '%s': data_offsets span %llu bytes but %zu elements of %s take %zu",
                         path, name, (unsigned long long)(t->end - t->begin), t->numel, t->dtype, nbytes);
    return true;
}

static bool parse_tensor(const SafetensorsFile *sf, const cJSON *item, SafetensorsTensor *t, char *err,
                         size_t err_size) {
    const char *path = sf->path;
    t->name = xstrdup(item->string);
    if (!cJSON_IsObject(item))
        return set_error(err, err_size, "%s: tensor '%s': entry is not a JSON object", path, t->name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    if (!cJSON_IsString(dtype)) return set_error(err, err_size, "%s: tensor '%s' has no dtype string", path, t->name);
    t->dtype_size = safetensors_dtype_size(dtype->valuestring);
    if (t->dtype_size == 0)
        return set_error(err, err_size, "%s: tensor '%s' has an unknown dtype '%.20s'", path, t->name,
                         dtype->valuestring);
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype->valuestring);
    return parse_shape(sf, cJSON_GetObjectItemCaseSensitive(item, "shape"), t, err, err_size) &&
           parse_offsets(sf, cJSON_GetObjectItemCaseSensitive(item, "data_offsets"), t, err, err_size);
}

static int compare_by_range(const void *a, const void *b) {
    const SafetensorsTensor *x = *(const SafetensorsTensor *const *)a, *y = *(const SafetensorsTensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

static int compare_by_name(const void *a, const void *b) {
    return strcmp((*(const SafetensorsTensor *const *)a)->name, (*(const SafetensorsTensor *const *)b)->name);
}

/* No two tensors may share bytes, and no name may appear twice (cJSON keeps
 * repeated keys, so this is checked here). Sorted by range, two tensors
 * that overlap have overlapping neighbours; sorted by name, repeats are
 * neighbours, and that order stays as the index safetensors_find searches. */
static bool check_layout(SafetensorsFile *sf, char *err, size_t err_size) {
    const SafetensorsTensor **order = xcalloc(sf->n_tensors, sizeof *order);
    sf->by_name = order;
    for (int i = 0; i < sf->n_tensors; i++) order[i] = &sf->tensors[i];
    qsort(order, sf->n_tensors, sizeof *order, compare_by_range);
    for (int i = 1; i < sf->n_tensors; i++)
        if (order[i]->begin < order[i - 1]->end)
            return set_error(err, err_size, "%s: tensors '%s' and '%s' overlap in the data section", sf->path,
                             order[i - 1]->name, order[i]->name);
    qsort(order, sf->n_tensors, sizeof *order, compare_by_name);
    for (int i = 1; i < sf->n_tensors; i++)
        if (strcmp(order[i]->name, order[i - 1]->name) == 0)
            return set_error(err, err_size, "%s: tensor '%s' appears twice in the header", sf->path, order[i]->name);
    return true;
}

/* The JSON header, header_len bytes (NUL-terminated, for cJSON). */
static bool parse_header(SafetensorsFile *sf, const char *header, size_t header_len, char *err, size_t err_size) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(header, header_len, &end, false);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long pos = at && at >= header && at <= header + header_len ? (long)(at - header) : -1;
        return set_error(err, err_size, "%s: the header is not valid JSON (near byte %ld of %zu)", sf->path, pos,
                         header_len);
    }
    bool ok = true;
    /* after the JSON only the padding, spaces, may follow */
    for (const char *p = end; ok && p < header + header_len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            ok = set_error(err, err_size, "%s: unexpected bytes after the JSON header (byte %ld)", sf->path,
                           (long)(p - header));
    if (ok && !cJSON_IsObject(root)) ok = set_error(err, err_size, "%s: the header is not a JSON object", sf->path);
    if (ok) sf->tensors = xcalloc(cJSON_GetArraySize(root), sizeof(SafetensorsTensor));
    for (const cJSON *item = ok ? root->child : NULL; ok && item; item = item->next) {
        if (strcmp(item->string, "__metadata__") == 0) ok = parse_metadata(sf, item, err, err_size);
        else ok = parse_tensor(sf, item, &sf->tensors[sf->n_tensors++], err, err_size);
    }
    cJSON_Delete(root);
    return ok && check_layout(sf, err, err_size);
}

/* The u64 at the start: the header's length, checked against the file. */
static bool header_length(const SafetensorsFile *sf, const unsigned char *bytes, uint64_t file_size,
                          uint64_t *header_len, char *err, size_t err_size) {
    if (file_size < 8)
        return set_error(err, err_size, "%s: not a safetensors file (%llu bytes, shorter than the header length)",
                         sf->path, (unsigned long long)file_size);
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--) len = len << 8 | bytes[i];
    if (len > SAFETENSORS_MAX_HEADER)
        return set_error(err, err_size,
                         "%s: header length %llu is implausible (over %u bytes): not a safetensors file?",
                         sf->path, (unsigned long long)len, SAFETENSORS_MAX_HEADER);
    if (len > file_size - 8)
        return set_error(err, err_size, "%s: file is truncated: the header should be %llu bytes but only %llu follow",
                         sf->path, (unsigned long long)len, (unsigned long long)(file_size - 8));
    *header_len = len;
    return true;
}

static SafetensorsFile *new_file(const char *path) {
    SafetensorsFile *sf = xcalloc(1, sizeof *sf);
    sf->path = xstrdup(path);
    return sf;
}

/* The header (bytes [8, 8 + header_len) of the file) and what follows it. */
static bool parse_after_length(SafetensorsFile *sf, const char *header, uint64_t header_len, uint64_t file_size,
                               char *err, size_t err_size) {
    sf->data_start = 8 + header_len;
    sf->data_size = file_size - sf->data_start;
    return parse_header(sf, header, (size_t)header_len, err, err_size);
}

SafetensorsFile *safetensors_parse(const void *bytes, size_t n, const char *name, char *err, size_t err_size) {
    SafetensorsFile *sf = new_file(name);
    sf->mem = bytes;
    uint64_t header_len;
    bool ok = header_length(sf, bytes, n, &header_len, err, err_size);
    if (ok) {
        char *header = xmalloc(header_len + 1);
        memcpy(header, sf->mem + 8, header_len);
        header[header_len] = '\0';
        ok = parse_after_length(sf, header, header_len, n, err, err_size);
        free(header);
    }
    if (ok) return sf;
    safetensors_close(sf);
    return NULL;
}

/* fread of exactly n bytes, or an error naming the file. */
static bool read_exactly(const SafetensorsFile *sf, void *dst, size_t n, char *err, size_t err_size) {
    if (n == 0 || fread(dst, 1, n, sf->f) == n) return true;
    return set_error(err, err_size, "%s: %s", sf->path, ferror(sf->f) ? strerror(errno) : "file is truncated");
}

/* The header that follows the file's first 8 bytes (malloc'd,
 * NUL-terminated, for cJSON), its length checked against the file. */
static char *read_header(SafetensorsFile *sf, uint64_t file_size, uint64_t *header_len, char *err, size_t err_size) {
    unsigned char len_bytes[8] = {0};
    if (file_size >= 8 && !read_exactly(sf, len_bytes, 8, err, err_size)) return NULL;
    if (!header_length(sf, len_bytes, file_size, header_len, err, err_size)) return NULL;
    char *header = xmalloc(*header_len + 1);
    header[*header_len] = '\0';
    if (read_exactly(sf, header, *header_len, err, err_size)) return header;
    free(header);
    return NULL;
}

SafetensorsFile *safetensors_try_open(const char *path, char *err, size_t err_size) {
    SafetensorsFile *sf = new_file(path);
    struct stat st;
    uint64_t header_len;
    char *header = NULL;
    bool ok = (sf->f = fopen(path, "rb")) != NULL && fstat(fileno(sf->f), &st) == 0;
    if (!ok) format_error(err, err_size, "%s: %s", path, strerror(errno));
    else if (!(header = read_header(sf, (uint64_t)st.st_size, &header_len, err, err_size))) ok = false;
    else ok = parse_after_length(sf, header, header_len, (uint64_t)st.st_size, err, err_size);
    free(header);
    if (ok) return sf;
    safetensors_close(sf);
    return NULL;
}

SafetensorsFile *safetensors_open(const char *path) {
    char err[1024];
    SafetensorsFile *sf = safetensors_try_open(path, err, sizeof err);
    if (!sf) fatal("%s", err);
    return sf;
}

void safetensors_close(SafetensorsFile *sf) {
    if (!sf) return;
    if (sf->f) fclose(sf->f);
    for (int i = 0; i < sf->n_tensors; i++) free(sf->tensors[i].name);
    for (int i = 0; i < sf->n_meta; i++) {
        free(sf->meta_keys[i]);
        free(sf->meta_values[i]);
    }
    free(sf->tensors);
    free(sf->by_name);
    free(sf->meta_keys);
    free(sf->meta_values);
    free(sf->path);
    free(sf);
}

const SafetensorsTensor *safetensors_find(const SafetensorsFile *sf, const char *name) {
    /* a binary search of the by-name index: loading a model looks up every
     * parameter, so a linear search would make that quadratic */
    int lo = 0, hi = sf->n_tensors;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(sf->by_name[mid]->name, name);
        if (c == 0) return sf->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static void shape_str(int ndim, const int64_t shape[], char *buf, size_t size) {
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && len < size; d++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (len < size) snprintf(buf + len, size - len, "]");
}

const SafetensorsTensor *safetensors_try_expect(const SafetensorsFile *sf, const char *name, int ndim,
                                                const int64_t shape[], char *err, size_t err_size) {
    const SafetensorsTensor *t = safetensors_find(sf, name);
    if (!t) {
        format_error(err, err_size, "%s: no tensor named '%s'", sf->path, name);
        return NULL;
    }
    bool same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char got[160], want[160];
        shape_str(t->ndim, t->shape, got, sizeof got);
        shape_str(ndim, shape, want, sizeof want);
        format_error(err, err_size, "%s: tensor '%s' has shape %s, expected %s", sf->path, name, got, want);
        return NULL;
    }
    return t;
}

const SafetensorsTensor *safetensors_expect(const SafetensorsFile *sf, const char *name, int ndim,
                                            const int64_t shape[]) {
    char err[1024];
    const SafetensorsTensor *t = safetensors_try_expect(sf, name, ndim, shape, err, sizeof err);
    if (!t) fatal("%s", err);
    return t;
}

const char *safetensors_metadata(const SafetensorsFile *sf, const char *key) {
    for (int i = 0; i < sf->n_meta; i++)
        if (strcmp(sf->meta_keys[i], key) == 0) return sf->meta_values[i];
    return NULL;
}

/* ---- reading tensors -------------------------------------------------------------- */

/* n bytes of tensor t from offset on; the header's check guarantees they
 * are inside the data section. */
static bool read_at(const SafetensorsFile *sf, const SafetensorsTensor *t, uint64_t offset, void *dst, size_t n,
                    char *err, size_t err_size) {
    if (sf->mem) {
        memcpy(dst, sf->mem + sf->data_start + t->begin + offset, n);
        return true;
    }
    if (fseeko(sf->f, (off_t)(sf->data_start + t->begin + offset), SEEK_SET) != 0)
        return set_error(err, err_size, "%s: cannot seek to tensor '%s': %s", sf->path, t->name, strerror(errno));
    return read_exactly(sf, dst, n, err, err_size);
}

bool safetensors_is_float(const SafetensorsTensor *t) {
    return strcmp(t->dtype, "F32") == 0 || strcmp(t->dtype, "F16") == 0 || strcmp(t->dtype, "BF16") == 0;
}

bool safetensors_try_read_f32(const SafetensorsFile *sf, const SafetensorsTensor *t, float *dst, char *err,
                              size_t err_size) {
    if (!safetensors_is_float(t))
        return set_error(err, err_size, "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 can be read as floats",
                         sf->path, t->name, t->dtype);
    if (strcmp(t->dtype, "F32") == 0) return read_at(sf, t, 0, dst, t->numel * sizeof(float), err, err_size);
    /* 16-bit values: convert a chunk at a time, so no second full copy */
    bool f16 = strcmp(t->dtype, "F16") == 0, ok = true;
    enum { CHUNK = 1 << 16 };
    uint16_t *buf = xmalloc(CHUNK * sizeof(uint16_t));
    for (size_t i = 0; ok && i < t->numel; i += CHUNK) {
        size_t n = t->numel - i < CHUNK ? t->numel - i : CHUNK;
        ok = read_at(sf, t, i * 2, buf, n * 2, err, err_size);
        for (size_t k = 0; ok && k < n; k++) dst[i + k] = f16 ? f16_to_f32(buf[k]) : bf16_to_f32(buf[k]);
    }
    free(buf);
    return ok;
}

void safetensors_read_f32(const SafetensorsFile *sf, const SafetensorsTensor *t, float *dst) {
    char err[1024];
    if (!safetensors_try_read_f32(sf, t, dst, err, sizeof err)) fatal("%s", err);
}

float *safetensors_try_load_f32(const SafetensorsFile *sf, const char *name, size_t *numel, char *err,
                                size_t err_size) {
    const SafetensorsTensor *t = safetensors_find(sf, name);
    if (!t) {
        format_error(err, err_size, "%s: no tensor named '%s'", sf->path, name);
        return NULL;
    }
    /* the element count is bounded by the file: the header check made the
     * tensor's bytes fit the data section */
    float *data = xmalloc(checked_mul(t->numel, sizeof(float)));
    if (!safetensors_try_read_f32(sf, t, data, err, err_size)) {
        free(data);
        return NULL;
    }
    if (numel) *numel = t->numel;
    return data;
}

float *safetensors_load_f32(const SafetensorsFile *sf, const char *name, size_t *numel) {
    char err[1024];
    float *data = safetensors_try_load_f32(sf, name, numel, err, sizeof err);
    if (!data) fatal("%s", err);
    return data;
}

/* ---- writing ------------------------------------------------------------------------ */

/* A JSON string, escaped as serde_json (the Python library's JSON writer) does. */
static void append_json_string(ByteBuf *b, const char *s) {
    bytebuf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8] = {(char)*p, '\0'};
        const char *out = esc;
        switch (*p) {
        case '"': out = "\\\""; break;
        case '\\': out = "\\\\"; break;
        case '\b': out = "\\b"; break;
        case '\f': out = "\\f"; break;
        case '\n': out = "\\n"; break;
        case '\r': out = "\\r"; break;
        case '\t': out = "\\t"; break;
        default:
            if (*p < 0x20) snprintf(esc, sizeof esc, "\\u%04x", *p);
        }
        bytebuf_append(b, out, strlen(out));
    }
    bytebuf_append(b, "\"", 1);
}

static void append_text(ByteBuf *b, const char *s) { bytebuf_append(b, s, strlen(s)); }

typedef struct {
    const SafetensorsWriteTensor *t;
    const char *dtype;
    int dtype_index;
    size_t dtype_size, nbytes;
} WriteItem;

/* As the Python library orders the data: by dtype, the last of DTYPES
 * first (so largest elements first, and each tensor starts aligned to its
 * element size), then by name. */
static int compare_write_items(const void *a, const void *b) {
    const WriteItem *x = a, *y = b;
    if (x->dtype_index != y->dtype_index) return x->dtype_index > y->dtype_index ? -1 : 1;
    return strcmp(x->t->name, y->t->name);
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct {
    const char *key, *value;
} MetaPair;

static int compare_meta(const void *a, const void *b) {
    return strcmp(((const MetaPair *)a)->key, ((const MetaPair *)b)->key);
}

void safetensors_write(const char *path, int n, const SafetensorsWriteTensor tensors[], int n_meta,
                       const char *const meta_keys[], const char *const meta_values[]) {
    WriteItem *items = xcalloc(n, sizeof *items);
    for (int i = 0; i < n; i++) {
        const SafetensorsWriteTensor *t = &tensors[i];
        items[i].t = t;
        items[i].dtype = t->dtype ? t->dtype : "F32";
        items[i].dtype_index = dtype_index(items[i].dtype);
        items[i].dtype_size = safetensors_dtype_size(items[i].dtype);
        if (items[i].dtype_index < 0) fatal("%s: tensor '%s': unknown dtype '%s'", path, t->name, items[i].dtype);
        if (!t->name[0] || strcmp(t->name, "__metadata__") == 0) fatal("%s: bad tensor name '%s'", path, t->name);
        if (t->ndim < 0 || t->ndim > SAFETENSORS_MAX_DIMS) fatal("%s: tensor '%s' has rank %d", path, t->name, t->ndim);
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0) fatal("%s: tensor '%s' has a negative dimension", path, t->name);
            numel = checked_mul(numel, (size_t)t->shape[d]);
        }
        items[i].nbytes = checked_mul(numel, items[i].dtype_size);
    }
    const char **names = xcalloc(n, sizeof *names);
    for (int i = 0; i < n; i++) names[i] = tensors[i].name;
    qsort(names, n, sizeof *names, compare_strings);
    for (int i = 1; i < n; i++)
        if (strcmp(names[i], names[i - 1]) == 0) fatal("%s: tensor '%s' given twice", path, names[i]);
    free(names);
    qsort(items, n, sizeof *items, compare_write_items);

    /* the header: {"__metadata__":{...},"name":{"dtype":..,"shape":[..],"data_offsets":[b,e]},...} */
    ByteBuf h = {0};
    append_text(&h, "{");
    if (n_meta > 0) {
        /* metadata keys sorted too, so the same checkpoint gives the same bytes */
        MetaPair *meta = xcalloc(n_meta, sizeof *meta);
        for (int i = 0; i < n_meta; i++) meta[i] = (MetaPair){meta_keys[i], meta_values[i]};
        qsort(meta, n_meta, sizeof *meta, compare_meta);
        append_text(&h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i > 0 && strcmp(meta[i].key, meta[i - 1].key) == 0)
                fatal("%s: metadata key '%s' given twice", path, meta[i].key);
            if (i) append_text(&h, ",");
            append_json_string(&h, meta[i].key);
            append_text(&h, ":");
            append_json_string(&h, meta[i].value);
        }
        append_text(&h, "}");
        free(meta);
    }
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const SafetensorsWriteTensor *t = items[i].t;
        char num[96];
        if (n_meta > 0 || i > 0) append_text(&h, ",");
        append_json_string(&h, t->name);
        append_text(&h, ":{\"dtype\":");
        append_json_string(&h, items[i].dtype);
        append_text(&h, ",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            append_text(&h, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                 (unsigned long long)(offset + items[i].nbytes));
        append_text(&h, num);
        offset += items[i].nbytes;
    }
    append_text(&h, "}");
    while (h.len % 8 != 0) append_text(&h, " ");

    AtomicFile af = atomic_file_open(path);
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    fwrite(len_bytes, 1, 8, af.f);
    fwrite(h.data, 1, h.len, af.f);
    for (int i = 0; i < n; i++)
        if (items[i].nbytes) fwrite(items[i].t->data, 1, items[i].nbytes, af.f);
    atomic_file_commit(&af);
    bytebuf_free(&h);
    free(items);
}
