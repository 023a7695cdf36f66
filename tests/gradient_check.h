/* gradient_check.h: finite differences for the backward-pass tests.
 *
 * A test defines a scalar loss of the layer's output (usually sum(out * G)
 * with a fixed random G, which makes G the gradient of out), gets the
 * analytic gradients from the backward pass, and compares them with central
 * differences (loss(x + h) - loss(x - h)) / 2h, one input at a time.
 *
 * Two ways, as the tests need them:
 *   - a double-precision reference forward written in the test: with
 *     h = 1e-5 the difference is exact to ~1e-9, so the float32 backward
 *     can be held to ~1e-4 of the gradient's scale;
 *   - the float32 forward itself (whole blocks and models), where every
 *     forward rounds differently and h must be large (1e-2): see the
 *     tolerances where it is used. */
#ifndef TESTS_GRADIENT_CHECK_H
#define TESTS_GRADIENT_CHECK_H

#include <check.h>
#include <math.h>
#include <stddef.h>

typedef double (*LossFn)(void *ctx);

/* d loss / d *x by central differences in double, *x restored. */
static inline double central_difference(double *x, double h, LossFn loss, void *ctx) {
    const double saved = *x;
    *x = saved + h;
    double up = loss(ctx);
    *x = saved - h;
    double down = loss(ctx);
    *x = saved;
    return (up - down) / (2 * h);
}

/* The same for a float input. The step is the one float rounding really
 * took (x + h and x - h are rounded), not 2h. */
static inline double central_difference_f32(float *x, float h, LossFn loss, void *ctx) {
    const float saved = *x;
    const float x_up = saved + h, x_down = saved - h;
    *x = x_up;
    double up = loss(ctx);
    *x = x_down;
    double down = loss(ctx);
    *x = saved;
    return (up - down) / ((double)x_up - (double)x_down);
}

/* Assert |analytic - numeric| <= tol * (max |numeric| over the n values +
 * |numeric|): relative to the tensor's scale, so that tiny gradients are
 * not held to more digits than their large neighbours carry. */
static inline void assert_gradient_close(const char *what, const float *analytic, const double *numeric, size_t n,
                                         double tol) {
    double scale = 0.0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(numeric[i]));
    ck_assert_msg(scale > 0.0, "%s: the numeric gradient is all zero (a test that checks nothing)", what);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(analytic[i] - numeric[i]) <= tol * (scale + fabs(numeric[i])),
                      "%s[%zu]: analytic %.8g, numeric %.8g (tolerance %.1e of scale %.3g)", what, i, analytic[i],
                      numeric[i], tol, scale);
}

#endif
