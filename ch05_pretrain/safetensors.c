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

static void parse_metadata(SafetensorsFile *sf, const cJSON *meta) {
    if (!cJSON_IsObject(meta)) fatal("%s: __metadata__ is not a JSON object", sf->path);
    int n = cJSON_GetArraySize(meta);
    sf->meta_keys = xcalloc(n, sizeof(char *));
    sf->meta_values = xcalloc(n, sizeof(char *));
    for (const cJSON *kv = meta->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv)) fatal("%s: __metadata__ value of '%s' is not a string", sf->path, kv->string);
        sf->meta_keys[sf->n_meta] = xstrdup(kv->string);
        sf->meta_values[sf->n_meta] = xstrdup(kv->valuestring);
        sf->n_meta++;
    }
}

static void parse_tensor(const SafetensorsFile *sf, const cJSON *item, SafetensorsTensor *t) {
    const char *path = sf->path, *name = item->string;
    t->name = xstrdup(name);
    if (!cJSON_IsObject(item)) fatal("%s: tensor '%s': entry is not a JSON object", path, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dtype)) fatal("%s: tensor '%s' has no dtype string", path, name);
    t->dtype_size = safetensors_dtype_size(dtype->valuestring);
    if (t->dtype_size == 0) fatal("%s: tensor '%s' has an unknown dtype '%.20s'", path, name, dtype->valuestring);
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype->valuestring);

    if (!cJSON_IsArray(shape)) fatal("%s: tensor '%s' has no shape array", path, name);
    t->ndim = cJSON_GetArraySize(shape);
    if (t->ndim > SAFETENSORS_MAX_DIMS)
        fatal("%s: tensor '%s' has %d dimensions (at most %d are supported)", path, name, t->ndim,
              SAFETENSORS_MAX_DIMS);
    t->numel = 1;
    int d = 0;
    for (const cJSON *dim = shape->child; dim; dim = dim->next, d++) {
        uint64_t v;
        if (!json_uint(dim, &v) || v > INT64_MAX) fatal("%s: tensor '%s': shape entry %d is not a size", path, name, d);
        t->shape[d] = (int64_t)v;
        if (v != 0 && t->numel > SIZE_MAX / v) fatal("%s: tensor '%s': shape is too large", path, name);
        t->numel *= (size_t)v;
    }

    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
        fatal("%s: tensor '%s' has no data_offsets pair", path, name);
    if (!json_uint(offsets->child, &t->begin) || !json_uint(offsets->child->next, &t->end))
        fatal("%s: tensor '%s': data_offsets are not byte offsets", path, name);
    if (t->begin > t->end) fatal("%s: tensor '%s': data_offsets [%llu, %llu] run backwards", path, name,
                                 (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > sf->data_size)
        fatal("%s: tensor '%s': data_offsets end at %llu but the data section has only %llu bytes (file truncated?)",
              path, name, (unsigned long long)t->end, (unsigned long long)sf->data_size);
    if (t->numel > SIZE_MAX / t->dtype_size || t->end - t->begin != t->numel * t->dtype_size)
        fatal("%s: tensor '%s': data_offsets span %llu bytes but %zu elements of %s take %zu", path, name,
              (unsigned long long)(t->end - t->begin), t->numel, t->dtype, t->numel * t->dtype_size);
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
 * repeated keys, so this is checked here). */
static void check_layout(const SafetensorsFile *sf) {
    const SafetensorsTensor **order = xcalloc(sf->n_tensors, sizeof *order);
    for (int i = 0; i < sf->n_tensors; i++) order[i] = &sf->tensors[i];
    qsort(order, sf->n_tensors, sizeof *order, compare_by_range);
    for (int i = 1; i < sf->n_tensors; i++)
        if (order[i]->begin < order[i - 1]->end)
            fatal("%s: tensors '%s' and '%s' overlap in the data section", sf->path, order[i - 1]->name,
                  order[i]->name);
    qsort(order, sf->n_tensors, sizeof *order, compare_by_name);
    for (int i = 1; i < sf->n_tensors; i++)
        if (strcmp(order[i]->name, order[i - 1]->name) == 0)
            fatal("%s: tensor '%s' appears twice in the header", sf->path, order[i]->name);
    free(order);
}

SafetensorsFile *safetensors_open(const char *path) {
    SafetensorsFile *sf = xcalloc(1, sizeof *sf);
    sf->path = xstrdup(path);
    sf->f = xfopen(path, "rb");
    struct stat st;
    if (fstat(fileno(sf->f), &st) != 0) fatal("%s: %s", path, strerror(errno));
    uint64_t file_size = (uint64_t)st.st_size;

    unsigned char len_bytes[8];
    if (file_size < 8) fatal("%s: not a safetensors file (%llu bytes, shorter than the header length)", path,
                             (unsigned long long)file_size);
    xfread(len_bytes, 8, sf->f, path);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | len_bytes[i];
    if (header_len > SAFETENSORS_MAX_HEADER)
        fatal("%s: header length %llu is implausible (over %u bytes): not a safetensors file?", path,
              (unsigned long long)header_len, SAFETENSORS_MAX_HEADER);
    if (header_len > file_size - 8)
        fatal("%s: file is truncated: the header should be %llu bytes but only %llu follow", path,
              (unsigned long long)header_len, (unsigned long long)(file_size - 8));
    sf->data_start = 8 + header_len;
    sf->data_size = file_size - sf->data_start;

    char *header = xmalloc(header_len + 1);
    xfread(header, header_len, sf->f, path);
    header[header_len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(header, header_len, &end, false);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long pos = at && at >= header && at <= header + header_len ? (long)(at - header) : -1;
        fatal("%s: the header is not valid JSON (near byte %ld of %llu)", path, pos, (unsigned long long)header_len);
    }
    /* after the JSON only the padding, spaces, may follow */
    for (const char *p = end; p < header + header_len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            fatal("%s: unexpected bytes after the JSON header (byte %ld)", path, (long)(p - header));
    if (!cJSON_IsObject(root)) fatal("%s: the header is not a JSON object", path);

    int n = cJSON_GetArraySize(root);
    sf->tensors = xcalloc(n, sizeof(SafetensorsTensor));
    for (const cJSON *item = root->child; item; item = item->next) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (sf->meta_keys) fatal("%s: __metadata__ appears twice", path);
            parse_metadata(sf, item);
        } else {
            parse_tensor(sf, item, &sf->tensors[sf->n_tensors++]);
        }
    }
    cJSON_Delete(root);
    free(header);
    check_layout(sf);
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
    free(sf->meta_keys);
    free(sf->meta_values);
    free(sf->path);
    free(sf);
}

const SafetensorsTensor *safetensors_find(const SafetensorsFile *sf, const char *name) {
    for (int i = 0; i < sf->n_tensors; i++)
        if (strcmp(sf->tensors[i].name, name) == 0) return &sf->tensors[i];
    return NULL;
}

static void shape_str(int ndim, const int64_t shape[], char *buf, size_t size) {
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && len < size; d++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (len < size) snprintf(buf + len, size - len, "]");
}

const SafetensorsTensor *safetensors_expect(const SafetensorsFile *sf, const char *name, int ndim,
                                            const int64_t shape[]) {
    const SafetensorsTensor *t = safetensors_find(sf, name);
    if (!t) fatal("%s: no tensor named '%s'", sf->path, name);
    bool same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char got[160], want[160];
        shape_str(t->ndim, t->shape, got, sizeof got);
        shape_str(ndim, shape, want, sizeof want);
        fatal("%s: tensor '%s' has shape %s, expected %s", sf->path, name, got, want);
    }
    return t;
}

const char *safetensors_metadata(const SafetensorsFile *sf, const char *key) {
    for (int i = 0; i < sf->n_meta; i++)
        if (strcmp(sf->meta_keys[i], key) == 0) return sf->meta_values[i];
    return NULL;
}

/* ---- reading tensors -------------------------------------------------------------- */

static void read_at(const SafetensorsFile *sf, const SafetensorsTensor *t, uint64_t offset, void *dst, size_t n) {
    if (fseeko(sf->f, (off_t)(sf->data_start + t->begin + offset), SEEK_SET) != 0)
        fatal("%s: cannot seek to tensor '%s': %s", sf->path, t->name, strerror(errno));
    xfread(dst, n, sf->f, sf->path);
}

void safetensors_read_f32(const SafetensorsFile *sf, const SafetensorsTensor *t, float *dst) {
    bool f16 = strcmp(t->dtype, "F16") == 0, bf16 = strcmp(t->dtype, "BF16") == 0;
    if (strcmp(t->dtype, "F32") == 0) {
        read_at(sf, t, 0, dst, t->numel * sizeof(float));
        return;
    }
    if (!f16 && !bf16)
        fatal("%s: tensor '%s' has dtype %s; only F32, F16 and BF16 can be read as floats", sf->path, t->name,
              t->dtype);
    /* 16-bit values: convert a chunk at a time, so no second full copy */
    enum { CHUNK = 1 << 16 };
    uint16_t *buf = xmalloc(CHUNK * sizeof(uint16_t));
    for (size_t i = 0; i < t->numel; i += CHUNK) {
        size_t n = t->numel - i < CHUNK ? t->numel - i : CHUNK;
        read_at(sf, t, i * 2, buf, n * 2);
        for (size_t k = 0; k < n; k++) dst[i + k] = f16 ? f16_to_f32(buf[k]) : bf16_to_f32(buf[k]);
    }
    free(buf);
}

float *safetensors_load_f32(const SafetensorsFile *sf, const char *name, size_t *numel) {
    const SafetensorsTensor *t = safetensors_find(sf, name);
    if (!t) fatal("%s: no tensor named '%s'", sf->path, name);
    float *data = xmalloc(checked_mul(t->numel, sizeof(float)));
    safetensors_read_f32(sf, t, data);
    if (numel) *numel = t->numel;
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
