/* fuzz_bpe_files.c: the tokenizer's file formats, OpenAI's encoder.json and
 * vocab.bpe (Hugging Face's vocab.json and merges.txt are the same). The
 * input is both files, encoder.json first, cut at its first NUL byte (JSON
 * text has none); with no NUL byte it is all encoder.json and vocab.bpe is
 * empty.
 *
 * bpe_parse must either refuse the pair with a message or build a tokenizer
 * (exiting, crashing or leaking fails). A tokenizer it builds must hold
 * together:
 *   - every id has bytes, and the bytes of every id but <|endoftext|> look
 *     up to that id and have a merge rank;
 *   - on the input itself as text (its first TEXT_MAX bytes) and on a fixed
 *     sentence, decode(encode(x)) is x repaired as Python's
 *     errors="replace" does, and the ids are those of the plain encoder of
 *     tests/fuzz/bpe_reference.h, with and without <|endoftext|> allowed. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../../ch02_text/bpe.h"
#include "../../ch02_text/utf8.h"
#include "bpe_reference.h"
#include "property.h"

#define TEXT_MAX 512

static void check_tokens(const Bpe *bpe) {
    PROPERTY(bpe_vocab_size(bpe) >= 256 && bpe_vocab_size(bpe) <= BPE_MAX_VOCAB);
    PROPERTY(bpe_n_merges(bpe) >= 0 && bpe_n_merges(bpe) <= bpe_vocab_size(bpe) - 256);
    PROPERTY(bpe_eot_id(bpe) >= -1 && bpe_eot_id(bpe) < bpe_vocab_size(bpe));
    for (int id = 0; id < bpe_vocab_size(bpe); id++) {
        int len = -1;
        const char *bytes = bpe_token_bytes(bpe, id, &len);
        PROPERTY(bytes != NULL && len > 0);
        if (id == bpe_eot_id(bpe)) continue;
        PROPERTY(bpe_lookup(bpe, bytes, len) == id);
        PROPERTY(bpe_merge_rank(bpe, bytes, len) < 256 + bpe_n_merges(bpe));
        PROPERTY((len == 1) == (bpe_merge_rank(bpe, bytes, len) < 256));
    }
}

static void check_encoding(Bpe *bpe, const char *x, size_t n, bool allow_special) {
    size_t clean_len;
    char *clean = utf8_sanitize(x, n, &clean_len);
    IntVec ids = {0}, want = {0};
    bpe_encode(bpe, x, n, allow_special, &ids);
    ByteBuf back = {0};
    PROPERTY(bpe_decode(bpe, ids.data, ids.len, &back, NULL));
    PROPERTY(back.len == clean_len && (clean_len == 0 || memcmp(back.data, clean, clean_len) == 0));
    /* every piece of at most TEXT_MAX bytes is compared */
    PROPERTY(reference_encode(bpe, clean, clean_len, allow_special, 3 * TEXT_MAX, &want));
    PROPERTY(want.len == ids.len && (ids.len == 0 || memcmp(want.data, ids.data, ids.len * sizeof(int)) == 0));
    bytebuf_free(&back);
    intvec_free(&want);
    intvec_free(&ids);
    free(clean);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *bytes = size ? (const char *)data : ""; /* never offset a null pointer */
    const char *nul = memchr(bytes, '\0', size);
    size_t enc_len = nul ? (size_t)(nul - bytes) : size;
    BpeFileData enc = {"encoder.json", bytes, enc_len};
    BpeFileData merges = {"vocab.bpe", nul ? nul + 1 : bytes + size, nul ? size - enc_len - 1 : 0};
    char err[512];
    err[0] = '\0';
    Bpe *bpe = bpe_parse(enc, merges, err, sizeof err);
    if (!bpe) {
        PROPERTY(err[0] != '\0' && strlen(err) < sizeof err);
        return 0;
    }
    check_tokens(bpe);
    static const char sentence[] = "Hello, world! It's 2024 <|endoftext|> caf\xC3\xA9 \xF0\x9F\x98\x80  \t\n ok";
    const size_t n = size < TEXT_MAX ? size : TEXT_MAX;
    for (int allow_special = 0; allow_special < 2; allow_special++) {
        check_encoding(bpe, bytes, n, allow_special);
        check_encoding(bpe, sentence, sizeof sentence - 1, allow_special);
    }
    bpe_free(bpe);
    return 0;
}
