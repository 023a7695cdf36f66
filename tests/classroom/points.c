/* points.c: see points.h. */
#include "points.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"
#include "regions.h"

/* Copy the value of "key value" (the rest of the line, trimmed) into dst. */
static bool copy_value(char *dst, size_t size, const char *value) {
    size_t n = strlen(value);
    while (n > 0 && isspace((unsigned char)value[n - 1])) n--;
    if (n == 0 || n >= size) return false;
    memcpy(dst, value, n);
    dst[n] = '\0';
    return true;
}

static bool complete(const Exercise *e) { return e->title[0] && e->book[0] && e->points > 0 && e->n_tests > 0; }

bool read_exercises(const char *path, ExerciseList *out, char *err, size_t err_size) {
    size_t len;
    char *text = try_read_file(path, &len, err, err_size);
    if (!text) return false;
    ExerciseList list = {NULL, 0};
    Exercise *e = NULL;
    bool ok = true;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && ok; line = strtok_r(NULL, "\n", &save)) {
        char *s = line + strspn(line, " \t");
        if (*s == '#' || *s == '\0') continue;
        char key[16];
        size_t key_len = strcspn(s, " \t");
        if (key_len >= sizeof key) key_len = sizeof key - 1;
        memcpy(key, s, key_len);
        key[key_len] = '\0';
        const char *value = s + key_len + strspn(s + key_len, " \t");
        if (strcmp(key, "exercise") == 0) {
            if (e && !complete(e)) {
                ok = set_error(err, err_size, "%s: exercise %s needs a title, book, points and at least one test", path, e->id);
                break;
            }
            list.exercises = xrealloc(list.exercises, (size_t)(list.count + 1) * sizeof *list.exercises);
            e = &list.exercises[list.count++];
            memset(e, 0, sizeof *e);
            bool known = copy_value(e->id, sizeof e->id, value) && strcmp(exercise_chapter(e->id), "unknown") != 0;
            for (int i = 0; known && i < list.count - 1; i++) known = strcmp(list.exercises[i].id, e->id) != 0;
            if (!known)
                ok = set_error(err, err_size, "%s: \"%s\": an exercise id is a new chapter digit and letter (3d, or Ea for appendix E)",
                               path, s);
        } else if (!e) {
            ok = set_error(err, err_size, "%s: \"%s\" before the first \"exercise\" line", path, s);
        } else if (strcmp(key, "title") == 0) {
            ok = copy_value(e->title, sizeof e->title, value) || set_error(err, err_size, "%s: %s: bad title", path, e->id);
        } else if (strcmp(key, "book") == 0) {
            ok = copy_value(e->book, sizeof e->book, value) || set_error(err, err_size, "%s: %s: bad book section", path, e->id);
        } else if (strcmp(key, "points") == 0) {
            char number[16];
            long v;
            if (copy_value(number, sizeof number, value) && parse_long(number, 1, 1000, &v))
                e->points = (int)v;
            else
                ok = set_error(err, err_size, "%s: %s: points are a whole number from 1 to 1000", path, e->id);
        } else if (strcmp(key, "test") == 0) {
            GradedTest t;
            char rest[256];
            if (sscanf(value, "%63s %127s %255s", t.suite, t.name, rest) != 2) {
                ok = set_error(err, err_size, "%s: %s: a test line reads \"test SUITE TEST\"", path, e->id);
                break;
            }
            e->tests = xrealloc(e->tests, (size_t)(e->n_tests + 1) * sizeof *e->tests);
            e->tests[e->n_tests++] = t;
        } else {
            ok = set_error(err, err_size, "%s: %s: unknown key \"%s\" (exercise, title, book, points, test)", path, e->id, key);
        }
    }
    if (ok && e && !complete(e))
        ok = set_error(err, err_size, "%s: exercise %s needs a title, book, points and at least one test", path, e->id);
    free(text);
    if (!ok) {
        exercises_free(&list);
        return false;
    }
    *out = list;
    return true;
}

void exercises_free(ExerciseList *list) {
    for (int i = 0; i < list->count; i++) free(list->exercises[i].tests);
    free(list->exercises);
    list->exercises = NULL;
    list->count = 0;
}

const Exercise *find_exercise(const ExerciseList *list, const char *id) {
    for (int i = 0; i < list->count; i++)
        if (strcmp(list->exercises[i].id, id) == 0) return &list->exercises[i];
    return NULL;
}

static const char *const known_chapters[] = {"ch02", "ch03", "ch04", "ch05", "ch06", "appE", "all", "none"};

bool check_chapters(const char *chapters, char *err, size_t err_size) {
    const char *p = chapters + strspn(chapters, " ,");
    if (!*p) return set_error(err, err_size, "no chapter given: ch02 ch03 ch04 ch05 ch06 appE, or all");
    while (*p) {
        size_t n = strcspn(p, " ,");
        bool known = false;
        for (size_t i = 0; i < sizeof known_chapters / sizeof *known_chapters; i++)
            known = known || (strlen(known_chapters[i]) == n && strncmp(p, known_chapters[i], n) == 0);
        if (!known)
            return set_error(err, err_size, "unknown chapter \"%.*s\": ch02 ch03 ch04 ch05 ch06 appE, all or none", (int)n, p);
        p += n;
        p += strspn(p, " ,");
    }
    return true;
}

bool chapter_selected(const char *chapters, const char *id) {
    const char *chapter = exercise_chapter(id);
    for (const char *p = chapters + strspn(chapters, " ,"); *p;) {
        size_t n = strcspn(p, " ,");
        if ((n == 3 && strncmp(p, "all", 3) == 0) || (n == strlen(chapter) && strncmp(p, chapter, n) == 0)) return true;
        p += n;
        p += strspn(p, " ,");
    }
    return false;
}
