/* tf_checkpoint.c: see tf_checkpoint.h. */
#include "tf_checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/crc32c.h"
#include "../common/util.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tf_checkpoint.c assumes a little-endian machine"
#endif

#define TABLE_MAGIC 0xdb4775248b80fb57ull
#define FOOTER_SIZE 48  /* two handles of at most 2 x 10 varint bytes, padding, 8 magic */
#define TRAILER_SIZE 5  /* compression type byte + masked crc32c */

/* ---- bytes and varints ------------------------------------------------------------ */

/* A window of bytes being decoded front to back. */
typedef struct {
    const uint8_t *p, *end;
} Bytes;

static uint32_t load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t load_u64(const uint8_t *p) { return load_u32(p) | (uint64_t)load_u32(p + 4) << 32; }

/* Base-128 varint: 7 bits per byte, low groups first, the top bit set on
 * every byte but the last. At most 10 bytes for 64 bits. */
static bool get_varint(Bytes *b, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && b->p < b->end; shift += 7) {
        uint8_t byte = *b->p++;
        v |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

static bool get_bytes(Bytes *b, uint64_t n, Bytes *out) {
    if (n > (uint64_t)(b->end - b->p)) return false;
    *out = (Bytes){b->p, b->p + n};
    b->p += n;
    return true;
}

/* ---- protobuf wire format ------------------------------------------------------------ */

/* One field of a protobuf message: a key varint (field number << 3 | wire
 * type), then by wire type a varint (0), 8 bytes (1), a length-prefixed
 * byte string (2: strings and nested messages) or 4 bytes (5). */
typedef struct {
    uint32_t number;
    int wire;
    uint64_t value; /* wire types 0, 1, 5 */
    Bytes bytes;    /* wire type 2 */
} PbField;

enum { PB_VARINT = 0, PB_FIXED64 = 1, PB_BYTES = 2, PB_FIXED32 = 5 };

/* 1: a field was read; 0: the message is done; -1: malformed. */
static int pb_next(Bytes *msg, PbField *f) {
    *f = (PbField){0};
    if (msg->p == msg->end) return 0;
    uint64_t key, len;
    if (!get_varint(msg, &key) || key >> 3 == 0 || key >> 3 > 0x1FFFFFFF) return -1;
    f->number = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    Bytes fixed;
    switch (f->wire) {
    case PB_VARINT: return get_varint(msg, &f->value) ? 1 : -1;
    case PB_FIXED64:
        if (!get_bytes(msg, 8, &fixed)) return -1;
        f->value = load_u64(fixed.p);
        return 1;
    case PB_BYTES: return get_varint(msg, &len) && get_bytes(msg, len, &f->bytes) ? 1 : -1;
    case PB_FIXED32:
        if (!get_bytes(msg, 4, &fixed)) return -1;
        f->value = load_u32(fixed.p);
        return 1;
    default: return -1; /* groups (3, 4) are long deprecated; TensorFlow writes none */
    }
}

/* BundleHeaderProto { int32 num_shards = 1; Endianness endianness = 2;
 *                     VersionDef version = 3 { int32 producer = 1; ... } } */
static bool parse_header(TfCheckpoint *ck, Bytes msg) {
    PbField f;
    int r;
    ck->num_shards = 0; /* proto3: a field left out is zero */
    while ((r = pb_next(&msg, &f)) > 0) {
        if (f.number == 1 && f.wire == PB_VARINT) ck->num_shards = (int)f.value;
        else if (f.number == 2 && f.wire == PB_VARINT) ck->big_endian = f.value == 1;
        else if (f.number == 3 && f.wire == PB_BYTES) {
            Bytes version = f.bytes;
            PbField v;
            int rv;
            while ((rv = pb_next(&version, &v)) > 0)
                if (v.number == 1 && v.wire == PB_VARINT) ck->version_producer = (int)v.value;
            if (rv < 0) return false;
        }
    }
    return r == 0;
}

/* TensorShapeProto { repeated Dim dim = 2 { int64 size = 1; string name = 2; };
 *                    bool unknown_rank = 3; } */
static const char *parse_shape(TfTensor *t, Bytes msg) {
    PbField f;
    int r;
    while ((r = pb_next(&msg, &f)) > 0) {
        if (f.number == 3 && f.wire == PB_VARINT && f.value) return "has an unknown rank";
        if (f.number != 2 || f.wire != PB_BYTES) continue;
        if (t->ndim == TF_MAX_DIMS) return "has too many dimensions";
        int64_t size = 0;
        Bytes dim = f.bytes;
        PbField d;
        int rd;
        while ((rd = pb_next(&dim, &d)) > 0)
            if (d.number == 1 && d.wire == PB_VARINT) size = (int64_t)d.value;
        if (rd < 0) return "has a malformed dimension";
        if (size < 0) return "has an unknown dimension";
        t->shape[t->ndim++] = size;
    }
    return r < 0 ? "has a malformed shape" : NULL;
}

/* BundleEntryProto { DataType dtype = 1; TensorShapeProto shape = 2;
 *                    int32 shard_id = 3; int64 offset = 4; int64 size = 5;
 *                    fixed32 crc32c = 6; repeated TensorSliceProto slices = 7; }
 * Returns NULL or what is wrong. */
static const char *parse_entry(TfTensor *t, Bytes msg) {
    PbField f;
    int r;
    while ((r = pb_next(&msg, &f)) > 0) {
        switch (f.number) {
        case 1:
            if (f.wire != PB_VARINT) return "has a malformed dtype";
            t->dtype = (int)f.value;
            break;
        case 2: {
            if (f.wire != PB_BYTES) return "has a malformed shape";
            const char *err = parse_shape(t, f.bytes);
            if (err) return err;
            break;
        }
        case 3:
            if (f.wire != PB_VARINT || f.value > 0x7FFFFFFF) return "has a malformed shard id";
            t->shard = (int)f.value;
            break;
        case 4:
            if (f.wire != PB_VARINT || f.value > INT64_MAX) return "has a malformed offset";
            t->offset = f.value;
            break;
        case 5:
            if (f.wire != PB_VARINT || f.value > INT64_MAX) return "has a malformed size";
            t->size = f.value;
            break;
        case 6:
            if (f.wire != PB_FIXED32) return "has a malformed crc32c";
            t->crc32c = (uint32_t)f.value;
            break;
        case 7: t->n_slices++; break;
        default: break; /* a field from a newer TensorFlow: skip it */
        }
    }
    if (r < 0) return "is not a valid BundleEntryProto";
    t->numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] != 0 && t->numel > SIZE_MAX / (uint64_t)t->shape[d]) return "has an impossible shape";
        t->numel *= (size_t)t->shape[d];
    }
    return NULL;
}

/* ---- the table --------------------------------------------------------------------------- */

typedef struct {
    const char *path;
    const uint8_t *file;
    size_t len;
} Table;

/* A block's contents (without the trailer), after checking the trailer. */
static Bytes read_block(const Table *tb, Bytes handle, const char *what) {
    uint64_t offset, size;
    if (!get_varint(&handle, &offset) || !get_varint(&handle, &size))
        fatal("%s: malformed handle of the %s block", tb->path, what);
    if (offset > tb->len || size > tb->len - offset || tb->len - offset - size < TRAILER_SIZE)
        fatal("%s: the %s block (offset %llu, %llu bytes) runs past the end of the file (truncated?)", tb->path, what,
              (unsigned long long)offset, (unsigned long long)size);
    const uint8_t *block = tb->file + offset;
    uint8_t type = block[size];
    uint32_t stored = crc32c_unmask(load_u32(block + size + 1));
    uint32_t actual = crc32c_extend(crc32c(block, size), &type, 1);
    if (stored != actual)
        fatal("%s: the %s block at offset %llu is corrupt (crc32c %08x, expected %08x)", tb->path, what,
              (unsigned long long)offset, actual, stored);
    if (type == 1)
        fatal("%s: the %s block at offset %llu is Snappy-compressed, which is not supported "
              "(re-save the checkpoint without compression)",
              tb->path, what, (unsigned long long)offset);
    if (type != 0)
        fatal("%s: the %s block at offset %llu has unknown compression type %u", tb->path, what,
              (unsigned long long)offset, type);
    return (Bytes){block, block + size};
}

typedef void (*EntryFn)(void *ctx, const char *key, size_t key_len, Bytes value);

/* Call fn on every entry of a block, in order, rebuilding each key from the
 * part it shares with the one before. Keys must increase strictly. */
static void for_each_entry(const Table *tb, Bytes block, const char *what, EntryFn fn, void *ctx) {
    size_t size = (size_t)(block.end - block.p);
    if (size < 4) fatal("%s: the %s block is too short to be one", tb->path, what);
    uint32_t n_restarts = load_u32(block.end - 4);
    if (n_restarts > (size - 4) / 4) fatal("%s: the %s block has a bad restart count %u", tb->path, what, n_restarts);
    Bytes entries = {block.p, block.end - 4 - 4 * (size_t)n_restarts};
    ByteBuf key = {0}, prev = {0};
    bytebuf_append(&key, "", 1);
    for (int i = 0; entries.p < entries.end; i++) {
        uint64_t shared, non_shared, value_len;
        Bytes suffix, value;
        if (!get_varint(&entries, &shared) || !get_varint(&entries, &non_shared) ||
            !get_varint(&entries, &value_len) || shared > key.len - 1 || !get_bytes(&entries, non_shared, &suffix) ||
            !get_bytes(&entries, value_len, &value))
            fatal("%s: entry %d of the %s block is malformed", tb->path, i, what);
        key.len = (size_t)shared; /* keep the shared prefix, then add the rest */
        bytebuf_append(&key, suffix.p, (size_t)non_shared);
        bytebuf_append(&key, "", 1);
        size_t key_len = key.len - 1;
        if (i > 0) {
            size_t common = key_len < prev.len ? key_len : prev.len;
            int c = memcmp(key.data, prev.data, common);
            if (c < 0 || (c == 0 && key_len <= prev.len))
                fatal("%s: keys of the %s block are out of order at entry %d", tb->path, what, i);
        }
        prev.len = 0;
        bytebuf_append(&prev, key.data, key_len);
        fn(ctx, key.data, key_len, value);
    }
    bytebuf_free(&key);
    bytebuf_free(&prev);
}

typedef struct {
    TfCheckpoint *ck;
    const Table *tb;
    bool have_header;
    int capacity;
} Loader;

static void bundle_entry(void *ctx, const char *key, size_t key_len, Bytes value) {
    Loader *ld = ctx;
    TfCheckpoint *ck = ld->ck;
    if (key_len == 0) {
        if (!parse_header(ck, value)) fatal("%s: the bundle header is malformed", ld->tb->path);
        ld->have_header = true;
        return;
    }
    if (memchr(key, '\0', key_len)) fatal("%s: a tensor name contains a NUL byte", ld->tb->path);
    if (ck->n_tensors == ld->capacity) {
        ld->capacity = ld->capacity ? 2 * ld->capacity : 64;
        ck->tensors = xrealloc(ck->tensors, ld->capacity * sizeof(TfTensor));
    }
    TfTensor *t = &ck->tensors[ck->n_tensors++];
    *t = (TfTensor){.name = xstrdup(key)};
    const char *err = parse_entry(t, value);
    if (err) fatal("%s: tensor '%s' %s", ld->tb->path, t->name, err);
}

/* Each index entry's value is a data block's handle. */
static void index_entry(void *ctx, const char *key, size_t key_len, Bytes value) {
    (void)key, (void)key_len;
    Loader *ld = ctx;
    Bytes data = read_block(ld->tb, value, "data");
    for_each_entry(ld->tb, data, "data", bundle_entry, ld);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

TfCheckpoint *tf_checkpoint_open(const char *path) {
    TfCheckpoint *ck = xcalloc(1, sizeof *ck);
    if (ends_with(path, ".index")) {
        ck->index_path = xstrdup(path);
        ck->prefix = xstrdup(path);
        ck->prefix[strlen(path) - strlen(".index")] = '\0';
    } else {
        ck->prefix = xstrdup(path);
        ck->index_path = xmalloc(strlen(path) + 7);
        sprintf(ck->index_path, "%s.index", path);
    }
    size_t len;
    char *file = read_file(ck->index_path, &len);
    Table tb = {ck->index_path, (const uint8_t *)file, len};
    if (len < FOOTER_SIZE) fatal("%s: too short for a checkpoint index (%zu bytes; truncated?)", tb.path, len);
    const uint8_t *footer = tb.file + len - FOOTER_SIZE;
    if (load_u64(footer + FOOTER_SIZE - 8) != TABLE_MAGIC)
        fatal("%s: not a checkpoint index (no table magic at the end; truncated?)", tb.path);
    /* the metaindex handle comes first; its block (filters, properties) is
     * of no use to a reader of bundles, so skip it */
    Bytes handles = {footer, footer + FOOTER_SIZE - 8};
    uint64_t skip;
    if (!get_varint(&handles, &skip) || !get_varint(&handles, &skip)) fatal("%s: malformed table footer", tb.path);
    Bytes index = read_block(&tb, handles, "index");
    Loader ld = {.ck = ck, .tb = &tb};
    for_each_entry(&tb, index, "index", index_entry, &ld);
    if (!ld.have_header) fatal("%s: no bundle header (the entry with the empty key)", tb.path);
    if (ck->num_shards < 1 && ck->n_tensors > 0) fatal("%s: the header says %d data shards", tb.path, ck->num_shards);
    for (int i = 0; i < ck->n_tensors; i++) {
        /* keys are checked in order within a block; this checks across blocks
         * too, which tf_checkpoint_find's binary search relies on */
        if (i > 0 && strcmp(ck->tensors[i - 1].name, ck->tensors[i].name) >= 0)
            fatal("%s: tensor names are out of order at '%s'", tb.path, ck->tensors[i].name);
        if (ck->tensors[i].shard >= ck->num_shards)
            fatal("%s: tensor '%s' is in shard %d of %d", tb.path, ck->tensors[i].name, ck->tensors[i].shard,
                  ck->num_shards);
    }
    free(file);
    return ck;
}

void tf_checkpoint_close(TfCheckpoint *ck) {
    if (!ck) return;
    for (int i = 0; i < ck->n_tensors; i++) free(ck->tensors[i].name);
    free(ck->tensors);
    free(ck->prefix);
    free(ck->index_path);
    free(ck);
}

const TfTensor *tf_checkpoint_find(const TfCheckpoint *ck, const char *name) {
    /* the table's order is bytewise, which is strcmp's */
    int lo = 0, hi = ck->n_tensors;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(ck->tensors[mid].name, name);
        if (c == 0) return &ck->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *tf_dtype_name(int dtype) {
    switch (dtype) {
    case TF_DT_FLOAT: return "DT_FLOAT";
    case TF_DT_DOUBLE: return "DT_DOUBLE";
    case TF_DT_INT32: return "DT_INT32";
    case TF_DT_UINT8: return "DT_UINT8";
    case TF_DT_INT16: return "DT_INT16";
    case TF_DT_INT8: return "DT_INT8";
    case TF_DT_STRING: return "DT_STRING";
    case TF_DT_INT64: return "DT_INT64";
    case TF_DT_BOOL: return "DT_BOOL";
    case TF_DT_BFLOAT16: return "DT_BFLOAT16";
    case TF_DT_HALF: return "DT_HALF";
    default: return "DT_?";
    }
}

char *tf_checkpoint_shard_path(const TfCheckpoint *ck, int shard) {
    size_t n = strlen(ck->prefix) + 64;
    char *p = xmalloc(n);
    snprintf(p, n, "%s.data-%05d-of-%05d", ck->prefix, shard, ck->num_shards);
    return p;
}

/* ---- reading tensors ------------------------------------------------------------------------ */

void tf_checkpoint_read_f32(const TfCheckpoint *ck, const TfTensor *t, float *dst) {
    if (t->dtype != TF_DT_FLOAT)
        fatal("%s: tensor '%s' is %s (%d); only DT_FLOAT tensors can be read", ck->index_path, t->name,
              tf_dtype_name(t->dtype), t->dtype);
    if (t->n_slices > 0)
        fatal("%s: tensor '%s' is a partitioned variable (%d slices), which is not supported", ck->index_path,
              t->name, t->n_slices);
    if (ck->big_endian) fatal("%s: the checkpoint is big-endian, which is not supported", ck->index_path);
    if (t->numel > UINT64_MAX / sizeof(float) || t->size != (uint64_t)t->numel * sizeof(float))
        fatal("%s: tensor '%s' has %zu elements but %llu bytes", ck->index_path, t->name, t->numel,
              (unsigned long long)t->size);
    char *shard_path = tf_checkpoint_shard_path(ck, t->shard);
    FILE *f = fopen(shard_path, "rb");
    if (!f) {
        if (errno == ENOENT)
            fatal("%s: missing data shard %d of %d (needed for tensor '%s')", shard_path, t->shard, ck->num_shards,
                  t->name);
        fatal("%s: %s", shard_path, strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) fatal("%s: %s", shard_path, strerror(errno));
    if ((uint64_t)st.st_size < t->offset || (uint64_t)st.st_size - t->offset < t->size)
        fatal("%s: data file is truncated: tensor '%s' needs bytes [%llu, %llu) but the file has %lld", shard_path,
              t->name, (unsigned long long)t->offset, (unsigned long long)(t->offset + t->size),
              (long long)st.st_size);
    if (fseeko(f, (off_t)t->offset, SEEK_SET) != 0) fatal("%s: %s", shard_path, strerror(errno));
    xfread(dst, t->size, f, shard_path);
    fclose(f);
    /* the entry holds the masked CRC-32C of the tensor's bytes */
    uint32_t actual = crc32c(dst, t->size);
    if (actual != crc32c_unmask(t->crc32c))
        fatal("%s: tensor '%s' is corrupt (crc32c %08x, the index says %08x)", shard_path, t->name, actual,
              crc32c_unmask(t->crc32c));
    free(shard_path);
}

float *tf_checkpoint_load_f32(const TfCheckpoint *ck, const char *name, size_t *numel) {
    const TfTensor *t = tf_checkpoint_find(ck, name);
    if (!t) fatal("%s: no tensor named '%s'", ck->index_path, name);
    float *data = xmalloc(checked_mul(t->numel, sizeof(float)));
    tf_checkpoint_read_f32(ck, t, data);
    if (numel) *numel = t->numel;
    return data;
}
