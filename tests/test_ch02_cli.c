/* Tests for the ch02 program: its output, its exit status, and a one-line
 * reason on stderr for every kind of bad input. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "test_helpers.h"

/* Run "<root>/ch02_text/ch02 <args>" through the shell. */
static int ch02(char **out, char **err, const char *fmt, ...) {
    char args[2048], command[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(command, sizeof command, "%s/ch02_text/ch02 %s", repo_root(), args);
    return run_command(command, out, err);
}

/* The same with `input` on its standard input. */
static int ch02_input(char **out, char **err, const char *input, const char *args) {
    char command[4096];
    snprintf(command, sizeof command, "printf '%s' | %s/ch02_text/ch02 %s", input, repo_root(), args);
    return run_command(command, out, err);
}

/* stderr is one line, "ch02: " and a reason that contains needle. */
static void assert_one_line_error(const char *err, const char *needle) {
    ck_assert_msg(strstr(err, needle) != NULL, "stderr lacks \"%s\": %s", needle, err);
    ck_assert_msg(strncmp(err, "ch02: ", 6) == 0, "stderr does not start with the program name: %s", err);
    const char *newline = strchr(err, '\n');
    ck_assert_msg(newline != NULL && newline[1] == '\0', "stderr is not one line: %s", err);
}

START_TEST(test_help_everywhere) {
    const char *commands[] = {"", "walkthrough ", "tokenize ", "decode ", "batches ", "train-bpe "};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char *out;
        ck_assert_int_eq(ch02(&out, NULL, "%s--help", commands[i]), 0);
        ck_assert_msg(strstr(out, "usage: ch02") != NULL, "no usage for '%s--help'", commands[i]);
        free(out);
    }
}
END_TEST

START_TEST(test_tokenize_and_decode) {
    char *out;
    ck_assert_int_eq(ch02(&out, NULL, "tokenize --text 'Hello, world'"), 0);
    ck_assert_str_eq(out, "15496\n11\n995\n");
    free(out);
    ck_assert_int_eq(ch02(&out, NULL, "tokenize --allow-special --text '<|endoftext|>'"), 0);
    ck_assert_str_eq(out, "50256\n");
    free(out);
    ck_assert_int_eq(ch02(&out, NULL, "tokenize --tokenizer simple --text 'Hello, do you like tea?'"), 0);
    ck_assert_str_eq(out, "1131\n5\n355\n1126\n628\n975\n10\n");
    free(out);
    ck_assert_int_eq(ch02(&out, NULL, "decode < /dev/null"), 0);
    ck_assert_str_eq(out, "");
    free(out);
    ck_assert_int_eq(ch02_input(&out, NULL, "15496 11 995\\n", "decode"), 0);
    ck_assert_str_eq(out, "Hello, world");
    free(out);
}
END_TEST

START_TEST(test_file_round_trip_is_exact) {
    char *dir = make_temp_dir();
    char *path = path_join(dir, "text.txt"), *ids_path = path_join(dir, "ids.txt");
    const char text[] = "\xEF\xBB\xBF" "caf\xC3\xA9 \xF0\x9F\x98\x80\r\n\ttabs  and   spaces\xE3\x80\x80\xE6\x97\xA5\xE6\x9C\xAC <|endoftext|>";
    write_file_atomic(path, text, sizeof text - 1);
    char *out;
    char command[1024];
    snprintf(command, sizeof command, "tokenize --file %s > %s && %s/ch02_text/ch02 decode --file %s", path, ids_path,
             repo_root(), ids_path);
    ck_assert_int_eq(ch02(&out, NULL, "%s", command), 0);
    ck_assert_str_eq(out, text);
    free(out);
    remove_tree(dir);
    free(path);
    free(ids_path);
    free(dir);
}
END_TEST

START_TEST(test_invalid_utf8_becomes_replacement_character) {
    char *out;
    /* a lone 0xFF byte becomes U+FFFD, which tiktoken encodes "a\uFFFD" as 64 4210 */
    ck_assert_int_eq(ch02(&out, NULL, "tokenize --text \"$(printf 'a\\377')\""), 0);
    ck_assert_str_eq(out, "64\n4210\n");
    free(out);
}
END_TEST

START_TEST(test_bad_input_gets_one_line_and_nonzero_status) {
    char *err;
    ck_assert_int_eq(ch02_input(NULL, &err, "1 abc", "decode"), 1);
    assert_one_line_error(err, "'abc' is not a token id");
    free(err);
    ck_assert_int_eq(ch02_input(NULL, &err, "99999", "decode"), 1);
    assert_one_line_error(err, "token id 99999 is outside the vocabulary (0..50256)");
    free(err);
    ck_assert_int_eq(ch02(NULL, &err, "frobnicate"), 1);
    assert_one_line_error(err, "unknown command 'frobnicate'");
    free(err);
    /* getopt's line, then where to look */
    ck_assert_int_eq(ch02(NULL, &err, "tokenize --no-such-flag"), 2);
    ck_assert_str_eq(err, "tokenize: unrecognized option '--no-such-flag'\nch02: try 'ch02 tokenize --help'\n");
    free(err);
    ck_assert_int_eq(ch02(NULL, &err, "tokenize"), 1);
    assert_one_line_error(err, "exactly one of --file FILE and --text TEXT");
    free(err);
    ck_assert_int_eq(ch02(NULL, &err, "tokenize --file /nonexistent/x.txt"), 1);
    assert_one_line_error(err, "/nonexistent/x.txt: No such file or directory");
    free(err);
    ck_assert_int_eq(ch02(NULL, &err, "tokenize --tokenizer /nonexistent --text hi"), 1);
    assert_one_line_error(err, "expected gpt2, simple, or a directory");
    free(err);
    ck_assert_int_eq(ch02(NULL, &err, "batches --stride -1"), 1);
    assert_one_line_error(err, "--stride: '-1' is not a whole number");
    free(err);
    ck_assert_int_eq(ch02(NULL, &err, "batches --max-length 6000"), 1);
    assert_one_line_error(err, "max_length 6000 needs a text of more than 6000 tokens (it has 5145)");
    free(err);
    ck_assert_int_eq(ch02(NULL, &err, "train-bpe --vocab-size 10 --out /tmp/x"), 1);
    assert_one_line_error(err, "--vocab-size: '10' is not a whole number in 257..");
    free(err);
    ck_assert_int_eq(ch02(NULL, &err, "walkthrough extra"), 1);
    assert_one_line_error(err, "unexpected argument 'extra'");
    free(err);
}
END_TEST

START_TEST(test_missing_data_says_make_data) {
    char *err;
    char command[1024];
    snprintf(command, sizeof command, "env DATA_DIR=/nonexistent %s/ch02_text/ch02 walkthrough", repo_root());
    ck_assert_int_eq(run_command(command, NULL, &err), 1);
    assert_one_line_error(err, "missing data file /nonexistent/the-verdict.txt (run `make data`");
    free(err);
}
END_TEST

START_TEST(test_malformed_tokenizer_dir_names_the_file) {
    char *dir = make_temp_dir();
    char *enc = path_join(dir, "encoder.json"), *merges = path_join(dir, "vocab.bpe");
    write_file_atomic(enc, "{\n\"a\": 0,\n\"b\": oops}", 21);
    write_file_atomic(merges, "#version: 0.2\n", 14);
    char *err;
    ck_assert_int_eq(ch02(NULL, &err, "tokenize --tokenizer %s --text hi", dir), 1);
    assert_one_line_error(err, "encoder.json: malformed JSON near line 3");
    free(err);
    remove_tree(dir);
    free(enc);
    free(merges);
    free(dir);
}
END_TEST

START_TEST(test_batches_counts) {
    char *out;
    ck_assert_int_eq(ch02(&out, NULL, "batches --batch-size 1 --max-length 4 --stride 1 --limit 1"), 0);
    ck_assert_str_eq(out, "tokens 5145 samples 5141 batches 5141\nbatch 1\ninputs:\ntensor([[  40,  367, 2885, 1464]])\n"
                          "targets:\ntensor([[ 367, 2885, 1464, 1807]])\n");
    free(out);
    ck_assert_int_eq(ch02(&out, NULL, "batches --batch-size 8 --max-length 256 --stride 128 --limit 1 --shuffle --drop-last"), 0);
    const char *header = "tokens 5145 samples 39 batches 4\n";
    ck_assert(strncmp(out, header, strlen(header)) == 0);
    free(out);
}
END_TEST

START_TEST(test_train_bpe_then_use_it) {
    char *dir = make_temp_dir();
    char *out_dir = path_join(dir, "bpe");
    char *out, *err;
    ck_assert_int_eq(ch02(&out, &err, "train-bpe --vocab-size 1000 --out %s", out_dir), 0);
    ck_assert_str_eq(out, "merges 743 vocabulary 1000\n");
    free(out);
    free(err);
    ck_assert_int_eq(ch02(&out, NULL, "tokenize --tokenizer %s --text 'Jack embraced beauty through art and life.' "
                                      "| %s/ch02_text/ch02 decode --tokenizer %s",
                          out_dir, repo_root(), out_dir),
                     0);
    ck_assert_str_eq(out, "Jack embraced beauty through art and life.");
    free(out);
    remove_tree(dir);
    free(out_dir);
    free(dir);
}
END_TEST

START_TEST(test_walkthrough_prints_the_chapter) {
    char *out;
    ck_assert_int_eq(ch02(&out, NULL, "walkthrough"), 0);
    const char *expected[] = {"Total number of character: 20479", "\n4690\n", "\n1130\n", "\n1132\n",
                              "[1, 56, 2, 850, 988, 602, 533, 746, 5, 1126, 596, 5, 1, 67, 7, 38, 851, 1108, 754, 793, 7]",
                              "[33901, 86, 343, 86, 220, 959]", "\n5145\n", "x: [290, 4920, 2241, 287]",
                              "input embeddings: torch.Size([8, 4, 256])"};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        ck_assert_msg(strstr(out, expected[i]) != NULL, "walkthrough lacks %s", expected[i]);
    free(out);
}
END_TEST

Suite *ch02_cli_suite(void) {
    Suite *s = suite_create("ch02_cli");
    TCase *tc = tcase_create("program");
    tcase_add_checked_fixture(tc, require_verdict, NULL);
    tcase_add_checked_fixture(tc, require_gpt2_tokenizer, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_help_everywhere);
    tcase_add_test(tc, test_tokenize_and_decode);
    tcase_add_test(tc, test_file_round_trip_is_exact);
    tcase_add_test(tc, test_invalid_utf8_becomes_replacement_character);
    tcase_add_test(tc, test_bad_input_gets_one_line_and_nonzero_status);
    tcase_add_test(tc, test_missing_data_says_make_data);
    tcase_add_test(tc, test_malformed_tokenizer_dir_names_the_file);
    tcase_add_test(tc, test_batches_counts);
    tcase_add_test(tc, test_train_bpe_then_use_it);
    tcase_add_test(tc, test_walkthrough_prints_the_chapter);
    suite_add_tcase(s, tc);
    return s;
}
