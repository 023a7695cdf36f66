/* corpus.c: a directory of text files to token shards (see corpus.h). */
#include "corpus.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../ch02_text/bpe.h"
#include "../ch02_text/utf8.h"
#include "../common/crc32c.h"
#include "../common/util.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "shards are little-endian: this file writes them from memory as they are"
#endif

/* ---- the shard format --------------------------------------------------------- */

void shard_write(const char *path, const uint16_t *tokens, long n) {
    int32_t header[SHARD_HEADER_INTS] = {SHARD_MAGIC, SHARD_VERSION, (int32_t)n};
    AtomicFile af = atomic_file_open(path);
    if (fwrite(header, sizeof header, 1, af.f) != 1 || (n > 0 && fwrite(tokens, sizeof *tokens, (size_t)n, af.f) != (size_t)n))
        fatal("cannot write %s: %s", path, strerror(errno));
    atomic_file_commit(&af);
}

bool shard_open(const char *path, Shard *shard, char *err, size_t err_size) {
    *shard = (Shard){0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        format_error(err, err_size, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < SHARD_HEADER_INTS * sizeof(int32_t)) {
        format_error(err, err_size, "%s is not a token shard: shorter than its 1024-byte header", path);
        close(fd);
        return false;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        format_error(err, err_size, "cannot map %s: %s", path, strerror(errno));
        return false;
    }
    const int32_t *header = map;
    size_t want = SHARD_HEADER_INTS * sizeof(int32_t) + (size_t)(header[2] < 0 ? 0 : header[2]) * sizeof(uint16_t);
    const char *problem = header[0] != SHARD_MAGIC     ? "its magic number is not 20240520"
                          : header[1] != SHARD_VERSION ? "its version is not 1"
                          : header[2] < 0              ? "its token count is negative"
                          : want != (size_t)st.st_size ? "its size does not match the token count in its header"
                                                       : NULL;
    if (problem) {
        format_error(err, err_size, "%s is not a token shard: %s", path, problem);
        munmap(map, (size_t)st.st_size);
        return false;
    }
    *shard = (Shard){(const uint16_t *)(header + SHARD_HEADER_INTS), header[2], map, (size_t)st.st_size};
    return true;
}

void shard_close(Shard *shard) {
    if (shard->map) munmap(shard->map, shard->map_size);
    *shard = (Shard){0};
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool has_suffix(const char *name, const char *suffix) {
    size_t n = strlen(name), m = strlen(suffix);
    return n >= m && strcmp(name + n - m, suffix) == 0;
}

bool shard_list(const char *dir, ShardList *list, char *err, size_t err_size) {
    *list = (ShardList){0};
    DIR *d = opendir(dir);
    if (!d) {
        format_error(err, err_size, "cannot open the shard directory %s: %s", dir, strerror(errno));
        return false;
    }
    char **val = NULL;
    int n_val = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!has_suffix(e->d_name, ".bin")) continue;
        bool is_val = strstr(e->d_name, "_val") != NULL, is_train = strstr(e->d_name, "_train") != NULL;
        if (is_val == is_train) continue;
        char *path = path_join(dir, e->d_name);
        if (is_val) {
            val = xrealloc(val, (size_t)(n_val + 1) * sizeof *val);
            val[n_val++] = path;
        } else {
            list->train = xrealloc(list->train, (size_t)(list->n_train + 1) * sizeof *list->train);
            list->train[list->n_train++] = path;
        }
    }
    closedir(d);
    if (list->n_train > 1) qsort(list->train, (size_t)list->n_train, sizeof *list->train, compare_strings);
    if (n_val != 1) {
        format_error(err, err_size, "%s has %d validation shards (*_val*.bin), not one: is it a prepared corpus?", dir,
                     n_val);
        for (int i = 0; i < n_val; i++) free(val[i]);
        free(val);
        shard_list_free(list);
        return false;
    }
    list->val = val[0];
    free(val);
    return true;
}

void shard_list_free(ShardList *list) {
    for (int i = 0; i < list->n_train; i++) free(list->train[i]);
    free(list->train);
    free(list->val);
    *list = (ShardList){0};
}

/* ---- cleaning a document ------------------------------------------------------- */

/* Whether the line [line, end) contains needle, ignoring case. */
static bool line_has(const char *line, const char *end, const char *needle) {
    char buf[256];
    size_t n = (size_t)(end - line) < sizeof buf - 1 ? (size_t)(end - line) : sizeof buf - 1;
    memcpy(buf, line, n);
    buf[n] = '\0';
    return strcasestr(buf, needle) != NULL;
}

static bool line_starts(const char *line, const char *end, const char *prefix) {
    while (line < end && (*line == ' ' || *line == '\t')) line++;
    size_t m = strlen(prefix);
    return (size_t)(end - line) >= m && strncasecmp(line, prefix, m) == 0;
}

static bool is_start_marker(const char *line, const char *end) {
    return ((line_starts(line, end, "***") && line_has(line, end, "START OF")) &&
            line_has(line, end, "PROJECT GUTENBERG")) ||
           line_starts(line, end, "*END*THE SMALL PRINT");
}

static bool is_end_marker(const char *line, const char *end) {
    return (line_starts(line, end, "***") && line_has(line, end, "END OF") && line_has(line, end, "PROJECT GUTENBERG")) ||
           line_starts(line, end, "End of the Project Gutenberg") || line_starts(line, end, "End of Project Gutenberg");
}

size_t gutenberg_strip_headers(char *text, size_t len) {
    const char *end_of_text = text + len;
    const char *keep_from = text, *keep_to = end_of_text;
    bool started = false;
    for (const char *line = text; line < end_of_text;) {
        const char *newline = memchr(line, '\n', (size_t)(end_of_text - line));
        const char *line_end = newline ? newline : end_of_text, *next = newline ? newline + 1 : end_of_text;
        if (!started && is_start_marker(line, line_end)) {
            keep_from = next;
            started = true;
        } else if (is_end_marker(line, line_end)) {
            keep_to = line;
            break;
        }
        line = next;
    }
    if (keep_from == text && keep_to == end_of_text) return len; /* no license: not a Gutenberg file */
    /* what is left, without the blank lines around it */
    while (keep_from < keep_to && (*keep_from == '\n' || *keep_from == '\r' || *keep_from == ' ')) keep_from++;
    while (keep_to > keep_from && (keep_to[-1] == '\n' || keep_to[-1] == '\r' || keep_to[-1] == ' ')) keep_to--;
    size_t n = (size_t)(keep_to - keep_from);
    memmove(text, keep_from, n);
    text[n] = '\0';
    return n;
}

/* Python's str.isspace code points, which \s matches in a str pattern. */
static bool is_python_space(uint32_t cp) {
    return (cp >= 9 && cp <= 13) || (cp >= 28 && cp <= 32) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

size_t collapse_blank_lines(char *text, size_t len) {
    size_t w = 0;
    for (size_t r = 0; r < len;) {
        if (text[r] != '\n') {
            text[w++] = text[r++];
            continue;
        }
        /* \n\s*\n: the whitespace after this newline, back to its last newline */
        size_t j = r + 1, last_newline = 0;
        while (j < len) {
            uint32_t cp;
            int k = utf8_decode((const unsigned char *)text + j, len - j, &cp);
            if (k == 0 || !is_python_space(cp)) break;
            if (cp == '\n') last_newline = j;
            j += (size_t)k;
        }
        if (last_newline) {
            text[w++] = '\n';
            text[w++] = '\n';
            r = last_newline + 1;
        } else {
            text[w++] = text[r++];
        }
    }
    text[w] = '\0';
    return w;
}

bool mostly_ascii(const char *text, size_t len, double threshold) {
    size_t chars = 0, ascii = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c & 0xC0) != 0x80) chars++; /* a code point starts here (the text is valid UTF-8) */
        if (c < 128) ascii++;
    }
    return chars > 0 && (double)ascii / (double)chars > threshold;
}

/* Python's text mode reads "\r\n" and a lone "\r" as "\n". In place. */
static size_t universal_newlines(char *text, size_t len) {
    size_t w = 0;
    for (size_t r = 0; r < len; r++) {
        if (text[r] == '\r') {
            text[w++] = '\n';
            if (r + 1 < len && text[r + 1] == '\n') r++;
        } else {
            text[w++] = text[r];
        }
    }
    text[w] = '\0';
    return w;
}

/* ---- the documents ------------------------------------------------------------- */

typedef struct {
    char **paths;
    int n, cap;
} PathList;

static bool walk(const char *dir, PathList *list, char *err, size_t err_size) {
    DIR *d = opendir(dir);
    if (!d) {
        format_error(err, err_size, "cannot read the directory %s: %s", dir, strerror(errno));
        return false;
    }
    bool ok = true;
    for (struct dirent *e; ok && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *path = path_join(dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            ok = walk(path, list, err, err_size);
        } else if ((has_suffix(e->d_name, ".txt") || has_suffix(e->d_name, ".txt.utf8")) && stat(path, &st) == 0 &&
                   S_ISREG(st.st_mode)) {
            if (list->n == list->cap) list->paths = xrealloc(list->paths, (size_t)(list->cap = list->cap ? 2 * list->cap : 64) * sizeof(char *));
            list->paths[list->n++] = path;
            path = NULL;
        }
        free(path);
    }
    closedir(d);
    return ok;
}

char **corpus_files(const char *dir, int *n, char *err, size_t err_size) {
    PathList list = {0};
    if (!walk(dir, &list, err, err_size)) {
        corpus_files_free(list.paths, list.n);
        return NULL;
    }
    if (list.n > 1) qsort(list.paths, (size_t)list.n, sizeof *list.paths, compare_strings);
    *n = list.n;
    return list.paths ? list.paths : xcalloc(1, sizeof(char *)); /* NULL means an error */
}

void corpus_files_free(char **files, int n) {
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
}

/* One document, read, cleaned and encoded (by one thread). */
typedef enum { DOC_OK, DOC_EMPTY, DOC_NOT_ENGLISH, DOC_UNREADABLE } DocStatus;
typedef struct {
    DocStatus status;
    IntVec ids;
    size_t bytes;
    char error[256];
} Document;

static void read_document(const char *path, bool gutenberg, Bpe *bpe, Document *doc) {
    size_t raw_len;
    char *raw = try_read_file(path, &raw_len, doc->error, sizeof doc->error);
    if (!raw) {
        doc->status = DOC_UNREADABLE;
        return;
    }
    doc->bytes = raw_len;
    size_t len;
    char *text = utf8_sanitize(raw, raw_len, &len);
    free(raw);
    len = universal_newlines(text, len);
    if (gutenberg && len > 0 && !mostly_ascii(text, len, 0.9)) {
        doc->status = DOC_NOT_ENGLISH;
    } else {
        if (gutenberg) len = collapse_blank_lines(text, gutenberg_strip_headers(text, len));
        doc->status = len == 0 ? DOC_EMPTY : DOC_OK;
        if (len > 0) bpe_encode(bpe, text, len, true, &doc->ids);
    }
    free(text);
}

/* ---- preparing: the state that corpus.json keeps ---------------------------------- */

/* Where a run is: the next shard starts at token next_offset of file
 * next_file's part of the stream (which begins with the <|endoftext|>
 * before it, when training documents came before). */
typedef struct {
    uint32_t fingerprint;
    bool val_done, complete;
    int next_file;
    long next_offset;
    int next_shard;
    CorpusStats counts; /* of everything before the position */
} Position;

static char *manifest_path(const char *out_dir) { return path_join(out_dir, "corpus.json"); }

static void save_position(const char *out_dir, const Position *p) {
    cJSON *root = cJSON_CreateObject();
    char fingerprint[16];
    snprintf(fingerprint, sizeof fingerprint, "%08x", p->fingerprint);
    cJSON_AddStringToObject(root, "fingerprint", fingerprint);
    cJSON_AddBoolToObject(root, "complete", p->complete);
    cJSON_AddNumberToObject(root, "next_file", p->next_file);
    cJSON_AddNumberToObject(root, "next_offset", (double)p->next_offset);
    cJSON_AddNumberToObject(root, "next_shard", p->next_shard);
    const CorpusStats *c = &p->counts;
    const struct {
        const char *name;
        long value;
    } counts[] = {{"skipped_non_english", c->skipped_non_english}, {"skipped_empty", c->skipped_empty},
                  {"documents_val", c->documents_val},             {"documents_train", c->documents_train},
                  {"tokens_val", c->tokens_val},                   {"tokens_train", c->tokens_train}};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        cJSON_AddNumberToObject(root, counts[i].name, (double)counts[i].value);
    char *text = cJSON_Print(root), *path = manifest_path(out_dir);
    write_file_atomic(path, text, strlen(text));
    free(path);
    free(text);
    cJSON_Delete(root);
}

static long json_long(const cJSON *root, const char *key, bool *ok) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0) *ok = false;
    return cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
}

/* The position saved in out_dir, if any: true with *found false when there is none. */
static bool load_position(const char *out_dir, Position *p, bool *found, char *err, size_t err_size) {
    char *path = manifest_path(out_dir);
    *found = file_exists(path);
    bool ok = true;
    if (*found) {
        char *text = try_read_file(path, NULL, err, err_size);
        cJSON *root = text ? cJSON_Parse(text) : NULL;
        const cJSON *fingerprint = cJSON_GetObjectItemCaseSensitive(root, "fingerprint");
        ok = root && cJSON_IsString(fingerprint);
        if (ok) {
            *p = (Position){.val_done = true};
            p->fingerprint = (uint32_t)strtoul(fingerprint->valuestring, NULL, 16);
            p->complete = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "complete"));
            p->next_file = (int)json_long(root, "next_file", &ok);
            p->next_offset = json_long(root, "next_offset", &ok);
            p->next_shard = (int)json_long(root, "next_shard", &ok);
            CorpusStats *c = &p->counts;
            c->skipped_non_english = json_long(root, "skipped_non_english", &ok);
            c->skipped_empty = json_long(root, "skipped_empty", &ok);
            c->documents_val = json_long(root, "documents_val", &ok);
            c->documents_train = json_long(root, "documents_train", &ok);
            c->tokens_val = json_long(root, "tokens_val", &ok);
            c->tokens_train = json_long(root, "tokens_train", &ok);
        }
        if (!ok && text) format_error(err, err_size, "%s is not a corpus record written by ch05 prepare-corpus", path);
        cJSON_Delete(root);
        free(text);
    }
    free(path);
    return ok;
}

/* What the shards depend on: the settings, and each file's path (relative
 * to the input directory), size and modification time. */
static uint32_t fingerprint(const CorpusOptions *o, char **files, int n) {
    char settings[128];
    snprintf(settings, sizeof settings, "shard_tokens=%ld val_tokens=%ld gutenberg=%d", o->shard_tokens, o->val_tokens,
             o->gutenberg);
    uint32_t crc = crc32c_extend(0, settings, strlen(settings));
    size_t skip = strlen(o->input_dir);
    for (int i = 0; i < n; i++) {
        struct stat st;
        long long facts[2] = {0, 0};
        if (stat(files[i], &st) == 0) facts[0] = (long long)st.st_size, facts[1] = (long long)st.st_mtime;
        crc = crc32c_extend(crc, files[i] + skip, strlen(files[i] + skip) + 1);
        crc = crc32c_extend(crc, facts, sizeof facts);
    }
    return crc;
}

/* ---- preparing: the stream into shards ---------------------------------------------- */

typedef struct {
    const CorpusOptions *o;
    Position at;      /* where the shard being filled started */
    uint16_t *tokens; /* the shard being filled */
    long n, cap;
    int eot;
} Writer;

static void push_token(Writer *w, int id) {
    if (w->n == w->cap) w->tokens = xrealloc(w->tokens, (size_t)(w->cap = w->cap ? 2 * w->cap : 1 << 16) * sizeof *w->tokens);
    w->tokens[w->n++] = (uint16_t)id;
}

static void write_shard(Writer *w, const char *kind) {
    char name[64];
    snprintf(name, sizeof name, "corpus_%s_%06d.bin", kind, w->at.next_shard);
    char *path = path_join(w->o->out_dir, name);
    shard_write(path, w->tokens, w->n);
    free(path);
    w->at.next_shard++;
    w->n = 0;
}

/* Document i's part of the stream, from token `from` of it on. */
static void add_document(Writer *w, CorpusStats *now, int i, const Document *doc, long from) {
    const CorpusOptions *o = w->o;
    if (!w->at.val_done) {
        if (now->documents_val > 0) push_token(w, w->eot);
        for (size_t k = 0; k < doc->ids.len; k++) push_token(w, doc->ids.data[k]);
        now->documents_val++;
        now->tokens_val = w->n;
        if (w->n >= o->val_tokens) {
            write_shard(w, "val");
            w->at.val_done = true;
            w->at.next_file = i + 1;
            w->at.next_offset = 0;
            w->at.counts = *now;
            save_position(o->out_dir, &w->at);
        }
        return;
    }
    long has_eot = now->documents_train > 0, length = has_eot + (long)doc->ids.len;
    for (long t = from; t < length; t++) {
        push_token(w, t < has_eot ? w->eot : doc->ids.data[t - has_eot]);
        now->tokens_train++;
        if (w->n == o->shard_tokens) {
            write_shard(w, "train");
            bool whole = t + 1 == length;
            w->at.next_file = whole ? i + 1 : i;
            w->at.next_offset = whole ? 0 : t + 1;
            w->at.counts = *now;
            w->at.counts.documents_train += whole;
            save_position(o->out_dir, &w->at);
        }
    }
    now->documents_train++;
}

bool prepare_corpus(const CorpusOptions *o, CorpusStats *stats, char *err, size_t err_size) {
    *stats = (CorpusStats){0};
    double start = now_seconds();
    int n_files = 0;
    char **files = corpus_files(o->input_dir, &n_files, err, err_size);
    if (!files) return false;
    if (n_files == 0) {
        format_error(err, err_size, "no text files (*.txt, *.txt.utf8) under %s", o->input_dir);
        free(files);
        return false;
    }
    stats->files = n_files;
    make_dirs(o->out_dir);
    remove_stale_temp_files(o->out_dir);
    Position saved = {0};
    bool found;
    uint32_t print = fingerprint(o, files, n_files);
    if (!load_position(o->out_dir, &saved, &found, err, err_size)) goto fail;
    if (found && saved.fingerprint != print) {
        format_error(err, err_size,
                     "%s was prepared from other files or with other settings: give another --out, or remove it",
                     o->out_dir);
        goto fail;
    }
    if (!found) saved = (Position){.fingerprint = print};
    int threads = o->threads > 0 ? o->threads : omp_get_max_threads();
    Writer w = {.o = o, .at = saved};
    CorpusStats now = saved.counts;
    stats->shards_kept = saved.next_shard;

    if (!saved.complete) {
        Bpe **bpe = xcalloc((size_t)threads, sizeof *bpe);
        bpe[0] = bpe_load_gpt2(); /* the first alone: it also finds the data directory, once */
#pragma omp parallel for num_threads(threads)
        for (int t = 1; t < threads; t++) bpe[t] = bpe_load_gpt2(); /* each thread its own word cache */
        w.eot = bpe_eot_id(bpe[0]);
        long total_kb = 0, done_kb = 0;
        size_t *kb = xcalloc((size_t)n_files, sizeof *kb);
        for (int i = 0; i < n_files; i++) {
            struct stat st;
            kb[i] = stat(files[i], &st) == 0 ? (size_t)st.st_size / 1024 : 0;
            total_kb += (long)kb[i];
            if (i < saved.next_file) done_kb += (long)kb[i];
        }
        Progress bar;
        progress_start(&bar, "prepare-corpus", "kB", total_kb);
        progress_rate_in(&bar, "MB", 1024.0 / 1e6); /* the rate in MB/s */
        progress_update(&bar, done_kb);
        const int batch = 4 * threads;
        Document *docs = xcalloc((size_t)batch, sizeof *docs);
        bool ok = true;
        for (int first = saved.next_file; ok && first < n_files; first += batch) {
            int count = n_files - first < batch ? n_files - first : batch;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
            for (int k = 0; k < count; k++) read_document(files[first + k], o->gutenberg, bpe[omp_get_thread_num()], &docs[k]);
            for (int k = 0; k < count && ok; k++) {
                Document *doc = &docs[k];
                stats->bytes_read += (double)doc->bytes;
                if (doc->status == DOC_UNREADABLE) {
                    format_error(err, err_size, "%s", doc->error);
                    ok = false;
                } else if (doc->status == DOC_NOT_ENGLISH) {
                    now.skipped_non_english++;
                } else if (doc->status == DOC_EMPTY) {
                    now.skipped_empty++;
                } else {
                    int i = first + k;
                    add_document(&w, &now, i, doc, i == saved.next_file ? saved.next_offset : 0);
                }
                done_kb += (long)kb[first + k];
            }
            for (int k = 0; k < count; k++) {
                intvec_free(&docs[k].ids);
                docs[k] = (Document){0};
            }
            progress_update(&bar, done_kb);
        }
        progress_finish(&bar);
        free(docs);
        free(kb);
        for (int t = 0; t < threads; t++) bpe_free(bpe[t]);
        free(bpe);
        if (ok && !w.at.val_done)
            format_error(err, err_size,
                         "the corpus has %ld tokens, fewer than --val-tokens %ld: nothing would be left to train on",
                         now.tokens_val, o->val_tokens), ok = false;
        else if (ok && now.tokens_train == 0)
            format_error(err, err_size,
                         "after the validation shard's %ld documents no text is left to train on: lower --val-tokens",
                         now.documents_val), ok = false;
        if (!ok) {
            free(w.tokens);
            goto fail;
        }
        if (w.n > 0) write_shard(&w, "train");
        w.at.complete = true;
        w.at.next_file = n_files;
        w.at.next_offset = 0;
        w.at.counts = now;
        save_position(o->out_dir, &w.at);
        free(w.tokens);
    }
    CorpusStats *c = &w.at.counts;
    stats->skipped_non_english = c->skipped_non_english;
    stats->skipped_empty = c->skipped_empty;
    stats->documents_val = c->documents_val;
    stats->documents_train = c->documents_train;
    stats->tokens_val = c->tokens_val;
    stats->tokens_train = c->tokens_train;
    stats->shards_written = w.at.next_shard - stats->shards_kept;
    stats->seconds = now_seconds() - start;
    corpus_files_free(files, n_files);
    return true;
fail:
    corpus_files_free(files, n_files);
    return false;
}
