/* bpe.h: 2.5 Byte pair encoding, GPT-2's tokenizer, read from OpenAI's
 * encoder.json (token string -> id) and vocab.bpe (the merges, in order).
 *
 * Encoding has two stages. Pre-tokenization cuts the text into pieces with
 * GPT-2's pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * (hand-written here as a small scanner, with the Unicode classes tiktoken
 * uses). Then each piece's bytes are merged pairwise, always merging the
 * adjacent pair whose concatenation has the lowest rank (the earliest merge
 * in vocab.bpe), until no pair is a token. This is the algorithm of OpenAI's
 * tiktoken, and the ids match its "gpt2" encoding exactly.
 *
 * Token strings in the files use GPT-2's byte-to-unicode alphabet (every byte
 * is a printable character, e.g. space is 'Ġ'); in memory tokens are bytes. */
#ifndef CH02_BPE_H
#define CH02_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/util.h"

#define BPE_ENDOFTEXT "<|endoftext|>"

typedef struct Bpe Bpe;

/* The most tokens a vocabulary may have (GPT-2 has 50257): a sanity bound
 * on what a file can make the loader allocate. */
#define BPE_MAX_VOCAB (1 << 24)

/* A tokenizer file's contents in memory (not necessarily NUL-terminated),
 * with the name that messages give it (its path, say). */
typedef struct {
    const char *name;
    const char *data;
    size_t len;
} BpeFileData;

/* Build the tokenizer from the contents of encoder.json and vocab.bpe (or
 * Hugging Face's vocab.json and merges.txt, the same formats). Returns NULL
 * with a one-line reason in err, naming the file and the place, when either
 * is malformed; nothing is left allocated then. */
Bpe *bpe_parse(BpeFileData encoder_json, BpeFileData vocab_bpe, char *err, size_t err_size);
/* Read the two files and bpe_parse them; a missing or malformed file exits
 * with bpe_parse's message. */
Bpe *bpe_load(const char *encoder_json_path, const char *vocab_bpe_path);
/* DIR/encoder.json and DIR/vocab.bpe. */
Bpe *bpe_load_dir(const char *dir);
/* GPT-2's files from the data directory (gpt2/encoder.json, gpt2/vocab.bpe). */
Bpe *bpe_load_gpt2(void);
void bpe_free(Bpe *bpe);

int bpe_vocab_size(const Bpe *bpe);
int bpe_n_merges(const Bpe *bpe);
/* Id of <|endoftext|>, or -1 if the vocabulary has none. */
int bpe_eot_id(const Bpe *bpe);
/* The bytes of a token (not NUL-terminated); NULL for an id out of range. */
const char *bpe_token_bytes(const Bpe *bpe, int id, int *len);
/* Id of the token whose bytes are exactly these, or -1. */
int bpe_lookup(const Bpe *bpe, const char *bytes, size_t len);
/* Merge rank of the token whose bytes are exactly these (0..255 for single
 * bytes, 256 + line for a merge of vocab.bpe), or INT_MAX when no token has
 * them. Encoding always merges the adjacent pair of lowest rank first. */
int bpe_merge_rank(const Bpe *bpe, const char *bytes, size_t len);

/* Append the ids of text to out. Invalid UTF-8 is first replaced as Python's
 * errors="replace" does. With allow_special, "<|endoftext|>" becomes the
 * end-of-text id; without it, it is ordinary text. Not thread-safe: the
 * tokenizer keeps a cache of encoded words. */
void bpe_encode(Bpe *bpe, const char *text, size_t len, bool allow_special, IntVec *out);
/* Forget the cached words (the next encode starts cold). */
void bpe_clear_cache(Bpe *bpe);
/* Append the exact bytes of the ids to out. Returns false (and sets *bad_id)
 * when an id is out of range. */
bool bpe_decode(const Bpe *bpe, const int *ids, size_t n_ids, ByteBuf *out, int *bad_id);

/* Pre-tokenization alone: the end of the piece that starts at byte i < len
 * (exposed for tests and for the BPE trainer). Meant for valid UTF-8, which
 * bpe_encode makes first; a byte that starts no valid sequence counts as one
 * punctuation character. */
size_t bpe_next_piece(const char *text, size_t len, size_t i);

/* GPT-2's byte-to-unicode alphabet: the code point that stands for byte b in
 * encoder.json and vocab.bpe, and the byte order that gives byte tokens
 * their ranks (printable bytes first). */
uint32_t bpe_byte_to_codepoint(unsigned char b);
void bpe_byte_rank_order(unsigned char order[256]);

#endif
