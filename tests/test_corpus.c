/* Tests for corpus.c: the shard format, cleaning a document as the book's
 * prepare_dataset.py does, and preparing a directory of text files: the
 * shards decode to the documents joined with <|endoftext|>, hold exactly
 * our tokenizer's ids for that text, and a run killed mid-way continues to
 * the same bytes as a run never stopped. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../ch02_text/bpe.h"
#include "../ch05_pretrain/corpus.h"
#include "test_helpers.h"

/* ---- the shard format ---------------------------------------------------------- */

START_TEST(test_shard_round_trip) {
    char *dir = make_temp_dir(), *path = path_join(dir, "x_train_000001.bin");
    uint16_t tokens[5] = {0, 1, 50256, 65535, 7};
    shard_write(path, tokens, 5);
    size_t len;
    char *bytes = read_file(path, &len);
    ck_assert_uint_eq(len, 1024 + 10);
    const int32_t *header = (const int32_t *)bytes;
    ck_assert_int_eq(header[0], 20240520);
    ck_assert_int_eq(header[1], 1);
    ck_assert_int_eq(header[2], 5);
    for (int i = 3; i < 256; i++) ck_assert_int_eq(header[i], 0);
    Shard s;
    char err[256];
    ck_assert_msg(shard_open(path, &s, err, sizeof err), "%s", err);
    ck_assert_int_eq(s.n, 5);
    ck_assert_mem_eq(s.tokens, tokens, sizeof tokens);
    shard_close(&s);

    /* each kind of damage is refused, with its reason */
    const struct {
        int word;
        int32_t value;
        const char *reason;
    } damage[] = {{0, 20240521, "magic number"}, {1, 2, "version"}, {2, 6, "size does not match"}, {2, -1, "negative"}};
    for (size_t d = 0; d < sizeof damage / sizeof damage[0]; d++) {
        int32_t saved = ((int32_t *)bytes)[damage[d].word];
        ((int32_t *)bytes)[damage[d].word] = damage[d].value;
        write_file_atomic(path, bytes, len);
        ck_assert(!shard_open(path, &s, err, sizeof err));
        ck_assert_msg(strstr(err, damage[d].reason) != NULL, "%s", err);
        ((int32_t *)bytes)[damage[d].word] = saved;
    }
    write_file_atomic(path, bytes, 100);
    ck_assert(!shard_open(path, &s, err, sizeof err));
    ck_assert_msg(strstr(err, "shorter than its 1024-byte header") != NULL, "%s", err);
    free(bytes);
    free(path);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- cleaning ------------------------------------------------------------------------ */

/* Python 3's re.sub(r"\n\s*\n", "\n\n", text) on each input (run with
 * python3 to write these; \s is str.isspace, so U+00A0 and U+2003 count,
 * and U+3000 between non-space characters is no blank line). */
START_TEST(test_collapse_blank_lines_as_python) {
    const char *cases[][2] = {
        {"a\n\nb", "a\n\nb"},
        {"a\n \n\t\nb", "a\n\nb"},
        {"a\nb", "a\nb"},
        {"a\n\n\n\n", "a\n\n"},
        {"\n\n  x", "\n\n  x"},
        {"a\n \xc2\xa0\xe2\x80\x83\nb\n \n", "a\n\nb\n\n"},
        {"a\r\n\r\nb", "a\r\n\nb"},
        {"x\n\xe3\x80\x80y\n\n", "x\n\xe3\x80\x80y\n\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = xstrdup(cases[i][0]);
        size_t n = collapse_blank_lines(text, strlen(text));
        ck_assert_uint_eq(n, strlen(cases[i][1]));
        ck_assert_msg(strcmp(text, cases[i][1]) == 0, "case %zu: got '%s'", i, text);
        free(text);
    }
}
END_TEST

START_TEST(test_gutenberg_strip_headers) {
    char text[] = "The Project Gutenberg eBook of X\nlicense\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n\n"
                  "Chapter 1\n\nIt was.\n\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\nmore license\n";
    size_t n = gutenberg_strip_headers(text, strlen(text));
    ck_assert_str_eq(text, "Chapter 1\n\nIt was.");
    ck_assert_uint_eq(n, strlen(text));

    char old[] = "header\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\nBody.\n"
                 "End of the Project Gutenberg EBook of Y\n";
    gutenberg_strip_headers(old, strlen(old));
    ck_assert_str_eq(old, "Body.");

    char plain[] = "No license here.\n\n";
    ck_assert_uint_eq(gutenberg_strip_headers(plain, strlen(plain)), strlen("No license here.\n\n"));
    ck_assert_str_eq(plain, "No license here.\n\n");
}
END_TEST

START_TEST(test_mostly_ascii_counts_characters) {
    ck_assert(mostly_ascii("hello world", 11, 0.9));
    /* 9 ASCII of 10 characters is not more than 90%; the two-byte é counts once */
    ck_assert(!mostly_ascii("abcdefgh \xc3\xa9", 11, 0.9));
    ck_assert(mostly_ascii("abcdefghij \xc3\xa9", 13, 0.9));
    ck_assert(!mostly_ascii("", 0, 0.9));
}
END_TEST

/* ---- preparing a directory -------------------------------------------------------------- */

static char *verdict;
static size_t verdict_len;

static void write_text(const char *dir, const char *name, const char *text, size_t len) {
    char *path = path_join(dir, name), *parent = path_dir(path);
    make_dirs(parent);
    write_file_atomic(path, text, len);
    free(parent);
    free(path);
}

/* The tree the tests prepare, and the text of each document as the book
 * reads it, in the order of their paths: a/1.txt and a/b/2.txt (the start
 * of The Verdict), c/3.txt (a Gutenberg book with Windows line ends,
 * invalid bytes and its license), c/4.txt (empty, left out), c/5.md (not a
 * text file), c/6.txt (the rest of The Verdict). */
static const char GUTENBERG[] = "The Project Gutenberg eBook of X\r\n\r\n*** START OF THE PROJECT GUTENBERG EBOOK X ***"
                                "\r\n\r\n\r\nHello\r\n \r\n\r\nworld \xff\xfe end\r\n"
                                "*** END OF THE PROJECT GUTENBERG EBOOK X ***\r\nlicense\r\n";
static const char GUTENBERG_READ[] = "Hello\n\nworld \xef\xbf\xbd\xef\xbf\xbd end";

static void make_tree(const char *in) {
    write_text(in, "a/1.txt", verdict, 5000);
    write_text(in, "a/b/2.txt", verdict + 5000, 6000);
    write_text(in, "c/3.txt", GUTENBERG, sizeof GUTENBERG - 1);
    write_text(in, "c/4.txt", "", 0);
    write_text(in, "c/5.md", "not text", 8);
    write_text(in, "c/6.txt", verdict + 11000, verdict_len - 11000);
}

/* Documents [first, last) of the tree, joined with <|endoftext|>. */
static char *joined(int first, int last) {
    const char *docs[4] = {verdict, verdict + 5000, GUTENBERG_READ, verdict + 11000};
    size_t lens[4] = {5000, 6000, strlen(GUTENBERG_READ), verdict_len - 11000};
    ByteBuf b = {0};
    for (int i = first; i < last; i++) {
        if (i > first) bytebuf_append(&b, "<|endoftext|>", 13);
        bytebuf_append(&b, docs[i], lens[i]);
    }
    bytebuf_append(&b, "", 1);
    return b.data;
}

static void load_verdict(void) {
    char *path = test_data_file("the-verdict.txt");
    verdict = read_file(path, &verdict_len);
    free(path);
}

/* The tokens of all of a list of shards, in order. */
static IntVec shard_tokens(char **paths, int n) {
    IntVec ids = {0};
    for (int i = 0; i < n; i++) {
        Shard s;
        char err[256];
        ck_assert_msg(shard_open(paths[i], &s, err, sizeof err), "%s", err);
        for (long k = 0; k < s.n; k++) intvec_push(&ids, s.tokens[k]);
        shard_close(&s);
    }
    return ids;
}

static void assert_shards_hold(Bpe *bpe, char **paths, int n, const char *text) {
    IntVec got = shard_tokens(paths, n), want = {0};
    bpe_encode(bpe, text, strlen(text), true, &want);
    ck_assert_int_eq(got.len, want.len);
    ck_assert_mem_eq(got.data, want.data, want.len * sizeof(int));
    ByteBuf decoded = {0};
    ck_assert(bpe_decode(bpe, got.data, got.len, &decoded, NULL));
    ck_assert_uint_eq(decoded.len, strlen(text));
    ck_assert(memcmp(decoded.data, text, decoded.len) == 0);
    bytebuf_free(&decoded);
    intvec_free(&got);
    intvec_free(&want);
}

START_TEST(test_prepare_shards_decode_to_the_joined_documents) {
    load_verdict();
    char *dir = make_temp_dir(), *in = path_join(dir, "in"), *out = path_join(dir, "out");
    make_tree(in);
    CorpusOptions o = {.input_dir = in, .out_dir = out, .shard_tokens = 1000, .val_tokens = 500, .gutenberg = true, .threads = 2};
    CorpusStats s;
    char err[512];
    ck_assert_msg(prepare_corpus(&o, &s, err, sizeof err), "%s", err);
    ck_assert_int_eq(s.files, 5);
    ck_assert_int_eq(s.skipped_empty, 1);
    ck_assert_int_eq(s.documents_val, 1); /* the first 5000 characters are more than 500 tokens */
    ck_assert_int_eq(s.documents_train, 3);

    ShardList list;
    ck_assert_msg(shard_list(out, &list, err, sizeof err), "%s", err);
    ck_assert_int_eq(list.n_train, (int)((s.tokens_train + 999) / 1000));
    Bpe *bpe = bpe_load_gpt2();
    char *val_text = joined(0, 1), *train_text = joined(1, 4);
    assert_shards_hold(bpe, &list.val, 1, val_text);
    assert_shards_hold(bpe, list.train, list.n_train, train_text);
    for (int i = 0; i + 1 < list.n_train; i++) { /* all full but the last */
        Shard sh;
        ck_assert(shard_open(list.train[i], &sh, err, sizeof err));
        ck_assert_int_eq(sh.n, 1000);
        shard_close(&sh);
    }

    /* again: nothing to do; other settings: refused, the shards kept */
    ck_assert(prepare_corpus(&o, &s, err, sizeof err));
    ck_assert_int_eq(s.shards_written, 0);
    ck_assert_int_eq(s.shards_kept, 1 + list.n_train);
    o.shard_tokens = 999;
    ck_assert(!prepare_corpus(&o, &s, err, sizeof err));
    ck_assert_msg(strstr(err, "was prepared from other files or with other settings") != NULL, "%s", err);
    ck_assert(file_exists(list.train[0]));

    /* without --gutenberg, the book's text is the file as read */
    char *plain = path_join(dir, "plain");
    o = (CorpusOptions){.input_dir = in, .out_dir = plain, .shard_tokens = 100000, .val_tokens = 1, .threads = 1};
    ck_assert_msg(prepare_corpus(&o, &s, err, sizeof err), "%s", err);
    ck_assert_int_eq(s.documents_train, 3);
    shard_list_free(&list);
    ck_assert(shard_list(plain, &list, err, sizeof err));
    IntVec ids = shard_tokens(list.train, list.n_train);
    ByteBuf decoded = {0};
    ck_assert(bpe_decode(bpe, ids.data, ids.len, &decoded, NULL));
    bytebuf_append(&decoded, "", 1);
    ck_assert(strstr(decoded.data, "*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n\nHello\n \n\nworld") != NULL);
    bytebuf_free(&decoded);
    intvec_free(&ids);

    shard_list_free(&list);
    bpe_free(bpe);
    free(val_text);
    free(train_text);
    free(plain);
    free(in);
    free(out);
    remove_tree(dir);
    free(dir);
    free(verdict);
}
END_TEST

START_TEST(test_prepare_refuses_bad_input) {
    char *dir = make_temp_dir(), *out = path_join(dir, "out");
    CorpusOptions o = {.input_dir = dir, .out_dir = out, .shard_tokens = 10, .val_tokens = 5, .threads = 1};
    CorpusStats s;
    char err[512];
    ck_assert(!prepare_corpus(&o, &s, err, sizeof err));
    ck_assert_msg(strstr(err, "no text files (*.txt, *.txt.utf8) under ") != NULL, "%s", err);
    write_text(dir, "one.txt", "Just a few words.", 17);
    o.val_tokens = 1000;
    ck_assert(!prepare_corpus(&o, &s, err, sizeof err));
    ck_assert_msg(strstr(err, "fewer than --val-tokens 1000: nothing would be left to train on") != NULL, "%s", err);
    o.val_tokens = 1;
    ck_assert(!prepare_corpus(&o, &s, err, sizeof err));
    ck_assert_msg(strstr(err, "no text is left to train on: lower --val-tokens") != NULL, "%s", err);
    o.input_dir = "/nonexistent/corpus";
    ck_assert(!prepare_corpus(&o, &s, err, sizeof err));
    ck_assert_msg(strstr(err, "cannot read the directory /nonexistent/corpus") != NULL, "%s", err);
    free(out);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- a run killed mid-way ---------------------------------------------------------------- */

static pid_t start_prepare(const char *in, const char *out) {
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        char *program = repo_path("ch05_pretrain/ch05");
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execl(program, program, "prepare-corpus", "--input", in, "--out", out, "--shard-tokens", "500", "--val-tokens",
              "500", "--threads", "1", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* The next shard number corpus.json records, or -1 while there is none. */
static int next_shard_recorded(const char *out) {
    char *path = path_join(out, "corpus.json");
    char *text = file_exists(path) ? read_file(path, NULL) : NULL;
    const char *at = text ? strstr(text, "\"next_shard\":") : NULL;
    int n = at ? atoi(at + strlen("\"next_shard\":")) : -1;
    free(text);
    free(path);
    return n;
}

START_TEST(test_prepare_killed_continues_to_the_same_shards) {
    load_verdict();
    char *dir = make_temp_dir(), *in = path_join(dir, "in"), *whole = path_join(dir, "whole"),
         *killed = path_join(dir, "killed");
    for (int i = 0; i < 12; i++) { /* 12 books: about 100 shards of 500 tokens, each written with its fsyncs */
        char name[32];
        snprintf(name, sizeof name, "book%02d.txt", i);
        write_text(in, name, verdict + 97 * i, verdict_len - 97 * (size_t)i);
    }
    int status;
    pid_t pid = start_prepare(in, whole);
    ck_assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);

    pid = start_prepare(in, killed);
    bool exited = false;
    for (;;) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            break;
        }
        if (next_shard_recorded(killed) >= 4) break;
        nanosleep(&(struct timespec){0, 200000}, NULL);
    }
    ck_assert_msg(!exited, "prepare-corpus finished before it could be killed");
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    int recorded = next_shard_recorded(killed);
    ck_assert_int_ge(recorded, 4);
    ck_assert_int_lt(recorded, 50);

    pid = start_prepare(in, killed);
    ck_assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ShardList a, b;
    char err[256];
    ck_assert(shard_list(whole, &a, err, sizeof err));
    ck_assert(shard_list(killed, &b, err, sizeof err));
    ck_assert_int_eq(a.n_train, b.n_train);
    ck_assert_int_gt(a.n_train, 50);
    for (int i = -1; i < a.n_train; i++) {
        size_t na, nb;
        char *x = read_file(i < 0 ? a.val : a.train[i], &na), *y = read_file(i < 0 ? b.val : b.train[i], &nb);
        ck_assert_msg(na == nb && memcmp(x, y, na) == 0, "shard %d differs after the kill", i);
        free(x);
        free(y);
    }
    /* and nothing else: no temporary file is left in the directory */
    char *command = NULL;
    ck_assert(asprintf(&command, "ls %s | grep -c tmp", killed) > 0);
    char *listing;
    run_command(command, &listing, NULL);
    ck_assert_str_eq(listing, "0\n");
    free(listing);
    free(command);
    shard_list_free(&a);
    shard_list_free(&b);
    free(in);
    free(whole);
    free(killed);
    remove_tree(dir);
    free(dir);
    free(verdict);
}
END_TEST

Suite *corpus_suite(void) {
    Suite *s = suite_create("corpus");
    TCase *format = tcase_create("format");
    add_test(format, test_shard_round_trip);
    suite_add_tcase(s, format);
    TCase *cleaning = tcase_create("cleaning");
    add_test(cleaning, test_collapse_blank_lines_as_python);
    add_test(cleaning, test_gutenberg_strip_headers);
    add_test(cleaning, test_mostly_ascii_counts_characters);
    suite_add_tcase(s, cleaning);
    TCase *prepare = tcase_create("prepare");
    tcase_add_checked_fixture(prepare, require_gpt2_tokenizer, NULL);
    tcase_add_checked_fixture(prepare, require_verdict, NULL);
    add_test(prepare, test_prepare_shards_decode_to_the_joined_documents);
    add_test(prepare, test_prepare_refuses_bad_input);
    add_test(prepare, test_prepare_killed_continues_to_the_same_shards);
    tcase_set_timeout(prepare, 60);
    suite_add_tcase(s, prepare);
    return s;
}
