/* regions.h: the solution regions of a source file, and the student
 * edition's text of it (make assignment).
 *
 * A region is the whole body of one function,
 *
 *     void causal_mask_fill_inf(float *scores, int T) {
 *         / * BEGIN EXERCISE 3d: causal attention mask (book 3.5.1) * /
 *         ...
 *         / * END EXERCISE 3d * /
 *     }
 *
 * (the BEGIN line right after the header's line that ends in '{', the END
 * line right before the '}' at column 0), or, with both markers at column 0,
 * a stretch of file scope: static helpers and tables that only the removed
 * code uses. In an edition a body becomes a comment naming the exercise, a
 * (void) cast of each parameter (so -Wextra does not warn) and a call of
 * not_implemented; a file-scope region becomes the comment alone. */
#ifndef TESTS_CLASSROOM_REGIONS_H
#define TESTS_CLASSROOM_REGIONS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char id[16];        /* "3d" */
    char title[96];     /* "causal attention mask" */
    char book[16];      /* "3.5.1" */
    bool in_function;   /* a function's body, or file scope */
    int begin_line;     /* 1-based lines of the two markers */
    int end_line;
    char params[512];   /* the function's parameter names, space-separated */
} Region;

typedef struct {
    Region *regions;
    int count;
} Regions;

/* The regions of a file's text; false with "path:line: reason" in err when
 * the markers are malformed (unpaired, nested, ids that differ, a body
 * region that is not a whole body). */
bool find_regions(const char *text, const char *path, Regions *out, char *err, size_t err_size);
void regions_free(Regions *r);

/* The chapter an exercise belongs to: "3d" -> "ch03"; the book's chapter 7
 * is this project's ch06; "Ea" (appendix E) -> "appE". */
const char *exercise_chapter(const char *id);

/* The text with each region whose exercise `removed` says yes to replaced
 * by its stub (malloc'd; *changed tells whether any was). */
typedef bool (*RegionFilter)(const Region *region, void *context);
char *remove_regions(const char *text, const Regions *regions, RegionFilter removed, void *context, bool *changed);

#endif
