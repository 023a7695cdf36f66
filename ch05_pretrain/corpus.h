/* corpus.h: pretraining past The Verdict, the book's bonus
 * ch05/03_bonus_pretraining_on_gutenberg in C: a directory tree of text
 * files (Project Gutenberg's layout, or any) becomes GPT-2 token shards in
 * llm.c's format, which `ch05 train --data DIR` reads.
 *
 * The token stream: the documents in the order of their paths (byte order),
 * each read as the book reads text (UTF-8, invalid bytes replaced by
 * U+FFFD), optionally cleaned as the book's prepare_dataset.py cleans
 * Gutenberg's books, encoded with "<|endoftext|>" allowed, and joined with
 * one <|endoftext|> between documents. The first documents, until they
 * hold at least val_tokens tokens, are the validation shard (they are
 * joined among themselves); the rest, joined likewise, are cut into
 * training shards of shard_tokens tokens (the last one shorter). Empty
 * documents are left out. */
#ifndef CH05_CORPUS_H
#define CH05_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the shard format ----------------------------------------------------- */

/* llm.c's: 256 int32 of header (magic, version, token count, the rest 0),
 * then the tokens as uint16, all little-endian. */
enum { SHARD_MAGIC = 20240520, SHARD_VERSION = 1, SHARD_HEADER_INTS = 256 };

/* Write tokens[0..n) to path atomically (a temporary file, fsync, rename). */
void shard_write(const char *path, const uint16_t *tokens, long n);

/* A shard mapped read-only into memory. */
typedef struct {
    const uint16_t *tokens;
    long n;
    void *map;
    size_t map_size;
} Shard;
/* Map and check a shard (magic, version, and that the file holds exactly
 * the tokens its header counts); false with a reason in err otherwise. */
bool shard_open(const char *path, Shard *shard, char *err, size_t err_size);
void shard_close(Shard *shard);

/* The shards of a prepared directory, in order: "corpus_val_000000.bin"
 * and "corpus_train_000001.bin", ... (paths malloc'd; *n_train may be 0). */
typedef struct {
    char *val;
    char **train;
    int n_train;
} ShardList;
bool shard_list(const char *dir, ShardList *list, char *err, size_t err_size);
void shard_list_free(ShardList *list);

/* ---- cleaning a document as the book's prepare_dataset.py does ------------- */

/* Keep only the text between Project Gutenberg's "*** START OF ..." and
 * "*** END OF ..." lines (older books: "*END*THE SMALL PRINT" and "End of
 * (the) Project Gutenberg ..."); a text without them is kept whole. In
 * place; returns the new length. */
size_t gutenberg_strip_headers(char *text, size_t len);
/* Every run of blank lines (a newline, any whitespace, a newline) becomes
 * one blank line, as re.sub(r"\n\s*\n", "\n\n", text). In place. */
size_t collapse_blank_lines(char *text, size_t len);
/* More than threshold of the characters (code points) are ASCII: the
 * book's is_english. */
bool mostly_ascii(const char *text, size_t len, double threshold);

/* ---- preparing a corpus ------------------------------------------------------ */

typedef struct {
    const char *input_dir;
    const char *out_dir;
    long shard_tokens;   /* tokens per training shard */
    long val_tokens;     /* the validation shard: whole documents, at least this many tokens */
    bool gutenberg;      /* strip the license, collapse blank lines, skip non-English books */
    int threads;         /* encoding threads (0: OpenMP's default) */
    bool quiet;          /* no summary lines on stderr */
} CorpusOptions;

typedef struct {
    long files, skipped_non_english, skipped_empty;
    long documents_val, documents_train;
    long tokens_val, tokens_train;
    int shards_written, shards_kept; /* kept: complete from an earlier run */
    double bytes_read, seconds;
} CorpusStats;

/* The text files under dir (".txt", ".txt.utf8"), sorted by path (malloc'd). */
char **corpus_files(const char *dir, int *n, char *err, size_t err_size);
void corpus_files_free(char **files, int n);

/* Tokenize the corpus into o->out_dir. A run that stopped (killed, or an
 * error) is continued from its last complete shard: the directory's
 * corpus.json records what is done, and a shard is only ever written whole.
 * False, with a one-line reason, on bad input or a directory prepared from
 * another corpus or with other settings. */
bool prepare_corpus(const CorpusOptions *o, CorpusStats *stats, char *err, size_t err_size);

#endif
