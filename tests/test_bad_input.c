/* Tests for bad input to the programs: one test per row of the README's
 * "Bad input" table. Each row runs a command on a file the fixture made
 * broken on purpose and checks three things: the program exits with status
 * 1 (2 for a command-line mistake), its stderr names the problem (the
 * table's message), and it left nothing half-written behind (no temporary
 * `*.tmp.*` or `*.part` file, no output of a run that failed). A last test
 * checks that the README's table shows every row's message, so the table
 * and the programs cannot drift apart. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ch04_gpt/gpt.h"
#include "../ch05_pretrain/gpt_weights.h"
#include "../ch06_finetune/classifier.h"
#include "test_helpers.h"

/* In a row's command, $D is the fixture's directory, $R the checkout, $B
 * the build folder (build/ or build-san/, where make puts the classroom
 * programs), and $DATA the data directory; a tiny model keeps training rows to a second. */
typedef struct {
    const char *what;    /* the README table's first column */
    const char *command; /* run with sh */
    int status;          /* expected exit status */
    const char *message; /* expected in stderr, and shown in the README */
} BadInput;

#define TINY_MODEL "--emb-dim 16 --n-layers 1 --n-heads 2 --context 16 --batch-size 2"
#define TINY TINY_MODEL " --no-samples"

static const BadInput ROWS[] = {
    /* text */
    {"text file missing", "$R/ch02_text/ch02 tokenize --file $D/none.txt", 1, "none.txt: No such file or directory"},
    {"text file empty (training)", "$R/ch05_pretrain/ch05 train --data $D/empty.txt " TINY " --out $D/out", 1,
     "training data: max_length 16 needs a text of more than 16 tokens (it has 0)"},
    {"text too short for one training window", "$R/ch05_pretrain/ch05 train --data $D/short.txt " TINY " --out $D/out",
     1, "training data: max_length 16 needs a text of more than 16 tokens (it has 2)"},
    {"token id out of range", "echo 50257 | $R/ch02_text/ch02 decode", 1, "token id 50257 is outside the vocabulary (0..50256)"},
    {"token id not a number", "echo 12x | $R/ch02_text/ch02 decode", 1, "'12x' is not a token id"},
    /* the tokenizer's files */
    {"encoder.json missing", "DATA_DIR=$D/no-data $R/ch02_text/ch02 tokenize --text hi", 1,
     "missing data file $D/no-data/gpt2/encoder.json (run `make data`"},
    {"encoder.json truncated", "DATA_DIR=$D/cut-encoder $R/ch02_text/ch02 tokenize --text hi", 1,
     "encoder.json: malformed JSON"},
    {"vocab.bpe corrupt line", "DATA_DIR=$D/bad-merges $R/ch02_text/ch02 tokenize --text hi", 1,
     "vocab.bpe:2: expected two tokens separated by one space"},
    /* checkpoints (safetensors) */
    {"checkpoint missing", "$R/ch05_pretrain/ch05 generate --model $D/none.safetensors --prompt hi", 1,
     "none.safetensors: No such file or directory"},
    {"checkpoint empty", "$R/ch05_pretrain/ch05 generate --model $D/empty.safetensors --prompt hi", 1,
     "empty.safetensors: not a safetensors file"},
    {"checkpoint truncated", "$R/ch05_pretrain/ch05 generate --model $D/cut.safetensors --prompt hi", 1,
     "but the data section has only"},
    {"checkpoint corrupt (random bytes)", "$R/ch05_pretrain/ch05 generate --model $D/noise.safetensors --prompt hi", 1,
     "is implausible"},
    {"checkpoint header not JSON", "$R/ch05_pretrain/ch05 generate --model $D/not-json.safetensors --prompt hi", 1,
     "not-json.safetensors: the header is not valid JSON"},
    {"config.json disagrees with the tensors' shapes", "$R/ch05_pretrain/ch05 generate --model $D/wrong-shape --prompt hi", 1,
     "'n_embd' is 4, but $D/wrong-shape/model.safetensors holds tensor 'wte.weight' of shape [21, 2]"},
    {"tensor of the wrong dtype", "$R/ch05_pretrain/ch05 generate --model $D/wrong-dtype --prompt hi", 1,
     "has dtype I32; only F32, F16 and BF16 can be read as floats"},
    {"resuming from a truncated checkpoint",
     "$R/ch05_pretrain/ch05 train --data $D/small.txt " TINY " --resume $D/cut.safetensors --out $D/out", 1,
     "but the data section has only"},
    /* OpenAI's TensorFlow checkpoints */
    {"TF checkpoint: data shard missing", "$R/ch05_pretrain/ch05 generate --model $D/openai --prompt hi", 1,
     "model.ckpt.data-00000-of-00001: missing data shard 0 of 1"},
    {"TF checkpoint: index corrupt", "$R/ch05_pretrain/ch05 generate --model $D/openai-bad-index --prompt hi", 1,
     "the data block at offset 0 is corrupt (crc32c"},
    {"hparams.json asks for a huge model", "$R/ch05_pretrain/ch05 generate --model $D/openai-huge --prompt hi", 1,
     "hparams.json: 'n_embd' is 900000000, over the limit of 65536"},
    /* chapter 6's data */
    {"spam CSV with a bad label",
     "$R/ch06_finetune/ch06 train-classifier --model random " TINY_MODEL " --data-dir $D/bad-csv --out $D/out", 1,
     "train.csv: line 3: label 'spam' is not 0 (not spam) or 1 (spam)"},
    {"instruction JSON not a list",
     "$R/ch06_finetune/ch06 train-instruct --model random " TINY " --data $D/not-a-list.json --out $D/out", 1,
     "not-a-list.json: not a JSON list of entries"},
    {"classifier checkpoint reading an unknown token", "$R/ch06_finetune/ch06 classify --model $D/bad-token.safetensors --text hi",
     1, "bad-token.safetensors: metadata 'classifier.token' is 'tail', not 'last' or 'first'"},
    {"instruction checkpoint of an unknown prompt style",
     "$R/ch06_finetune/ch06 instruct --model $D/bad-style.safetensors --instruction hi", 1,
     "bad-style.safetensors: metadata 'instruction.prompt_style' is 'chatml', not 'alpaca' or 'phi3'"},
    /* the command line */
    {"unknown flag", "$R/ch05_pretrain/ch05 train --bogus", 2, "unrecognized option '--bogus'"},
    {"number out of range", "$R/ch05_pretrain/ch05 train --epochs 0", 1, "--epochs: '0' is not a whole number in 1.."},
    {"not a number", "$R/ch05_pretrain/ch05 train --lr abc", 1, "--lr: 'abc' is not a number"},
    {"no such exercise", "$R/ch05_pretrain/ch05 exercise 5.9", 1, "exercise: no exercise '5.9' in chapter 5 (there are 5.1 to 5.6)"},
    {"an exercise's flag given to another", "$R/ch05_pretrain/ch05 exercise 5.6 --model $D/tiny", 1,
     "exercise 5.6 takes no --model (5.2, 5.3 and 5.5 do)"},
    {"exercise model's vocabulary smaller than the tokenizer's", "$R/ch05_pretrain/ch05 exercise 5.3 --model $D/tiny", 1,
     "the tokenizer has 50257 tokens but the model only 21"},
    {"exercise model missing", "$R/ch05_pretrain/ch05 exercise 5.3 --model $D/none.safetensors", 1, "none.safetensors"},
    {"context longer than the model's",
     "$R/ch05_pretrain/ch05 loss --model $D/tiny --text-file $D/small.txt --context 5000", 1,
     "is longer than the model's context"},
    /* output */
    {"output directory cannot be made", "$R/ch05_pretrain/ch05 train --data $D/small.txt " TINY " --out $D/a-file/out",
     1, "a-file/out: cannot create directory: Not a directory"},
    /* a larger corpus: its preparation, and training from its shards */
    {"corpus directory missing", "$R/ch05_pretrain/ch05 prepare-corpus --input $D/none --out $D/out", 1,
     "cannot read the directory $D/none: No such file or directory"},
    {"corpus flags missing", "$R/ch05_pretrain/ch05 prepare-corpus --out $D/out", 1,
     "prepare-corpus: --input and --out are required"},
    {"training from shards without a length", "$R/ch05_pretrain/ch05 train --data $D " TINY " --out $D/out", 1,
     "a run from shards needs --max-steps N"},
    {"training from a directory that holds no shards",
     "$R/ch05_pretrain/ch05 train --data $D " TINY " --max-steps 2 --out $D/out", 1,
     "has 0 validation shards (*_val*.bin), not one: is it a prepared corpus?"},
    /* teaching: student editions and the autograder */
    {"edition of an unknown chapter", "$B/assignment --chapters ch09 --out $D/edition", 1,
     "unknown chapter \"ch09\": ch02 ch03 ch04 ch05 ch06 appE, all or none"},
    {"edition into a folder that holds other files", "$B/assignment --chapters ch03 --out $D", 1,
     "is not empty and holds no edition: give a new or empty directory"},
    {"grading an exercise that does not exist", "$B/grade --exercise 9z --out $D/report", 1,
     "no exercise 9z in tests/classroom/exercises.points"},
    /* training */
    {"loss becomes NaN or infinite",
     "$R/ch05_pretrain/ch05 train --data $D/small.txt " TINY " --epochs 3 --lr 10 --weight-decay 10 --out $D/out", 1,
     "train: loss is nan at epoch 1 step 5 (learning rate too high?)"},
};
enum { N_ROWS = sizeof ROWS / sizeof ROWS[0] };

static char *dir;

static void put(const char *name, const void *bytes, size_t n) {
    char *path = path_join(dir, name);
    char *parent = xstrdup(path);
    *strrchr(parent, '/') = '\0';
    make_dirs(parent);
    write_file_atomic(path, bytes, n);
    free(parent);
    free(path);
}

static void put_text(const char *name, const char *text) { put(name, text, strlen(text)); }

/* A copy of a data file, cut to keep bytes (0: whole). */
static void put_data_copy(const char *name, const char *data_relative, size_t keep) {
    char *src = path_join(data_dir(), data_relative);
    size_t n;
    char *bytes = read_file(src, &n);
    put(name, bytes, keep && keep < n ? keep : n);
    free(bytes);
    free(src);
}

static void make_inputs(void) {
    dir = make_temp_dir();
    put_text("empty.txt", "");
    put_text("short.txt", "Too short.");
    put_text("a-file", "a file, not a directory");
    put_text("empty.safetensors", "");
    static const char noise[] = "\xd3\x9a\x11\xf0\x7e\x42\x9c\xd3 and then some noise";
    static const char not_json[] = "\x10\0\0\0\0\0\0\0{not json at all";
    put("noise.safetensors", noise, sizeof noise - 1);
    put("not-json.safetensors", not_json, sizeof not_json - 1);
    put_text("not-a-list.json", "{\"instruction\": \"one object, not a list\"}");
    put_text("bad-csv/train.csv", "Label,Text\n0,fine\nspam,not a number\n");
    put_text("bad-csv/validation.csv", "Label,Text\n0,fine\n");
    put_text("bad-csv/test.csv", "Label,Text\n0,fine\n");
    if (!have_data_file("the-verdict.txt") || !have_data_file("gpt2/encoder.json") ||
        !have_data_file("safetensors/tiny_gpt2/model.safetensors") ||
        !have_data_file("tf_checkpoint/gpt2_124M_index_only/model.ckpt.index"))
        return; /* require_inputs fails each test, naming the file */
    put_data_copy("small.txt", "the-verdict.txt", 3000);
    put_data_copy("cut-encoder/gpt2/encoder.json", "gpt2/encoder.json", 1000);
    put_data_copy("cut-encoder/gpt2/vocab.bpe", "gpt2/vocab.bpe", 0);
    put_data_copy("bad-merges/gpt2/encoder.json", "gpt2/encoder.json", 0);
    put_text("bad-merges/gpt2/vocab.bpe", "#version: 0.2\nnospace\n");
    put_data_copy("cut.safetensors", "safetensors/tiny_gpt2/model.safetensors", 3000);
    put_data_copy("tiny/model.safetensors", "safetensors/tiny_gpt2/model.safetensors", 0);
    put_data_copy("tiny/config.json", "safetensors/tiny_gpt2/config.json", 0);
    /* the tiny model's config with another width: every tensor is the wrong shape */
    char *config_path = path_join(data_dir(), "safetensors/tiny_gpt2/config.json");
    char *config = read_file(config_path, NULL);
    char *n_embd = strstr(config, "\"n_embd\": 2");
    if (n_embd) n_embd[strlen("\"n_embd\": ")] = '4';
    put_text("wrong-shape/config.json", config);
    put_data_copy("wrong-shape/model.safetensors", "safetensors/tiny_gpt2/model.safetensors", 0);
    free(config);
    free(config_path);
    /* the tiny model with its first tensor's dtype F32 renamed I32 (same size) */
    char *st_path = path_join(data_dir(), "safetensors/tiny_gpt2/model.safetensors");
    size_t st_len;
    char *st = read_file(st_path, &st_len);
    char *dtype = strstr(st + 8, "\"F32\"");
    if (dtype) dtype[1] = 'I';
    put("wrong-dtype/model.safetensors", st, st_len);
    put_data_copy("wrong-dtype/config.json", "safetensors/tiny_gpt2/config.json", 0);
    free(st);
    free(st_path);
    /* OpenAI's layout: the real 124M index without its 475 MB data shard,
     * the same index with a flipped byte, and a huge hparams.json */
    put_data_copy("openai/model.ckpt.index", "tf_checkpoint/gpt2_124M_index_only/model.ckpt.index", 0);
    put_text("openai/hparams.json",
             "{\"n_vocab\": 50257, \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 12}");
    char *index_path = path_join(data_dir(), "tf_checkpoint/gpt2_124M_index_only/model.ckpt.index");
    size_t index_len;
    char *index = read_file(index_path, &index_len);
    index[100] ^= 0x20;
    put("openai-bad-index/model.ckpt.index", index, index_len);
    index[100] ^= 0x20;
    put_text("openai-bad-index/hparams.json",
             "{\"n_vocab\": 50257, \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 12}");
    put("openai-huge/model.ckpt.index", index, index_len);
    put_text("openai-huge/hparams.json",
             "{\"n_vocab\": 50257, \"n_ctx\": 1024, \"n_embd\": 900000000, \"n_head\": 12, \"n_layer\": 12}");
    free(index);
    free(index_path);
    /* chapter 6's checkpoints with metadata they cannot have: a classifier
     * whose token (written "last") reads "tail", an instruction model whose
     * prompt style is "chatml" */
    GPTConfig cfg = {.vocab_size = 50257, .context_length = 8, .emb_dim = 8, .n_heads = 2, .n_layers = 1};
    Classifier *c = classifier_create(gpt_create(&cfg), 2, 1, 1);
    char *token_path = path_join(dir, "bad-token.safetensors");
    classifier_save(c, token_path, 8);
    classifier_free(c);
    size_t token_len;
    char *bytes = read_file(token_path, &token_len);
    char *token = strstr(bytes + 8, "\"classifier.token\":\"last\"");
    if (token) memcpy(token + strlen("\"classifier.token\":\""), "tail", 4);
    write_file_atomic(token_path, bytes, token_len);
    free(bytes);
    free(token_path);
    GPTModel *m = gpt_create(&cfg);
    const char *keys[] = {"task", "instruction.prompt_style"}, *values[] = {"instruction", "chatml"};
    CheckpointExtras extras = {.n_meta = 2, .meta_keys = keys, .meta_values = values};
    char *style_path = path_join(dir, "bad-style.safetensors");
    gpt_save_checkpoint(m, style_path, &extras);
    gpt_free(m);
    free(style_path);
}

static void remove_inputs(void) {
    remove_tree(dir);
    free(dir);
}

static void require_inputs(void) {
    require_verdict();
    require_gpt2_tokenizer();
    require_safetensors_samples();
    require_tf_samples();
}

/* s with every $D replaced by the fixture's directory (malloc'd). */
static char *with_dir(const char *s) {
    ByteBuf b = {0};
    for (const char *p = s; *p; p++) {
        if (p[0] == '$' && p[1] == 'D') {
            bytebuf_append(&b, dir, strlen(dir));
            p++;
        } else {
            bytebuf_append(&b, p, 1);
        }
    }
    bytebuf_append(&b, "", 1);
    return b.data;
}

/* Files a failed command must not leave: temporaries and the out directory's outputs. */
static void assert_nothing_half_written(const char *what) {
    char command[1024], *found;
    snprintf(command, sizeof command,
             "find %s \\( -name '*.tmp.*' -o -name '*.part' -o -path '*/out/checkpoint.safetensors' \\) -print", dir);
    ck_assert_int_eq(run_command(command, &found, NULL), 0);
    ck_assert_msg(found[0] == '\0', "%s: left behind: %s", what, found);
    free(found);
}

START_TEST(test_bad_input_row) {
    const BadInput *row = &ROWS[_i];
    char *command = with_dir(row->command), *message = with_dir(row->message);
    char full[16384], exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(full, sizeof full, "D='%s'; R='%s'; B='%s'; DATA='%s'; %s", dir, repo_root(), exe, data_dir(), command);
    char *err;
    int status = run_command(full, NULL, &err);
    ck_assert_msg(status == row->status, "%s: exit status %d, expected %d; stderr: %s", row->what, status, row->status,
                  err);
    ck_assert_msg(strstr(err, message) != NULL, "%s: expected '%s' in stderr, got: %s", row->what, message, err);
    ck_assert_msg(!strstr(err, "AddressSanitizer") && !strstr(err, "runtime error:"), "%s: %s", row->what, err);
    assert_nothing_half_written(row->what);
    char *out_dir = path_join(dir, "out");
    remove_tree(out_dir);
    free(out_dir);
    free(err);
    free(message);
    free(command);
}
END_TEST

/* The README's table shows each row with its message, so the table stays true. */
START_TEST(test_readme_lists_every_row) {
    char *readme_path = repo_path("README.md");
    char *readme = read_file(readme_path, NULL);
    for (int i = 0; i < N_ROWS; i++) {
        char *message = xstrdup(ROWS[i].message);
        char *d = strstr(message, "$D/"); /* the table shows paths without the temporary directory */
        if (d) memmove(d, d + 3, strlen(d + 3) + 1);
        ck_assert_msg(strstr(readme, ROWS[i].what) != NULL, "README's bad-input table has no row '%s'", ROWS[i].what);
        ck_assert_msg(strstr(readme, message) != NULL, "README's row '%s' does not show '%s'", ROWS[i].what, message);
        free(message);
    }
    free(readme);
    free(readme_path);
}
END_TEST

Suite *bad_input_suite(void) {
    Suite *s = suite_create("bad_input");
    TCase *tc = tcase_create("rows");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, make_inputs, remove_inputs);
    tcase_add_checked_fixture(tc, require_inputs, NULL);
    add_loop_test(tc, test_bad_input_row, 0, N_ROWS);
    suite_add_tcase(s, tc);
    TCase *readme = tcase_create("readme");
    add_test(readme, test_readme_lists_every_row);
    suite_add_tcase(s, readme);
    return s;
}
