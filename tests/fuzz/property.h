/* property.h: what the text-parser fuzz harnesses share. PROPERTY(cond)
 * aborts with the condition and its line when cond is false, so libFuzzer
 * (or the replay program of `make test`) reports the input as a crash. */
#ifndef TESTS_FUZZ_PROPERTY_H
#define TESTS_FUZZ_PROPERTY_H

#include <stdio.h>
#include <stdlib.h>

#define PROPERTY(cond)                                                                            \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "%s:%d: property does not hold: %s\n", __FILE__, __LINE__, #cond);    \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

#endif
