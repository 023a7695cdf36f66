/* bpe_train.c: see bpe_train.h. */
#include "bpe_train.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "bpe.h"
#include "utf8.h"

/* ==== Bonus after 2.5: BPE from scratch ==== */

/* Pair statistics for one step: an open-addressing table keyed by the pair,
 * holding its count and where it first occurs. */
typedef struct {
    uint64_t *keys; /* (left << 32 | right) + 1; 0 marks an empty slot */
    int *count;
    size_t *first_pos;
    size_t capacity;
} PairCounts;

static uint64_t pair_key(int left, int right) { return ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1; }

static void count_pairs(PairCounts *pc, const int *seq, size_t n) {
    memset(pc->keys, 0, pc->capacity * sizeof(uint64_t));
    size_t mask = pc->capacity - 1;
    for (size_t i = 0; i + 1 < n; i++) {
        uint64_t key = pair_key(seq[i], seq[i + 1]);
        size_t slot = (key * 0x9E3779B97F4A7C15ull) >> 20 & mask;
        while (pc->keys[slot] && pc->keys[slot] != key) slot = (slot + 1) & mask;
        if (!pc->keys[slot]) {
            pc->keys[slot] = key;
            pc->count[slot] = 0;
            pc->first_pos[slot] = i;
        }
        pc->count[slot]++;
    }
}

/* Does some existing token already have these bytes? Then merging this pair
 * would give one byte string two ids, which GPT-2's format cannot hold. */
static bool bytes_taken(const BpeMerges *m, int n_tokens, const char *bytes, int len) {
    for (int id = 0; id < n_tokens; id++)
        if (m->token_len[id] == len && memcmp(m->token_bytes[id], bytes, len) == 0) return true;
    return false;
}

BpeMerges bpe_train(const char *text, size_t len, int vocab_size) {
    if (vocab_size < 257) fatal("vocabulary size %d is too small: the 256 bytes and <|endoftext|> need 257", vocab_size);
    int max_merges = vocab_size - 257;
    BpeMerges m = {0};
    m.pairs = xmalloc(checked_mul(max_merges + 1, sizeof *m.pairs));
    m.token_bytes = xmalloc(checked_mul(vocab_size, sizeof(char *)));
    m.token_len = xmalloc(checked_mul(vocab_size, sizeof(int)));
    unsigned char order[256];
    int id_of_byte[256];
    bpe_byte_rank_order(order);
    for (int id = 0; id < 256; id++) {
        m.token_bytes[id] = xmalloc(1);
        m.token_bytes[id][0] = (char)order[id];
        m.token_len[id] = 1;
        id_of_byte[order[id]] = id;
    }
    int *seq = xmalloc(checked_mul(len + 1, sizeof(int)));
    size_t n = len;
    for (size_t i = 0; i < len; i++) seq[i] = id_of_byte[(unsigned char)text[i]];

    PairCounts pc = {0};
    pc.capacity = 1024;
    while (pc.capacity < 2 * len) pc.capacity *= 2;
    pc.keys = xmalloc(pc.capacity * sizeof(uint64_t));
    pc.count = xmalloc(pc.capacity * sizeof(int));
    pc.first_pos = xmalloc(pc.capacity * sizeof(size_t));

    Progress progress;
    progress_start(&progress, "train-bpe", "merges", max_merges);
    char *joined = xmalloc(len + 1);
    while (m.n_merges < max_merges) {
        count_pairs(&pc, seq, n);
        /* the most frequent pair, the first seen on a tie; skip pairs whose
         * bytes some token already has */
        size_t best = SIZE_MAX;
        for (;;) {
            best = SIZE_MAX;
            for (size_t s = 0; s < pc.capacity; s++) {
                if (!pc.keys[s] || pc.count[s] == 0) continue;
                if (best == SIZE_MAX || pc.count[s] > pc.count[best] ||
                    (pc.count[s] == pc.count[best] && pc.first_pos[s] < pc.first_pos[best]))
                    best = s;
            }
            if (best == SIZE_MAX) break;
            int left = seq[pc.first_pos[best]], right = seq[pc.first_pos[best] + 1];
            int jl = m.token_len[left], jr = m.token_len[right];
            memcpy(joined, m.token_bytes[left], jl);
            memcpy(joined + jl, m.token_bytes[right], jr);
            if (!bytes_taken(&m, 256 + m.n_merges, joined, jl + jr)) break;
            pc.count[best] = 0;
        }
        if (best == SIZE_MAX) break;
        int left = seq[pc.first_pos[best]], right = seq[pc.first_pos[best] + 1];
        int new_id = 256 + m.n_merges;
        m.pairs[m.n_merges][0] = left;
        m.pairs[m.n_merges][1] = right;
        m.token_len[new_id] = m.token_len[left] + m.token_len[right];
        m.token_bytes[new_id] = xmalloc(m.token_len[new_id]);
        memcpy(m.token_bytes[new_id], m.token_bytes[left], m.token_len[left]);
        memcpy(m.token_bytes[new_id] + m.token_len[left], m.token_bytes[right], m.token_len[right]);
        m.n_merges++;
        /* replace every occurrence, left to right, without overlaps */
        size_t out = 0;
        for (size_t i = 0; i < n; i++) {
            if (i + 1 < n && seq[i] == left && seq[i + 1] == right) {
                seq[out++] = new_id;
                i++;
            } else {
                seq[out++] = seq[i];
            }
        }
        n = out;
        progress_update(&progress, m.n_merges);
    }
    progress_finish(&progress);
    free(joined);
    free(pc.keys);
    free(pc.count);
    free(pc.first_pos);
    free(seq);
    return m;
}

/* A token's bytes in GPT-2's byte alphabet, as UTF-8 (malloc'd). */
static char *alphabet_string(const char *bytes, int len) {
    char *s = xmalloc((size_t)len * 2 + 1);
    int n = 0;
    for (int i = 0; i < len; i++) n += utf8_encode(bpe_byte_to_codepoint((unsigned char)bytes[i]), s + n);
    s[n] = '\0';
    return s;
}

void bpe_train_save(const BpeMerges *m, const char *dir) {
    make_dirs(dir);
    int n_tokens = 256 + m->n_merges;
    cJSON *encoder = cJSON_CreateObject();
    for (int id = 0; id < n_tokens; id++) {
        char *s = alphabet_string(m->token_bytes[id], m->token_len[id]);
        cJSON_AddItemToObject(encoder, s, cJSON_CreateNumber(id));
        free(s);
    }
    cJSON_AddItemToObject(encoder, BPE_ENDOFTEXT, cJSON_CreateNumber(n_tokens));
    char *json = cJSON_PrintUnformatted(encoder);
    if (!json) fatal("out of memory writing encoder.json");
    char *path = path_join(dir, "encoder.json");
    write_file_atomic(path, json, strlen(json));
    free(path);
    free(json);
    cJSON_Delete(encoder);

    path = path_join(dir, "vocab.bpe");
    AtomicFile af = atomic_file_open(path);
    fputs("#version: 0.2\n", af.f);
    for (int i = 0; i < m->n_merges; i++) {
        char *left = alphabet_string(m->token_bytes[m->pairs[i][0]], m->token_len[m->pairs[i][0]]);
        char *right = alphabet_string(m->token_bytes[m->pairs[i][1]], m->token_len[m->pairs[i][1]]);
        fprintf(af.f, "%s %s\n", left, right);
        free(left);
        free(right);
    }
    atomic_file_commit(&af);
    free(path);
}

void bpe_merges_free(BpeMerges *m) {
    /* a zeroed BpeMerges (never trained) has no token table */
    for (int id = 0; m->token_bytes && id < 256 + m->n_merges; id++) free(m->token_bytes[id]);
    free(m->token_bytes);
    free(m->token_len);
    free(m->pairs);
    *m = (BpeMerges){0};
}
