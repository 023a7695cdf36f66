/* bpe.c: see bpe.h. */
#include "bpe.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "unicode_classes.h"
#include "utf8.h"

/* ==== 2.5 Byte pair encoding ====
 * GPT-2's tokenizer, in the order it works: its two files loaded into a
 * vocabulary and merge ranks (after a small hash map they use), then
 * encoding (pre-tokenization, then merging each piece), then decoding. */

/* ---- A hash map from byte strings to two ints ------------------------- */

/* Open addressing with linear probing; keys live in one arena. Used for the
 * vocabulary (bytes -> id) and for the cache of encoded words. */
typedef struct {
    uint64_t *hashes; /* 0 marks an empty slot */
    uint32_t *key_offset;
    uint32_t *key_len;
    int *value_a;
    int *value_b;
    size_t capacity; /* a power of two */
    size_t count;
    ByteBuf keys;
} ByteMap;

static uint64_t hash_bytes(const unsigned char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
    }
    uint64_t tail = 0;
    memcpy(&tail, p + i, n - i);
    h = (h ^ tail) * 0x94D049BB133111EBull;
    h ^= h >> 32;
    return h ? h : 1;
}

static void bytemap_init(ByteMap *m, size_t capacity) {
    memset(m, 0, sizeof *m);
    m->capacity = 16;
    while (m->capacity < capacity) m->capacity *= 2;
    m->hashes = xcalloc(m->capacity, sizeof(uint64_t));
    m->key_offset = xmalloc(m->capacity * sizeof(uint32_t));
    m->key_len = xmalloc(m->capacity * sizeof(uint32_t));
    m->value_a = xmalloc(m->capacity * sizeof(int));
    m->value_b = xmalloc(m->capacity * sizeof(int));
}

static void bytemap_free(ByteMap *m) {
    free(m->hashes);
    free(m->key_offset);
    free(m->key_len);
    free(m->value_a);
    free(m->value_b);
    bytebuf_free(&m->keys);
    memset(m, 0, sizeof *m);
}

/* Slot holding key, or the empty slot where it would go. */
static size_t bytemap_slot(const ByteMap *m, const char *key, size_t len, uint64_t h) {
    size_t mask = m->capacity - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (m->hashes[i] == 0) return i;
        if (m->hashes[i] == h && m->key_len[i] == len && memcmp(m->keys.data + m->key_offset[i], key, len) == 0)
            return i;
    }
}

static bool bytemap_get(const ByteMap *m, const char *key, size_t len, int *a, int *b) {
    size_t i = bytemap_slot(m, key, len, hash_bytes((const unsigned char *)key, len));
    if (m->hashes[i] == 0) return false;
    *a = m->value_a[i];
    if (b) *b = m->value_b[i];
    return true;
}

static void bytemap_put(ByteMap *m, const char *key, size_t len, int a, int b);

static void bytemap_grow(ByteMap *m) {
    ByteMap bigger;
    bytemap_init(&bigger, m->capacity * 2);
    for (size_t i = 0; i < m->capacity; i++)
        if (m->hashes[i]) bytemap_put(&bigger, m->keys.data + m->key_offset[i], m->key_len[i], m->value_a[i], m->value_b[i]);
    bytemap_free(m);
    *m = bigger;
}

/* Insert or overwrite. */
static void bytemap_put(ByteMap *m, const char *key, size_t len, int a, int b) {
    if (2 * (m->count + 1) > m->capacity) bytemap_grow(m);
    uint64_t h = hash_bytes((const unsigned char *)key, len);
    size_t i = bytemap_slot(m, key, len, h);
    if (m->hashes[i] == 0) {
        if (m->keys.len + len > UINT32_MAX) fatal("tokenizer table too large");
        m->hashes[i] = h;
        m->key_offset[i] = (uint32_t)m->keys.len;
        m->key_len[i] = (uint32_t)len;
        bytebuf_append(&m->keys, key, len);
        m->count++;
    }
    m->value_a[i] = a;
    m->value_b[i] = b;
}

static void bytemap_clear(ByteMap *m) {
    memset(m->hashes, 0, m->capacity * sizeof(uint64_t));
    m->count = 0;
    m->keys.len = 0;
}

/* ---- The tokenizer ------------------------------------------------------ */

/* The word cache is emptied when it grows past this many words or bytes of
 * words, so memory stays bounded on endless text; pieces longer than
 * WORD_CACHE_MAX_PIECE (rare, and seldom repeated) are not cached at all. */
#define WORD_CACHE_MAX_WORDS (1 << 18)
#define WORD_CACHE_MAX_BYTES (1 << 24)
#define WORD_CACHE_MAX_PIECE 4096

struct Bpe {
    int vocab_size;
    int n_merges;
    int eot_id;
    char **token_bytes; /* id -> bytes */
    int *token_len;
    int *rank;          /* id -> merge rank; INT_MAX for tokens no merge makes */
    ByteMap vocab;      /* bytes -> (id, -) for every mergeable token */
    ByteMap word_cache; /* piece bytes -> (offset into cached_ids, count) */
    IntVec cached_ids;
};

/* GPT-2 gives the 188 printable bytes their own code points and maps the
 * other 68 (controls, space, 0x7F-0xA0, 0xAD) to U+0100 onwards, so that
 * every token is a printable string. */
static bool is_printable_byte(int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t bpe_byte_to_codepoint(unsigned char b) {
    if (is_printable_byte(b)) return b;
    uint32_t n = 0;
    for (int x = 0; x < b; x++)
        if (!is_printable_byte(x)) n++;
    return 256 + n;
}

void bpe_byte_rank_order(unsigned char order[256]) {
    int n = 0;
    for (int b = 0; b < 256; b++)
        if (is_printable_byte(b)) order[n++] = (unsigned char)b;
    for (int b = 0; b < 256; b++)
        if (!is_printable_byte(b)) order[n++] = (unsigned char)b;
}

/* Decode a token string of the byte alphabet into bytes. Returns the byte
 * count, or -1 if a character is not in the alphabet. */
static int alphabet_to_bytes(const char *s, size_t len, char *out) {
    static int byte_of_codepoint[256 + 68];
    static bool ready;
    if (!ready) {
        for (int b = 0; b < 256; b++) byte_of_codepoint[bpe_byte_to_codepoint((unsigned char)b)] = b;
        ready = true;
    }
    int n = 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        int k = utf8_decode((const unsigned char *)s + i, len - i, &cp);
        if (k == 0 || cp >= 256 + 68 || (cp < 256 && !is_printable_byte((int)cp))) return -1;
        out[n++] = (char)byte_of_codepoint[cp];
        i += k;
    }
    return n;
}

/* The loaders' error convention: write the reason into err and return
 * false, so a malformed file never exits the program from inside the
 * library (bpe_load turns the reason into fatal's message). */
static bool failf(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool failf(char *err, size_t err_size, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, err_size, fmt, args);
    va_end(args);
    return false;
}

static int line_of_offset(const char *text, size_t offset) {
    int line = 1;
    for (size_t i = 0; i < offset; i++) line += text[i] == '\n';
    return line;
}

/* One entry "key": id of encoder.json. Token strings are shown in messages
 * cut to 40 bytes, as a fuzzed key can be of any length. */
static bool add_token(Bpe *bpe, const cJSON *item, const char *name, char *err, size_t err_size) {
    const char *key = item->string;
    const int n = bpe->vocab_size;
    double v = cJSON_IsNumber(item) ? item->valuedouble : -1;
    if (!(v >= 0 && v < n && v == (int)v))
        return failf(err, err_size, "%s: token \"%.40s\" has id %s; ids must be whole numbers 0..%d", name, key,
                     cJSON_IsNumber(item) ? "out of range" : "that is not a number", n - 1);
    int id = (int)v;
    if (bpe->token_bytes[id])
        return failf(err, err_size, "%s: id %d is given to two tokens (\"%.40s\" and another)", name, id, key);
    size_t key_len = strlen(key);
    char *bytes = xmalloc(key_len + 1);
    int n_bytes;
    if (strcmp(key, BPE_ENDOFTEXT) == 0) {
        /* special tokens are not byte-level text and never come out of merges */
        if (bpe->eot_id >= 0) {
            free(bytes);
            return failf(err, err_size, "%s: %s is given two ids, %d and %d", name, BPE_ENDOFTEXT, bpe->eot_id, id);
        }
        memcpy(bytes, key, key_len + 1);
        n_bytes = (int)key_len;
        bpe->eot_id = id;
    } else {
        n_bytes = alphabet_to_bytes(key, key_len, bytes);
        if (n_bytes <= 0) {
            free(bytes);
            return failf(err, err_size, "%s: token \"%.40s\" (id %d) is not written in GPT-2's byte alphabet", name,
                         key, id);
        }
        int existing;
        if (bytemap_get(&bpe->vocab, bytes, n_bytes, &existing, NULL)) {
            free(bytes);
            return failf(err, err_size, "%s: ids %d and %d stand for the same bytes", name, existing, id);
        }
        bytemap_put(&bpe->vocab, bytes, n_bytes, id, 0);
    }
    bpe->token_bytes[id] = bytes;
    bpe->token_len[id] = n_bytes;
    bpe->rank[id] = INT_MAX;
    return true;
}

static bool load_encoder_json(Bpe *bpe, BpeFileData f, char *err, size_t err_size) {
    cJSON *root = cJSON_ParseWithLength(f.data, f.len);
    if (!root) {
        const char *where = cJSON_GetErrorPtr();
        size_t offset = where && where >= f.data && where <= f.data + f.len ? (size_t)(where - f.data) : f.len;
        return failf(err, err_size, "%s: malformed JSON near line %d (expected an object of token strings to ids)",
                     f.name, line_of_offset(f.data, offset));
    }
    bool ok = false;
    int n = cJSON_GetArraySize(root);
    if (!cJSON_IsObject(root)) failf(err, err_size, "%s: expected a JSON object of token strings to ids", f.name);
    else if (n < 256) failf(err, err_size, "%s: only %d tokens; a byte-level vocabulary has at least 256", f.name, n);
    else if (n > BPE_MAX_VOCAB)
        failf(err, err_size, "%s: %d tokens, more than the %d allowed", f.name, n, BPE_MAX_VOCAB);
    else ok = true;
    if (ok) {
        /* the arrays first, then the size that bpe_free walks them by */
        bpe->token_bytes = xcalloc(n, sizeof(char *));
        bpe->token_len = xcalloc(n, sizeof(int));
        bpe->rank = xmalloc(n * sizeof(int));
        bpe->vocab_size = n;
        bytemap_init(&bpe->vocab, 2 * (size_t)n);
    }
    for (cJSON *item = root->child; ok && item; item = item->next) ok = add_token(bpe, item, f.name, err, err_size);
    cJSON_Delete(root);
    return ok;
}

/* Merge ranks as tiktoken derives them: bytes first in the alphabet's order
 * (ranks 0..255), then each merge line in turn (ranks 256...). */
static bool rank_single_bytes(Bpe *bpe, const char *encoder_name, char *err, size_t err_size) {
    unsigned char order[256];
    bpe_byte_rank_order(order);
    for (int r = 0; r < 256; r++) {
        char byte = (char)order[r];
        int id;
        if (!bytemap_get(&bpe->vocab, &byte, 1, &id, NULL))
            return failf(err, err_size, "%s: the single byte 0x%02X has no token", encoder_name, order[r]);
        bpe->rank[id] = r;
    }
    return true;
}

/* One line "left right" of vocab.bpe; merged is scratch space as long as the line. */
static bool add_merge(Bpe *bpe, const char *line, size_t line_len, char *merged, int line_no, BpeFileData f,
                      const char *encoder_name, char *err, size_t err_size) {
    const char *space = memchr(line, ' ', line_len), *end = line + line_len;
    if (!space || space == line || space == end - 1 || memchr(space + 1, ' ', end - space - 1))
        return failf(err, err_size, "%s:%d: expected two tokens separated by one space", f.name, line_no);
    int left = alphabet_to_bytes(line, space - line, merged);
    int right = left > 0 ? alphabet_to_bytes(space + 1, end - space - 1, merged + left) : -1;
    if (left <= 0 || right <= 0)
        return failf(err, err_size, "%s:%d: a token is not written in GPT-2's byte alphabet", f.name, line_no);
    int id;
    if (!bytemap_get(&bpe->vocab, merged, left + right, &id, NULL))
        return failf(err, err_size, "%s:%d: the merge's result is not a token of %s", f.name, line_no, encoder_name);
    if (bpe->rank[id] != INT_MAX)
        return failf(err, err_size, "%s:%d: token %d is made a second time", f.name, line_no, id);
    bpe->rank[id] = 256 + bpe->n_merges++;
    return true;
}

static bool load_vocab_bpe(Bpe *bpe, BpeFileData f, const char *encoder_name, char *err, size_t err_size) {
    char *merged = xmalloc(f.len + 1);
    bool ok = true;
    int line_no = 0;
    /* offsets, not pointers: the data need not be NUL-terminated, and a
     * pointer past its end would be undefined */
    for (size_t start = 0; ok && start < f.len;) {
        const char *line = f.data + start, *nl = memchr(line, '\n', f.len - start);
        size_t line_len = nl ? (size_t)(nl - line) : f.len - start;
        start += line_len + 1;
        line_no++;
        if (line_len && line[line_len - 1] == '\r') line_len--;
        bool version = line_no == 1 && line_len >= 8 && memcmp(line, "#version", 8) == 0;
        if (line_len && !version) ok = add_merge(bpe, line, line_len, merged, line_no, f, encoder_name, err, err_size);
    }
    free(merged);
    return ok;
}

/* Every token must be reachable: a byte, a merge's result, or <|endoftext|>. */
static bool check_every_token_made(const Bpe *bpe, const char *encoder_name, const char *vocab_name, char *err,
                                   size_t err_size) {
    for (int id = 0; id < bpe->vocab_size; id++)
        if (bpe->rank[id] == INT_MAX && id != bpe->eot_id)
            return failf(err, err_size, "%s: token %d is neither a byte nor made by a merge in %s", encoder_name, id,
                         vocab_name);
    return true;
}

Bpe *bpe_parse(BpeFileData encoder_json, BpeFileData vocab_bpe, char *err, size_t err_size) {
    Bpe *bpe = xcalloc(1, sizeof *bpe);
    bpe->eot_id = -1;
    bytemap_init(&bpe->word_cache, 1 << 12);
    if (load_encoder_json(bpe, encoder_json, err, err_size) &&
        rank_single_bytes(bpe, encoder_json.name, err, err_size) &&
        load_vocab_bpe(bpe, vocab_bpe, encoder_json.name, err, err_size) &&
        check_every_token_made(bpe, encoder_json.name, vocab_bpe.name, err, err_size))
        return bpe;
    bpe_free(bpe);
    return NULL;
}

Bpe *bpe_load(const char *encoder_json_path, const char *vocab_bpe_path) {
    BpeFileData enc = {encoder_json_path, NULL, 0}, merges = {vocab_bpe_path, NULL, 0};
    char *enc_text = read_file(encoder_json_path, &enc.len), *merges_text = read_file(vocab_bpe_path, &merges.len);
    enc.data = enc_text, merges.data = merges_text;
    char err[512];
    Bpe *bpe = bpe_parse(enc, merges, err, sizeof err);
    free(enc_text);
    free(merges_text);
    if (!bpe) fatal("%s", err);
    return bpe;
}

Bpe *bpe_load_dir(const char *dir) {
    char *enc = path_join(dir, "encoder.json"), *merges = path_join(dir, "vocab.bpe");
    Bpe *bpe = bpe_load(enc, merges);
    free(enc);
    free(merges);
    return bpe;
}

Bpe *bpe_load_gpt2(void) {
    char *enc = data_file("gpt2/encoder.json"), *merges = data_file("gpt2/vocab.bpe");
    Bpe *bpe = bpe_load(enc, merges);
    free(enc);
    free(merges);
    return bpe;
}

void bpe_free(Bpe *bpe) {
    if (!bpe) return;
    for (int i = 0; i < bpe->vocab_size; i++) free(bpe->token_bytes[i]);
    free(bpe->token_bytes);
    free(bpe->token_len);
    free(bpe->rank);
    bytemap_free(&bpe->vocab);
    bytemap_free(&bpe->word_cache);
    intvec_free(&bpe->cached_ids);
    free(bpe);
}

int bpe_vocab_size(const Bpe *bpe) { return bpe->vocab_size; }
int bpe_n_merges(const Bpe *bpe) { return bpe->n_merges; }
int bpe_eot_id(const Bpe *bpe) { return bpe->eot_id; }

const char *bpe_token_bytes(const Bpe *bpe, int id, int *len) {
    if (id < 0 || id >= bpe->vocab_size) return NULL;
    *len = bpe->token_len[id];
    return bpe->token_bytes[id];
}

int bpe_lookup(const Bpe *bpe, const char *bytes, size_t len) {
    int id;
    return bytemap_get(&bpe->vocab, bytes, len, &id, NULL) ? id : -1;
}

/* ---- Pre-tokenization ---------------------------------------------------- */

/* Class and length of the code point at s[i]. The encoder repairs its text
 * first, but bpe_next_piece is public: a byte that starts no valid sequence
 * counts as one character of class "other" rather than as a length of 0
 * (which would loop forever). */
static enum unicode_class class_at(const unsigned char *s, size_t len, size_t i, int *n) {
    if (s[i] < 0x80) {
        *n = 1;
        return unicode_class(s[i]);
    }
    uint32_t cp;
    *n = utf8_decode(s + i, len - i, &cp);
    if (*n == 0) {
        *n = 1;
        return UC_OTHER;
    }
    return unicode_class(cp);
}

/* End of the run of code points of class cls that starts at i. */
static size_t class_run_end(const unsigned char *s, size_t len, size_t i, enum unicode_class cls) {
    while (i < len) {
        int n;
        if (class_at(s, len, i, &n) != cls) break;
        i += n;
    }
    return i;
}

size_t bpe_next_piece(const char *text, size_t len, size_t i) {
    const unsigned char *s = (const unsigned char *)text;
    /* 's 't 're 've 'm 'll 'd (lower case only, as the pattern is written) */
    if (s[i] == '\'' && i + 1 < len) {
        unsigned char a = s[i + 1], b = i + 2 < len ? s[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
    int n;
    enum unicode_class cls = class_at(s, len, i, &n);
    size_t start = i;
    /* " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": one optional ASCII space */
    if (s[i] == ' ' && i + 1 < len) {
        int n_next;
        enum unicode_class next = class_at(s, len, i + 1, &n_next);
        if (next != UC_SPACE) {
            cls = next;
            start = i + 1;
        }
    }
    if (cls != UC_SPACE) return class_run_end(s, len, start, cls);
    /* "\s+(?!\S)": a run of white space, less its last character when a
     * non-space follows (that character then starts the next piece);
     * "\s+": a single white-space character before a non-space. */
    size_t end = class_run_end(s, len, i, UC_SPACE);
    if (end == len) return end;
    size_t last = end - 1;
    while ((s[last] & 0xC0) == 0x80) last--;
    return last > i ? last : end;
}

/* ---- Merging ------------------------------------------------------------- */

int bpe_merge_rank(const Bpe *bpe, const char *bytes, size_t len) {
    int id;
    return bytemap_get(&bpe->vocab, bytes, len, &id, NULL) ? bpe->rank[id] : INT_MAX;
}

/* Pieces up to this many bytes are merged by the plain scan below; longer
 * ones by the heap after it, which makes the same tokens in O(n log n)
 * instead of O(n^2) steps: a long run of letters or of U+FFFD is one piece,
 * and 100 kB of it would otherwise take minutes. */
#define SCAN_MERGE_MAX_BYTES 64

/* The book's merge loop for a short piece (2 <= n <= SCAN_MERGE_MAX_BYTES):
 * find the adjacent pair of lowest rank (the leftmost on a tie), join it,
 * repeat until no pair is a token; append the parts' ids. */
static void merge_piece_scan(const Bpe *bpe, const char *piece, size_t n, IntVec *out) {
    /* BEGIN EXERCISE 2b: byte pair merge loop (book 2.5) */
    /* boundary[k] is where part k starts; pair_rank[k] is the rank of parts
     * k and k+1 joined. */
    size_t boundary[SCAN_MERGE_MAX_BYTES + 1];
    int pair_rank[SCAN_MERGE_MAX_BYTES + 1];
    size_t n_bounds = n + 1;
    for (size_t k = 0; k <= n; k++) boundary[k] = k;
    for (size_t k = 0; k + 2 < n_bounds; k++) pair_rank[k] = bpe_merge_rank(bpe, piece + k, 2);
    for (;;) {
        int best = INT_MAX;
        size_t best_k = 0;
        for (size_t k = 0; k + 2 < n_bounds; k++)
            if (pair_rank[k] < best) best = pair_rank[k], best_k = k;
        if (best == INT_MAX) break;
        /* join parts best_k and best_k+1 by dropping the boundary between them */
        size_t n_pairs = n_bounds - 2;
        memmove(boundary + best_k + 1, boundary + best_k + 2, (n_bounds - best_k - 2) * sizeof(size_t));
        if (best_k + 1 < n_pairs)
            memmove(pair_rank + best_k + 1, pair_rank + best_k + 2, (n_pairs - best_k - 2) * sizeof(int));
        n_bounds--;
        if (best_k + 2 < n_bounds)
            pair_rank[best_k] = bpe_merge_rank(bpe, piece + boundary[best_k], boundary[best_k + 2] - boundary[best_k]);
        if (best_k > 0)
            pair_rank[best_k - 1] =
                bpe_merge_rank(bpe, piece + boundary[best_k - 1], boundary[best_k + 1] - boundary[best_k - 1]);
    }
    for (size_t k = 0; k + 1 < n_bounds; k++) intvec_push(out, bpe_lookup(bpe, piece + boundary[k], boundary[k + 1] - boundary[k]));
    /* END EXERCISE 2b */
}

/* A candidate merge: the two adjacent parts that span bytes [start, end). */
typedef struct {
    int rank;
    size_t start, end;
} Pair;

/* A binary min-heap of pairs, lowest rank first, then leftmost: the order
 * in which the scan picks them. */
typedef struct {
    Pair *items;
    size_t n;
} PairHeap;

static bool pair_before(const Pair *a, const Pair *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->start < b->start);
}

static void heap_push(PairHeap *h, Pair p) {
    size_t i = h->n++;
    for (; i > 0 && pair_before(&p, &h->items[(i - 1) / 2]); i = (i - 1) / 2) h->items[i] = h->items[(i - 1) / 2];
    h->items[i] = p;
}

static Pair heap_pop(PairHeap *h) {
    Pair top = h->items[0], last = h->items[--h->n];
    size_t i = 0;
    for (size_t child; (child = 2 * i + 1) < h->n; i = child) {
        if (child + 1 < h->n && pair_before(&h->items[child + 1], &h->items[child])) child++;
        if (!pair_before(&h->items[child], &last)) break;
        h->items[i] = h->items[child];
    }
    h->items[i] = last;
    return top;
}

static void push_pair(const Bpe *bpe, PairHeap *h, const char *piece, size_t start, size_t end) {
    int rank = bpe_merge_rank(bpe, piece + start, end - start);
    if (rank != INT_MAX) heap_push(h, (Pair){rank, start, end});
}

/* The same merges for a long piece. The parts form a linked list indexed by
 * their first byte. A merge does not remove the heap's pairs that it spoils;
 * a popped pair whose span is no longer exactly two current parts is stale
 * and skipped (parts only grow, so the span identifies the pair). At most
 * n - 1 pairs at the start and two per merge: the heap never holds more
 * than 3n. */
static void merge_piece_heap(const Bpe *bpe, const char *piece, size_t n, IntVec *out) {
    size_t *next = xmalloc(checked_mul(n, sizeof(size_t))); /* next[s]: start of the part after s's (n: none) */
    size_t *prev = xmalloc(checked_mul(n, sizeof(size_t))); /* prev[s]: start of the part before s's */
    bool *alive = xmalloc(n);                                /* a part starts at s */
    PairHeap heap = {xmalloc(checked_mul(checked_mul(n, 3), sizeof(Pair))), 0};
    for (size_t s = 0; s < n; s++) next[s] = s + 1, prev[s] = s - 1, alive[s] = true;
    for (size_t s = 0; s + 1 < n; s++) push_pair(bpe, &heap, piece, s, s + 2);
    while (heap.n) {
        Pair p = heap_pop(&heap);
        size_t right = next[p.start];
        if (!alive[p.start] || right >= n || next[right] != p.end) continue; /* stale */
        alive[right] = false; /* the right part joins the left one */
        next[p.start] = p.end;
        if (p.end < n) prev[p.end] = p.start;
        if (p.start > 0) push_pair(bpe, &heap, piece, prev[p.start], p.end);
        if (p.end < n) push_pair(bpe, &heap, piece, p.start, next[p.end]);
    }
    for (size_t s = 0; s < n; s = next[s]) intvec_push(out, bpe_lookup(bpe, piece + s, next[s] - s));
    free(heap.items);
    free(alive);
    free(prev);
    free(next);
}

static void cache_word(Bpe *bpe, const char *piece, size_t n, const int *ids, size_t n_ids) {
    if (n > WORD_CACHE_MAX_PIECE) return;
    if (bpe->word_cache.count >= WORD_CACHE_MAX_WORDS || bpe->word_cache.keys.len + n > WORD_CACHE_MAX_BYTES)
        bpe_clear_cache(bpe);
    /* at most one id per byte of the cached words: the offset fits in an int */
    bytemap_put(&bpe->word_cache, piece, n, (int)bpe->cached_ids.len, (int)n_ids);
    for (size_t k = 0; k < n_ids; k++) intvec_push(&bpe->cached_ids, ids[k]);
}

static void encode_piece(Bpe *bpe, const char *piece, size_t n, IntVec *out) {
    int id, count;
    if (bytemap_get(&bpe->vocab, piece, n, &id, NULL)) {
        intvec_push(out, id);
        return;
    }
    if (bytemap_get(&bpe->word_cache, piece, n, &id, &count)) {
        for (int k = 0; k < count; k++) intvec_push(out, bpe->cached_ids.data[id + k]);
        return;
    }
    size_t first = out->len;
    if (n <= SCAN_MERGE_MAX_BYTES) merge_piece_scan(bpe, piece, n, out);
    else merge_piece_heap(bpe, piece, n, out);
    cache_word(bpe, piece, n, out->data + first, out->len - first);
}

static void encode_ordinary(Bpe *bpe, const char *text, size_t len, IntVec *out) {
    for (size_t i = 0; i < len;) {
        size_t end = bpe_next_piece(text, len, i);
        encode_piece(bpe, text + i, end - i, out);
        i = end;
    }
}

void bpe_encode(Bpe *bpe, const char *text, size_t len, bool allow_special, IntVec *out) {
    char *clean = NULL;
    if (!utf8_is_valid(text, len)) text = clean = utf8_sanitize(text, len, &len);
    const size_t special_len = strlen(BPE_ENDOFTEXT);
    size_t i = 0;
    while (i < len) {
        const char *special = allow_special && bpe->eot_id >= 0 ? memmem(text + i, len - i, BPE_ENDOFTEXT, special_len) : NULL;
        size_t end = special ? (size_t)(special - text) : len;
        encode_ordinary(bpe, text + i, end - i, out);
        if (!special) break;
        intvec_push(out, bpe->eot_id);
        i = end + special_len;
    }
    free(clean);
}

void bpe_clear_cache(Bpe *bpe) {
    bytemap_clear(&bpe->word_cache);
    bpe->cached_ids.len = 0;
}

bool bpe_decode(const Bpe *bpe, const int *ids, size_t n_ids, ByteBuf *out, int *bad_id) {
    for (size_t k = 0; k < n_ids; k++) {
        if (ids[k] < 0 || ids[k] >= bpe->vocab_size) {
            if (bad_id) *bad_id = ids[k];
            return false;
        }
        bytebuf_append(out, bpe->token_bytes[ids[k]], bpe->token_len[ids[k]]);
    }
    return true;
}
