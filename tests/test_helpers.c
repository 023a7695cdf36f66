/* test_helpers.c: see test_helpers.h. */
#include "test_helpers.h"
#include "../ch05_pretrain/corpus.h"

#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Whether RUN_ONLY_TESTS, if set, names this test. */
static bool test_selected(const TTest *test) {
    const char *only = getenv("RUN_ONLY_TESTS");
    if (!only || !*only) return true;
    size_t len = strlen(test->name);
    for (const char *p = only; *p;) {
        p += strspn(p, " ,");
        size_t word = strcspn(p, " ,");
        if (word == len && strncmp(p, test->name, len) == 0) return true;
        p += word;
    }
    return false;
}

void add_test(TCase *tc, const TTest *test) {
    if (test_selected(test)) tcase_add_test(tc, test);
}

void add_exit_test(TCase *tc, const TTest *test, int expected_exit_status) {
    if (test_selected(test)) tcase_add_exit_test(tc, test, expected_exit_status);
}

void add_loop_test(TCase *tc, const TTest *test, int start, int end) {
    if (test_selected(test)) tcase_add_loop_test(tc, test, start, end);
}

const char *repo_root(void) { return checkout_root(); /* the runner is build/run_tests */ }

char *repo_path(const char *relative) { return path_join(repo_root(), relative); }

char *fixture_path(const char *name) {
    char *dir = repo_path("tests/fixtures");
    char *path = path_join(dir, name);
    free(dir);
    return path;
}

/* ---- data from `make data` ---- */

bool have_data_file(const char *relative) {
    char *path = path_join(data_dir(), relative);
    bool there = file_exists(path);
    free(path);
    return there;
}

char *test_data_file(const char *relative) {
    char *path = path_join(data_dir(), relative);
    ck_assert_msg(file_exists(path), "missing data file %s: run `make data` (or set DATA_DIR)", path);
    return path;
}

static void require_files(const char *const *relative, int n) {
    for (int i = 0; i < n; i++) free(test_data_file(relative[i]));
}

void require_verdict(void) { require_files((const char *const[]){"the-verdict.txt"}, 1); }
void require_gpt2_tokenizer(void) { require_files((const char *const[]){"gpt2/encoder.json", "gpt2/vocab.bpe"}, 2); }
void require_sms(void) { require_files((const char *const[]){"sms_spam/SMSSpamCollection"}, 1); }
void require_instructions(void) { require_files((const char *const[]){"instruction-data.json"}, 1); }
void require_safetensors_samples(void) {
    const char *files[] = {"safetensors/tiny_gpt2/model.safetensors", "safetensors/tiny_gpt2/config.json",
                           "safetensors/fake_gpt2/model.safetensors", "safetensors/fake_gpt2/config.json"};
    require_files(files, 4);
}
void require_tf_samples(void) {
    const char *files[] = {"tf_checkpoint/tf1_tiny/save_net.ckpt.index",
                           "tf_checkpoint/tf1_tiny/save_net.ckpt.data-00000-of-00001",
                           "tf_checkpoint/tf1_adam_mlp/model.ckpt.index",
                           "tf_checkpoint/tf1_adam_mlp/model.ckpt.data-00000-of-00001",
                           "tf_checkpoint/tf2_keras/1.ckpt.index",
                           "tf_checkpoint/tf2_keras/1.ckpt.data-00000-of-00001",
                           "tf_checkpoint/gpt2_124M_index_only/model.ckpt.index",
                           "tf_checkpoint/snappy_index_only/minigo.index"};
    require_files(files, 8);
}

char *make_temp_dir(void) {
    char *dir = xstrdup("/tmp/llm-test-XXXXXX");
    if (!mkdtemp(dir)) fatal("cannot create a temporary directory");
    return dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void remove_tree(const char *dir) { nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool hex_decode(const char *hex, size_t hex_len, char **bytes, size_t *n) {
    if (hex_len % 2) return false;
    *bytes = xmalloc(hex_len / 2 + 1);
    for (size_t i = 0; i < hex_len / 2; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(*bytes);
            return false;
        }
        (*bytes)[i] = (char)(hi * 16 + lo);
    }
    (*bytes)[hex_len / 2] = '\0';
    *n = hex_len / 2;
    return true;
}

FixtureLines fixture_lines(const char *name) {
    FixtureLines f = {0};
    char *path = fixture_path(name);
    f.text = read_file(path, NULL);
    free(path);
    int cap = 0;
    for (char *line = strtok(f.text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || line[0] == '\0') continue;
        if (f.count == cap) f.lines = xrealloc(f.lines, (cap = cap ? 2 * cap : 256) * sizeof(char *));
        f.lines[f.count++] = line;
    }
    return f;
}

void fixture_lines_free(FixtureLines *f) {
    free(f->text);
    free(f->lines);
    *f = (FixtureLines){0};
}

int run_command(const char *command, char **out, char **err) {
    char err_path[] = "/tmp/llm-test-stderr-XXXXXX";
    int fd = mkstemp(err_path);
    if (fd < 0) fatal("cannot create a temporary file");
    close(fd);
    size_t n = strlen(command) + strlen(err_path) + 16;
    char *full = xmalloc(n);
    snprintf(full, n, "%s 2>%s", command, err_path);
    FILE *p = popen(full, "r");
    if (!p) fatal("cannot run %s", command);
    ByteBuf captured = {0};
    bytebuf_append(&captured, "", 0);
    char buf[4096];
    for (size_t got; (got = fread(buf, 1, sizeof buf, p)) > 0;) bytebuf_append(&captured, buf, got);
    int status = pclose(p);
    free(full);
    if (out) *out = captured.data;
    else bytebuf_free(&captured);
    char *err_text = read_file(err_path, NULL);
    remove(err_path);
    if (err) *err = err_text;
    else free(err_text);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int run_program(char **out, char **err, const char *program, const char *fmt, ...) {
    char args[4096], command[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof args) fatal("run_program: arguments too long for %s", program);
    snprintf(command, sizeof command, "%s/%s %s", repo_root(), program, args);
    return run_command(command, out, err);
}

const char *find_text(const char *text, const char *needle) {
    const char *at = strstr(text, needle);
    ck_assert_msg(at != NULL, "the output lacks '%s' in: %.80s", needle, text);
    return at;
}

/* The start of the next line after p, or the end of the text. */
static const char *next_line(const char *p) {
    const char *newline = strchr(p, '\n');
    return newline ? newline + 1 : p + strlen(p);
}

/* The lines after marker's line up to the next marker or banner, and
 * with_remarks false: without the "# " remarks, and ending at one. */
static char *cell_lines(const char *text, const char *marker, bool with_remarks) {
    const char *at = strstr(text, marker);
    while (at && at != text && at[-1] != '\n') at = strstr(at + 1, marker); /* only at a line's start */
    ck_assert_msg(at != NULL, "the output has no cell %s", marker);
    const char *start = next_line(at);
    while (!with_remarks && strncmp(start, "# ", 2) == 0) start = next_line(start);
    const char *end = start;
    while (*end && strncmp(end, "In [", 4) != 0 && strncmp(end, "\n== ", 4) != 0 &&
           (with_remarks || strncmp(end, "# ", 2) != 0))
        end = next_line(end);
    return strndup(start, (size_t)(end - start));
}

char *cell_after_marker(const char *text, const char *marker) { return cell_lines(text, marker, false); }

char *cell_output(const char *text, int number) {
    char marker[32];
    snprintf(marker, sizeof marker, "In [%d]: ", number);
    return cell_lines(text, marker, false);
}

char *cell_text(const char *text, int number) {
    char marker[32];
    snprintf(marker, sizeof marker, "In [%d]: ", number);
    return cell_lines(text, marker, true);
}

void assert_all_close(const char *what, const float *got, const float *want, size_t n, float rel_tol, float abs_tol) {
    size_t worst = 0;
    float worst_excess = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        float excess = fabsf(got[i] - want[i]) - (abs_tol + rel_tol * fabsf(want[i]));
        if (isnan(got[i]) != isnan(want[i])) excess = INFINITY;
        if (excess > worst_excess) worst_excess = excess, worst = i;
    }
    ck_assert_msg(worst_excess <= 0, "%s: element %zu is %.8g, want %.8g (rel %.1e, abs %.1e)", what, worst, got[worst],
                  want[worst], rel_tol, abs_tol);
}

TensorFile read_fixture(const char *name) {
    char *path = fixture_path(name);
    TensorFile tf = tensor_file_read(path);
    free(path);
    return tf;
}

const Tensor *fixture_tensor(const TensorFile *tf, const char *name) {
    const Tensor *t = tensor_file_find(tf, name);
    ck_assert_msg(t != NULL, "%s has no tensor %s", tf->path, name);
    return t;
}

GPTModel *gpt_from_fixture(const TensorFile *f, bool tied, float drop_rate) {
    const Tensor *config = tensor_file_expect(f, "config", 1, (int[]){6});
    const float *c = config->data;
    GPTConfig cfg = {.vocab_size = (int)c[0],
                     .context_length = (int)c[1],
                     .emb_dim = (int)c[2],
                     .n_heads = (int)c[3],
                     .n_layers = (int)c[4],
                     .drop_rate = drop_rate,
                     .qkv_bias = c[5] != 0,
                     .tie_weights = tied};
    GPTModel *m = gpt_create(&cfg);
    gpt_load_params(m, f);
    return m;
}

bool close_enough(float got, float want, float rel_tol, float abs_tol) {
    return fabsf(got - want) <= abs_tol + rel_tol * fabsf(want);
}

char *make_verdict_corpus(void) {
    char *dir = make_temp_dir(), *in = path_join(dir, "text"), *out = path_join(dir, "shards");
    char *verdict_path = test_data_file("the-verdict.txt");
    size_t len;
    char *verdict = read_file(verdict_path, &len);
    make_dirs(in);
    const size_t cuts[5] = {0, 2000, 8000, 14000, len};
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "part%d.txt", i);
        char *path = path_join(in, name);
        write_file_atomic(path, verdict + cuts[i], cuts[i + 1] - cuts[i]);
        free(path);
    }
    CorpusOptions o = {.input_dir = in, .out_dir = out, .shard_tokens = 1000, .val_tokens = 100, .threads = 1};
    CorpusStats stats;
    char err[512];
    if (!prepare_corpus(&o, &stats, err, sizeof err)) fatal("make_verdict_corpus: %s", err);
    free(verdict);
    free(verdict_path);
    free(in);
    free(dir);
    return out;
}

const char *mpirun_prefix(void) {
    static char prefix[1024];
    snprintf(prefix, sizeof prefix,
             "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0 "
             "mpirun --oversubscribe");
    return prefix;
}
