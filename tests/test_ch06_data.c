/* Tests for chapter 6's data (the book's chapters 6 and 7): ch06_finetune/
 * csv.c, spam_data.c, example_loader.c and instruction_data.c. The counts
 * are the book's; the whole-file checks compare with what Python's csv and
 * json modules make of the same files (tests/fixtures/ch06_data.txt, made by
 * tests/reference/ch06_data_reference.py). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/bpe.h"
#include "../ch05_pretrain/loss.h"
#include "../ch06_finetune/csv.h"
#include "../ch06_finetune/example_loader.h"
#include "../ch06_finetune/instruction_data.h"
#include "../ch06_finetune/spam_data.h"
#include "test_helpers.h"

/* ---- the Python reference values ---------------------------------------------- */

static const char *reference(const char *key) {
    static FixtureLines f;
    if (!f.text) f = fixture_lines("ch06_data.txt");
    size_t n = strlen(key);
    for (int i = 0; i < f.count; i++)
        if (strncmp(f.lines[i], key, n) == 0 && f.lines[i][n] == ' ') return f.lines[i] + n + 1;
    ck_abort_msg("ch06_data.txt has no %s", key);
    return NULL;
}

static uint64_t fnv1a64(const void *data, size_t len, uint64_t h) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001B3ULL;
    return h;
}
#define FNV_START 0xCBF29CE484222325ULL

static char *fnv_hex(uint64_t h) {
    static char buf[17];
    snprintf(buf, sizeof buf, "%016" PRIx64, h);
    return buf;
}

/* ---- csv ------------------------------------------------------------------------ */

static CsvTable parse_ok(const char *text, char delim, int cols) {
    CsvTable t;
    char err[160];
    ck_assert_msg(csv_parse(text, strlen(text), delim, cols, &t, err, sizeof err), "parse failed: %s", err);
    return t;
}

START_TEST(test_csv_quoting_as_pandas) {
    /* a quoted field keeps delimiters and line breaks; "" is one quote; text
     * after the closing quote joins the field; a quote inside a field is
     * ordinary; blank lines make no row; no final line break is fine */
    const char *text = "a\t\"x\ty\nz\"\n"
                       "b\t\"say \"\"hi\"\"\"\n"
                       "\n"
                       "c\t\"Quoted\" then more\n"
                       "d\tit's a \"quote\"\r\n"
                       "e\t\"open\nham\tline two\nham\t\"closed later\"\n"
                       "f\tlast";
    CsvTable t = parse_ok(text, '\t', 2);
    ck_assert_int_eq(t.n_rows, 6);
    ck_assert_str_eq(csv_cell(&t, 0, 1), "x\ty\nz");
    ck_assert_str_eq(csv_cell(&t, 1, 1), "say \"hi\"");
    ck_assert_str_eq(csv_cell(&t, 2, 0), "c");
    ck_assert_str_eq(csv_cell(&t, 2, 1), "Quoted then more");
    ck_assert_str_eq(csv_cell(&t, 3, 1), "it's a \"quote\"");
    /* the SMS file's case: three lines, one record */
    ck_assert_str_eq(csv_cell(&t, 4, 1), "open\nham\tline two\nham\tclosed later\"");
    ck_assert_str_eq(csv_cell(&t, 5, 1), "last");
    ck_assert_int_eq(t.lines[0], 1);
    ck_assert_int_eq(t.lines[2], 5); /* after the blank line 4 */
    ck_assert_int_eq(t.lines[5], 10);
    csv_free(&t);
    t = parse_ok("Label,Text\n1,\"a, b\"\n0,\n", ',', 2);
    ck_assert_int_eq(t.n_rows, 3);
    ck_assert_str_eq(csv_cell(&t, 1, 1), "a, b");
    ck_assert_str_eq(csv_cell(&t, 2, 1), "");
    csv_free(&t);
}
END_TEST

START_TEST(test_csv_errors_name_the_line) {
    CsvTable t;
    char err[160];
    const char *open = "a\tb\nc\t\"never closed\n";
    ck_assert(!csv_parse(open, strlen(open), '\t', 2, &t, err, sizeof err));
    ck_assert_str_eq(err, "line 2: a quoted field is still open at the end of the file");
    const char *three = "a\tb\nc\td\te\n";
    ck_assert(!csv_parse(three, strlen(three), '\t', 2, &t, err, sizeof err));
    ck_assert_str_eq(err, "line 2: 3 fields, expected 2");
    const char *one = "a\n";
    ck_assert(!csv_parse(one, strlen(one), '\t', 2, &t, err, sizeof err));
    ck_assert_str_eq(err, "line 1: 1 field, expected 2");
}
END_TEST

START_TEST(test_csv_writer_quotes_minimally) {
    ByteBuf out = {0};
    const char *fields[] = {"plain text", "a, b", "say \"hi\"", "two\nlines", "cr\r", ""};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        csv_append_field(&out, fields[i], ',');
        bytebuf_append(&out, "|", 1);
    }
    bytebuf_append(&out, "", 1);
    ck_assert_str_eq(out.data, "plain text|\"a, b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\"cr\r\"||");
    bytebuf_free(&out);
}
END_TEST

/* ---- 6.2 the SMS collection -------------------------------------------------------- */

static TextSet read_sms(void) {
    char *path = test_data_file("sms_spam/SMSSpamCollection");
    TextSet s = sms_read_collection(path);
    free(path);
    return s;
}

START_TEST(test_sms_counts_match_book) {
    TextSet all = read_sms();
    /* the book's value_counts(): 4825 ham, 747 spam (5574 lines, 5572 messages) */
    ck_assert_int_eq(all.n, 5572);
    ck_assert_int_eq(textset_count(&all, LABEL_HAM), 4825);
    ck_assert_int_eq(textset_count(&all, LABEL_SPAM), 747);
    ck_assert_int_eq(all.n, atoi(reference("sms.records")));
    ck_assert_int_eq(textset_count(&all, LABEL_HAM), atoi(reference("sms.ham")));
    /* every record's label and text, as Python's csv module reads them */
    uint64_t h = FNV_START;
    for (int i = 0; i < all.n; i++) {
        const char *label = all.items[i].label == LABEL_SPAM ? "spam\t" : "ham\t";
        h = fnv1a64(label, strlen(label), h);
        h = fnv1a64(all.items[i].text, strlen(all.items[i].text), h);
        h = fnv1a64("\n", 1, h);
    }
    ck_assert_str_eq(fnv_hex(h), reference("sms.fnv"));
    textset_free(&all);
}
END_TEST

/* What to_csv writes for every record, byte for byte as csv.writer. */
START_TEST(test_csv_file_matches_python_writer) {
    TextSet all = read_sms();
    char *dir = make_temp_dir(), *path = path_join(dir, "all.csv");
    textset_write_csv(&all, path);
    size_t len;
    char *bytes = read_file(path, &len);
    ck_assert_str_eq(fnv_hex(fnv1a64(bytes, len, FNV_START)), reference("sms.csv_fnv"));
    /* and reading it back gives every text unchanged */
    TextSet back = textset_read_csv(path);
    ck_assert_int_eq(back.n, all.n);
    for (int i = 0; i < all.n; i++) {
        ck_assert_int_eq(back.items[i].label, all.items[i].label);
        ck_assert_str_eq(back.items[i].text, all.items[i].text);
    }
    textset_free(&back);
    free(bytes);
    remove_tree(dir);
    free(path);
    free(dir);
    textset_free(&all);
}
END_TEST

START_TEST(test_balance_and_split_counts) {
    TextSet all = read_sms();
    TextSet balanced = sms_balance(&all, 123);
    ck_assert_int_eq(balanced.n, 1494);
    ck_assert_int_eq(textset_count(&balanced, LABEL_HAM), 747);
    ck_assert_int_eq(textset_count(&balanced, LABEL_SPAM), 747);
    /* ham first (in the order drawn), then every spam message in file order */
    for (int i = 0; i < 747; i++) ck_assert_int_eq(balanced.items[i].label, LABEL_HAM);
    int k = 747;
    for (int i = 0; i < all.n; i++)
        if (all.items[i].label == LABEL_SPAM) ck_assert_str_eq(balanced.items[k++].text, all.items[i].text);
    TextSet train, val, test;
    textset_split(&balanced, 0.7, 0.1, 123, &train, &val, &test);
    ck_assert_int_eq(train.n, 1045);
    ck_assert_int_eq(val.n, 149);
    ck_assert_int_eq(test.n, 300);
    ck_assert_int_eq(textset_count(&train, LABEL_SPAM) + textset_count(&val, LABEL_SPAM) +
                         textset_count(&test, LABEL_SPAM),
                     747);
    /* shuffled: not the balanced order */
    int same = 0;
    for (int i = 0; i < train.n; i++) same += strcmp(train.items[i].text, balanced.items[i].text) == 0;
    ck_assert_int_lt(same, 50);
    /* spam_prepare_splits is these steps: the same seed gives the same
     * splits, another seed others */
    char *path = test_data_file("sms_spam/SMSSpamCollection");
    TextSet again[3], other[3];
    spam_prepare_splits(path, 123, &again[0], &again[1], &again[2]);
    spam_prepare_splits(path, 124, &other[0], &other[1], &other[2]);
    ck_assert_int_eq(again[2].n, 300);
    int differ = 0;
    for (int i = 0; i < test.n; i++) {
        ck_assert_str_eq(again[2].items[i].text, test.items[i].text);
        differ += strcmp(other[2].items[i].text, test.items[i].text) != 0;
    }
    ck_assert_int_gt(differ, 250);
    for (int i = 0; i < 3; i++) {
        textset_free(&again[i]);
        textset_free(&other[i]);
    }
    free(path);
    textset_free(&train);
    textset_free(&val);
    textset_free(&test);
    textset_free(&balanced);
    textset_free(&all);
}
END_TEST

START_TEST(test_csv_round_trip_of_awkward_texts) {
    LabeledText items[] = {{0, "plain"}, {1, "comma, and \"quotes\""}, {0, "two\nlines"}, {1, ""}, {0, "tab\there"}};
    TextSet s = {items, 5};
    char *dir = make_temp_dir(), *path = path_join(dir, "x.csv");
    textset_write_csv(&s, path);
    char *bytes = read_file(path, NULL);
    ck_assert_str_eq(bytes, "Label,Text\n0,plain\n1,\"comma, and \"\"quotes\"\"\"\n0,\"two\nlines\"\n1,\n0,tab\there\n");
    TextSet back = textset_read_csv(path);
    ck_assert_int_eq(back.n, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(back.items[i].label, items[i].label);
        ck_assert_str_eq(back.items[i].text, items[i].text);
    }
    /* no temporary file left behind */
    char command[512], *listing;
    snprintf(command, sizeof command, "ls %s | grep -c tmp", dir);
    run_command(command, &listing, NULL);
    ck_assert_str_eq(listing, "0\n");
    free(listing);
    textset_free(&back);
    free(bytes);
    remove_tree(dir);
    free(path);
    free(dir);
}
END_TEST

/* A directory for the tests that exit (and cannot clean up after themselves). */
static char *tmp_dir;
static void make_tmp_dir(void) { tmp_dir = make_temp_dir(); }
static void remove_tmp_dir(void) {
    remove_tree(tmp_dir);
    free(tmp_dir);
}

static void write_and_read(const char *content) {
    char *path = path_join(tmp_dir, "bad.csv");
    write_file_atomic(path, content, strlen(content));
    textset_read_csv(path); /* exits */
}

/* The parsers behind the file readers return their errors (the readers
 * exit with them, after the file's name). */
START_TEST(test_spam_parsers_return_errors) {
    TextSet s;
    char err[256];
    const char *sms = "ham\tfine\nspam\talso fine\nmaybe\tnot a label\n";
    ck_assert(!sms_parse_collection(sms, strlen(sms), &s, err, sizeof err));
    ck_assert_str_eq(err, "line 3: label 'maybe' is neither ham nor spam");
    ck_assert_int_eq(s.n, 0);
    ck_assert_ptr_null(s.items);
    const char *unclosed = "ham\t\"open\n";
    ck_assert(!sms_parse_collection(unclosed, strlen(unclosed), &s, err, sizeof err));
    ck_assert_str_eq(err, "line 1: a quoted field is still open at the end of the file");
    ck_assert(!textset_parse_csv("0,hello\n", 8, &s, err, sizeof err));
    ck_assert_str_eq(err, "no header 'Label,Text' (write the file with `ch06 prepare-spam`)");
    ck_assert(!textset_parse_csv("", 0, &s, err, sizeof err));
    ck_assert_str_eq(err, "no header 'Label,Text' (write the file with `ch06 prepare-spam`)");
    const char *bad = "Label,Text\n0,fine\nspam,not a number\n";
    ck_assert(!textset_parse_csv(bad, strlen(bad), &s, err, sizeof err));
    ck_assert_str_eq(err, "line 3: label 'spam' is not 0 (not spam) or 1 (spam)");
    ck_assert(sms_parse_collection(sms, 24, &s, err, sizeof err)); /* the first two lines */
    ck_assert_int_eq(s.n, 2);
    ck_assert_int_eq(s.items[1].label, LABEL_SPAM);
    ByteBuf csv = {0};
    textset_format_csv(&s, &csv);
    ck_assert_str_eq(csv.data, "Label,Text\n0,fine\n1,also fine\n");
    bytebuf_free(&csv);
    textset_free(&s);
}
END_TEST

START_TEST(test_csv_without_header_exits) { write_and_read("0,hello\n"); }
END_TEST

START_TEST(test_csv_bad_label_exits) { write_and_read("Label,Text\n0,fine\nspam,not a number\n"); }
END_TEST

/* ---- 6.3 padding, truncation, batches ------------------------------------------------- */

static Bpe *bpe;
static void load_bpe(void) {
    if (have_data_file("gpt2/encoder.json") && have_data_file("gpt2/vocab.bpe")) bpe = bpe_load_gpt2();
}
static void free_bpe(void) {
    if (bpe) bpe_free(bpe);
}

/* The split is the book's (pandas' sample with random_state=123 is NumPy's
 * permutation): its longest training text is the 120 tokens every text of
 * the book's loaders is padded to, and nothing of validation or test is
 * longer. (The first training text is the one NumPy 1.24's permutations
 * put first when the two pandas steps are redone with them in Python.) */
START_TEST(test_split_pads_to_the_books_length) {
    char *path = test_data_file("sms_spam/SMSSpamCollection");
    TextSet sets[3];
    spam_prepare_splits(path, 123, &sets[0], &sets[1], &sets[2]);
    ck_assert_str_eq(sets[0].items[0].text, "Dude how do you like the buff wind.");
    SpamDataset ds[3];
    spam_dataset_init(&ds[0], &sets[0], bpe, 0, 50256);
    ck_assert_int_eq(ds[0].max_length, 120);
    for (int i = 1; i < 3; i++) {
        spam_dataset_init(&ds[i], &sets[i], bpe, ds[0].max_length, 50256);
        ck_assert_int_eq(ds[i].n_truncated, 0);
    }
    for (int i = 0; i < 3; i++) {
        spam_dataset_free(&ds[i]);
        textset_free(&sets[i]);
    }
    free(path);
}
END_TEST

START_TEST(test_dataset_pads_to_longest) {
    LabeledText items[] = {{0, "Hi"}, {1, "Hello, do you like tea?"}, {0, ""}};
    TextSet s = {items, 3};
    SpamDataset ds;
    spam_dataset_init(&ds, &s, bpe, 0, 50256);
    /* "Hello, do you like tea?" is 7 tokens: 15496, 11, 466, 345, 588, 8887, 30 */
    ck_assert_int_eq(ds.max_length, 7);
    ck_assert_int_eq(ds.longest, 7);
    ck_assert_int_eq(ds.n_truncated, 0);
    const int want[3][7] = {{17250, 50256, 50256, 50256, 50256, 50256, 50256},
                            {15496, 11, 466, 345, 588, 8887, 30},
                            {50256, 50256, 50256, 50256, 50256, 50256, 50256}};
    ck_assert_int_eq(memcmp(ds.ids, want, sizeof want), 0);
    ck_assert_int_eq(ds.labels[1], 1);
    int ids[2 * 7], labels[2];
    spam_dataset_batch(&ds, (const int[]){2, 1}, 2, ids, labels);
    ck_assert_int_eq(memcmp(ids, want[2], sizeof want[2]), 0);
    ck_assert_int_eq(memcmp(ids + 7, want[1], sizeof want[1]), 0);
    ck_assert_int_eq(labels[0], 0);
    ck_assert_int_eq(labels[1], 1);
    spam_dataset_free(&ds);
    /* a given length cuts longer texts: encoded_text[:max_length] */
    spam_dataset_init(&ds, &s, bpe, 3, 50256);
    ck_assert_int_eq(ds.max_length, 3);
    ck_assert_int_eq(ds.longest, 7);
    ck_assert_int_eq(ds.n_truncated, 1);
    ck_assert_int_eq(memcmp(ds.ids + 3, want[1], 3 * sizeof(int)), 0);
    ck_assert_int_eq(ds.ids[1], 50256);
    spam_dataset_free(&ds);
}
END_TEST

START_TEST(test_all_empty_texts_exit) {
    LabeledText items[] = {{0, ""}};
    TextSet s = {items, 1};
    SpamDataset ds;
    spam_dataset_init(&ds, &s, bpe, 0, 50256);
}
END_TEST

START_TEST(test_loader_batch_counts_match_book) {
    ExampleLoader l;
    char err[128];
    /* the book's 130 training (drop_last), 19 validation and 38 test batches of 8 */
    ck_assert(example_loader_init(&l, 1045, 8, true, true, 123, err, sizeof err));
    ck_assert_int_eq(l.n_batches, 130);
    example_loader_free(&l);
    ck_assert(example_loader_init(&l, 149, 8, false, false, 0, err, sizeof err));
    ck_assert_int_eq(l.n_batches, 19);
    const int *idx;
    for (int b = 0; b < 18; b++) ck_assert_int_eq(example_loader_next(&l, &idx), 8);
    ck_assert_int_eq(example_loader_next(&l, &idx), 5); /* 149 = 18 x 8 + 5 */
    ck_assert_int_eq(idx[4], 148);
    ck_assert_int_eq(example_loader_next(&l, &idx), 0);
    example_loader_free(&l);
    ck_assert(example_loader_init(&l, 300, 8, false, false, 0, err, sizeof err));
    ck_assert_int_eq(l.n_batches, 38);
    example_loader_free(&l);
    /* the instruction data: 935 / 8 = 116 training batches */
    ck_assert(example_loader_init(&l, 935, 8, true, true, 123, err, sizeof err));
    ck_assert_int_eq(l.n_batches, 116);
    example_loader_free(&l);
    ck_assert(!example_loader_init(&l, 5, 8, true, true, 0, err, sizeof err));
    ck_assert_str_eq(err, "5 examples make no batch of 8");
    ck_assert(!example_loader_init(&l, 5, 0, true, true, 0, err, sizeof err));
}
END_TEST

/* Each epoch is a fresh permutation, with the last partial batch dropped. */
START_TEST(test_loader_shuffles_every_epoch) {
    ExampleLoader l;
    char err[128];
    ck_assert(example_loader_init(&l, 21, 4, true, true, 7, err, sizeof err));
    int first[20], second[20];
    for (int epoch = 0; epoch < 2; epoch++) {
        example_loader_reset(&l);
        int seen[21] = {0}, k = 0, n;
        const int *idx;
        while ((n = example_loader_next(&l, &idx)) > 0) {
            ck_assert_int_eq(n, 4);
            for (int i = 0; i < n; i++) {
                ck_assert(idx[i] >= 0 && idx[i] < 21);
                ck_assert_int_eq(seen[idx[i]]++, 0);
                (epoch ? second : first)[k++] = idx[i];
            }
        }
        ck_assert_int_eq(k, 20);
    }
    ck_assert_int_ne(memcmp(first, second, sizeof first), 0);
    example_loader_free(&l);
}
END_TEST

/* ---- 7.2 the instruction data ---------------------------------------------------------------- */

static InstructionSet read_instructions(void) {
    char *path = test_data_file("instruction-data.json");
    InstructionSet s = instruction_data_read(path);
    free(path);
    return s;
}

START_TEST(test_instruction_split_matches_book) {
    InstructionSet all = read_instructions();
    ck_assert_int_eq(all.n, 1100);
    ck_assert_int_eq(all.n, atoi(reference("instruct.entries")));
    InstructionSet train, test, val;
    instruction_data_split(&all, &train, &test, &val);
    ck_assert_int_eq(train.n, 935);
    ck_assert_int_eq(test.n, 110);
    ck_assert_int_eq(val.n, 55);
    /* in the file's order: train, then test, then validation */
    ck_assert_str_eq(train.items[0].instruction, all.items[0].instruction);
    ck_assert_str_eq(test.items[0].instruction, all.items[935].instruction);
    ck_assert_str_eq(val.items[54].instruction, all.items[1099].instruction);
    ck_assert_str_eq(test.items[0].instruction, "Rewrite the sentence using a simile.");
    instruction_set_free(&train);
    instruction_set_free(&test);
    instruction_set_free(&val);
    instruction_set_free(&all);
}
END_TEST

START_TEST(test_format_input_matches_book) {
    InstructionSet all = read_instructions();
    char *with_input = format_training_text(&all.items[50]);
    ck_assert_str_eq(with_input, "Below is an instruction that describes a task. Write a response that appropriately "
                                 "completes the request.\n\n### Instruction:\nIdentify the correct spelling of the "
                                 "following word.\n\n### Input:\nOcassion\n\n### Response:\nThe correct spelling is "
                                 "'Occasion.'");
    char *prompt = format_input(&all.items[999]);
    ck_assert_str_eq(prompt, "Below is an instruction that describes a task. Write a response that appropriately "
                             "completes the request.\n\n### Instruction:\nWhat is an antonym of 'complicated'?");
    free(with_input);
    free(prompt);
    instruction_set_free(&all);
}
END_TEST

/* The file of 7.7, byte for byte as Python's json.dump(indent=4). */
START_TEST(test_responses_file_matches_python_json) {
    InstructionSet all = read_instructions();
    char **responses = malloc(all.n * sizeof(char *));
    for (int i = 0; i < all.n; i++) responses[i] = all.items[i].output;
    char *dir = make_temp_dir(), *path = path_join(dir, "responses.json");
    instruction_data_write_responses(path, &all, responses);
    size_t len;
    char *bytes = read_file(path, &len);
    ck_assert_str_eq(fnv_hex(fnv1a64(bytes, len, FNV_START)), reference("instruct.fnv"));
    free(bytes);
    /* the escapes json.dumps writes */
    InstructionEntry e = {"tab\there \"q\" \\ \x01 \x7f", "caf\xc3\xa9 \xf0\x9f\x98\x80", "", };
    InstructionSet one = {&e, 1};
    char *r[] = {"bad \xff byte"};
    instruction_data_write_responses(path, &one, r);
    bytes = read_file(path, NULL);
    ck_assert_str_eq(bytes, "[\n    {\n        \"instruction\": \"tab\\there \\\"q\\\" \\\\ \\u0001 \\u007f\",\n"
                            "        \"input\": \"caf\\u00e9 \\ud83d\\ude00\",\n        \"output\": \"\",\n"
                            "        \"model_response\": \"bad \\ufffd byte\"\n    }\n]");
    free(bytes);
    remove_tree(dir);
    free(path);
    free(dir);
    free(responses);
    instruction_set_free(&all);
}
END_TEST

START_TEST(test_instruction_parse_returns_errors) {
    InstructionSet s;
    char err[256];
    struct {
        const char *json, *want;
    } cases[] = {
        {"[\n{\"instruction\": \"a\",\n\"input\" \"b\"}]", "not valid JSON (the error is near line 3)"},
        {"{\"instruction\": \"a\"}", "not a JSON list of entries"},
        {"[{\"instruction\": \"a\", \"input\": \"\", \"output\": \"b\"}, 3]", "entry 1 is not an object"},
        {"[{\"instruction\": \"a\", \"input\": null, \"output\": \"b\"}]", "entry 0 has no string 'input'"},
        {"[{\"instruction\": \"a\", \"input\": \"\"}]", "entry 0 has no string 'output'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert(!instruction_data_parse(cases[i].json, strlen(cases[i].json), &s, err, sizeof err));
        ck_assert_str_eq(err, cases[i].want);
        ck_assert_int_eq(s.n, 0);
        ck_assert_ptr_null(s.items);
    }
}
END_TEST

/* Python's json module keeps the last of a repeated key; cJSON's lookup
 * finds the first, so the loader looks for the last itself. */
START_TEST(test_instruction_repeated_key_last_wins) {
    const char *json = "[{\"instruction\": \"first\", \"input\": \"\", \"output\": \"x\", \"instruction\": \"last\"}]";
    InstructionSet s;
    char err[256];
    ck_assert(instruction_data_parse(json, strlen(json), &s, err, sizeof err));
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.items[0].instruction, "last");
    instruction_set_free(&s);
}
END_TEST

START_TEST(test_instruction_file_errors_exit) {
    char *path = path_join(tmp_dir, "bad.json");
    const char *text = "[{\"instruction\": \"a\", \"input\": \"\", \"output\": \"b\"}, {\"instruction\": \"c\"}]";
    write_file_atomic(path, text, strlen(text));
    instruction_data_read(path); /* exits: entry 1 has no "input" */
}
END_TEST

/* ---- 7.3 collate ------------------------------------------------------------------------------- */

START_TEST(test_collate_toy_batch_matches_book) {
    const int a[] = {0, 1, 2, 3, 4}, b[] = {5, 6}, c[] = {7, 8, 9};
    const int *seqs[3] = {a, b, c};
    const int lengths[3] = {5, 2, 3};
    ck_assert_int_eq(collate_length(lengths, 3, 0), 5);
    ck_assert_int_eq(collate_length(lengths, 3, 1024), 5);
    int inputs[15], targets[15];
    collate_batch(seqs, lengths, 3, 5, 50256, inputs, targets);
    const int want_inputs[15] = {0, 1, 2, 3, 4, 5, 6, 50256, 50256, 50256, 7, 8, 9, 50256, 50256};
    const int want_targets[15] = {1, 2, 3, 4, 50256, 6, 50256, -100, -100, -100, 8, 9, 50256, -100, -100};
    ck_assert_int_eq(memcmp(inputs, want_inputs, sizeof inputs), 0);
    ck_assert_int_eq(memcmp(targets, want_targets, sizeof targets), 0);
    ck_assert_int_eq(CROSS_ENTROPY_IGNORE_INDEX, -100);
    /* allowed_max_length cuts after the masking: the first 3 columns */
    ck_assert_int_eq(collate_length(lengths, 3, 3), 3);
    int in3[9], tg3[9];
    collate_batch(seqs, lengths, 3, 3, 50256, in3, tg3);
    const int want_in3[9] = {0, 1, 2, 5, 6, 50256, 7, 8, 9};
    const int want_tg3[9] = {1, 2, 3, 6, 50256, -100, 8, 9, 50256};
    ck_assert_int_eq(memcmp(in3, want_in3, sizeof in3), 0);
    ck_assert_int_eq(memcmp(tg3, want_tg3, sizeof tg3), 0);
    /* the longest sequence of a batch still gets its end-of-text target */
    const int *one[1] = {a};
    int in1[5], tg1[5];
    collate_batch(one, (const int[]){5}, 1, 5, 50256, in1, tg1);
    ck_assert_int_eq(tg1[4], 50256);
}
END_TEST

/* ---- the exercises' prompt style and masking ------------------------------------------------ */

/* In [2] of ch07's exercise solutions: the Phi-3 prompts of an entry with an
 * input and of one without; the training text adds "\n<|assistant|>:\n"
 * and the output (the notebook's InstructionDatasetPhi). */
START_TEST(test_phi3_format_matches_notebook) {
    InstructionEntry spelling = {"Identify the correct spelling of the following word.", "Ocassion",
                                 "The correct spelling is 'Occasion.'"};
    InstructionEntry antonym = {"What is an antonym of 'complicated'?", "", "An antonym of 'complicated' is 'simple'."};
    char *a = format_input_as(&spelling, PROMPT_PHI3), *b = format_input_as(&antonym, PROMPT_PHI3);
    ck_assert_str_eq(a, "<|user|>\nIdentify the correct spelling of the following word.\nOcassion");
    ck_assert_str_eq(b, "<|user|>\nWhat is an antonym of 'complicated'?");
    char *text = format_training_text_as(&antonym, PROMPT_PHI3);
    ck_assert_str_eq(text, "<|user|>\nWhat is an antonym of 'complicated'?\n<|assistant|>:\n"
                           "An antonym of 'complicated' is 'simple'.");
    ck_assert_str_eq(prompt_response_tag(PROMPT_PHI3), "<|assistant|>:");
    /* the Alpaca style is format_input's, unchanged */
    char *alpaca = format_input_as(&antonym, PROMPT_ALPACA), *plain = format_input(&antonym);
    ck_assert_str_eq(alpaca, plain);
    PromptStyle style;
    ck_assert(prompt_style_parse("phi3", &style) && style == PROMPT_PHI3);
    ck_assert(prompt_style_parse("alpaca", &style) && style == PROMPT_ALPACA);
    ck_assert(!prompt_style_parse("Phi-3", &style));
    free(a);
    free(b);
    free(text);
    free(alpaca);
    free(plain);
}
END_TEST

/* The notebook's tip: GPT-2's tokenizer splits <|user|> into 27, 91, 7220,
 * 91, 29; the dataset's prompt lengths count the Phi-3 prompt's tokens. */
START_TEST(test_phi3_tokens_match_notebook) {
    IntVec ids = {0};
    bpe_encode(bpe, "<|user|>", 8, false, &ids);
    const int want[5] = {27, 91, 7220, 91, 29};
    ck_assert_int_eq((int)ids.len, 5);
    ck_assert_int_eq(memcmp(ids.data, want, sizeof want), 0);
    intvec_free(&ids);
    InstructionEntry e = {"Name a color.", "", "Blue."};
    InstructionSet one = {&e, 1};
    InstructionDataset ds;
    instruction_dataset_init_as(&ds, &one, bpe, PROMPT_PHI3);
    char *text = format_training_text_as(&e, PROMPT_PHI3);
    bpe_encode(bpe, text, strlen(text), false, &ids);
    ck_assert_int_eq((int)ds.encoded[0].len, (int)ids.len);
    ck_assert_int_eq(memcmp(ds.encoded[0].data, ids.data, ids.len * sizeof(int)), 0);
    ck_assert_int_eq(ds.prompt_lengths[0], 5 + 5); /* <|user|> \n Name a color . */
    intvec_free(&ids);
    free(text);
    instruction_dataset_free(&ds);
}
END_TEST

/* Exercise 7.2, In [8]-[13]: the three sample entries collated with the
 * prompts masked; the second row's inputs and targets are the notebook's
 * printed tensors, and masking changes exactly the targets of the first
 * prompt_length - 1 positions (the unmasked collate's otherwise). */
START_TEST(test_masked_batch_matches_notebook) {
    InstructionEntry entries[3] = {
        {"What is an antonym of 'complicated'?", "", "An antonym of 'complicated' is 'simple'."},
        {"Sort the following list in alphabetical order.", "Zebra, Elephant, Crocodile", "Crocodile, Elephant, Zebra"},
        {"Arrange the given numbers in descending order.", "5, 12, 8, 3, 15", "15, 12, 8, 5, 3."}};
    InstructionSet sample = {entries, 3};
    InstructionDataset ds;
    instruction_dataset_init(&ds, &sample, bpe);
    const int *seqs[3];
    int lengths[3];
    for (int i = 0; i < 3; i++) seqs[i] = ds.encoded[i].data, lengths[i] = (int)ds.encoded[i].len;
    const int T = collate_length(lengths, 3, 0);
    ck_assert_int_eq(T, 64); /* torch.Size([3, 64]) */
    int inputs[3 * 64], targets[3 * 64], unmasked[3 * 64];
    collate_batch(seqs, lengths, 3, T, 50256, inputs, unmasked);
    memcpy(targets, unmasked, sizeof targets);
    collate_mask_prompts(targets, 3, T, ds.prompt_lengths);
    const int want_inputs[64] = {
        21106, 318,   281,   12064, 326,   8477,  257,   4876,  13,    19430, 257,   2882,  326,
        20431, 32543, 262,   2581,  13,    198,   198,   21017, 46486, 25,    198,   42758, 262,
        1708,  1351,  287,   24830, 605,   1502,  13,    198,   198,   21017, 23412, 25,    198,
        57,    37052, 11,    42651, 11,    9325,  19815, 576,   198,   198,   21017, 18261, 25,
        198,   34,    12204, 375,   576,   11,    42651, 11,    1168,  37052, 50256, 50256};
    int want_targets[64];
    for (int j = 0; j < 46; j++) want_targets[j] = -100;
    const int response[18] = {198, 198, 21017, 18261, 25, 198, 34, 12204, 375, 576, 11, 42651, 11, 1168, 37052, 50256,
                              -100, -100};
    memcpy(want_targets + 46, response, sizeof response);
    ck_assert_int_eq(memcmp(inputs + 64, want_inputs, sizeof want_inputs), 0);
    ck_assert_int_eq(memcmp(targets + 64, want_targets, sizeof want_targets), 0);
    ck_assert_int_eq(ds.prompt_lengths[1], 47);
    for (int b = 0; b < 3; b++)
        for (int j = 0; j < T; j++) {
            int want = j < ds.prompt_lengths[b] - 1 ? -100 : unmasked[b * T + j];
            ck_assert_msg(targets[b * T + j] == want, "row %d, position %d: %d, not %d", b, j, targets[b * T + j], want);
        }
    /* In [13]: what the loss still sees */
    int kept[64], n = 0;
    for (int j = 0; j < T; j++)
        if (targets[64 + j] != -100) kept[n++] = targets[64 + j];
    ByteBuf text = {0};
    ck_assert(bpe_decode(bpe, kept, (size_t)n, &text, NULL));
    bytebuf_append(&text, "", 1);
    ck_assert_str_eq(text.data, "\n\n### Response:\nCrocodile, Elephant, Zebra<|endoftext|>");
    bytebuf_free(&text);
    /* masking is cut with the batch: a prompt longer than T masks all of it */
    int short_targets[3 * 10];
    collate_batch(seqs, lengths, 3, 10, 50256, inputs, short_targets);
    collate_mask_prompts(short_targets, 3, 10, ds.prompt_lengths);
    for (int i = 0; i < 30; i++) ck_assert_int_eq(short_targets[i], -100);
    instruction_dataset_free(&ds);
}
END_TEST

/* Exercise 7.3: the split of Alpaca's 52,002 entries the notebook prints,
 * and the book's 1,100. */
START_TEST(test_split_sizes_match_notebook) {
    int train, test, val;
    instruction_split_sizes(52002, &train, &test, &val);
    ck_assert_int_eq(train, 44201);
    ck_assert_int_eq(val, 2601);
    ck_assert_int_eq(test, 5200);
    instruction_split_sizes(1100, &train, &test, &val);
    ck_assert_int_eq(train, 935);
    ck_assert_int_eq(val, 55);
    ck_assert_int_eq(test, 110);
}
END_TEST

Suite *ch06_data_suite(void) {
    Suite *s = suite_create("ch06_data");
    TCase *csv = tcase_create("csv");
    tcase_add_unchecked_fixture(csv, make_tmp_dir, remove_tmp_dir);
    add_test(csv, test_csv_quoting_as_pandas);
    add_test(csv, test_csv_errors_name_the_line);
    add_test(csv, test_csv_writer_quotes_minimally);
    add_test(csv, test_csv_round_trip_of_awkward_texts);
    add_test(csv, test_spam_parsers_return_errors);
    add_exit_test(csv, test_csv_without_header_exits, 1);
    add_exit_test(csv, test_csv_bad_label_exits, 1);
    suite_add_tcase(s, csv);
    TCase *spam = tcase_create("spam");
    tcase_set_timeout(spam, 60);
    add_test(spam, test_sms_counts_match_book);
    add_test(spam, test_csv_file_matches_python_writer);
    add_test(spam, test_balance_and_split_counts);
    suite_add_tcase(s, spam);
    TCase *dataset = tcase_create("dataset");
    tcase_add_unchecked_fixture(dataset, load_bpe, free_bpe);
    tcase_add_checked_fixture(dataset, require_gpt2_tokenizer, NULL);
    add_test(dataset, test_dataset_pads_to_longest);
    add_test(dataset, test_split_pads_to_the_books_length);
    add_exit_test(dataset, test_all_empty_texts_exit, 1);
    add_test(dataset, test_loader_batch_counts_match_book);
    add_test(dataset, test_loader_shuffles_every_epoch);
    suite_add_tcase(s, dataset);
    TCase *instruct = tcase_create("instructions");
    tcase_set_timeout(instruct, 60);
    tcase_add_unchecked_fixture(instruct, make_tmp_dir, remove_tmp_dir);
    add_test(instruct, test_instruction_split_matches_book);
    add_test(instruct, test_format_input_matches_book);
    add_test(instruct, test_responses_file_matches_python_json);
    add_test(instruct, test_instruction_parse_returns_errors);
    add_test(instruct, test_instruction_repeated_key_last_wins);
    add_exit_test(instruct, test_instruction_file_errors_exit, 1);
    add_test(instruct, test_collate_toy_batch_matches_book);
    add_test(instruct, test_phi3_format_matches_notebook);
    add_test(instruct, test_split_sizes_match_notebook);
    suite_add_tcase(s, instruct);
    TCase *exercises = tcase_create("exercises");
    tcase_add_unchecked_fixture(exercises, load_bpe, free_bpe);
    tcase_add_checked_fixture(exercises, require_gpt2_tokenizer, NULL);
    add_test(exercises, test_phi3_tokens_match_notebook);
    add_test(exercises, test_masked_batch_matches_notebook);
    suite_add_tcase(s, exercises);
    return s;
}
