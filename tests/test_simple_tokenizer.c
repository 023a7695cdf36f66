/* Tests for ch02_text/simple_tokenizer.c: the numbers the book prints. */
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/simple_tokenizer.h"
#include "../ch02_text/utf8.h"
#include "test_helpers.h"

static char *verdict;
static size_t verdict_len;

static void load_verdict(void) {
    if (!have_data_file("the-verdict.txt")) return;
    char *path = data_file("the-verdict.txt");
    verdict = read_text_file(path, &verdict_len);
    free(path);
}

static void free_verdict(void) { free(verdict); }

/* The pieces of a TokenList against want[0..n). */
static void assert_pieces(const TokenList *t, const char *const *want, int n) {
    ck_assert_msg(t->count == n, "%d pieces, want %d", t->count, n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(strcmp(t->tokens[i], want[i]) == 0, "piece %d is '%s', want '%s'", i, t->tokens[i], want[i]);
}

/* 2.2's three steps on its first example, as ch02.ipynb prints them
 * (In [4], In [5], In [6]): re.split keeps the delimiters, and empty
 * pieces where two delimiters meet and at the end; the blank ones are
 * then dropped. */
START_TEST(test_regex_split_steps) {
    const char *text = "Hello, world. This, is a test.";
    TokenList t = regex_split(text, strlen(text), SPLIT_SPACE);
    const char *space[] = {"Hello,", " ", "world.", " ", "This,", " ", "is", " ", "a", " ", "test."};
    assert_pieces(&t, space, 11);
    token_list_free(&t);
    t = regex_split(text, strlen(text), SPLIT_COMMA_PERIOD);
    const char *comma[] = {"Hello", ",", "", " ", "world", ".", "", " ", "This", ",", "",
                           " ",     "is", " ", "a", " ", "test", ".", ""};
    assert_pieces(&t, comma, 19);
    drop_blank(&t, false);
    const char *kept[] = {"Hello", ",", "world", ".", "This", ",", "is", "a", "test", "."};
    assert_pieces(&t, kept, 10);
    token_list_free(&t);
}
END_TEST

/* Python's re.split on the edges: an empty text is one empty piece,
 * "--" is one delimiter and a lone "-" none, and two delimiters in a
 * row have an empty piece between them. */
START_TEST(test_regex_split_edges) {
    TokenList t = regex_split("", 0, SPLIT_BOOK);
    const char *empty[] = {""};
    assert_pieces(&t, empty, 1);
    token_list_free(&t);
    const char *text = "a--b-c?!";
    t = regex_split(text, strlen(text), SPLIT_BOOK);
    const char *book[] = {"a", "--", "b-c", "?", "", "!", ""};
    assert_pieces(&t, book, 7);
    token_list_free(&t);
    /* U+3000 is white space to Python's \s: a delimiter of three bytes */
    text = "x\xE3\x80\x80y";
    t = regex_split(text, strlen(text), SPLIT_SPACE);
    const char *wide[] = {"x", "\xE3\x80\x80", "y"};
    assert_pieces(&t, wide, 3);
    token_list_free(&t);
}
END_TEST

/* drop_blank drops pieces that are empty or all white space (Unicode's
 * too) and, with strip, strips the others at both ends. */
START_TEST(test_drop_blank_and_strip) {
    const char *pieces[] = {" a ", "", " \t", "\xC2\xA0" "b" "\xE3\x80\x80", "c"};
    for (int strip = 0; strip <= 1; strip++) {
        TokenList t = {xmalloc(5 * sizeof(char *)), 5};
        for (int i = 0; i < 5; i++) t.tokens[i] = xstrdup(pieces[i]);
        drop_blank(&t, strip);
        const char *unstripped[] = {" a ", "\xC2\xA0" "b" "\xE3\x80\x80", "c"}, *stripped[] = {"a", "b", "c"};
        assert_pieces(&t, strip ? stripped : unstripped, 3);
        token_list_free(&t);
    }
}
END_TEST

START_TEST(test_split_example) {
    const char *text = "Hello, world. Is this-- a test?";
    TokenList t = simple_split(text, strlen(text));
    const char *want[] = {"Hello", ",", "world", ".", "Is", "this", "--", "a", "test", "?"};
    ck_assert_int_eq(t.count, 10);
    for (int i = 0; i < 10; i++) ck_assert_str_eq(t.tokens[i], want[i]);
    token_list_free(&t);
}
END_TEST

START_TEST(test_split_dashes_and_unicode_space) {
    /* "---" is "--" then "-"; U+3000 and U+00A0 are white space to Python */
    const char *text = "a---b\xE3\x80\x80" "c\xC2\xA0" "d";
    TokenList t = simple_split(text, strlen(text));
    const char *want[] = {"a", "--", "-b", "c", "d"};
    ck_assert_int_eq(t.count, 5);
    for (int i = 0; i < 5; i++) ck_assert_str_eq(t.tokens[i], want[i]);
    token_list_free(&t);
}
END_TEST

START_TEST(test_verdict_counts) {
    TokenList t = simple_split(verdict, verdict_len);
    ck_assert_int_eq(t.count, 4690);
    token_list_free(&t);
    SimpleTokenizer v1 = simple_tokenizer_build(verdict, verdict_len, false);
    ck_assert_int_eq(v1.size, 1130);
    ck_assert_str_eq(v1.words[0], "!");
    ck_assert_str_eq(v1.words[50], "Hermia");
    simple_tokenizer_free(&v1);
    SimpleTokenizer v2 = simple_tokenizer_build(verdict, verdict_len, true);
    ck_assert_int_eq(v2.size, 1132);
    ck_assert_int_eq(v2.eot_id, 1130);
    ck_assert_int_eq(v2.unk_id, 1131);
    ck_assert_int_eq(simple_tokenizer_lookup(&v2, "<|endoftext|>"), 1130);
    ck_assert_str_eq(v2.words[1129], "yourself");
    simple_tokenizer_free(&v2);
}
END_TEST

START_TEST(test_v1_encode_decode_book_sentence) {
    SimpleTokenizer v1 = simple_tokenizer_build(verdict, verdict_len, false);
    const char *text = "\"It's the last he painted, you know,\" Mrs. Gisburn said with pardonable pride.";
    int want[] = {1, 56, 2, 850, 988, 602, 533, 746, 5, 1126, 596, 5, 1, 67, 7, 38, 851, 1108, 754, 793, 7};
    int n;
    int *ids = simple_encode(&v1, text, strlen(text), &n, NULL);
    ck_assert_int_eq(n, 21);
    for (int i = 0; i < n; i++) ck_assert_int_eq(ids[i], want[i]);
    char *back = simple_decode(&v1, ids, n, NULL);
    ck_assert_str_eq(back, "\" It' s the last he painted, you know,\" Mrs. Gisburn said with pardonable pride.");
    free(back);
    free(ids);
    simple_tokenizer_free(&v1);
}
END_TEST

START_TEST(test_v1_reports_unknown_word) {
    SimpleTokenizer v1 = simple_tokenizer_build(verdict, verdict_len, false);
    int n;
    char *unknown;
    ck_assert_ptr_null(simple_encode(&v1, "Hello, do you like tea?", 23, &n, &unknown));
    ck_assert_str_eq(unknown, "Hello");
    free(unknown);
    simple_tokenizer_free(&v1);
}
END_TEST

START_TEST(test_v2_unknown_and_endoftext) {
    SimpleTokenizer v2 = simple_tokenizer_build(verdict, verdict_len, true);
    const char *text = "Hello, do you like tea? <|endoftext|> In the sunlit terraces of the palace.";
    int want[] = {1131, 5, 355, 1126, 628, 975, 10, 1130, 55, 988, 956, 984, 722, 988, 1131, 7};
    int n;
    int *ids = simple_encode(&v2, text, strlen(text), &n, NULL);
    ck_assert_int_eq(n, 16);
    for (int i = 0; i < n; i++) ck_assert_int_eq(ids[i], want[i]);
    char *back = simple_decode(&v2, ids, n, NULL);
    ck_assert_str_eq(back, "<|unk|>, do you like tea? <|endoftext|> In the sunlit terraces of the <|unk|>.");
    free(back);
    int bad = 0, out_of_range[] = {3, 1132};
    ck_assert_ptr_null(simple_decode(&v2, out_of_range, 2, &bad));
    ck_assert_int_eq(bad, 1132);
    free(ids);
    simple_tokenizer_free(&v2);
}
END_TEST

/* Found by tests/fuzz/fuzz_simple_tokenizer.c: a text with no words made
 * the build pass qsort a NULL array (undefined even for 0 items). */
START_TEST(test_text_without_words_gives_empty_vocabulary) {
    const char *texts[] = {"", " \t\r\n\xE3\x80\x80 \n"};
    for (int k = 0; k < 2; k++) {
        SimpleTokenizer v1 = simple_tokenizer_build(texts[k], strlen(texts[k]), false);
        ck_assert_int_eq(v1.size, 0);
        ck_assert_int_eq(simple_tokenizer_lookup(&v1, "a"), -1);
        int n = -1;
        int *ids = simple_encode(&v1, texts[k], strlen(texts[k]), &n, NULL);
        ck_assert_ptr_nonnull(ids);
        ck_assert_int_eq(n, 0);
        free(ids);
        simple_tokenizer_free(&v1);
        SimpleTokenizer v2 = simple_tokenizer_build(texts[k], strlen(texts[k]), true);
        ck_assert_int_eq(v2.size, 2);
        ck_assert_int_eq(v2.eot_id, 0);
        ck_assert_int_eq(v2.unk_id, 1);
        ids = simple_encode(&v2, "new words", 9, &n, NULL);
        ck_assert_int_eq(n, 2);
        ck_assert_int_eq(ids[0], 1);
        ck_assert_int_eq(ids[1], 1);
        free(ids);
        simple_tokenizer_free(&v2);
    }
}
END_TEST

/* Found by the fuzzer: "a\0b" was one word, which as a C string is "a". */
START_TEST(test_nul_byte_separates_words) {
    const char text[] = "a\0b c\0";
    TokenList t = simple_split(text, sizeof text - 1);
    const char *want[] = {"a", "b", "c"};
    ck_assert_int_eq(t.count, 3);
    for (int i = 0; i < 3; i++) ck_assert_str_eq(t.tokens[i], want[i]);
    token_list_free(&t);
}
END_TEST

/* The book's V2 vocabulary is a dict: when the text has "<|endoftext|>" as a
 * word, the special id (the later one) is what encoding gives. */
START_TEST(test_v2_specials_win_over_words_of_the_text) {
    const char *text = "x <|endoftext|> <|unk|>";
    SimpleTokenizer v2 = simple_tokenizer_build(text, strlen(text), true);
    ck_assert_int_eq(v2.n_words, 3);
    ck_assert_int_eq(simple_tokenizer_lookup(&v2, "<|endoftext|>"), v2.eot_id);
    ck_assert_int_eq(simple_tokenizer_lookup(&v2, "<|unk|>"), v2.unk_id);
    ck_assert_int_eq(simple_tokenizer_lookup(&v2, "x"), 2);
    int n;
    int *ids = simple_encode(&v2, text, strlen(text), &n, NULL);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(ids[1], v2.eot_id);
    ck_assert_int_eq(ids[2], v2.unk_id);
    free(ids);
    simple_tokenizer_free(&v2);
}
END_TEST

Suite *simple_tokenizer_suite(void) {
    Suite *s = suite_create("simple_tokenizer");
    TCase *tc = tcase_create("core");
    tcase_add_unchecked_fixture(tc, load_verdict, free_verdict);
    tcase_add_checked_fixture(tc, require_verdict, NULL);
    add_test(tc, test_regex_split_steps);
    add_test(tc, test_regex_split_edges);
    add_test(tc, test_drop_blank_and_strip);
    add_test(tc, test_split_example);
    add_test(tc, test_split_dashes_and_unicode_space);
    add_test(tc, test_verdict_counts);
    add_test(tc, test_v1_encode_decode_book_sentence);
    add_test(tc, test_v1_reports_unknown_word);
    add_test(tc, test_v2_unknown_and_endoftext);
    add_test(tc, test_text_without_words_gives_empty_vocabulary);
    add_test(tc, test_nul_byte_separates_words);
    add_test(tc, test_v2_specials_win_over_words_of_the_text);
    suite_add_tcase(s, tc);
    return s;
}
