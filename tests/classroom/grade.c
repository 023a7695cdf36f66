/* grade.c: make grade. For each exercise of the chosen chapters, runs the
 * Check tests that tests/classroom/exercises.points maps to it, and only
 * those (CK_RUN_SUITE and RUN_ONLY_TESTS, see tests/test_helpers.h); prints
 * a table of exercise, book section, points, result and the first failure's
 * message, then the total; and writes the same as grade.json (in the shape
 * of Gradescope's results.json) and grade.xml (JUnit XML).
 *
 * An exercise scores its points when every one of its tests passes, else
 * zero. A test that reached a student edition's stub exits with status 3;
 * its message is then the stub's "not implemented yet: exercise 3d: ...". */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/util.h"
#include "points.h"
#include "regions.h"

typedef struct {
    bool passed;
    char message[512];
} TestResult;

typedef struct {
    const Exercise *exercise;
    TestResult *tests; /* one per exercise->tests */
    bool passed;
    const char *message; /* the first failure's, or "" */
    double seconds;
} ExerciseResult;

/* Run the runner for one suite's tests of an exercise: TAP to tap_path,
 * the runner's stderr (where the stubs print) to err_path. */
static int run_suite(const char *runner, const char *suite, const char *names, const char *tap_path,
                     const char *err_path) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) fatal("fork: %s", strerror(errno));
    if (pid == 0) {
        setenv("CK_RUN_SUITE", suite, 1);
        setenv("RUN_ONLY_TESTS", names, 1);
        setenv("CK_TAP_LOG_FILE_NAME", tap_path, 1);
        setenv("CK_VERBOSITY", "silent", 1);
        unsetenv("CK_RUN_CASE");
        unsetenv("CK_XML_LOG_FILE_NAME");
        unsetenv("CK_LOG_FILE_NAME");
        int null = open("/dev/null", O_WRONLY), err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (null < 0 || err < 0 || dup2(null, 1) < 0 || dup2(err, 2) < 0) _exit(127);
        alarm(600); /* a runner stuck outside any test (Check times the tests themselves) */
        execl(runner, runner, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) fatal("waitpid: %s", strerror(errno));
    return status;
}

/* The "not implemented yet" lines the stubs printed, in order. */
static int stub_lines(const char *err_path, char lines[][512], int max) {
    char *text = try_read_file(err_path, NULL, NULL, 0);
    int n = 0;
    for (char *save = NULL, *line = text ? strtok_r(text, "\n", &save) : NULL; line && n < max;
         line = strtok_r(NULL, "\n", &save)) {
        const char *at = strstr(line, "not implemented yet: ");
        if (at) snprintf(lines[n++], 512, "%s", at);
    }
    free(text);
    return n;
}

/* Fill the results of the exercise's tests in suite from a TAP file:
 * "ok 1 - FILE:TCASE:TEST: Passed" / "not ok 2 - FILE:TCASE:TEST: MESSAGE". */
static void read_tap(const char *tap_path, const char *err_path, const Exercise *e, const char *suite, TestResult *results) {
    char stubs[64][512];
    int n_stubs = stub_lines(err_path, stubs, 64), next_stub = 0;
    char *text = try_read_file(tap_path, NULL, NULL, 0);
    for (char *save = NULL, *line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
        bool ok = strncmp(line, "ok ", 3) == 0;
        if (!ok && strncmp(line, "not ok ", 7) != 0) continue;
        const char *p = strstr(line, " - ");
        if (!p) continue;
        p += 3;
        /* skip FILE and TCASE; the test's name runs to the next colon */
        for (int field = 0; field < 2 && p; field++) p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL;
        if (!p) continue;
        size_t name_len = strcspn(p, ":");
        const char *message = p[name_len] ? p + name_len + 1 + strspn(p + name_len + 1, " ") : "";
        bool stub = !ok && strstr(message, "return value 3") != NULL;
        for (int t = 0; t < e->n_tests; t++) {
            if (strcmp(e->tests[t].suite, suite) != 0 || strlen(e->tests[t].name) != name_len ||
                strncmp(e->tests[t].name, p, name_len) != 0)
                continue;
            results[t].passed = ok;
            snprintf(results[t].message, sizeof results[t].message, "%s",
                     ok ? "" : stub && next_stub < n_stubs ? stubs[next_stub] : message);
        }
        next_stub += stub;
    }
    free(text);
}

static ExerciseResult grade_exercise(const Exercise *e, const char *runner, const char *scratch) {
    ExerciseResult r = {e, xcalloc((size_t)e->n_tests, sizeof(TestResult)), true, "", 0.0};
    for (int t = 0; t < e->n_tests; t++)
        snprintf(r.tests[t].message, sizeof r.tests[t].message, "no test %s in suite %s (tests/classroom/exercises.points)",
                 e->tests[t].name, e->tests[t].suite);
    double start = now_seconds();
    char *tap_path = path_join(scratch, "tests.tap"), *err_path = path_join(scratch, "tests.err");
    for (int t = 0; t < e->n_tests; t++) {
        const char *suite = e->tests[t].suite;
        bool first = true; /* each suite once, with all of its tests */
        for (int u = 0; u < t; u++) first = first && strcmp(e->tests[u].suite, suite) != 0;
        if (!first) continue;
        ByteBuf names = {0};
        for (int u = t; u < e->n_tests; u++) {
            if (strcmp(e->tests[u].suite, suite) != 0) continue;
            bytebuf_append(&names, e->tests[u].name, strlen(e->tests[u].name));
            bytebuf_append(&names, " ", 1);
        }
        bytebuf_append(&names, "", 1);
        remove(tap_path);
        int status = run_suite(runner, suite, names.data, tap_path, err_path);
        /* a test the runner never reached: say why, if the runner stopped
         * (a suite's setup runs in the runner's own process, and may reach
         * a stub of an earlier exercise) */
        bool stopped = !WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 1);
        if (stopped) {
            char why[512] = "";
            if (stub_lines(err_path, &why, 1) == 0) {
                if (WIFEXITED(status))
                    snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(status));
                else
                    snprintf(why, sizeof why, "signal %d", WTERMSIG(status));
            }
            for (int u = t; u < e->n_tests; u++)
                if (strcmp(e->tests[u].suite, suite) == 0)
                    snprintf(r.tests[u].message, sizeof r.tests[u].message, "the test runner stopped before the test: %s",
                             why);
        }
        read_tap(tap_path, err_path, e, suite, r.tests);
        bytebuf_free(&names);
    }
    r.seconds = now_seconds() - start;
    for (int t = 0; t < e->n_tests; t++) {
        if (r.tests[t].passed) continue;
        if (r.passed) r.message = r.tests[t].message;
        r.passed = false;
    }
    free(tap_path);
    free(err_path);
    return r;
}

/* ---- the reports ---- */

static void print_table(const ExerciseResult *results, int n, int score, int max_score) {
    printf("%-8s %-40s %-7s %-7s %-6s %s\n", "exercise", "title", "book", "points", "result", "first failure");
    for (int i = 0; i < n; i++) {
        const Exercise *e = results[i].exercise;
        char points[16];
        snprintf(points, sizeof points, "%d/%d", results[i].passed ? e->points : 0, e->points);
        printf("%-8s %-40s %-7s %-7s %-6s %s\n", e->id, e->title, e->book, points, results[i].passed ? "passed" : "failed",
               results[i].message);
    }
    printf("total: %d/%d\n", score, max_score);
}

static char *json_report(const ExerciseResult *results, int n, int score, int max_score, const char *chapters) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "score", score);
    cJSON *tests = cJSON_AddArrayToObject(root, "tests");
    for (int i = 0; i < n; i++) {
        const Exercise *e = results[i].exercise;
        char name[160];
        snprintf(name, sizeof name, "%s %s (book %s)", e->id, e->title, e->book);
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "number", e->id);
        cJSON_AddStringToObject(t, "name", name);
        cJSON_AddNumberToObject(t, "score", results[i].passed ? e->points : 0);
        cJSON_AddNumberToObject(t, "max_score", e->points);
        cJSON_AddStringToObject(t, "status", results[i].passed ? "passed" : "failed");
        cJSON_AddStringToObject(t, "output", results[i].message);
        cJSON_AddItemToArray(tests, t);
    }
    /* what Gradescope does not read: the maximum, and each Check test */
    cJSON *extra = cJSON_AddObjectToObject(root, "extra_data");
    cJSON_AddNumberToObject(extra, "max_score", max_score);
    cJSON_AddStringToObject(extra, "chapters", chapters);
    cJSON *detail = cJSON_AddArrayToObject(extra, "checks");
    for (int i = 0; i < n; i++)
        for (int t = 0; t < results[i].exercise->n_tests; t++) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "exercise", results[i].exercise->id);
            cJSON_AddStringToObject(c, "suite", results[i].exercise->tests[t].suite);
            cJSON_AddStringToObject(c, "test", results[i].exercise->tests[t].name);
            cJSON_AddBoolToObject(c, "passed", results[i].tests[t].passed);
            cJSON_AddStringToObject(c, "message", results[i].tests[t].message);
            cJSON_AddItemToArray(detail, c);
        }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

static void xml_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '&') fputs("&amp;", f);
        else if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '"') fputs("&quot;", f);
        else if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') fputc(' ', f);
        else fputc(*s, f);
    }
}

/* JUnit XML: a testsuite per chapter, a testcase per exercise. */
static void write_junit(const char *path, const ExerciseResult *results, int n) {
    AtomicFile af = atomic_file_open(path);
    FILE *f = af.f;
    int failures = 0;
    for (int i = 0; i < n; i++) failures += !results[i].passed;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"grade\" tests=\"%d\" failures=\"%d\">\n", n,
            failures);
    for (int i = 0; i < n;) {
        const char *chapter = exercise_chapter(results[i].exercise->id);
        int end = i, suite_failures = 0;
        double seconds = 0.0;
        for (; end < n && strcmp(exercise_chapter(results[end].exercise->id), chapter) == 0; end++)
            suite_failures += !results[end].passed, seconds += results[end].seconds;
        fprintf(f, "  <testsuite name=\"%s\" tests=\"%d\" failures=\"%d\" errors=\"0\" time=\"%.3f\">\n", chapter, end - i,
                suite_failures, seconds);
        for (; i < end; i++) {
            const Exercise *e = results[i].exercise;
            fprintf(f, "    <testcase classname=\"%s\" name=\"", chapter);
            xml_escaped(f, e->id);
            fputc(' ', f);
            xml_escaped(f, e->title);
            fprintf(f, " (book %s, %d points)\" time=\"%.3f\"", e->book, e->points, results[i].seconds);
            if (results[i].passed) {
                fputs("/>\n", f);
                continue;
            }
            fputs(">\n      <failure message=\"", f);
            xml_escaped(f, results[i].message);
            fputs("\">", f);
            for (int t = 0; t < e->n_tests; t++) {
                fprintf(f, "%s %s: %s\n", e->tests[t].suite, e->tests[t].name, results[i].tests[t].passed ? "passed" : "");
                if (!results[i].tests[t].passed) xml_escaped(f, results[i].tests[t].message), fputc('\n', f);
            }
            fputs("</failure>\n    </testcase>\n", f);
        }
        fputs("  </testsuite>\n", f);
    }
    fputs("</testsuites>\n", f);
    atomic_file_commit(&af);
}

/* An edition says which chapters it holds (make assignment writes it). */
static char *edition_chapters(void) {
    char *text = try_read_file("tests/classroom/edition.txt", NULL, NULL, 0);
    if (!text) return xstrdup("all");
    text[strcspn(text, "\n")] = '\0';
    char *chapters = xstrdup(strncmp(text, "chapters ", 9) == 0 ? text + 9 : "all");
    free(text);
    return chapters;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: grade [--chapters LIST] [--exercise ID] [--runner PATH] [--out DIR]\n"
            "Run each exercise's tests (tests/classroom/exercises.points) and report the points (make grade).\n"
            "  --chapters LIST  ch02 ch03 ch04 ch05 ch06 appE, or all (default: the edition's chapters,\n"
            "                   all in the full tree)\n"
            "  --exercise ID    grade this one exercise (3d)\n"
            "  --runner PATH    the test runner (default: build/run_tests)\n"
            "  --out DIR        where grade.json and grade.xml go (default: build/grade-report)\n"
            "The table goes to stdout. Exit status 0 when every exercise graded passes, 1 when one fails.\n");
}

int main(int argc, char **argv) {
    set_program_name("grade");
    static const struct option options[] = {
        {"chapters", required_argument, NULL, 'c'}, {"exercise", required_argument, NULL, 'x'},
        {"runner", required_argument, NULL, 'r'},   {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *runner_arg = "build/run_tests", *out_arg = "build/grade-report", *only = NULL;
    char *chapters = NULL;
    for (int opt; (opt = getopt_long(argc, argv, "", options, NULL)) != -1;) {
        if (opt == 'c') {
            free(chapters);
            chapters = xstrdup(optarg);
        } else if (opt == 'x') {
            only = optarg;
        } else if (opt == 'r') {
            runner_arg = optarg;
        } else if (opt == 'o') {
            out_arg = optarg;
        } else if (opt == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) fatal("unexpected argument \"%s\" (see --help)", argv[optind]);
    /* paths are taken from the working directory, then everything runs in the checkout */
    char *runner = absolute_path(runner_arg), *out = absolute_path(out_arg);
    if (chdir(checkout_root()) != 0) fatal("%s: %s", checkout_root(), strerror(errno));
    if (!chapters || !*chapters) {
        free(chapters);
        chapters = edition_chapters();
    }
    char err[512];
    if (!check_chapters(chapters, err, sizeof err)) fatal("%s", err);
    if (access(runner, X_OK) != 0) fatal("%s: no test runner there (make build/run_tests builds it)", runner);
    ExerciseList list;
    if (!read_exercises("tests/classroom/exercises.points", &list, err, sizeof err)) fatal("%s", err);
    if (only && !find_exercise(&list, only)) fatal("no exercise %s in tests/classroom/exercises.points", only);

    make_dirs(out);
    char *scratch = path_join(out, "scratch");
    make_dirs(scratch);
    ExerciseResult *results = xcalloc((size_t)list.count, sizeof *results);
    int n = 0, score = 0, max_score = 0;
    for (int i = 0; i < list.count; i++) {
        const Exercise *e = &list.exercises[i];
        if (only ? strcmp(e->id, only) != 0 : !chapter_selected(chapters, e->id)) continue;
        fprintf(stderr, "grading %s %s (book %s)...\n", e->id, e->title, e->book);
        results[n] = grade_exercise(e, runner, scratch);
        score += results[n].passed ? e->points : 0;
        max_score += e->points;
        n++;
    }
    print_table(results, n, score, max_score);

    char *json = json_report(results, n, score, max_score, only ? only : chapters);
    char *json_path = path_join(out, "grade.json"), *xml_path = path_join(out, "grade.xml");
    write_file_atomic(json_path, json, strlen(json));
    write_junit(xml_path, results, n);
    fprintf(stderr, "wrote %s and %s\n", json_path, xml_path);

    int failed = 0;
    for (int i = 0; i < n; i++) failed += !results[i].passed, free(results[i].tests);
    free(results), free(json), free(json_path), free(xml_path), free(scratch), free(out), free(runner), free(chapters);
    exercises_free(&list);
    return failed ? 1 : 0;
}
