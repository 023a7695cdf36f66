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
 *                     VersionDef version = 3 { int32 producer = 1; ... } }
 * Returns NULL or what is wrong. */
static const char *parse_header(TfCheckpoint *ck, Bytes msg) {
    PbField f;
    int r;
    ck->num_shards = 0; /* proto3: a field left out is zero */
    while ((r = pb_next(&msg, &f)) > 0) {
        if (f.number == 1 && f.wire == PB_VARINT) {
            if (f.value > INT32_MAX) return "gives an impossible number of shards";
            ck->num_shards = (int)f.value;
        } else if (f.number == 2 && f.wire == PB_VARINT) {
            ck->big_endian = f.value == 1;
        } else if (f.number == 3 && f.wire == PB_BYTES) {
            Bytes version = f.bytes;
            PbField v;
            int rv;
            while ((rv = pb_next(&version, &v)) > 0)
                if (v.number == 1 && v.wire == PB_VARINT) ck->version_producer = (int)(int32_t)v.value;
            if (rv < 0) return "is malformed";
        }
    }
    return r < 0 ? "is malformed" : NULL;
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
            if (f.wire != PB_VARINT || f.value > INT32_MAX) return "has a malformed dtype";
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
    for (int d = 0; d < t->ndim; d++)
        if (!size_mul(t->numel, (size_t)t->shape[d], &t->numel)) return "has an impossible shape";
    return NULL;
}

bool tf_checkpoint_ignore_block_crc = false;

/* ---- the table --------------------------------------------------------------------------- */

/* The index file being parsed, and where an error goes. */
typedef struct {
    const char *path;
    const uint8_t *file;
    size_t len;
    char *err;
    size_t err_size;
} Table;

/* A block handle: varint offset, varint size. */
static bool get_handle(Bytes *b, uint64_t *offset, uint64_t *size) {
    return get_varint(b, offset) && get_varint(b, size);
}

/* The block at [offset, offset + size) without its trailer, after checking
 * that it and the trailer are inside the file and the trailer's CRC. */
static bool read_block(const Table *tb, uint64_t offset, uint64_t size, const char *what, Bytes *out) {
    if (offset > tb->len || size > tb->len - offset || tb->len - offset - size < TRAILER_SIZE)
        return set_error(tb->err, tb->err_size,
                         "%s: the %s block (offset %llu, %llu bytes) runs past the end of the file (truncated?)",
                         tb->path, what, (unsigned long long)offset, (unsigned long long)size);
    const uint8_t *block = tb->file + offset;
    uint8_t type = block[size];
    uint32_t stored = crc32c_unmask(load_u32(block + size + 1));
    uint32_t actual = crc32c_extend(crc32c(block, size), &type, 1);
    if (stored != actual && !tf_checkpoint_ignore_block_crc)
        return set_error(tb->err, tb->err_size,
                         "%s: the %s block at offset %llu is corrupt (crc32c %08x, expected %08x)",
                         tb->path, what, (unsigned long long)offset, actual, stored);
    if (type == 1)
        return set_error(tb->err, tb->err_size,
                         "%s: the %s block at offset %llu is Snappy-compressed, which is not supported "
                         "(re-save the checkpoint without compression)",
                         tb->path, what, (unsigned long long)offset);
    if (type != 0)
        return set_error(tb->err, tb->err_size, "%s: the %s block at offset %llu has unknown compression type %u",
                         tb->path, what, (unsigned long long)offset, type);
    *out = (Bytes){block, block + size};
    return true;
}

/* The last key seen, so that every key can be checked to come after it:
 * the table's keys are strictly increasing, and the index block's order
 * and the data blocks' order are checked with one each. */
typedef struct {
    ByteBuf last;
    bool any;
} KeyOrder;

static bool key_follows(KeyOrder *order, const char *key, size_t key_len) {
    if (order->any) {
        size_t common = key_len < order->last.len ? key_len : order->last.len;
        int c = memcmp(key, order->last.data, common);
        if (c < 0 || (c == 0 && key_len <= order->last.len)) return false;
    }
    order->last.len = 0;
    bytebuf_append(&order->last, key, key_len);
    order->any = true;
    return true;
}

/* The restart array at the end of a block: count u32 offsets, then the
 * count. Each restart point is an entry that stores its whole key
 * (shared = 0), in increasing order, the first entry the first point;
 * readers that seek rely on that, so a block that breaks it is corrupt. */
typedef struct {
    const uint8_t *at; /* the first u32 */
    uint32_t count, next;
} Restarts;

/* The entry at offset `at` of its block, which shares `shared` bytes of
 * its key, against the next restart point. */
static bool restart_ok(Restarts *r, size_t at, uint64_t shared) {
    if (r->next == r->count) return true; /* past the last point */
    size_t point = load_u32(r->at + 4 * (size_t)r->next);
    if (point == at) {
        r->next++;
        return shared == 0;
    }
    return point > at && at > 0; /* a point skipped, or a first entry that is none */
}

/* The next entry of a block: its key rebuilt in key (NUL-terminated,
 * key->len - 1 bytes) from the part it shares with the one before, and
 * its value. */
static bool next_entry(Bytes *entries, ByteBuf *key, uint64_t *shared, Bytes *value) {
    uint64_t non_shared, value_len;
    Bytes suffix;
    if (!get_varint(entries, shared) || !get_varint(entries, &non_shared) || !get_varint(entries, &value_len) ||
        *shared > key->len - 1 || !get_bytes(entries, non_shared, &suffix) || !get_bytes(entries, value_len, value))
        return false;
    key->len = (size_t)*shared; /* keep the shared prefix, then add the rest */
    bytebuf_append(key, suffix.p, (size_t)non_shared);
    bytebuf_append(key, "", 1);
    return true;
}

typedef bool (*EntryFn)(void *ctx, const char *key, size_t key_len, Bytes value);

/* Call fn on every entry of a block, in order; keys must follow order. */
static bool for_each_entry(const Table *tb, Bytes block, const char *what, KeyOrder *order, EntryFn fn, void *ctx) {
    size_t size = (size_t)(block.end - block.p);
    if (size < 4) return set_error(tb->err, tb->err_size, "%s: the %s block is too short to be one", tb->path, what);
    uint32_t n_restarts = load_u32(block.end - 4);
    if (n_restarts < 1 || n_restarts > (size - 4) / 4)
        return set_error(tb->err, tb->err_size, "%s: the %s block has a bad restart count %u", tb->path, what,
                         n_restarts);
    Bytes entries = {block.p, block.end - 4 - 4 * (size_t)n_restarts};
    Restarts restarts = {entries.end, n_restarts, 0};
    bool empty = entries.p == entries.end;
    ByteBuf key = {0};
    bytebuf_append(&key, "", 1);
    bool ok = true;
    for (int i = 0; ok && entries.p < entries.end; i++) {
        size_t at = (size_t)(entries.p - block.p);
        uint64_t shared;
        Bytes value;
        if (!next_entry(&entries, &key, &shared, &value))
            ok = set_error(tb->err, tb->err_size, "%s: entry %d of the %s block is malformed", tb->path, i, what);
        else if (!restart_ok(&restarts, at, shared))
            ok = set_error(tb->err, tb->err_size,
                           "%s: the %s block's restart points do not match its entries (at entry %d)", tb->path,
                           what, i);
        else if (!key_follows(order, key.data, key.len - 1))
            ok = set_error(tb->err, tb->err_size, "%s: keys of the %s block are out of order at entry %d", tb->path,
                           what, i);
        else ok = fn(ctx, key.data, key.len - 1, value);
    }
    /* every restart point must have been an entry; an empty block has one at 0 */
    if (ok && restarts.next < n_restarts && !(empty && n_restarts == 1 && load_u32(restarts.at) == 0))
        ok = set_error(tb->err, tb->err_size, "%s: the %s block's restart points do not match its entries", tb->path,
                       what);
    bytebuf_free(&key);
    return ok;
}

typedef struct {
    TfCheckpoint *ck;
    const Table *tb;
    bool have_header;
    size_t capacity;
    KeyOrder names;    /* over all the data blocks: names sorted, none twice */
    uint64_t data_end; /* where the data blocks read so far end */
} Loader;

static bool bundle_entry(void *ctx, const char *key, size_t key_len, Bytes value) {
    Loader *ld = ctx;
    TfCheckpoint *ck = ld->ck;
    const Table *tb = ld->tb;
    if (key_len == 0) { /* the smallest key: the key order makes it the first entry, and the only one */
        const char *err = parse_header(ck, value);
        if (err) return set_error(tb->err, tb->err_size, "%s: the bundle header %s", tb->path, err);
        ld->have_header = true;
        return true;
    }
    if (memchr(key, '\0', key_len))
        return set_error(tb->err, tb->err_size, "%s: a tensor name contains a NUL byte", tb->path);
    if ((size_t)ck->n_tensors == ld->capacity) {
        ld->capacity = ld->capacity ? 2 * ld->capacity : 64;
        ck->tensors = xrealloc(ck->tensors, checked_mul(ld->capacity, sizeof(TfTensor)));
    }
    TfTensor *t = &ck->tensors[ck->n_tensors++];
    *t = (TfTensor){.name = xstrdup(key)};
    const char *err = parse_entry(t, value);
    if (err) return set_error(tb->err, tb->err_size, "%s: tensor '%s' %s", tb->path, t->name, err);
    return true;
}

/* Each index entry's value is a data block's handle. The data blocks come
 * one after another in the file, as every writer lays them out: a table
 * whose index points at one block twice (or back) would have each read
 * again and again. */
static bool index_entry(void *ctx, const char *key, size_t key_len, Bytes value) {
    (void)key, (void)key_len;
    Loader *ld = ctx;
    const Table *tb = ld->tb;
    uint64_t offset, size;
    Bytes data;
    if (!get_handle(&value, &offset, &size))
        return set_error(tb->err, tb->err_size, "%s: malformed handle of the data block", tb->path);
    if (offset < ld->data_end)
        return set_error(tb->err, tb->err_size,
                         "%s: the data block at offset %llu overlaps or comes before the one ending at %llu", tb->path,
                         (unsigned long long)offset, (unsigned long long)ld->data_end);
    if (!read_block(tb, offset, size, "data", &data)) return false;
    ld->data_end = offset + size + TRAILER_SIZE;
    return for_each_entry(tb, data, "data", &ld->names, bundle_entry, ld);
}

static bool parse_index(TfCheckpoint *ck, const uint8_t *file, size_t len, char *err, size_t err_size) {
    Table tb = {ck->index_path, file, len, err, err_size};
    if (len < FOOTER_SIZE)
        return set_error(err, err_size, "%s: too short for a checkpoint index (%zu bytes; truncated?)", tb.path, len);
    const uint8_t *footer = tb.file + len - FOOTER_SIZE;
    if (load_u64(footer + FOOTER_SIZE - 8) != TABLE_MAGIC)
        return set_error(err, err_size, "%s: not a checkpoint index (no table magic at the end; truncated?)", tb.path);
    /* the metaindex handle comes first; its block (filters, properties) is
     * of no use to a reader of bundles, so skip it */
    Bytes handles = {footer, footer + FOOTER_SIZE - 8};
    uint64_t skip, offset, size;
    if (!get_handle(&handles, &skip, &skip) || !get_handle(&handles, &offset, &size))
        return set_error(err, err_size, "%s: malformed table footer", tb.path);
    Bytes index;
    if (!read_block(&tb, offset, size, "index", &index)) return false;
    Loader ld = {.ck = ck, .tb = &tb};
    KeyOrder index_keys = {0};
    bool ok = for_each_entry(&tb, index, "index", &index_keys, index_entry, &ld);
    bytebuf_free(&index_keys.last);
    bytebuf_free(&ld.names.last);
    if (!ok) return false;
    if (!ld.have_header)
        return set_error(err, err_size, "%s: no bundle header (the entry with the empty key)", tb.path);
    if (ck->num_shards < 1 && ck->n_tensors > 0)
        return set_error(err, err_size, "%s: the header says %d data shards", tb.path, ck->num_shards);
    for (int i = 0; i < ck->n_tensors; i++)
        if (ck->tensors[i].shard >= ck->num_shards)
            return set_error(err, err_size, "%s: tensor '%s' is in shard %d of %d", tb.path, ck->tensors[i].name,
                             ck->tensors[i].shard, ck->num_shards);
    return true;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A checkpoint with its prefix and index path set from path, either. */
static TfCheckpoint *new_checkpoint(const char *path) {
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
    return ck;
}

TfCheckpoint *tf_checkpoint_try_open(const char *path, char *err, size_t err_size) {
    TfCheckpoint *ck = new_checkpoint(path);
    size_t len;
    char *file = try_read_file(ck->index_path, &len, err, err_size);
    bool ok = file && parse_index(ck, (const uint8_t *)file, len, err, err_size);
    free(file);
    if (ok) return ck;
    tf_checkpoint_close(ck);
    return NULL;
}

TfCheckpoint *tf_checkpoint_parse(const void *index, size_t index_len, const void *data, size_t data_len,
                                  const char *name, char *err, size_t err_size) {
    TfCheckpoint *ck = new_checkpoint(name);
    ck->in_memory = true;
    ck->data = data;
    ck->data_len = data_len;
    if (parse_index(ck, index, index_len, err, err_size)) return ck;
    tf_checkpoint_close(ck);
    return NULL;
}

TfCheckpoint *tf_checkpoint_open(const char *path) {
    char err[1024];
    TfCheckpoint *ck = tf_checkpoint_try_open(path, err, sizeof err);
    if (!ck) fatal("%s", err);
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

/* What the index says of t, before any data file is looked at. */
static bool check_float_entry(const TfCheckpoint *ck, const TfTensor *t, char *err, size_t err_size) {
    if (t->dtype != TF_DT_FLOAT)
        return set_error(err, err_size, "%s: tensor '%s' is %s (%d); only DT_FLOAT tensors can be read", ck->index_path,
                         t->name, tf_dtype_name(t->dtype), t->dtype);
    if (t->n_slices > 0)
        return set_error(err, err_size, "%s: tensor '%s' is a partitioned variable (%d slices), which is not supported",
                         ck->index_path, t->name, t->n_slices);
    if (ck->big_endian)
        return set_error(err, err_size, "%s: the checkpoint is big-endian, which is not supported", ck->index_path);
    if (t->numel > UINT64_MAX / sizeof(float) || t->size != (uint64_t)t->numel * sizeof(float))
        return set_error(err, err_size, "%s: tensor '%s' has %zu elements but %llu bytes", ck->index_path, t->name,
                         t->numel, (unsigned long long)t->size);
    return true;
}

/* Where a tensor's bytes are: its shard's data file, or memory. */
typedef struct {
    char *path; /* the data file's name, for messages */
    FILE *f;
    const uint8_t *mem;
    uint64_t size;
} Shard;

static void shard_close(Shard *s) {
    if (s->f) fclose(s->f);
    free(s->path);
    *s = (Shard){0};
}

/* Open t's shard and check that it holds t's bytes. */
static bool shard_open(const TfCheckpoint *ck, const TfTensor *t, Shard *s, char *err, size_t err_size) {
    *s = (Shard){.path = tf_checkpoint_shard_path(ck, t->shard)};
    bool ok = true;
    if (ck->in_memory) {
        if (t->shard == 0 && ck->data) s->mem = ck->data, s->size = ck->data_len;
    } else if ((s->f = fopen(s->path, "rb")) != NULL) {
        struct stat st;
        if (fstat(fileno(s->f), &st) == 0) s->size = (uint64_t)st.st_size;
        else ok = set_error(err, err_size, "%s: %s", s->path, strerror(errno));
    } else if (errno != ENOENT) {
        ok = set_error(err, err_size, "%s: %s", s->path, strerror(errno));
    }
    if (ok && !s->f && !s->mem)
        ok = set_error(err, err_size, "%s: missing data shard %d of %d (needed for tensor '%s')", s->path, t->shard,
                       ck->num_shards, t->name);
    else if (ok && (s->size < t->offset || s->size - t->offset < t->size))
        ok = set_error(err, err_size,
                       "%s: data file is truncated: tensor '%s' needs bytes [%llu, %llu) but the file has %llu",
                       s->path, t->name, (unsigned long long)t->offset, (unsigned long long)(t->offset + t->size),
                       (unsigned long long)s->size);
    if (!ok) shard_close(s);
    return ok;
}

bool tf_checkpoint_check_f32(const TfCheckpoint *ck, const TfTensor *t, char *err, size_t err_size) {
    Shard s;
    if (!check_float_entry(ck, t, err, err_size) || !shard_open(ck, t, &s, err, err_size)) return false;
    shard_close(&s);
    return true;
}

static bool shard_read(Shard *s, const TfTensor *t, void *dst, char *err, size_t err_size) {
    if (s->mem) {
        memcpy(dst, s->mem + t->offset, t->size);
        return true;
    }
    if (fseeko(s->f, (off_t)t->offset, SEEK_SET) != 0)
        return set_error(err, err_size, "%s: %s", s->path, strerror(errno));
    if (t->size && fread(dst, 1, t->size, s->f) != t->size)
        return set_error(err, err_size, "%s: %s", s->path, ferror(s->f) ? strerror(errno) : "file is truncated");
    return true;
}

bool tf_checkpoint_try_read_f32(const TfCheckpoint *ck, const TfTensor *t, float *dst, char *err, size_t err_size) {
    Shard s;
    if (!check_float_entry(ck, t, err, err_size) || !shard_open(ck, t, &s, err, err_size)) return false;
    bool ok = shard_read(&s, t, dst, err, err_size);
    /* the entry holds the masked CRC-32C of the tensor's bytes */
    uint32_t actual = ok ? crc32c(dst, t->size) : 0;
    if (ok && actual != crc32c_unmask(t->crc32c))
        ok = set_error(err, err_size, "%s: tensor '%s' is corrupt (crc32c %08x, the index says %08x)", s.path, t->name,
                       actual, crc32c_unmask(t->crc32c));
    shard_close(&s);
    return ok;
}

void tf_checkpoint_read_f32(const TfCheckpoint *ck, const TfTensor *t, float *dst) {
    char err[1024];
    if (!tf_checkpoint_try_read_f32(ck, t, dst, err, sizeof err)) fatal("%s", err);
}

float *tf_checkpoint_try_load_f32(const TfCheckpoint *ck, const char *name, size_t *numel, char *err,
                                  size_t err_size) {
    const TfTensor *t = tf_checkpoint_find(ck, name);
    if (!t) {
        format_error(err, err_size, "%s: no tensor named '%s'", ck->index_path, name);
        return NULL;
    }
    /* the data file must hold the tensor before its size is trusted for an
     * allocation: the index alone could claim any shape */
    if (!tf_checkpoint_check_f32(ck, t, err, err_size)) return NULL;
    float *data = xmalloc(t->size);
    if (!tf_checkpoint_try_read_f32(ck, t, data, err, err_size)) {
        free(data);
        return NULL;
    }
    if (numel) *numel = t->numel;
    return data;
}

float *tf_checkpoint_load_f32(const TfCheckpoint *ck, const char *name, size_t *numel) {
    char err[1024];
    float *data = tf_checkpoint_try_load_f32(ck, name, numel, err, sizeof err);
    if (!data) fatal("%s", err);
    return data;
}
