/* test_classroom.c: the student editions and the autograder
 * (tests/classroom/). The markers and their stubs, the points file, an
 * edition that carries none of the solutions' code, and the honesty check:
 * every chapter's edition builds with no warning, every exercise scores zero
 * while it is not written (each of its tests fails with only that exercise
 * removed), and the solutions score full marks. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classroom/points.h"
#include "classroom/regions.h"
#include "test_helpers.h"

/* ---- the markers ---- */

static const char *sample_source =
    "#include \"util.h\"\n"
    "\n"
    "/* BEGIN EXERCISE 9z: sample (book 9.9) */\n"
    "static int twice(int x) { return 2 * x; }\n"
    "/* END EXERCISE 9z */\n"
    "\n"
    "int sample(const float *restrict x, int n[], void (*callback)(int), ...) {\n"
    "    /* BEGIN EXERCISE 9z: sample (book 9.9) */\n"
    "    callback(twice(n[0]) + (int)x[0]);\n"
    "    return 1;\n"
    "    /* END EXERCISE 9z */\n"
    "}\n"
    "\n"
    "void other(void) {\n"
    "    /* BEGIN EXERCISE 9y: another (book 9.10) */\n"
    "    return;\n"
    "    /* END EXERCISE 9y */\n"
    "}\n";

static bool only_9z(const Region *region, void *context) {
    (void)context;
    return strcmp(region->id, "9z") == 0;
}

START_TEST(test_regions_are_found_and_stubbed) {
    Regions regions;
    char err[256];
    ck_assert_msg(find_regions(sample_source, "sample.c", &regions, err, sizeof err), "%s", err);
    ck_assert_int_eq(regions.count, 3);
    ck_assert(!regions.regions[0].in_function);
    ck_assert_int_eq(regions.regions[0].begin_line, 3);
    ck_assert_int_eq(regions.regions[0].end_line, 5);
    ck_assert(regions.regions[1].in_function);
    ck_assert_str_eq(regions.regions[1].id, "9z");
    ck_assert_str_eq(regions.regions[1].title, "sample");
    ck_assert_str_eq(regions.regions[1].book, "9.9");
    ck_assert_str_eq(regions.regions[1].params, "x n callback");
    ck_assert_str_eq(regions.regions[2].params, "");
    bool changed;
    char *edition = remove_regions(sample_source, &regions, only_9z, NULL, &changed);
    ck_assert(changed);
    ck_assert_str_eq(edition,
                     "#include \"util.h\"\n"
                     "\n"
                     "/* EXERCISE 9z: sample (book 9.9): what your solution needs here (helpers, tables) goes here. */\n"
                     "\n"
                     "int sample(const float *restrict x, int n[], void (*callback)(int), ...) {\n"
                     "    /* EXERCISE 9z: sample (book 9.9): write this function's body. */\n"
                     "    (void)x;\n"
                     "    (void)n;\n"
                     "    (void)callback;\n"
                     "    not_implemented(\"9z\", \"sample\", \"9.9\");\n"
                     "}\n"
                     "\n"
                     "void other(void) {\n"
                     "    /* BEGIN EXERCISE 9y: another (book 9.10) */\n"
                     "    return;\n"
                     "    /* END EXERCISE 9y */\n"
                     "}\n");
    free(edition);
    regions_free(&regions);
}
END_TEST

/* Each malformed file, and the words its error must contain. */
START_TEST(test_malformed_markers_are_refused) {
    static const char *const cases[][2] = {
        {"void f(int a) {\n    /* BEGIN EXERCISE 9z: x (book 1) */\n}\n", "no END marker"},
        {"void f(int a) {\n    /* END EXERCISE 9z */\n}\n", "without a BEGIN"},
        {"void f(int a) {\n    /* BEGIN EXERCISE 9z: x (book 1) */\n    /* END EXERCISE 9y */\n}\n", "began as exercise 9z"},
        {"void f(int a) {\n    /* BEGIN EXERCISE 9z x (book 1) */\n    /* END EXERCISE 9z */\n}\n", "a BEGIN marker reads"},
        {"void f(int a) {\n    int b = a;\n    /* BEGIN EXERCISE 9z: x (book 1) */\n    (void)b;\n    /* END EXERCISE 9z */\n}\n",
         "right after the '{' line"},
        {"void f(int a) {\n    /* BEGIN EXERCISE 9z: x (book 1) */\n    (void)a;\n    /* END EXERCISE 9z */\n    return;\n}\n",
         "right before the function's '}'"},
        {"/* BEGIN EXERCISE 9z: x (book 1) */\n/* BEGIN EXERCISE 9y: y (book 2) */\n", "inside exercise 9z's region"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Regions regions;
        char err[256] = "";
        ck_assert_msg(!find_regions(cases[i][0], "bad.c", &regions, err, sizeof err), "case %zu was accepted", i);
        ck_assert_msg(strstr(err, cases[i][1]) && strncmp(err, "bad.c:", 6) == 0, "case %zu: \"%s\"", i, err);
    }
}
END_TEST

START_TEST(test_exercise_ids_name_their_chapter) {
    ck_assert_str_eq(exercise_chapter("2a"), "ch02");
    ck_assert_str_eq(exercise_chapter("6b"), "ch06");
    ck_assert_str_eq(exercise_chapter("7a"), "ch06"); /* the book's chapter 7 is this project's ch06 */
    ck_assert_str_eq(exercise_chapter("Ea"), "appE");
    ck_assert(chapter_selected("ch03 ch05", "5c"));
    ck_assert(!chapter_selected("ch03,ch05", "4a"));
    ck_assert(chapter_selected("all", "Ea"));
    ck_assert(!chapter_selected("none", "3a"));
    char err[256];
    ck_assert(check_chapters("ch02 appE", err, sizeof err));
    ck_assert(!check_chapters("ch07", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "unknown chapter \"ch07\""));
}
END_TEST

/* ---- the points file ---- */

START_TEST(test_points_file_is_complete) {
    ExerciseList list;
    char err[512];
    char *path = repo_path("tests/classroom/exercises.points");
    ck_assert_msg(read_exercises(path, &list, err, sizeof err), "%s", err);
    /* the list: at least these, in every chapter */
    static const char *const chapters[] = {"ch02", "ch03", "ch04", "ch05", "ch06", "appE"};
    for (size_t c = 0; c < sizeof chapters / sizeof *chapters; c++) {
        int n = 0;
        for (int i = 0; i < list.count; i++) n += strcmp(exercise_chapter(list.exercises[i].id), chapters[c]) == 0;
        ck_assert_msg(n > 0, "no exercise in %s", chapters[c]);
    }
    exercises_free(&list);
    free(path);

    char *dir = make_temp_dir(), *bad = path_join(dir, "bad.points");
    static const char *const cases[][2] = {
        {"exercise 3a\ntitle t\nbook 1\npoints 5\n", "at least one test"},
        {"exercise 3a\ntitle t\nbook 1\npoints five\ntest s t\n", "whole number"},
        {"exercise 3a\ntitle t\nbook 1\npoints 5\ntest s\n", "test SUITE TEST"},
        {"exercise 3a\ntitle t\nbook 1\npoints 5\ntest s t\n\nexercise 3a\n", "a new chapter digit"},
        {"title t\n", "before the first"},
        {"exercise 3a\ncolour red\n", "unknown key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file_atomic(bad, cases[i][0], strlen(cases[i][0]));
        ck_assert_msg(!read_exercises(bad, &list, err, sizeof err), "case %zu was accepted", i);
        ck_assert_msg(strstr(err, cases[i][1]), "case %zu: \"%s\"", i, err);
    }
    remove_tree(dir);
    free(bad);
    free(dir);
}
END_TEST

/* ---- editions ---- */

/* The classroom program name (assignment, grade) of this runner's build:
 * build/ or build-san/ (malloc'd). */
static char *classroom_program(const char *name) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert(n > 0);
    exe[n] = '\0';
    char *dir = path_dir(exe), *program = path_join(dir, name);
    free(dir);
    return program;
}

/* Run a shell command; its stdout and stderr together (malloc'd) and its
 * exit status. */
static char *shell(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *shell(int *status, const char *fmt, ...) {
    char command[8192];
    va_list args;
    va_start(args, fmt);
    vsnprintf(command, sizeof command, fmt, args);
    va_end(args);
    char wrapped[8300];
    snprintf(wrapped, sizeof wrapped, "( %s ) 2>&1", command);
    char *out;
    *status = run_command(wrapped, &out, NULL);
    return out;
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The edition of the whole project with every exercise removed carries no
 * line of the solutions: no code line that, in the full tree, is written
 * only inside solution regions. (Lines that the full tree also has outside
 * them, `for (int i = 0; i < n; i++)` or a second form's, say what any
 * edition keeps.) */
START_TEST(test_edition_carries_no_solution_code) {
    char *dir = make_temp_dir(), *edition = path_join(dir, "edition"), *assignment = classroom_program("assignment");
    int status;
    char *out = shell(&status, "%s --chapters all --out %s", assignment, edition);
    ck_assert_msg(status == 0, "%s", out);
    free(out);
    char *files = shell(&status, "cd '%s' && git ls-files '*.c' '*.h'", repo_root());
    ck_assert_msg(status == 0, "git ls-files: %s", files);
    /* every trimmed code line of the sources, inside regions or not */
    char **inside = NULL, **outside = NULL;
    int n_inside = 0, n_outside = 0, n_regions = 0;
    char *texts[1024];
    int n_texts = 0;
    for (char *save = NULL, *file = strtok_r(files, "\n", &save); file; file = strtok_r(NULL, "\n", &save)) {
        char *full = repo_path(file), *text = read_file(full, NULL);
        free(full);
        Regions regions;
        char err[256];
        ck_assert_msg(find_regions(text, file, &regions, err, sizeof err), "%s", err);
        n_regions += regions.count;
        ck_assert(n_texts < 1024);
        texts[n_texts++] = text;
        int line_no = 0, r = 0;
        for (char *line = text, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next) *next++ = '\0';
            line_no++;
            while (r < regions.count && regions.regions[r].end_line < line_no) r++;
            bool in_region = r < regions.count && line_no > regions.regions[r].begin_line && line_no < regions.regions[r].end_line;
            char *code = line + strspn(line, " \t");
            if (strlen(code) < 12 || code[0] == '/' || code[0] == '*') continue;
            if (in_region) {
                inside = xrealloc(inside, (size_t)(n_inside + 1) * sizeof *inside);
                inside[n_inside++] = code;
            } else {
                outside = xrealloc(outside, (size_t)(n_outside + 1) * sizeof *outside);
                outside[n_outside++] = code;
            }
        }
        regions_free(&regions);
    }
    qsort(outside, (size_t)n_outside, sizeof *outside, compare_strings);
    /* the telling lines: inside regions only */
    char **telling = NULL;
    int n_telling = 0;
    for (int i = 0; i < n_inside; i++) {
        if (bsearch(&inside[i], outside, (size_t)n_outside, sizeof *outside, compare_strings)) continue;
        telling = xrealloc(telling, (size_t)(n_telling + 1) * sizeof *telling);
        telling[n_telling++] = inside[i];
    }
    qsort(telling, (size_t)n_telling, sizeof *telling, compare_strings);
    ck_assert_int_gt(n_regions, 25);
    ck_assert_int_gt(n_telling, 200);
    /* no line of the edition's sources or documents is one of them */
    char *edition_files = shell(&status, "cd '%s' && find . -name '*.[ch]' -o -name '*.md'", edition);
    ck_assert_int_eq(status, 0);
    int n_files = 0;
    for (char *save = NULL, *file = strtok_r(edition_files, "\n", &save); file; file = strtok_r(NULL, "\n", &save)) {
        char *full = path_join(edition, file), *text = read_file(full, NULL);
        int line_no = 0;
        for (char *line = text, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next) *next++ = '\0';
            line_no++;
            char *code = line + strspn(line, " \t");
            ck_assert_msg(!bsearch(&code, telling, (size_t)n_telling, sizeof *telling, compare_strings),
                          "%s:%d is a line of a solution: %s", file, line_no, code);
        }
        free(text);
        free(full);
        n_files++;
    }
    ck_assert_int_gt(n_files, 100);
    free(edition_files);
    free(telling);
    for (int i = 0; i < n_texts; i++) free(texts[i]);
    free(inside);
    free(outside);
    remove_tree(dir);
    free(files);
    free(assignment);
    free(edition);
    free(dir);
}
END_TEST

/* Build an edition (as a newcomer's make would; not under this make's
 * jobserver) and return the compiler's output; the build must succeed. */
static void build_edition(const char *edition) {
    int status;
    char *out = shell(&status, "cd '%s' && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -j2 all build/run_tests build/grade",
                      edition);
    ck_assert_msg(status == 0, "the edition in %s does not build:\n%.6000s", edition, out);
    ck_assert_msg(!strstr(out, "warning:"), "the edition in %s builds with warnings:\n%.6000s", edition, out);
    free(out);
}

/* Grade an edition (grade's arguments in args); its report. */
static cJSON *grade_edition(const char *edition, const char *args, int expected_status) {
    int status;
    char *out = shell(&status, "cd '%s' && build/grade %s --out build/grade-report", edition, args);
    ck_assert_msg(status == expected_status, "grade %s: exit %d, not %d\n%s", args, status, expected_status, out);
    free(out);
    char *path = path_join(edition, "build/grade-report/grade.json"), *text = read_file(path, NULL);
    cJSON *report = cJSON_Parse(text);
    ck_assert_msg(report != NULL, "%s is not JSON", path);
    free(text);
    free(path);
    return report;
}

static void write_edition(const char *edition, const char *how, const char *what) {
    char *assignment = classroom_program("assignment");
    int status;
    char *out = shell(&status, "%s %s '%s' --out '%s'", assignment, how, what, edition);
    ck_assert_msg(status == 0, "%s", out);
    free(out);
    free(assignment);
}

/* The honesty check. (a) The edition of all chapters, and each chapter's
 * own, builds with no warning and (b) scores zero; then, exercise by exercise, the edition with
 * only that exercise removed builds with no warning and each one of its
 * tests fails, so every graded test runs the removed code; (c) with the
 * solutions back, every exercise scores its points. One edition is updated
 * in place from step to step, so make recompiles only the files a step
 * changes. It builds a plain copy of the project, which the sanitizers add
 * nothing to: make SANITIZE=1 test leaves it to the plain run. */
START_TEST(test_every_exercise_scores_zero_then_full) {
#if defined(__SANITIZE_ADDRESS__)
    fprintf(stderr, "test_every_exercise_scores_zero_then_full: left to the plain make test (it builds plain editions)\n");
    return;
#endif
    ExerciseList list;
    char err[512];
    char *points = repo_path("tests/classroom/exercises.points");
    ck_assert_msg(read_exercises(points, &list, err, sizeof err), "%s", err);
    char *dir = make_temp_dir(), *edition = path_join(dir, "edition");

    write_edition(edition, "--chapters", "all");
    build_edition(edition);
    cJSON *report = grade_edition(edition, "--chapters all", 1);
    ck_assert_int_eq(cJSON_GetObjectItem(report, "score")->valueint, 0);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(report, "tests")), list.count);
    cJSON_Delete(report);

    /* each chapter's edition, as a teacher hands it out */
    static const char *const chapters[] = {"ch02", "ch03", "ch04", "ch05", "ch06", "appE"};
    for (size_t c = 0; c < sizeof chapters / sizeof *chapters; c++) {
        write_edition(edition, "--chapters", chapters[c]);
        build_edition(edition);
        char args[64];
        snprintf(args, sizeof args, "--chapters %s", chapters[c]);
        report = grade_edition(edition, args, 1);
        ck_assert_int_eq(cJSON_GetObjectItem(report, "score")->valueint, 0);
        int n = 0;
        for (int i = 0; i < list.count; i++) n += chapter_selected(chapters[c], list.exercises[i].id);
        ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(report, "tests")), n);
        cJSON_Delete(report);
    }

    for (int i = 0; i < list.count; i++) {
        const char *id = list.exercises[i].id;
        write_edition(edition, "--only", id);
        build_edition(edition);
        char args[64];
        snprintf(args, sizeof args, "--exercise %s", id);
        report = grade_edition(edition, args, 1);
        const cJSON *check;
        int n = 0;
        cJSON_ArrayForEach(check, cJSON_GetObjectItem(cJSON_GetObjectItem(report, "extra_data"), "checks")) {
            const char *test = cJSON_GetObjectItem(check, "test")->valuestring;
            const char *message = cJSON_GetObjectItem(check, "message")->valuestring;
            ck_assert_msg(!cJSON_IsTrue(cJSON_GetObjectItem(check, "passed")),
                          "exercise %s removed, its test %s still passes: it does not run the exercise's code", id, test);
            ck_assert_msg(strncmp(message, "no test ", 8) != 0, "exercise %s: %s", id, message);
            n++;
        }
        ck_assert_int_eq(n, list.exercises[i].n_tests);
        cJSON_Delete(report);
    }

    write_edition(edition, "--chapters", "none");
    build_edition(edition);
    report = grade_edition(edition, "--chapters all", 0);
    int max_score = 0;
    for (int i = 0; i < list.count; i++) max_score += list.exercises[i].points;
    ck_assert_int_eq(cJSON_GetObjectItem(report, "score")->valueint, max_score);
    cJSON_Delete(report);

    exercises_free(&list);
    remove_tree(dir);
    free(edition);
    free(dir);
    free(points);
}
END_TEST

Suite *classroom_suite(void) {
    Suite *s = suite_create("classroom");
    TCase *markers = tcase_create("markers");
    add_test(markers, test_regions_are_found_and_stubbed);
    add_test(markers, test_malformed_markers_are_refused);
    add_test(markers, test_exercise_ids_name_their_chapter);
    add_test(markers, test_points_file_is_complete);
    suite_add_tcase(s, markers);
    TCase *editions = tcase_create("editions");
    tcase_set_timeout(editions, 1800);
    add_test(editions, test_edition_carries_no_solution_code);
    add_test(editions, test_every_exercise_scores_zero_then_full);
    suite_add_tcase(s, editions);
    return s;
}
