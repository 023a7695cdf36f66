/* points.h: the exercises of the student editions and their points, as
 * tests/classroom/exercises.points declares them (see its header), and
 * choosing exercises by chapter. */
#ifndef TESTS_CLASSROOM_POINTS_H
#define TESTS_CLASSROOM_POINTS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char suite[64];     /* the Check suite ("attention") */
    char name[128];     /* the test ("test_causal_mask_book_numbers") */
} GradedTest;

typedef struct {
    char id[16];
    char title[96];
    char book[16];
    int points;
    GradedTest *tests;
    int n_tests;
} Exercise;

typedef struct {
    Exercise *exercises;
    int count;
} ExerciseList;

/* false with "path: reason" in err on a malformed file. */
bool read_exercises(const char *path, ExerciseList *out, char *err, size_t err_size);
void exercises_free(ExerciseList *list);
const Exercise *find_exercise(const ExerciseList *list, const char *id);

/* A chapter list as make's CHAPTER takes it: words among ch02 ch03 ch04
 * ch05 ch06 appE, or "all", or "none"; false with the reason for another word. */
bool check_chapters(const char *chapters, char *err, size_t err_size);
/* Whether exercise id belongs to one of the chapters. */
bool chapter_selected(const char *chapters, const char *id);

#endif
