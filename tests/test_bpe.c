/* Tests for ch02_text/bpe.c: GPT-2's tokenizer against tiktoken's ids. */
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/bpe.h"
#include "../ch02_text/utf8.h"
#include "../common/rng.h"
#include "fuzz/bpe_reference.h"
#include "test_helpers.h"

static Bpe *gpt2;

/* Loaded once in the parent process; each forked test gets its own copy. */
static void load_gpt2(void) {
    if (have_data_file("gpt2/encoder.json") && have_data_file("gpt2/vocab.bpe")) gpt2 = bpe_load_gpt2();
}
static void free_gpt2(void) {
    if (gpt2) bpe_free(gpt2);
}

static void assert_ids(const char *text, bool allow_special, const int *want, size_t n_want) {
    IntVec ids = {0};
    bpe_encode(gpt2, text, strlen(text), allow_special, &ids);
    ck_assert_msg(ids.len == n_want, "\"%s\": %zu ids, want %zu", text, ids.len, n_want);
    for (size_t i = 0; i < n_want; i++) ck_assert_int_eq(ids.data[i], want[i]);
    intvec_free(&ids);
}

START_TEST(test_vocabulary_shape) {
    ck_assert_int_eq(bpe_vocab_size(gpt2), 50257);
    ck_assert_int_eq(bpe_n_merges(gpt2), 50000);
    ck_assert_int_eq(bpe_eot_id(gpt2), 50256);
    ck_assert_int_eq(bpe_lookup(gpt2, "Hello", 5), 15496);
    ck_assert_int_eq(bpe_lookup(gpt2, " world", 6), 995);
    ck_assert_int_eq(bpe_lookup(gpt2, "!", 1), 0);
}
END_TEST

START_TEST(test_book_examples) {
    int book[] = {15496, 11, 466, 345, 588, 8887, 30, 220, 50256, 554, 262, 4252, 18250, 8812, 2114, 286, 617, 34680, 27271, 13};
    assert_ids("Hello, do you like tea? <|endoftext|> In the sunlit terraces of someunknownPlace.", true, book, 20);
    /* ch02.ipynb In [28] now joins "terraces" and "of" (its string pieces
     * have no space between them): "of" is 1659 where " of" is 286 */
    int notebook[] = {15496, 11, 466, 345, 588, 8887, 30, 220, 50256, 554, 262, 4252, 18250, 8812, 2114, 1659, 617, 34680, 27271, 13};
    assert_ids("Hello, do you like tea? <|endoftext|> In the sunlit terracesof someunknownPlace.", true, notebook, 20);
    int akwirw[] = {33901, 86, 343, 86, 220, 959};
    assert_ids("Akwirw ier", false, akwirw, 6);
}
END_TEST

START_TEST(test_endoftext_only_when_allowed) {
    int special[] = {50256};
    assert_ids("<|endoftext|>", true, special, 1);
    int ordinary[] = {27, 91, 437, 1659, 5239, 91, 29};
    assert_ids("<|endoftext|>", false, ordinary, 7);
}
END_TEST

/* Every line of the fixture was encoded by tiktoken's "gpt2" encoding
 * (tests/reference/gen_gpt2_fixtures.js): scripts, emoji, combining marks,
 * white space of every kind, contractions in both cases, code points at the
 * edges of every Unicode class range, and seeded random strings. */
START_TEST(test_matches_tiktoken_fixtures) {
    FixtureLines f = fixture_lines("gpt2_encode.txt");
    ck_assert_int_gt(f.count, 2000);
    IntVec ids = {0};
    for (int i = 0; i < f.count; i++) {
        char *line = f.lines[i];
        char *tab1 = strchr(line, '\t');
        ck_assert_ptr_nonnull(tab1);
        char *tab2 = strchr(tab1 + 1, '\t');
        ck_assert_ptr_nonnull(tab2);
        char *text;
        size_t len;
        ck_assert(hex_decode(line, tab1 - line, &text, &len));
        bool allow = tab1[1] == '1';
        ids.len = 0;
        bpe_encode(gpt2, text, len, allow, &ids);
        char *want = tab2 + 1, *end;
        size_t k = 0;
        for (long id = strtol(want, &end, 10); end != want; id = strtol(want, &end, 10), k++) {
            ck_assert_msg(k < ids.len && ids.data[k] == id, "fixture line %d (%.60s): token %zu is %d, tiktoken %ld", i + 1,
                          line, k, k < ids.len ? ids.data[k] : -1, id);
            want = end;
        }
        ck_assert_msg(k == ids.len, "fixture line %d (%.60s): %zu ids, tiktoken %zu", i + 1, line, ids.len, k);
        ByteBuf back = {0};
        ck_assert(bpe_decode(gpt2, ids.data, ids.len, &back, NULL));
        ck_assert(back.len == len && (len == 0 || memcmp(back.data, text, len) == 0));
        bytebuf_free(&back);
        free(text);
    }
    intvec_free(&ids);
    fixture_lines_free(&f);
}
END_TEST

START_TEST(test_verdict_encodes_to_5145_and_back) {
    char *path = test_data_file("the-verdict.txt");
    size_t len;
    char *text = read_text_file(path, &len);
    IntVec ids = {0};
    bpe_encode(gpt2, text, len, false, &ids);
    ck_assert_uint_eq(ids.len, 5145);
    int first[] = {40, 367, 2885, 1464, 1807};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(ids.data[i], first[i]);
    /* again: now every word comes from the cache, same ids */
    IntVec again = {0};
    bpe_encode(gpt2, text, len, false, &again);
    ck_assert_uint_eq(again.len, ids.len);
    ck_assert_int_eq(memcmp(again.data, ids.data, ids.len * sizeof(int)), 0);
    ByteBuf back = {0};
    ck_assert(bpe_decode(gpt2, ids.data, ids.len, &back, NULL));
    ck_assert_uint_eq(back.len, len);
    ck_assert_int_eq(memcmp(back.data, text, len), 0);
    bytebuf_free(&back);
    intvec_free(&again);
    intvec_free(&ids);
    free(text);
    free(path);
}
END_TEST

/* Decoding is exact: for any bytes, decode(encode(x)) is x with invalid
 * UTF-8 replaced by U+FFFD (and x itself when x is valid). */
START_TEST(test_random_bytes_round_trip) {
    Rng rng;
    rng_seed(&rng, 2024);
    IntVec ids = {0};
    ByteBuf back = {0};
    char bytes[96];
    for (int trial = 0; trial < 3000; trial++) {
        int n = (int)rng_below(&rng, sizeof bytes);
        for (int i = 0; i < n; i++) {
            /* mix ASCII text, spaces, apostrophes and arbitrary high bytes */
            uint64_t kind = rng_below(&rng, 4);
            bytes[i] = kind == 0   ? (char)rng_below(&rng, 256)
                       : kind == 1 ? " \t\n'sS"[rng_below(&rng, 7)]
                                   : (char)('a' + rng_below(&rng, 26));
        }
        size_t clean_len;
        char *clean = utf8_sanitize(bytes, n, &clean_len);
        ids.len = back.len = 0;
        bpe_encode(gpt2, bytes, n, trial % 2, &ids);
        ck_assert(bpe_decode(gpt2, ids.data, ids.len, &back, NULL));
        ck_assert_msg(back.len == clean_len && (clean_len == 0 || memcmp(back.data, clean, clean_len) == 0),
                      "trial %d does not round-trip", trial);
        free(clean);
    }
    intvec_free(&ids);
    bytebuf_free(&back);
}
END_TEST

/* The pieces of a text, joined with '|'. */
static char *pieces(const char *text) {
    ByteBuf out = {0};
    size_t len = strlen(text);
    for (size_t i = 0; i < len;) {
        size_t end = bpe_next_piece(text, len, i);
        ck_assert_uint_gt(end, i);
        if (i) bytebuf_append(&out, "|", 1);
        bytebuf_append(&out, text + i, end - i);
        i = end;
    }
    if (!out.data) bytebuf_append(&out, "", 0);
    return out.data;
}

static void assert_pieces(const char *text, const char *want) {
    char *got = pieces(text);
    ck_assert_str_eq(got, want);
    free(got);
}

START_TEST(test_pretokenizer_edges) {
    assert_pieces("Hello world", "Hello| world");
    assert_pieces("I'm YOU'LL don't", "I|'m| YOU|'|LL| don|'t");
    assert_pieces("''s ?'s", "''|s| ?'|s");
    assert_pieces("a   b", "a|  | b");
    assert_pieces("  \n  a", "  \n | a");
    assert_pieces("a   ", "a|   ");
    assert_pieces("x\t\ty", "x|\t|\t|y");
    assert_pieces("abc123 456!!", "abc|123| 456|!!");
    assert_pieces("\xC2\xA0x", "\xC2\xA0|x");            /* NBSP is \s but not the optional ' ' */
    assert_pieces(" \xE3\x80\x80x", " |\xE3\x80\x80|x");  /* ideographic space: \s, alone before x */
    assert_pieces("caf\xC3\xA9 na\xC3\xAFve", "caf\xC3\xA9| na\xC3\xAFve");
    assert_pieces("e\xCC\x81", "e|\xCC\x81");             /* a combining mark is not \p{L} */
}
END_TEST

/* bpe_next_piece is public: on bytes that are not UTF-8 it must still move
 * forward (it used to take a length of 0 there and loop forever). */
START_TEST(test_pretokenizer_on_invalid_utf8) {
    assert_pieces("ab\xFF\xFE cd\x80", "ab|\xFF\xFE| cd|\x80");
    assert_pieces("\xE3\x80 x", "\xE3\x80| x");
}
END_TEST

/* Pieces longer than 64 bytes are merged with a heap instead of the scan
 * (which took minutes on 100 kB of one piece); the ids must be those of the
 * plain merge loop of tests/fuzz/bpe_reference.h. */
START_TEST(test_long_pieces_match_plain_merge) {
    Rng rng;
    rng_seed(&rng, 7);
    const char *parts[] = {"th", "e", "ing", "tion", "qu", "a", "zz", "\xC3\xA9", "\xE4\xB8\xAD", "1", "!?"};
    ByteBuf text = {0};
    for (int piece = 0; piece < 40; piece++) {
        /* a run from a few parts: letters, digits, punctuation or a mix the
         * pre-tokenizer cuts apart */
        int kinds = 2 + (int)rng_below(&rng, 10), n = 20 + (int)rng_below(&rng, 400);
        for (int i = 0; i < n; i++) {
            const char *p = parts[rng_below(&rng, kinds)];
            bytebuf_append(&text, p, strlen(p));
        }
        bytebuf_append(&text, " ", 1);
    }
    for (int i = 0; i < 700; i++) bytebuf_append(&text, "\xFF", 1); /* one piece of 700 U+FFFD */
    size_t clean_len;
    char *clean = utf8_sanitize(text.data, text.len, &clean_len);
    IntVec ids = {0}, want = {0};
    bpe_encode(gpt2, text.data, text.len, false, &ids);
    ck_assert(reference_encode(gpt2, clean, clean_len, false, clean_len, &want));
    ck_assert_uint_eq(ids.len, want.len);
    ck_assert_int_eq(memcmp(ids.data, want.data, ids.len * sizeof(int)), 0);
    free(clean);
    intvec_free(&want);
    intvec_free(&ids);
    bytebuf_free(&text);
}
END_TEST

START_TEST(test_decode_rejects_bad_id) {
    ByteBuf out = {0};
    int bad = 0, ids[] = {15496, 50257};
    ck_assert(!bpe_decode(gpt2, ids, 2, &out, &bad));
    ck_assert_int_eq(bad, 50257);
    int negative[] = {-1};
    ck_assert(!bpe_decode(gpt2, negative, 1, &out, &bad));
    ck_assert_int_eq(bad, -1);
    bytebuf_free(&out);
}
END_TEST

/* ---- malformed files: each load must exit with status 1, not crash ---- */

/* One directory for the whole test case, made and removed in the parent
 * (an exit test's process never gets to clean up after itself). */
static char *bad_dir;
static void make_bad_dir(void) { bad_dir = make_temp_dir(); }
static void remove_bad_dir(void) {
    remove_tree(bad_dir);
    free(bad_dir);
}

static void write_tokenizer_files(const char *encoder_json, const char *vocab_bpe) {
    char *enc = path_join(bad_dir, "encoder.json"), *merges = path_join(bad_dir, "vocab.bpe");
    write_file_atomic(enc, encoder_json, strlen(encoder_json));
    write_file_atomic(merges, vocab_bpe, strlen(vocab_bpe));
    free(enc);
    free(merges);
}

/* A minimal valid byte-level vocabulary: the 256 bytes, then "ab", as JSON. */
static char *tiny_encoder_json(const char *extra) {
    ByteBuf json = {0};
    bytebuf_append(&json, "{", 1);
    unsigned char order[256];
    bpe_byte_rank_order(order);
    for (int id = 0; id < 256; id++) {
        char cp[4], entry[32];
        int n = utf8_encode(bpe_byte_to_codepoint(order[id]), cp);
        char escaped[8];
        if (cp[0] == '"' || cp[0] == '\\') snprintf(escaped, sizeof escaped, "\\%c", cp[0]);
        else snprintf(escaped, sizeof escaped, "%.*s", n, cp);
        snprintf(entry, sizeof entry, "%s\"%s\": %d", id ? ", " : "", escaped, id);
        bytebuf_append(&json, entry, strlen(entry));
    }
    bytebuf_append(&json, extra, strlen(extra));
    bytebuf_append(&json, "}", 1);
    return json.data;
}

START_TEST(test_tiny_files_load) {
    char *json = tiny_encoder_json(", \"ab\": 256, \"<|endoftext|>\": 257");
    write_tokenizer_files(json, "#version: 0.2\na b\n");
    Bpe *bpe = bpe_load_dir(bad_dir);
    ck_assert_int_eq(bpe_vocab_size(bpe), 258);
    ck_assert_int_eq(bpe_n_merges(bpe), 1);
    IntVec ids = {0};
    bpe_encode(bpe, "abc", 3, false, &ids);
    ck_assert_uint_eq(ids.len, 2);
    ck_assert_int_eq(ids.data[0], 256);
    intvec_free(&ids);
    bpe_free(bpe);
    free(json);
}
END_TEST

/* bpe_parse reads the files from memory and reports what is wrong instead
 * of exiting. The buffers are exact copies, without a NUL after the end, so
 * reading past it is caught under the sanitizers. */
static void assert_parse_error(const char *encoder_json, const char *vocab_bpe, const char *want) {
    char *enc = xmalloc(strlen(encoder_json) + 1), *merges = xmalloc(strlen(vocab_bpe) + 1);
    memcpy(enc, encoder_json, strlen(encoder_json));
    memcpy(merges, vocab_bpe, strlen(vocab_bpe));
    char err[256] = "";
    Bpe *bpe = bpe_parse((BpeFileData){"encoder.json", enc, strlen(encoder_json)},
                         (BpeFileData){"vocab.bpe", merges, strlen(vocab_bpe)}, err, sizeof err);
    ck_assert_ptr_null(bpe);
    ck_assert_str_eq(err, want);
    free(enc);
    free(merges);
}

START_TEST(test_parse_reports_errors) {
    assert_parse_error("{\"a\": 0,\n\"b\" 1}", "",
                       "encoder.json: malformed JSON near line 2 (expected an object of token strings to ids)");
    assert_parse_error("[1, 2]", "", "encoder.json: expected a JSON object of token strings to ids");
    assert_parse_error("{\"a\": 0}", "", "encoder.json: only 1 tokens; a byte-level vocabulary has at least 256");
    char *json = tiny_encoder_json(", \"ab\": 9999");
    assert_parse_error(json, "", "encoder.json: token \"ab\" has id out of range; ids must be whole numbers 0..256");
    free(json);
    json = tiny_encoder_json(", \"ab\": 2.5");
    assert_parse_error(json, "", "encoder.json: token \"ab\" has id out of range; ids must be whole numbers 0..256");
    free(json);
    json = tiny_encoder_json(", \"ab\": \"x\"");
    assert_parse_error(json, "",
                       "encoder.json: token \"ab\" has id that is not a number; ids must be whole numbers 0..256");
    free(json);
    json = tiny_encoder_json(", \"<|endoftext|>\": 256, \"<|endoftext|>\": 257");
    assert_parse_error(json, "", "encoder.json: <|endoftext|> is given two ids, 256 and 257");
    free(json);
    json = tiny_encoder_json(", \"ab\": 256");
    assert_parse_error(json, "", "encoder.json: token 256 is neither a byte nor made by a merge in vocab.bpe");
    /* "#ver" is too short to be the version line, so it is a bad merge */
    assert_parse_error(json, "#ver", "vocab.bpe:1: expected two tokens separated by one space");
    assert_parse_error(json, "#version: 0.2\r\na b\r\nb c",
                       "vocab.bpe:3: the merge's result is not a token of encoder.json");
    assert_parse_error(json, "a b\na b\n", "vocab.bpe:2: token 256 is made a second time");
    assert_parse_error(json, "a \xC3", "vocab.bpe:1: a token is not written in GPT-2's byte alphabet");
    free(json);
}
END_TEST

START_TEST(test_malformed_json_exits) {
    write_tokenizer_files("{\"a\": 0,", "#version: 0.2\n");
    bpe_load_dir(bad_dir);
}
END_TEST

START_TEST(test_id_out_of_range_exits) {
    char *json = tiny_encoder_json(", \"ab\": 9999");
    write_tokenizer_files(json, "a b\n");
    free(json);
    bpe_load_dir(bad_dir);
}
END_TEST

START_TEST(test_duplicate_id_exits) {
    char *json = tiny_encoder_json(", \"ab\": 3");
    write_tokenizer_files(json, "a b\n");
    free(json);
    bpe_load_dir(bad_dir);
}
END_TEST

START_TEST(test_merge_line_without_space_exits) {
    char *json = tiny_encoder_json(", \"ab\": 256");
    write_tokenizer_files(json, "#version: 0.2\nab\n");
    free(json);
    bpe_load_dir(bad_dir);
}
END_TEST

START_TEST(test_merge_result_not_in_encoder_exits) {
    char *json = tiny_encoder_json(", \"ab\": 256");
    write_tokenizer_files(json, "a b\nb c\n");
    free(json);
    bpe_load_dir(bad_dir);
}
END_TEST

START_TEST(test_missing_files_exit) { bpe_load("/nonexistent/encoder.json", "/nonexistent/vocab.bpe"); }
END_TEST

Suite *bpe_suite(void) {
    Suite *s = suite_create("bpe");
    TCase *tc = tcase_create("gpt2");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, load_gpt2, free_gpt2);
    tcase_add_checked_fixture(tc, require_gpt2_tokenizer, NULL);
    add_test(tc, test_vocabulary_shape);
    add_test(tc, test_book_examples);
    add_test(tc, test_endoftext_only_when_allowed);
    add_test(tc, test_matches_tiktoken_fixtures);
    add_test(tc, test_verdict_encodes_to_5145_and_back);
    add_test(tc, test_random_bytes_round_trip);
    add_test(tc, test_pretokenizer_edges);
    add_test(tc, test_pretokenizer_on_invalid_utf8);
    add_test(tc, test_long_pieces_match_plain_merge);
    add_test(tc, test_decode_rejects_bad_id);
    suite_add_tcase(s, tc);
    TCase *files = tcase_create("files");
    tcase_add_unchecked_fixture(files, make_bad_dir, remove_bad_dir);
    add_test(files, test_tiny_files_load);
    add_test(files, test_parse_reports_errors);
    add_exit_test(files, test_malformed_json_exits, 1);
    add_exit_test(files, test_id_out_of_range_exits, 1);
    add_exit_test(files, test_duplicate_id_exits, 1);
    add_exit_test(files, test_merge_line_without_space_exits, 1);
    add_exit_test(files, test_merge_result_not_in_encoder_exits, 1);
    add_exit_test(files, test_missing_files_exit, 1);
    suite_add_tcase(s, files);
    return s;
}
