/* assignment.c: make assignment CHAPTER=ch03 OUT=DIR. Writes a student
 * edition of the project: a copy of every file git tracks (and of new files
 * it does not ignore), in which each solution region of the chosen chapters'
 * exercises (regions.h) is replaced by its stub. The copy is a fresh tree,
 * not a branch, so no history carries the solutions.
 *
 * Writing into an earlier edition updates it in place and rewrites only the
 * files that change, so make rebuilds only those: the honesty test
 * (tests/test_classroom.c) goes from one exercise to the next that way. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/util.h"
#include "points.h"
#include "regions.h"

/* What an edition leaves out: the project's own CI, and the test that
 * builds editions (it needs git and the solutions). */
static bool left_out(const char *path) {
    return strncmp(path, ".ci/", 4) == 0 || strcmp(path, "tests/test_classroom.c") == 0;
}

static bool is_source(const char *path) {
    size_t n = strlen(path);
    return n > 2 && path[n - 2] == '.' && (path[n - 1] == 'c' || path[n - 1] == 'h');
}

typedef struct {
    const char *chapters; /* the chapters whose exercises are removed */
    const char *only;     /* or this one exercise alone */
} Choice;

static bool region_removed(const Region *region, void *context) {
    const Choice *c = context;
    return c->only ? strcmp(region->id, c->only) == 0 : chapter_selected(c->chapters, region->id);
}

/* The files to copy: git ls-files, run in the checkout (NUL-separated). */
static char **tracked_files(int *count) {
    FILE *p = popen("git ls-files -z --cached --others --exclude-standard 2>/dev/null", "r");
    if (!p) fatal("cannot run git: %s", strerror(errno));
    ByteBuf all = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) bytebuf_append(&all, buf, n);
    if (pclose(p) != 0 || all.len == 0) {
        bytebuf_free(&all);
        fatal("make assignment copies the files git tracks: run it in a git checkout of the project");
    }
    char **files = NULL;
    *count = 0;
    for (size_t at = 0; at < all.len; at += strlen(all.data + at) + 1) {
        files = xrealloc(files, (size_t)(*count + 1) * sizeof *files);
        files[(*count)++] = xstrdup(all.data + at);
    }
    bytebuf_free(&all);
    return files;
}

/* Write data to path unless the file already holds exactly that. */
static bool write_if_changed(const char *path, const char *data, size_t len, bool executable) {
    size_t old_len;
    char *old = file_exists(path) ? try_read_file(path, &old_len, NULL, 0) : NULL;
    bool same = old && old_len == len && memcmp(old, data, len) == 0;
    free(old);
    if (same) return false;
    char *dir = path_dir(path);
    make_dirs(dir);
    free(dir);
    write_file_atomic(path, data, len);
    if (chmod(path, executable ? 0755 : 0644) != 0) fatal("%s: %s", path, strerror(errno));
    return true;
}

/* A missing directory counts as empty. */
static bool dir_is_empty(const char *path) {
    DIR *d = opendir(path);
    if (!d) return true;
    bool empty = true;
    for (struct dirent *entry; empty && (entry = readdir(d));)
        empty = strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0;
    closedir(d);
    return empty;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: assignment --chapters LIST --out DIR [--only EXERCISE]\n"
            "Write a student edition of the project into DIR (make assignment CHAPTER=LIST OUT=DIR).\n"
            "  --chapters LIST  whose exercises to remove: ch02 ch03 ch04 ch05 ch06 appE (space- or\n"
            "                   comma-separated), all, or none (a plain copy)\n"
            "  --only EXERCISE  remove this one exercise instead (3d)\n"
            "  --out DIR        a new or empty directory outside the checkout, or an earlier edition\n"
            "                   (updated in place: only the files that change are written)\n"
            "The exercises and their points: tests/classroom/exercises.points.\n");
}

int main(int argc, char **argv) {
    set_program_name("assignment");
    static const struct option options[] = {
        {"chapters", required_argument, NULL, 'c'}, {"out", required_argument, NULL, 'o'},
        {"only", required_argument, NULL, 'x'},     {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out_arg = NULL;
    Choice choice = {NULL, NULL};
    for (int opt; (opt = getopt_long(argc, argv, "", options, NULL)) != -1;) {
        if (opt == 'c') choice.chapters = optarg;
        else if (opt == 'o') out_arg = optarg;
        else if (opt == 'x') choice.only = optarg;
        else if (opt == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) fatal("unexpected argument \"%s\" (see --help)", argv[optind]);
    if (!out_arg || !*out_arg) fatal("no --out DIR: where to write the edition (make assignment OUT=DIR)");
    if (!choice.only && !choice.chapters) fatal("no --chapters: which chapters' exercises to remove (make assignment CHAPTER=ch03)");
    char err[512];
    if (choice.chapters && !check_chapters(choice.chapters, err, sizeof err)) fatal("%s", err);

    /* Everything below runs in the checkout, with OUT made absolute first. */
    char root[4096];
    char *out = absolute_path(out_arg);
    if (chdir(checkout_root()) != 0 || !getcwd(root, sizeof root)) fatal("%s: %s", checkout_root(), strerror(errno));
    char *real_out = realpath(out, NULL);
    size_t root_len = strlen(root);
    const char *resolved = real_out ? real_out : out;
    bool inside = strncmp(resolved, root, root_len) == 0 && (resolved[root_len] == '/' || resolved[root_len] == '\0');
    free(real_out);
    if (inside) fatal("%s is inside the checkout: write the edition somewhere else (OUT=../student)", out_arg);
    char *marker = path_join(out, "tests/classroom/edition.txt");
    if (!dir_is_empty(out) && !file_exists(marker))
        fatal("%s is not empty and holds no edition: give a new or empty directory", out_arg);

    ExerciseList exercises;
    if (!read_exercises("tests/classroom/exercises.points", &exercises, err, sizeof err)) fatal("%s", err);
    if (choice.only && !find_exercise(&exercises, choice.only))
        fatal("no exercise %s in tests/classroom/exercises.points", choice.only);

    /* Read and check every file first, so an error leaves OUT untouched. */
    int n_files;
    char **files = tracked_files(&n_files);
    char **texts = xcalloc((size_t)n_files, sizeof *texts);
    size_t *lengths = xcalloc((size_t)n_files, sizeof *lengths);
    int *regions_of = xcalloc((size_t)exercises.count, sizeof *regions_of);
    int removed_regions = 0, changed_files = 0;
    for (int i = 0; i < n_files; i++) {
        if (left_out(files[i]) || !file_exists(files[i])) continue;
        texts[i] = read_file(files[i], &lengths[i]);
        if (!is_source(files[i])) continue;
        Regions regions;
        if (!find_regions(texts[i], files[i], &regions, err, sizeof err)) fatal("%s", err);
        for (int r = 0; r < regions.count; r++) {
            const Region *region = &regions.regions[r];
            const Exercise *e = find_exercise(&exercises, region->id);
            if (!e)
                fatal("%s:%d: exercise %s is not in tests/classroom/exercises.points", files[i], region->begin_line, region->id);
            if (strcmp(e->title, region->title) != 0 || strcmp(e->book, region->book) != 0)
                fatal("%s:%d: exercise %s is \"%s (book %s)\" in tests/classroom/exercises.points", files[i],
                      region->begin_line, e->id, e->title, e->book);
            regions_of[e - exercises.exercises]++;
            removed_regions += region_removed(region, &choice);
        }
        bool changed;
        char *edition_text = remove_regions(texts[i], &regions, region_removed, &choice, &changed);
        if (changed) {
            free(texts[i]);
            texts[i] = edition_text;
            lengths[i] = strlen(edition_text);
            changed_files++;
        } else {
            free(edition_text);
        }
        regions_free(&regions);
    }
    for (int e = 0; e < exercises.count; e++)
        if (regions_of[e] == 0) fatal("exercise %s has no solution region in the sources", exercises.exercises[e].id);

    int removed_exercises = 0;
    for (int e = 0; e < exercises.count; e++) {
        const char *id = exercises.exercises[e].id;
        removed_exercises += choice.only ? strcmp(id, choice.only) == 0 : chapter_selected(choice.chapters, id);
    }
    struct stat st;
    int written = 0;
    for (int i = 0; i < n_files; i++) {
        if (!texts[i]) continue;
        char *dst = path_join(out, files[i]);
        bool executable = stat(files[i], &st) == 0 && (st.st_mode & S_IXUSR);
        written += write_if_changed(dst, texts[i], lengths[i], executable);
        free(dst);
    }
    char note[256];
    snprintf(note, sizeof note, "%s %s\n", choice.only ? "exercise" : "chapters", choice.only ? choice.only : choice.chapters);
    written += write_if_changed(marker, note, strlen(note), false);

    printf("%s: a student edition (%s %s): %d exercises' %d solution regions replaced by stubs in %d files; %d files written\n",
           out, choice.only ? "exercise" : "chapters", choice.only ? choice.only : choice.chapters,
           removed_exercises, removed_regions, changed_files, written);
    for (int i = 0; i < n_files; i++) free(texts[i]), free(files[i]);
    free(texts), free(lengths), free(files), free(regions_of), free(marker), free(out);
    exercises_free(&exercises);
    return 0;
}
