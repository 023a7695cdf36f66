/* replay_main.c: a fuzz harness's LLVMFuzzerTestOneInput run on files,
 * without libFuzzer. `make test` links it with each harness, built with
 * the normal compiler and flags (so under `make SANITIZE=1 test` with the
 * sanitizers), and feeds it the regression inputs in
 * tests/fixtures/fuzz/<name>/: a crash, a sanitizer report, a leak or an
 * exit() inside the harness makes the run, and the test, fail.
 *
 * Arguments: files, or directories whose regular files are all run (in
 * name order). A missing directory is no error: a harness may have no
 * regression inputs yet. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* The input goes in a buffer of exactly its size, as libFuzzer passes it,
 * so that a read past its end is caught by the sanitizer. */
static void run_file(const char *path) {
    size_t n;
    char *text = read_file(path, &n);
    uint8_t *data = xmalloc(n);
    memcpy(data, text, n);
    free(text);
    LLVMFuzzerTestOneInput(data, n);
    free(data);
}

static int is_regular(const struct dirent *e) { return e->d_type == DT_REG || e->d_type == DT_UNKNOWN; }

/* Every regular file of dir; the count. */
static int run_dir(const char *dir) {
    struct dirent **entries;
    int n = scandir(dir, &entries, is_regular, alphasort), ran = 0;
    for (int i = 0; i < n; i++) {
        char *path = path_join(dir, entries[i]->d_name);
        if (file_exists(path)) {
            run_file(path);
            ran++;
        }
        free(path);
        free(entries[i]);
    }
    if (n >= 0) free(entries);
    return ran;
}

int main(int argc, char **argv) {
    set_program_name(argv[0]);
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int ran = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) ran += run_dir(argv[i]);
        else if (stat(argv[i], &st) == 0) run_file(argv[i]), ran++;
    }
    printf("%s: %d input%s replayed\n", program_name(), ran, ran == 1 ? "" : "s");
    return 0;
}
