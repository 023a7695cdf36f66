/* arena.h: many float buffers laid out one after another in one allocation.
 *
 * A layout function takes its buffers from an arena in order. Run on an
 * arena without memory it only adds their sizes up; run again on memory of
 * that size, it points every buffer into it. So the one list of buffers in
 * the layout function is both the allocation's size and its map, and there
 * is no hand-counted total to keep in step with it. */
#ifndef COMMON_ARENA_H
#define COMMON_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct {
    float *base; /* NULL: only count */
    size_t used; /* floats handed out so far */
} FloatArena;

/* The next n floats (NULL when only counting). */
static inline float *arena_take(FloatArena *a, size_t n) {
    if (n > SIZE_MAX / sizeof(float) - a->used) fatal("arena: %zu + %zu floats do not fit in memory", a->used, n);
    float *p = a->base ? a->base + a->used : NULL;
    a->used += n;
    return p;
}

#endif
