/* test_helpers.h: what the test files share: paths to fixtures
 * and data, fixture parsing, and running a program to check its output. */
#ifndef TESTS_TEST_HELPERS_H
#define TESTS_TEST_HELPERS_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>

#include "../ch04_gpt/gpt.h"
#include "../common/tensor_file.h"
#include "../common/util.h"

/* Each tests/test_<module>.c defines one suite, Suite *<module>_suite(void);
 * the Makefile lists them for run_tests.c (build/tests/suites.h). */

/* Adding tests to a test case: Check's tcase_add_test, tcase_add_exit_test
 * and tcase_add_loop_test, except that when the environment variable
 * RUN_ONLY_TESTS names tests (separated by spaces or commas), only those are
 * added. The autograder (make grade) runs each exercise's tests alone this
 * way, with CK_RUN_SUITE naming their suite. */
void add_test(TCase *tc, const TTest *test);
void add_exit_test(TCase *tc, const TTest *test, int expected_exit_status);
void add_loop_test(TCase *tc, const TTest *test, int start, int end);

/* The checkout's root (the test runner lives in build/), and paths in it. */
const char *repo_root(void);
char *repo_path(const char *relative);   /* malloc'd */
char *fixture_path(const char *name);    /* tests/fixtures/name, malloc'd */
/* Files from `make data`, in DATA_DIR. A missing file must fail the tests
 * that need it, with a message that names it, and never end the runner:
 * so an unchecked fixture (which runs in the runner's own process) checks
 * have_data_file and skips loading, and the test case adds the matching
 * require_* as a checked fixture (run in each test's process), or the test
 * calls test_data_file. */
bool have_data_file(const char *relative);
/* The path (malloc'd); the test fails, naming the file and `make data`, if it is missing. */
char *test_data_file(const char *relative);
void require_verdict(void);
void require_gpt2_tokenizer(void);
void require_sms(void);
void require_instructions(void);
void require_safetensors_samples(void);
void require_tf_samples(void);

/* A fresh empty directory under /tmp for one test (malloc'd). */
char *make_temp_dir(void);
void remove_tree(const char *dir);

/* "48656c6c6f" -> bytes (malloc'd, NUL-terminated); false on bad hex. */
bool hex_decode(const char *hex, size_t hex_len, char **bytes, size_t *n);
/* The lines of a fixture file, skipping blank lines and '#' comments. */
typedef struct {
    char *text;
    char **lines;
    int count;
} FixtureLines;
FixtureLines fixture_lines(const char *name);
void fixture_lines_free(FixtureLines *f);

/* Run a shell command; captures stdout and stderr (malloc'd) and returns
 * the exit status (or -1 if it did not exit normally). */
int run_command(const char *command, char **out, char **err);
/* Run one of the chapters' programs, "<root>/<program> <args>" (program
 * as "ch02_text/ch02", args formatted as printf does), as run_command. */
int run_program(char **out, char **err, const char *program, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reading a walkthrough's output, where each notebook cell's output
 * follows a line "In [N]: what the cell does" and our remarks are "# "
 * lines. */
/* Where needle first is in text; the test fails, quoting text's start, if nowhere. */
const char *find_text(const char *text, const char *needle);
/* The output of the first cell at or after text whose marker line starts
 * with marker ("In [12]: ", or "In [ ]: " for a cell the notebook did not
 * number): the lines after the marker and after the "# " remarks right
 * below it, up to the next marker, remark or section banner ("== "),
 * without the blank line before a banner. The test fails if there is no
 * such cell. malloc'd. */
char *cell_after_marker(const char *text, const char *marker);
/* The same for the cell "In [number]: ". */
char *cell_output(const char *text, int number);
/* Everything after the marker line "In [number]: " up to the next marker
 * or banner, our "# " remarks included. malloc'd. */
char *cell_text(const char *text, int number);

/* Assert that got[0..n) matches want within |got - want| <= abs_tol +
 * rel_tol * |want| everywhere; the message names what and the worst index. */
void assert_all_close(const char *what, const float *got, const float *want, size_t n, float rel_tol, float abs_tol);

/* A fixture file of named tensors from tests/fixtures, read whole. */
TensorFile read_fixture(const char *name);
/* The tensor called name in it; the test fails if there is none. */
const Tensor *fixture_tensor(const TensorFile *tf, const char *name);

/* A GPT built from a PyTorch fixture's "config" tensor ([vocab, context,
 * emb_dim, heads, layers, qkv_bias]) with the fixture's weights. */
GPTModel *gpt_from_fixture(const TensorFile *f, bool tied, float drop_rate);

/* A prepared corpus (ch05 prepare-corpus) of The Verdict, cut into four
 * documents: a validation shard of the first, training shards of 1000
 * tokens of the rest, in a fresh directory under /tmp (malloc'd). */
char *make_verdict_corpus(void);

/* The shell's prefix for running a program under mpirun on this machine:
 * every rank on it (--oversubscribe), as root too, one thread a rank. A
 * sanitized build runs without LeakSanitizer there: Open MPI unloads its
 * components at MPI_Finalize, leaving allocations no stack can name (the
 * same code is leak-checked in the runs without mpirun). */
const char *mpirun_prefix(void);

/* Relative difference check for floats, for ck_assert messages. */
bool close_enough(float got, float want, float rel_tol, float abs_tol);

#endif
