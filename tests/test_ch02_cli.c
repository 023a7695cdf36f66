/* Tests for the ch02 program: its output, its exit status, and a one-line
 * reason on stderr for every kind of bad input. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "test_helpers.h"

/* Run "<root>/ch02_text/ch02 <args>" through the shell. */
static const char CH02[] = "ch02_text/ch02";

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
    const char *commands[] = {"", "walkthrough ", "exercise ", "tokenize ", "decode ", "batches ", "train-bpe "};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char *out;
        ck_assert_int_eq(run_program(&out, NULL, CH02, "%s--help", commands[i]), 0);
        ck_assert_msg(strstr(out, "usage: ch02") != NULL, "no usage for '%s--help'", commands[i]);
        free(out);
    }
}
END_TEST

START_TEST(test_tokenize_and_decode) {
    char *out;
    ck_assert_int_eq(run_program(&out, NULL, CH02, "tokenize --text 'Hello, world'"), 0);
    ck_assert_str_eq(out, "15496\n11\n995\n");
    free(out);
    ck_assert_int_eq(run_program(&out, NULL, CH02, "tokenize --allow-special --text '<|endoftext|>'"), 0);
    ck_assert_str_eq(out, "50256\n");
    free(out);
    ck_assert_int_eq(run_program(&out, NULL, CH02, "tokenize --tokenizer simple --text 'Hello, do you like tea?'"), 0);
    ck_assert_str_eq(out, "1131\n5\n355\n1126\n628\n975\n10\n");
    free(out);
    ck_assert_int_eq(run_program(&out, NULL, CH02, "decode < /dev/null"), 0);
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
    ck_assert_int_eq(run_program(&out, NULL, CH02, "%s", command), 0);
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
    ck_assert_int_eq(run_program(&out, NULL, CH02, "tokenize --text \"$(printf 'a\\377')\""), 0);
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
    ck_assert_int_eq(run_program(NULL, &err, CH02, "frobnicate"), 1);
    assert_one_line_error(err, "unknown command 'frobnicate'");
    free(err);
    /* getopt's line, then where to look */
    ck_assert_int_eq(run_program(NULL, &err, CH02, "tokenize --no-such-flag"), 2);
    ck_assert_str_eq(err, "tokenize: unrecognized option '--no-such-flag'\nch02: try 'ch02 tokenize --help'\n");
    free(err);
    ck_assert_int_eq(run_program(NULL, &err, CH02, "tokenize"), 1);
    assert_one_line_error(err, "exactly one of --file FILE and --text TEXT");
    free(err);
    ck_assert_int_eq(run_program(NULL, &err, CH02, "tokenize --file /nonexistent/x.txt"), 1);
    assert_one_line_error(err, "/nonexistent/x.txt: No such file or directory");
    free(err);
    ck_assert_int_eq(run_program(NULL, &err, CH02, "tokenize --tokenizer /nonexistent --text hi"), 1);
    assert_one_line_error(err, "expected gpt2, simple, or a directory");
    free(err);
    ck_assert_int_eq(run_program(NULL, &err, CH02, "batches --stride -1"), 1);
    assert_one_line_error(err, "--stride: '-1' is not a whole number");
    free(err);
    ck_assert_int_eq(run_program(NULL, &err, CH02, "batches --max-length 6000"), 1);
    assert_one_line_error(err, "max_length 6000 needs a text of more than 6000 tokens (it has 5145)");
    free(err);
    ck_assert_int_eq(run_program(NULL, &err, CH02, "train-bpe --vocab-size 10 --out /tmp/x"), 1);
    assert_one_line_error(err, "--vocab-size: '10' is not a whole number in 257..");
    free(err);
    ck_assert_int_eq(run_program(NULL, &err, CH02, "walkthrough extra"), 1);
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
    ck_assert_int_eq(run_program(NULL, &err, CH02, "tokenize --tokenizer %s --text hi", dir), 1);
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
    ck_assert_int_eq(run_program(&out, NULL, CH02, "batches --batch-size 1 --max-length 4 --stride 1 --limit 1"), 0);
    ck_assert_str_eq(out, "tokens 5145 samples 5141 batches 5141\nbatch 1\ninputs:\ntensor([[  40,  367, 2885, 1464]])\n"
                          "targets:\ntensor([[ 367, 2885, 1464, 1807]])\n");
    free(out);
    ck_assert_int_eq(run_program(&out, NULL, CH02, "batches --batch-size 8 --max-length 256 --stride 128 --limit 1 --shuffle --drop-last"), 0);
    const char *header = "tokens 5145 samples 39 batches 4\n";
    ck_assert(strncmp(out, header, strlen(header)) == 0);
    free(out);
}
END_TEST

START_TEST(test_train_bpe_then_use_it) {
    char *dir = make_temp_dir();
    char *out_dir = path_join(dir, "bpe");
    char *out, *err;
    ck_assert_int_eq(run_program(&out, &err, CH02, "train-bpe --vocab-size 1000 --out %s", out_dir), 0);
    ck_assert_str_eq(out, "merges 743 vocabulary 1000\n");
    free(out);
    free(err);
    ck_assert_int_eq(run_program(&out, NULL, CH02, "tokenize --tokenizer %s --text 'Jack embraced beauty through art and life.' "
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

/* ---- the walkthrough and the exercises, against the notebooks ------------------- */

typedef struct {
    int cell;
    const char *output;
} CellOutput;

static void assert_cells(const char *out, const char *notebook, const CellOutput *cells, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char *got = cell_output(out, cells[i].cell);
        ck_assert_msg(strcmp(got, cells[i].output) == 0, "%s In [%d]: got\n%s\nwant\n%s", notebook, cells[i].cell, got,
                      cells[i].output);
        free(got);
    }
}

/* Every value ch02.ipynb prints that does not depend on PyTorch's random
 * generator, byte for byte: the outputs of its cells In [N], copied from
 * the notebook (rasbt/LLMs-from-scratch, ch02/01_main-chapter-code). In
 * [28] and [29] are the notebook's current text, "terracesof"; In [1],
 * [26] and [35] print library versions, and In [44] to [46] PyTorch's
 * random weights (the next test). */
static const CellOutput CH02_NOTEBOOK[] = {
    {3, "Total number of character: 20479\n"
        "I HAD always thought Jack Gisburn rather a cheap genius--though a good fellow enough--so it was no \n"},
    {4, "['Hello,', ' ', 'world.', ' ', 'This,', ' ', 'is', ' ', 'a', ' ', 'test.']\n"},
    {5, "['Hello', ',', '', ' ', 'world', '.', '', ' ', 'This', ',', '', ' ', 'is', ' ', 'a', ' ', 'test', '.', '']\n"},
    {6, "['Hello', ',', 'world', '.', 'This', ',', 'is', 'a', 'test', '.']\n"},
    {7, "['Hello', ',', 'world', '.', 'Is', 'this', '--', 'a', 'test', '?']\n"},
    {8, "['I', 'HAD', 'always', 'thought', 'Jack', 'Gisburn', 'rather', 'a', 'cheap', 'genius', '--', 'though', "
        "'a', 'good', 'fellow', 'enough', '--', 'so', 'it', 'was', 'no', 'great', 'surprise', 'to', 'me', 'to', "
        "'hear', 'that', ',', 'in']\n"},
    {9, "4690\n"},
    {10, "1130\n"},
    {12, "('!', 0)\n('\"', 1)\n(\"'\", 2)\n('(', 3)\n(')', 4)\n(',', 5)\n('--', 6)\n('.', 7)\n(':', 8)\n"
         "(';', 9)\n('?', 10)\n('A', 11)\n('Ah', 12)\n('Among', 13)\n('And', 14)\n('Are', 15)\n('Arrt', 16)\n"
         "('As', 17)\n('At', 18)\n('Be', 19)\n('Begin', 20)\n('Burlington', 21)\n('But', 22)\n('By', 23)\n"
         "('Carlo', 24)\n('Chicago', 25)\n('Claude', 26)\n('Come', 27)\n('Croft', 28)\n('Destroyed', 29)\n"
         "('Devonshire', 30)\n('Don', 31)\n('Dubarry', 32)\n('Emperors', 33)\n('Florence', 34)\n('For', 35)\n"
         "('Gallery', 36)\n('Gideon', 37)\n('Gisburn', 38)\n('Gisburns', 39)\n('Grafton', 40)\n('Greek', 41)\n"
         "('Grindle', 42)\n('Grindles', 43)\n('HAD', 44)\n('Had', 45)\n('Hang', 46)\n('Has', 47)\n('He', 48)\n"
         "('Her', 49)\n('Hermia', 50)\n"},
    {14, "[1, 56, 2, 850, 988, 602, 533, 746, 5, 1126, 596, 5, 1, 67, 7, 38, 851, 1108, 754, 793, 7]\n"},
    {15, "'\" It\\' s the last he painted, you know,\" Mrs. Gisburn said with pardonable pride.'\n"},
    {16, "'\" It\\' s the last he painted, you know,\" Mrs. Gisburn said with pardonable pride.'\n"},
    {17, "KeyError: 'Hello'\n"},
    {19, "1132\n"},
    {20, "('younger', 1127)\n('your', 1128)\n('yourself', 1129)\n('<|endoftext|>', 1130)\n('<|unk|>', 1131)\n"},
    {22, "Hello, do you like tea? <|endoftext|> In the sunlit terraces of the palace.\n"},
    {23, "[1131, 5, 355, 1126, 628, 975, 10, 1130, 55, 988, 956, 984, 722, 988, 1131, 7]\n"},
    {24, "'<|unk|>, do you like tea? <|endoftext|> In the sunlit terraces of the <|unk|>.'\n"},
    {28, "[15496, 11, 466, 345, 588, 8887, 30, 220, 50256, 554, 262, 4252, 18250, 8812, 2114, 1659, 617, 34680, 27271, 13]\n"},
    {29, "Hello, do you like tea? <|endoftext|> In the sunlit terracesof someunknownPlace.\n"},
    {30, "5145\n"},
    {32, "x: [290, 4920, 2241, 287]\ny:      [4920, 2241, 287, 257]\n"},
    {33, "[290] ----> 4920\n[290, 4920] ----> 2241\n[290, 4920, 2241] ----> 287\n"
         "[290, 4920, 2241, 287] ----> 257\n"},
    {34, " and ---->  established\n and established ---->  himself\n and established himself ---->  in\n"
         " and established himself in ---->  a\n"},
    {39, "[tensor([[  40,  367, 2885, 1464]]), tensor([[ 367, 2885, 1464, 1807]])]\n"},
    {40, "[tensor([[ 367, 2885, 1464, 1807]]), tensor([[2885, 1464, 1807, 3619]])]\n"},
    {41, "Inputs:\n tensor([[   40,   367,  2885,  1464],\n        [ 1807,  3619,   402,   271],\n"
         "        [10899,  2138,   257,  7026],\n        [15632,   438,  2016,   257],\n"
         "        [  922,  5891,  1576,   438],\n        [  568,   340,   373,   645],\n"
         "        [ 1049,  5975,   284,   502],\n        [  284,  3285,   326,    11]])\n\nTargets:\n"
         " tensor([[  367,  2885,  1464,  1807],\n        [ 3619,   402,   271, 10899],\n"
         "        [ 2138,   257,  7026, 15632],\n        [  438,  2016,   257,   922],\n"
         "        [ 5891,  1576,   438,   568],\n        [  340,   373,   645,  1049],\n"
         "        [ 5975,   284,   502,   284],\n        [ 3285,   326,    11,   287]])\n"},
    {49, "Token IDs:\n tensor([[   40,   367,  2885,  1464],\n        [ 1807,  3619,   402,   271],\n"
         "        [10899,  2138,   257,  7026],\n        [15632,   438,  2016,   257],\n"
         "        [  922,  5891,  1576,   438],\n        [  568,   340,   373,   645],\n"
         "        [ 1049,  5975,   284,   502],\n        [  284,  3285,   326,    11]])\n\nInputs shape:\n"
         " torch.Size([8, 4])\n"},
    {50, "torch.Size([8, 4, 256])\n"},
    {52, "torch.Size([4, 256])\n"},
    {53, "torch.Size([8, 4, 256])\n"},
};

START_TEST(test_walkthrough_prints_the_notebooks_values) {
    char *out;
    ck_assert_int_eq(run_program(&out, NULL, CH02, "walkthrough"), 0);
    assert_cells(out, "ch02.ipynb", CH02_NOTEBOOK, sizeof CH02_NOTEBOOK / sizeof CH02_NOTEBOOK[0]);
    free(out);
}
END_TEST

/* The sections in the notebook's order, each cell under its own section. */
START_TEST(test_walkthrough_follows_the_notebook) {
    char *out;
    ck_assert_int_eq(run_program(&out, NULL, CH02, "walkthrough"), 0);
    const struct {
        const char *banner;
        int first_cell;
    } sections[] = {{"== 2.1 Understanding word embeddings ==", 0},  {"== 2.2 Tokenizing text ==", 3},
                    {"== 2.3 Converting tokens into token IDs ==", 10}, {"== 2.4 Adding special context tokens ==", 17},
                    {"== 2.5 BytePair encoding ==", 28},             {"== 2.6 Data sampling with a sliding window ==", 30},
                    {"== 2.7 Creating token embeddings ==", 44},      {"== 2.8 Encoding word positions ==", 49}};
    const char *previous = out;
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        const char *at = strstr(out, sections[i].banner);
        ck_assert_msg(at != NULL && at > previous, "'%s' missing or out of order", sections[i].banner);
        if (sections[i].first_cell) {
            char marker[32];
            snprintf(marker, sizeof marker, "\nIn [%d]: ", sections[i].first_cell);
            const char *cell = strstr(out, marker);
            ck_assert_msg(cell != NULL && cell > at, "In [%d] is not in %s", sections[i].first_cell,
                          sections[i].banner);
        }
        previous = at;
    }
    free(out);
}
END_TEST

/* The numbers of a printed tensor, in order (at most max). */
static int tensor_values(const char *text, float *values, int max) {
    const char *p = strstr(text, "tensor(");
    ck_assert(p != NULL);
    int n = 0;
    for (p += strlen("tensor("); *p && *p != ')';) {
        char *end;
        float v = strtof(p, &end);
        if (end == p) {
            p++;
            continue;
        }
        ck_assert_int_lt(n, max);
        values[n++] = v;
        p = end;
    }
    return n;
}

/* 2.7's weights are our generator's (ch02.ipynb In [44] prints PyTorch's),
 * which the walkthrough says once; what holds whatever the weights is
 * that an embedding is a lookup: In [45] is row 3 of In [44], and In [46]
 * rows 2, 3, 5, 1 (the book's input_ids). */
START_TEST(test_walkthrough_embeddings_are_row_lookups) {
    char *out;
    ck_assert_int_eq(run_program(&out, NULL, CH02, "walkthrough"), 0);
    float weight[18], one[3], four[12];
    char *block = cell_output(out, 44);
    ck_assert_int_eq(tensor_values(block, weight, 18), 18);
    free(block);
    block = cell_output(out, 45);
    ck_assert_int_eq(tensor_values(block, one, 3), 3);
    free(block);
    block = cell_output(out, 46);
    ck_assert_int_eq(tensor_values(block, four, 12), 12);
    free(block);
    for (int c = 0; c < 3; c++) ck_assert_float_eq(one[c], weight[3 * 3 + c]);
    const int ids[4] = {2, 3, 5, 1};
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++) ck_assert_float_eq(four[r * 3 + c], weight[ids[r] * 3 + c]);
    /* said once, where the first random number appears */
    const char *said = "numbers are not the book's", *note = strstr(out, said);
    ck_assert(note != NULL && note > strstr(out, "In [44]: "));
    ck_assert_ptr_null(strstr(note + strlen(said), said));
    free(out);
}
END_TEST

/* Every value the chapter's exercise-solutions.ipynb prints (all of it
 * deterministic, but for In [1]'s library versions), copied from it:
 * Exercise 2.1 is In [3] to [11], Exercise 2.2 In [13] and [14]. */
static const CellOutput CH02_EXERCISES[] = {
    {3, "[33901, 86, 343, 86, 220, 959]\n"},
    {4, "33901 -> Ak\n86 -> w\n343 -> ir\n86 -> w\n220 ->  \n959 -> ier\n"},
    {5, "[33901]\n"},
    {6, "[86]\n"},
    {7, "[343]\n"},
    {8, "[86]\n"},
    {9, "[220]\n"},
    {10, "[959]\n"},
    {11, "'Akwirw ier'\n"},
    {13, "tensor([[  40,  367],\n        [2885, 1464],\n        [1807, 3619],\n        [ 402,  271]])\n"},
    {14, "tensor([[   40,   367,  2885,  1464,  1807,  3619,   402,   271],\n"
         "        [ 2885,  1464,  1807,  3619,   402,   271, 10899,  2138],\n"
         "        [ 1807,  3619,   402,   271, 10899,  2138,   257,  7026],\n"
         "        [  402,   271, 10899,  2138,   257,  7026, 15632,   438]])\n"},
};

START_TEST(test_exercises_print_the_solutions_values) {
    char *out;
    ck_assert_int_eq(run_program(&out, NULL, CH02, "exercise"), 0);
    assert_cells(out, "exercise-solutions.ipynb", CH02_EXERCISES, sizeof CH02_EXERCISES / sizeof CH02_EXERCISES[0]);
    const char *first = strstr(out, "== Exercise 2.1 "), *second = strstr(out, "== Exercise 2.2 ");
    ck_assert(first != NULL && second > first);
    free(out);
    /* one exercise alone: its question and solution, not the other's */
    ck_assert_int_eq(run_program(&out, NULL, CH02, "exercise 2.2"), 0);
    ck_assert_ptr_null(strstr(out, "Exercise 2.1"));
    ck_assert(strstr(out, "== Exercise 2.2 Data loaders with different strides and context sizes ==\n# ") == out + 1);
    assert_cells(out, "exercise-solutions.ipynb", CH02_EXERCISES + 9, 2);
    free(out);
    ck_assert_int_eq(run_program(&out, NULL, CH02, "exercise 2.1"), 0);
    ck_assert_ptr_null(strstr(out, "Exercise 2.2"));
    assert_cells(out, "exercise-solutions.ipynb", CH02_EXERCISES, 9);
    free(out);
    char *err;
    ck_assert_int_eq(run_program(NULL, &err, CH02, "exercise 2.3"), 1);
    assert_one_line_error(err, "no exercise '2.3' in chapter 2 (there are 2.1 and 2.2)");
    free(err);
    ck_assert_int_eq(run_program(NULL, &err, CH02, "exercise 2.1 2.2"), 1);
    assert_one_line_error(err, "unexpected argument '2.2'");
    free(err);
}
END_TEST

Suite *ch02_cli_suite(void) {
    Suite *s = suite_create("ch02_cli");
    TCase *tc = tcase_create("program");
    tcase_add_checked_fixture(tc, require_verdict, NULL);
    tcase_add_checked_fixture(tc, require_gpt2_tokenizer, NULL);
    tcase_set_timeout(tc, 120);
    add_test(tc, test_help_everywhere);
    add_test(tc, test_tokenize_and_decode);
    add_test(tc, test_file_round_trip_is_exact);
    add_test(tc, test_invalid_utf8_becomes_replacement_character);
    add_test(tc, test_bad_input_gets_one_line_and_nonzero_status);
    add_test(tc, test_missing_data_says_make_data);
    add_test(tc, test_malformed_tokenizer_dir_names_the_file);
    add_test(tc, test_batches_counts);
    add_test(tc, test_train_bpe_then_use_it);
    add_test(tc, test_walkthrough_prints_the_notebooks_values);
    add_test(tc, test_walkthrough_follows_the_notebook);
    add_test(tc, test_walkthrough_embeddings_are_row_lookups);
    add_test(tc, test_exercises_print_the_solutions_values);
    suite_add_tcase(s, tc);
    return s;
}
