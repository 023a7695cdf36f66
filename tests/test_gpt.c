/* Tests for ch04_gpt: the configuration, the transformer block and the GPT
 * model against PyTorch (tests/fixtures/gpt_small.bin, made by
 * tests/reference/gpt_reference.py: 2 layers, 4 heads, 64 channels,
 * context 32, vocabulary 300, qkv bias on); the backward pass (feed-forward,
 * block, model, dropout) against finite differences and against PyTorch's
 * autograd (tests/fixtures/gpt_grads.bin, tests/reference/gpt_grad_reference.py).
 *
 * Forward tolerance (the gradients' are stated where they are checked):
 * each block is about ten float32 operations deep, each adding a
 * few ulps of rounding in another order than PyTorch, and layer norm
 * multiplies errors by up to 1/std of its input (about 3 here). Values are
 * of order 1-5, so 1e-5 relative plus 2e-5 absolute is a bound that a real
 * mistake (order 1e-2 and more) cannot hide under. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ch04_gpt/feedforward.h"
#include "../ch04_gpt/gpt.h"
#include "../ch05_pretrain/loss.h"
#include "gradient_check.h"
#include "test_helpers.h"

#define REL 1e-5f
#define ABS 2e-5f

static TensorFile fx;
static void load_fixture(void) { fx = read_fixture("gpt_small.bin"); }
static void free_fixture(void) { tensor_file_free(&fx); }

static const float *get(const char *name) { return fixture_tensor(&fx, name)->data; }

START_TEST(test_param_counts_match_the_book_and_openai) {
    GPTConfig c = gpt_config_124m();
    ck_assert_uint_eq(gpt_param_count(&c), 163009536);
    c.tie_weights = true;
    ck_assert_uint_eq(gpt_param_count(&c), 124412160);
    /* OpenAI's checkpoints (qkv bias, tied head): the published counts */
    const char *names[] = {"gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl"};
    const size_t counts[] = {124439808, 354823168, 774030080, 1557611200};
    for (int i = 0; i < 4; i++) {
        ck_assert(gpt_config_preset(names[i], &c));
        ck_assert_uint_eq(gpt_param_count(&c), counts[i]);
    }
    ck_assert(!gpt_config_preset("gpt5", &c));
}
END_TEST

START_TEST(test_config_check) {
    char err[128];
    GPTConfig c = gpt_config_124m();
    ck_assert(gpt_config_check(&c, err, sizeof err));
    c.n_heads = 7;
    ck_assert(!gpt_config_check(&c, err, sizeof err));
    ck_assert_str_eq(err, "emb_dim 768 is not divisible by n_heads 7");
    c = gpt_config_124m();
    c.drop_rate = 1.0f;
    ck_assert(!gpt_config_check(&c, err, sizeof err));
    /* sizes that would overflow 3 * C and 4 * C (ints) are refused, by name */
    c = gpt_config_124m();
    c.emb_dim = 600000000;
    c.n_heads = 1;
    ck_assert(!gpt_config_check(&c, err, sizeof err));
    ck_assert_str_eq(err, "emb_dim 600000000 is over the limit of 65536");
    ck_assert_uint_eq(gpt_param_count(&c), 0);
    int count;
    size_t total;
    ck_assert_ptr_null(gpt_param_table(&c, &count, &total, err, sizeof err));
    ck_assert_ptr_null(gpt_try_create(&c, err, sizeof err));
    c = gpt_config_124m();
    c.vocab_size = 2000000000;
    ck_assert(!gpt_config_check(&c, err, sizeof err));
    ck_assert_str_eq(err, "vocab_size 2000000000 is over the limit of 16777216");
    c = gpt_config_124m();
    c.n_layers = GPT_MAX_LAYERS + 1;
    ck_assert(!gpt_config_check(&c, err, sizeof err));
    ck_assert_str_eq(err, "n_layers 4097 is over the limit of 4096");
    c.n_layers = -1;
    ck_assert(!gpt_config_check(&c, err, sizeof err));
    ck_assert_str_eq(err, "n_layers -1 is below 0");
    c = gpt_config_124m();
    c.context_length = 0;
    ck_assert(!gpt_config_check(&c, err, sizeof err));
    ck_assert_str_eq(err, "context_length 0 is below 1");
}
END_TEST

/* A model of many layers: every named view points at its own tensor in
 * the buffer. They are bound in one pass over the table; a search by name
 * per view made a 2512-layer model take seconds to build. */
START_TEST(test_many_layers_views) {
    GPTConfig c = {.vocab_size = 3, .context_length = 2, .emb_dim = 2, .n_heads = 1, .n_layers = 2512};
    GPTModel *m = gpt_create(&c);
    gpt_zero_grad(m);
    for (int l = 0; l < c.n_layers; l += 501) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.ff.fc2.bias", l);
        ck_assert_ptr_eq(m->blocks[l].fc2_bias, m->params + gpt_find_param(m, name)->offset);
        ck_assert_ptr_eq(m->grad_blocks[l].fc2_bias, m->grads + gpt_find_param(m, name)->offset);
        snprintf(name, sizeof name, "blocks.%d.norm1.scale", l);
        ck_assert_ptr_eq(m->blocks[l].norm1_scale, m->params + gpt_find_param(m, name)->offset);
        ck_assert_ptr_null(m->blocks[l].qkv_bias); /* no qkv bias in this config */
    }
    ck_assert_ptr_eq(m->out_head, m->params + gpt_find_param(m, "out_head.weight")->offset);
    ck_assert_ptr_eq(m->final_norm_shift, m->params + gpt_find_param(m, "final_norm.shift")->offset);
    ck_assert_ptr_eq(m->pos_emb, m->params + gpt_find_param(m, "pos_emb.weight")->offset);
    gpt_free(m);
}
END_TEST

START_TEST(test_forward_matches_pytorch_layer_by_layer) {
    GPTModel *m = gpt_from_fixture(&fx, false, 0.1f);
    const int B = 2, T = 16, C = 64;
    int ids[32];
    for (int i = 0; i < 32; i++) ids[i] = (int)get("input_ids")[i];
    gpt_forward(m, ids, B, T);
    const size_t n = (size_t)B * T * C;
    assert_all_close("embeddings", m->embedded, get("out.embeddings"), n, REL, ABS);
    for (int l = 0; l < 2; l++) {
        char name[64];
        const BlockActivations *a = &m->block_acts[l];
        struct {
            const char *suffix;
            const float *got;
        } checks[] = {{"norm1", a->norm1}, {"att", a->att_out}, {"norm2", a->norm2}, {"ff", a->ff_out}, {"", a->out}};
        for (int k = 0; k < 5; k++) {
            snprintf(name, sizeof name, "out.blocks.%d%s%s", l, *checks[k].suffix ? "." : "", checks[k].suffix);
            assert_all_close(name, checks[k].got, get(name), n, REL, ABS);
        }
    }
    assert_all_close("final_norm", m->final_norm, get("out.final_norm"), n, REL, ABS);
    assert_all_close("logits", m->logits, get("out.logits"), (size_t)B * T * 300, REL, ABS);
    gpt_free(m);
}
END_TEST

/* The feed-forward network alone (4.3): block 0's on PyTorch's input to it
 * (the second layer norm's output) gives PyTorch's output. */
START_TEST(test_feedforward_matches_pytorch) {
    GPTModel *m = gpt_from_fixture(&fx, false, 0.1f);
    enum { N = 2 * 16, C = 64 };
    const BlockWeights *w = &m->blocks[0];
    FeedForwardParams ff = {w->fc1_weight, w->fc1_bias, w->fc2_weight, w->fc2_bias, w->fc1_hook, w->fc2_hook};
    float *hidden = malloc(4 * N * C * sizeof(float)), *hidden_gelu = malloc(4 * N * C * sizeof(float));
    float out[N * C];
    feedforward_forward(out, hidden, hidden_gelu, get("out.blocks.0.norm2"), &ff, N, C);
    assert_all_close("out.blocks.0.ff", out, get("out.blocks.0.ff"), N * C, REL, ABS);
    free(hidden_gelu);
    free(hidden);
    gpt_free(m);
}
END_TEST

/* Causality: the logits at position t depend on tokens 0..t only. */
START_TEST(test_future_tokens_do_not_leak) {
    GPTModel *m = gpt_from_fixture(&fx, false, 0.1f);
    int ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (int)get("input_ids")[i];
    gpt_forward(m, ids, 1, 16);
    float *before = malloc(8 * 300 * sizeof(float));
    memcpy(before, m->logits, 8 * 300 * sizeof(float));
    for (int i = 8; i < 16; i++) ids[i] = (ids[i] + 1) % 300;
    gpt_forward(m, ids, 1, 16);
    assert_all_close("logits of the first 8 positions", m->logits, before, 8 * 300, 0, 0);
    free(before);
    gpt_free(m);
}
END_TEST

START_TEST(test_tied_head_uses_token_embedding) {
    GPTModel *m = gpt_from_fixture(&fx, true, 0.1f);
    ck_assert_ptr_eq(m->out_head, m->tok_emb);
    ck_assert_ptr_null(gpt_find_param(m, "out_head.weight"));
    int prompt[5];
    for (int i = 0; i < 5; i++) prompt[i] = (int)get("generate.prompt")[i];
    gpt_forward(m, prompt, 1, 5);
    /* these logits reach 52, so compare relatively */
    assert_all_close("tied logits", m->logits + 4 * 300, get("generate_tied.logits"), 300, 1e-5f, 1e-4f);
    gpt_free(m);
}
END_TEST

START_TEST(test_init_like_pytorch_defaults) {
    GPTConfig c = {.vocab_size = 100, .context_length = 16, .emb_dim = 32, .n_heads = 4, .n_layers = 2, .qkv_bias = true};
    GPTModel *m = gpt_create(&c);
    gpt_init_weights(m, 1);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *p = &m->tensors[i];
        const float *w = m->params + p->offset;
        double sum = 0, sum2 = 0, max_abs = 0;
        for (size_t k = 0; k < p->size; k++) {
            sum += w[k];
            sum2 += (double)w[k] * w[k];
            max_abs = fmax(max_abs, fabs(w[k]));
        }
        switch (p->init) {
        case INIT_ONES: ck_assert_msg(sum == (double)p->size && sum2 == sum, "%s", p->name); break;
        case INIT_ZEROS: ck_assert_msg(sum2 == 0, "%s", p->name); break;
        case INIT_LINEAR: ck_assert_msg(max_abs <= 1 / sqrt(p->fan_in) && max_abs > 0.5 / sqrt(p->fan_in), "%s", p->name); break;
        case INIT_NORMAL: ck_assert_msg(fabs(sum2 / p->size - 1) < 0.1, "%s variance %g", p->name, sum2 / p->size); break;
        }
    }
    gpt_free(m);
}
END_TEST

START_TEST(test_too_long_input_exits) {
    GPTModel *m = gpt_from_fixture(&fx, false, 0.1f);
    int ids[33] = {0};
    gpt_forward(m, ids, 1, 33);
}
END_TEST

START_TEST(test_bad_token_exits) {
    GPTModel *m = gpt_from_fixture(&fx, false, 0.1f);
    int ids[2] = {0, 300};
    gpt_forward(m, ids, 1, 2);
}
END_TEST

START_TEST(test_missing_param_in_file_exits) {
    GPTConfig c = {.vocab_size = 300, .context_length = 32, .emb_dim = 64, .n_heads = 4, .n_layers = 3, .qkv_bias = true};
    GPTModel *m = gpt_create(&c); /* 3 layers: the fixture has 2 */
    gpt_load_params(m, &fx);
}
END_TEST

/* ---- gradients ------------------------------------------------------------------------- */

/* The feed-forward network against a double-precision reference: central
 * differences with h = 1e-5 are exact to ~1e-9, and the float32 backward
 * (two matmul_backward, gelu_backward) rounds sums of at most 4C = 32
 * terms, so 1e-4 of each gradient's scale holds with room. */
enum { FN = 6, FC = 8, FH = 4 * FC };

typedef struct {
    double *p; /* in, fc1 weight, fc1 bias, fc2 weight, fc2 bias */
    double hidden[FN * FH];
    const float *G;
} FeedForwardRef;

static double feedforward_ref_loss(void *ctx) {
    FeedForwardRef *r = ctx;
    const double *in = r->p, *w1 = in + FN * FC, *b1 = w1 + FC * FH, *w2 = b1 + FH, *b2 = w2 + FH * FC;
    for (int i = 0; i < FN; i++)
        for (int j = 0; j < FH; j++) {
            double x = b1[j];
            for (int k = 0; k < FC; k++) x += in[i * FC + k] * w1[k * FH + j];
            r->hidden[i * FH + j] = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
        }
    double loss = 0.0;
    for (int i = 0; i < FN; i++)
        for (int j = 0; j < FC; j++) {
            double y = b2[j];
            for (int k = 0; k < FH; k++) y += r->hidden[i * FH + k] * w2[k * FC + j];
            loss += y * r->G[i * FC + j];
        }
    return loss;
}

START_TEST(test_feedforward_backward_matches_finite_differences) {
    enum { NP = FN * FC + FC * FH + FH + FH * FC + FC };
    Rng rng;
    rng_seed(&rng, 31);
    float p[NP], g[NP], G[FN * FC], out[FN * FC], hidden[FN * FH], hidden_gelu[FN * FH], grad_h[FN * FH], grad_hg[FN * FH];
    double p64[NP], numeric[NP];
    rng_fill_normal(&rng, p, NP, 0, 0.5f);
    rng_fill_normal(&rng, G, FN * FC, 0, 1);
    for (int i = 0; i < NP; i++) p64[i] = p[i], g[i] = 0.5f;
    float *in = p, *w1 = in + FN * FC, *b1 = w1 + FC * FH, *w2 = b1 + FH, *b2 = w2 + FH * FC;
    FeedForwardParams params = {w1, b1, w2, b2, NULL, NULL};
    FeedForwardGrads grads = {g + (w1 - p), g + (b1 - p), g + (w2 - p), g + (b2 - p)};
    feedforward_forward(out, hidden, hidden_gelu, in, &params, FN, FC);
    feedforward_backward(g, &grads, grad_h, grad_hg, G, in, hidden, hidden_gelu, &params, FN, FC);
    for (int i = 0; i < NP; i++) g[i] -= 0.5f; /* everything accumulated onto 0.5 */
    FeedForwardRef ref = {.p = p64, .G = G};
    for (int i = 0; i < NP; i++) numeric[i] = central_difference(&p64[i], 1e-5, feedforward_ref_loss, &ref);
    const char *names[5] = {"grad_in", "grad_fc1_weight", "grad_fc1_bias", "grad_fc2_weight", "grad_fc2_bias"};
    const int sizes[5] = {FN * FC, FC * FH, FH, FH * FC, FC};
    for (int k = 0, at = 0; k < 5; at += sizes[k++])
        assert_gradient_close(names[k], g + at, numeric + at, sizes[k], 1e-4);
}
END_TEST

/* Whole blocks and models are checked with their own float32 forward, as
 * the training code runs it. Each forward rounds at ~1e-7 of its values, so
 * the loss carries noise of a few 1e-7 that the difference quotient divides
 * by 2h: with h = 1e-2 that is ~1e-5 absolute, against gradients of 1e-3 to
 * 1, and the truncation error (h^2 f''' / 6) is ~1e-5 relative. Observed:
 * at most 4e-4 of a tensor's largest sampled gradient. The tolerance, 1e-2
 * of that scale (plus 1e-2 relative), sits well above this and far below
 * what a wrong formula gives (an error the size of the gradient: a missing
 * dropout factor is 25%). The PyTorch comparison below holds the same code
 * to 1e-4. */
#define FD_STEP 1e-2f
#define FD_TOL 1e-2

/* A tiny model with every parameter random, LayerNorms included (their
 * defaults 1 and 0 would hide a mix-up of scale and shift). */
static GPTModel *tiny_gpt(bool qkv_bias, bool tied, float drop_rate) {
    GPTConfig c = {.vocab_size = 11, .context_length = 8, .emb_dim = 8, .n_heads = 2, .n_layers = 2,
                   .drop_rate = drop_rate, .qkv_bias = qkv_bias, .tie_weights = tied};
    GPTModel *m = gpt_create(&c);
    gpt_init_weights(m, 42);
    Rng rng;
    rng_seed(&rng, 43);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *p = &m->tensors[i];
        if (p->init == INIT_ONES || p->init == INIT_ZEROS)
            for (size_t k = 0; k < p->size; k++) m->params[p->offset + k] += 0.3f * rng_normal(&rng);
    }
    return m;
}

static double dot_g(const float *out, const float *G, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += (double)out[i] * G[i];
    return sum;
}

/* The tensors first..last of m's table: 8 entries of each, one in each
 * eighth of it at varying columns, m->grads against the differences of
 * loss, compared per tensor. */
static void check_sampled_gradients(GPTModel *m, const ParamTensor *first, const ParamTensor *last, LossFn loss,
                                    void *ctx) {
    for (const ParamTensor *p = first; p <= last; p++) {
        float analytic[8];
        double numeric[8];
        const int n = 8;
        const size_t stride = p->size / n; /* every tensor of the tiny model has >= 8 values */
        for (int k = 0; k < n; k++) {
            size_t at = p->offset + k * stride + (size_t)(3 * k) % stride;
            analytic[k] = m->grads[at];
            numeric[k] = central_difference_f32(&m->params[at], FD_STEP, loss, ctx);
        }
        assert_gradient_close(p->name, analytic, numeric, n, FD_TOL);
    }
}

/* ---- one block ---- */

enum { BB = 2, BT = 5, BC = 8 };

typedef struct {
    GPTModel *m;
    float *x;
    const float *G;
    float drop_rate;
} BlockCase;

static double block_loss(void *ctx) {
    BlockCase *b = ctx;
    rng_seed(&b->m->rng, 7); /* the same dropout masks every time */
    transformer_block_forward(&b->m->block_acts[0], b->x, &b->m->blocks[0], NULL, BB, BT, BC, 2, b->drop_rate,
                              b->drop_rate, &b->m->rng);
    return dot_g(b->m->block_acts[0].out, b->G, BB * BT * BC);
}

static void check_block(float drop_rate) {
    GPTModel *m = tiny_gpt(true, false, drop_rate);
    m->training = drop_rate > 0;
    int ids[BB * BT] = {0};
    gpt_forward(m, ids, BB, BT); /* lays out the activations (with masks in training) */
    enum { N = BB * BT };
    Rng rng;
    rng_seed(&rng, 5);
    float x[N * BC], G[N * BC], grad_x[N * BC];
    rng_fill_normal(&rng, x, N * BC, 0, 1);
    rng_fill_normal(&rng, G, N * BC, 0, 1);
    /* the scratch, one buffer laid out as gpt_backward lays it out: sized
     * by a first pass that only counts */
    BlockScratch scratch;
    FloatArena count = {0};
    block_scratch_layout(&scratch, &count, BB, BT, BC, 2);
    float *buf = malloc(count.used * sizeof(float));
    block_scratch_layout(&scratch, &(FloatArena){.base = buf}, BB, BT, BC, 2);
    gpt_zero_grad(m);
    BlockCase bc = {m, x, G, drop_rate};
    block_loss(&bc);
    memcpy(grad_x, G, sizeof grad_x);
    transformer_block_backward(grad_x, &m->grad_blocks[0], &scratch, &m->block_acts[0], x, &m->blocks[0], BB, BT, BC, 2);
    if (drop_rate > 0) {
        const float *mask = m->block_acts[0].att_out_dropout;
        int dropped = 0;
        for (int i = 0; i < N * BC; i++) dropped += mask[i] == 0.0f;
        ck_assert_msg(dropped > 0 && dropped < N * BC, "dropout dropped %d of %d", dropped, N * BC);
    }
    /* the block's input, then the parameters of block 0 */
    double numeric[N * BC];
    for (int i = 0; i < N * BC; i++) numeric[i] = central_difference_f32(&x[i], FD_STEP, block_loss, &bc);
    assert_gradient_close("block grad_x", grad_x, numeric, N * BC, FD_TOL);
    check_sampled_gradients(m, gpt_find_param(m, "blocks.0.norm1.scale"), gpt_find_param(m, "blocks.0.ff.fc2.bias"),
                            block_loss, &bc);
    free(buf);
    gpt_free(m);
}

START_TEST(test_block_backward_matches_finite_differences) {
    check_block(0.0f);
    check_block(0.25f); /* training: the masks are drawn again, the same, for every difference */
}
END_TEST

/* ---- the whole model ---- */

enum { GB = 2, GT = 6 };

typedef struct {
    GPTModel *m;
    const int *ids, *targets;
} GPTCase;

/* The mean cross entropy of the logits, in double. */
static double gpt_loss(void *ctx) {
    GPTCase *g = ctx;
    rng_seed(&g->m->rng, 99);
    gpt_forward(g->m, g->ids, GB, GT);
    const int V = g->m->config.vocab_size;
    double total = 0.0;
    for (int i = 0; i < GB * GT; i++) {
        const float *x = g->m->logits + (size_t)i * V;
        double max = x[0], sum = 0.0;
        for (int j = 1; j < V; j++) max = fmax(max, x[j]);
        for (int j = 0; j < V; j++) sum += exp(x[j] - max);
        total += log(sum) + max - x[g->targets[i]];
    }
    return total / (GB * GT);
}

static void check_gpt(bool qkv_bias, bool tied, float drop_rate) {
    GPTModel *m = tiny_gpt(qkv_bias, tied, drop_rate);
    m->training = drop_rate > 0;
    const int ids[GB * GT] = {1, 5, 5, 0, 10, 3, 7, 7, 2, 9, 4, 1};
    const int targets[GB * GT] = {5, 5, 0, 10, 3, 6, 7, 2, 9, 4, 1, 8};
    GPTCase g = {m, ids, targets};
    const int V = m->config.vocab_size;
    float *probs = malloc((size_t)GB * GT * V * sizeof(float));
    gpt_loss(&g);
    cross_entropy_forward(NULL, probs, m->logits, targets, GB * GT, V);
    cross_entropy_backward(probs, probs, targets, GB * GT, V);
    gpt_zero_grad(m);
    gpt_backward(m, probs);
    check_sampled_gradients(m, &m->tensors[0], &m->tensors[m->n_tensors - 1], gpt_loss, &g);
    free(probs);
    gpt_free(m);
}

START_TEST(test_gpt_backward_matches_finite_differences) {
    check_gpt(true, false, 0.0f);
    check_gpt(false, false, 0.0f);
    check_gpt(true, true, 0.0f); /* the tied head adds to the token embedding's gradient */
    check_gpt(false, true, 0.0f);
}
END_TEST

/* Training mode: with the masks fixed (the same seed for every forward),
 * dropout is a fixed linear map and the gradients still check out. */
START_TEST(test_gpt_backward_with_dropout_matches_finite_differences) {
    check_gpt(true, false, 0.2f);
    check_gpt(false, true, 0.2f);
}
END_TEST

/* Training with drop_rate 0 is evaluation, bit for bit; with p > 0 every
 * mask holds 0 or 1/(1-p) and evaluation mode ignores the rate. */
START_TEST(test_dropout_modes) {
    const int ids[GB * GT] = {1, 5, 5, 0, 10, 3, 7, 7, 2, 9, 4, 1};
    const size_t n_logits = (size_t)GB * GT * 11;
    GPTModel *eval = tiny_gpt(true, false, 0.0f);
    gpt_forward(eval, ids, GB, GT);
    GPTModel *m = tiny_gpt(true, false, 0.0f);
    m->training = true;
    rng_seed(&m->rng, 1);
    gpt_forward(m, ids, GB, GT);
    ck_assert_ptr_null(m->emb_dropout);
    assert_all_close("training, drop_rate 0", m->logits, eval->logits, n_logits, 0, 0);
    gpt_free(m);

    m = tiny_gpt(true, false, 0.5f);
    gpt_forward(m, ids, GB, GT); /* training is off by default */
    assert_all_close("evaluation, drop_rate 0.5", m->logits, eval->logits, n_logits, 0, 0);
    m->training = true;
    rng_seed(&m->rng, 1);
    gpt_forward(m, ids, GB, GT);
    const size_t N = GB * GT, C = 8, att = (size_t)GB * 2 * GT * GT;
    const float *masks[7] = {m->emb_dropout};
    size_t sizes[7] = {N * C};
    for (int l = 0; l < 2; l++) {
        const BlockActivations *a = &m->block_acts[l];
        masks[1 + 3 * l] = a->att_dropout, sizes[1 + 3 * l] = att;
        masks[2 + 3 * l] = a->att_out_dropout, sizes[2 + 3 * l] = N * C;
        masks[3 + 3 * l] = a->ff_out_dropout, sizes[3 + 3 * l] = N * C;
    }
    for (int k = 0; k < 7; k++) {
        ck_assert_ptr_nonnull(masks[k]);
        size_t zeros = 0;
        for (size_t i = 0; i < sizes[k]; i++) {
            ck_assert_msg(masks[k][i] == 0.0f || masks[k][i] == 2.0f, "mask %d: %g", k, masks[k][i]);
            zeros += masks[k][i] == 0.0f;
        }
        ck_assert_msg(zeros > sizes[k] / 5 && zeros < sizes[k] * 4 / 5, "mask %d dropped %zu of %zu", k, zeros,
                      sizes[k]);
    }
    int differ = 0;
    for (size_t i = 0; i < n_logits; i++) differ += m->logits[i] != eval->logits[i];
    ck_assert_int_gt(differ, 0);
    gpt_free(m);
    gpt_free(eval);
}
END_TEST

/* Exercise 4.3: with separate_dropout each place drops at its own rate
 * (here 0 after the embeddings, 0.5 on the attention weights, 0 on the
 * branches, so only the attention masks may hold zeros); without it the
 * three fields are ignored and drop_rate is used everywhere. A rate of 1
 * is refused by name, as drop_rate's is. */
START_TEST(test_separate_dropout_rates) {
    GPTConfig c = {.drop_rate = 0.1f, .drop_rate_emb = 0.9f, .drop_rate_attn = 0.8f, .drop_rate_shortcut = 0.7f};
    GPTDropRates r = gpt_drop_rates(&c);
    ck_assert(r.emb == 0.1f && r.attn == 0.1f && r.shortcut == 0.1f);
    c.separate_dropout = true;
    r = gpt_drop_rates(&c);
    ck_assert(r.emb == 0.9f && r.attn == 0.8f && r.shortcut == 0.7f);
    char err[128];
    GPTConfig bad = gpt_config_124m();
    bad.separate_dropout = true;
    bad.drop_rate_shortcut = 1.0f;
    ck_assert(!gpt_config_check(&bad, err, sizeof err));
    ck_assert_str_eq(err, "drop_rate_shortcut 1 is not in [0, 1)");
    bad.separate_dropout = false; /* then the field is not used */
    ck_assert(gpt_config_check(&bad, err, sizeof err));

    const int ids[GB * GT] = {1, 5, 5, 0, 10, 3, 7, 7, 2, 9, 4, 1};
    GPTModel *m = tiny_gpt(true, false, 0.1f);
    m->config.separate_dropout = true;
    m->config.drop_rate_emb = 0.0f;
    m->config.drop_rate_attn = 0.5f;
    m->config.drop_rate_shortcut = 0.0f;
    m->training = true;
    rng_seed(&m->rng, 1);
    gpt_forward(m, ids, GB, GT);
    const size_t N = GB * GT, C = 8, att = (size_t)GB * 2 * GT * GT;
    for (size_t i = 0; i < N * C; i++) ck_assert_float_eq(m->emb_dropout[i], 1.0f);
    for (int l = 0; l < 2; l++) {
        const BlockActivations *a = &m->block_acts[l];
        for (size_t i = 0; i < N * C; i++) {
            ck_assert_float_eq(a->att_out_dropout[i], 1.0f);
            ck_assert_float_eq(a->ff_out_dropout[i], 1.0f);
        }
        size_t zeros = 0;
        for (size_t i = 0; i < att; i++) zeros += a->att_dropout[i] == 0.0f;
        /* 144 draws at p = 0.5: 72 +- 6, so 42..102 is five sigma */
        ck_assert_msg(zeros >= 42 && zeros <= 102, "layer %d dropped %zu of %zu attention weights", l, zeros, att);
    }
    gpt_free(m);
}
END_TEST

/* The activation and gradient buffers are laid out by the code that
 * points into them, with no count of their own; so check the property a
 * count was for: every buffer, sized from its shape in gpt.h and
 * transformer_block.h, lies inside the allocation, none overlaps another,
 * and together they fill it. In training (dropout masks too), for the
 * forward and backward of a batch; and for a cached step, whose attention
 * rows are as long as the cache and which fits in the prefill's memory. */
typedef struct {
    const float *at;
    size_t n;
} View;

static int by_address(const void *a, const void *b) {
    const float *x = ((const View *)a)->at, *y = ((const View *)b)->at;
    return (x > y) - (x < y);
}

/* exactly: the buffers fill the allocation (else they may leave room at
 * the end, as a smaller layout in memory grown for a bigger one does) */
static void assert_views_fit(const char *what, View *v, int n, const float *base, size_t capacity, bool exactly) {
    qsort(v, n, sizeof *v, by_address);
    size_t sum = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_msg(v[i].at >= base && v[i].at + v[i].n <= base + capacity, "%s: buffer %d is outside", what, i);
        if (i > 0) ck_assert_msg(v[i - 1].at + v[i - 1].n <= v[i].at, "%s: buffers %d and %d overlap", what, i - 1, i);
        sum += v[i].n;
    }
    ck_assert_msg(exactly ? sum == capacity : sum <= capacity, "%s: buffers of %zu floats in %zu", what, sum, capacity);
}

static int activation_views(const GPTModel *m, View *v, size_t att) {
    const size_t N = (size_t)m->B * m->T, C = m->config.emb_dim;
    int n = 0;
    v[n++] = (View){m->embedded, N * C};
    if (m->emb_dropout) v[n++] = (View){m->emb_dropout, N * C};
    for (int l = 0; l < m->config.n_layers; l++) {
        const BlockActivations *a = &m->block_acts[l];
        const View block[] = {{a->norm1, N * C},    {a->norm1_mean, N},  {a->norm1_rstd, N},   {a->qkv, 3 * N * C},
                              {a->att, att},        {a->context, N * C}, {a->att_out, N * C},  {a->residual1, N * C},
                              {a->norm2, N * C},    {a->norm2_mean, N},  {a->norm2_rstd, N},   {a->fc1, 4 * N * C},
                              {a->fc1_gelu, 4 * N * C}, {a->ff_out, N * C}, {a->out, N * C}};
        for (size_t k = 0; k < sizeof block / sizeof block[0]; k++) v[n++] = block[k];
        if (a->att_dropout) {
            v[n++] = (View){a->att_dropout, att};
            v[n++] = (View){a->att_out_dropout, N * C};
            v[n++] = (View){a->ff_out_dropout, N * C};
        }
    }
    v[n++] = (View){m->final_norm, N * C};
    v[n++] = (View){m->final_mean, N};
    v[n++] = (View){m->final_rstd, N};
    v[n++] = (View){m->logits, N * m->config.vocab_size};
    return n;
}

START_TEST(test_buffers_fill_their_allocations) {
    const int ids[GB * GT] = {1, 5, 5, 0, 10, 3, 7, 7, 2, 9, 4, 1};
    View v[64];
    GPTModel *m = tiny_gpt(true, false, 0.2f);
    m->training = true;
    gpt_forward(m, ids, GB, GT);
    const size_t N = GB * GT, C = 8, att = (size_t)GB * 2 * GT * GT;
    assert_views_fit("activations", v, activation_views(m, v, att), m->acts, m->acts_capacity, true);
    gpt_backward(m, m->logits);
    const BlockScratch *s = &m->scratch;
    View grads[] = {{m->grad_x, N * C},           {s->grad_branch, N * C},   {s->grad_norm, N * C},
                    {s->grad_fc1, 4 * N * C},     {s->grad_fc1_gelu, 4 * N * C}, {s->att.grad_qkv, 3 * N * C},
                    {s->att.grad_context, N * C}, {s->att.grad_att, att}};
    assert_views_fit("gradient buffers", grads, 8, m->grad_acts, m->grad_acts_capacity, true);
    gpt_free(m);

    m = tiny_gpt(true, false, 0.0f);
    KVCache *kv = kv_cache_create(&m->config);
    gpt_prefill(m, kv, ids, 5);
    gpt_forward_cached(m, kv, ids[5]);
    ck_assert_int_eq(m->past, 5);
    assert_views_fit("a cached step's activations", v, activation_views(m, v, 2 * 6), m->acts, m->acts_capacity,
                     false);
    kv_cache_free(kv);
    gpt_free(m);
}
END_TEST

/* Every tensor of the table is one of the listed kinds, found again by its
 * name, and its named view (a block's BlockWeights field, or the model's)
 * points at it. */
START_TEST(test_every_tensor_has_its_spec_and_view) {
    for (int untied = 0; untied <= 1; untied++) {
        GPTConfig c = {.vocab_size = 7, .context_length = 4, .emb_dim = 4, .n_heads = 2, .n_layers = 3,
                       .qkv_bias = true, .tie_weights = !untied};
        GPTModel *m = gpt_create(&c);
        gpt_zero_grad(m);
        ck_assert_int_eq(m->n_tensors, 2 + 12 * 3 + 2 + untied);
        for (int i = 0; i < m->n_tensors; i++) {
            const ParamTensor *p = &m->tensors[i];
            int layer;
            ck_assert_ptr_eq(gpt_param_spec(p->name, &layer), p->spec);
            ck_assert_int_eq(layer, p->layer);
            const char *params = p->layer >= 0 ? (const char *)&m->blocks[p->layer] : (const char *)m;
            const char *grads = p->layer >= 0 ? (const char *)&m->grad_blocks[p->layer] : (const char *)m;
            const size_t grad_field = p->layer >= 0 ? p->spec->view : p->spec->grad_view;
            ck_assert_ptr_eq(*(float *const *)(params + p->spec->view), m->params + p->offset);
            ck_assert_ptr_eq(*(float *const *)(grads + grad_field), m->grads + p->offset);
        }
        ck_assert_ptr_eq(m->out_head, untied ? m->params + gpt_find_param(m, "out_head.weight")->offset : m->tok_emb);
        ck_assert_ptr_null(gpt_param_spec("blocks.0.att.qkv.scale", &(int){0}));
        ck_assert_ptr_null(gpt_param_spec("lm_head.weight", &(int){0}));
        gpt_free(m);
    }
}
END_TEST

/* ---- against PyTorch's autograd (tests/fixtures/gpt_grads.bin) ----
 * Tolerance: PyTorch's own float32 gradients are within 6e-7 of their
 * float64 values relative to each tensor's largest gradient (the script
 * prints this), and ours are float32 too, summed in other orders through
 * about twenty layers of operations: errors of a few 1e-6 of the scale. So
 * each gradient must be within 1e-4 of its tensor's largest |gradient|
 * (plus 1e-4 relative), which a wrong term (an error the size of the
 * gradient) cannot meet. Loss: 1e-5 relative; logits as in the forward test. */

static TensorFile grad_fx;
static void load_grad_fixture(void) { grad_fx = read_fixture("gpt_grads.bin"); }
static void free_grad_fixture(void) { tensor_file_free(&grad_fx); }

/* got within 1e-4 of times * want's largest value (plus 1e-4 relative). */
static void assert_grad_close(const char *what, const float *got, const float *want, size_t n, float times) {
    float scale = 0.0f;
    float *expected = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        expected[i] = times * want[i];
        scale = fmaxf(scale, fabsf(expected[i]));
    }
    assert_all_close(what, got, expected, n, 1e-4f, 1e-4f * scale);
    free(expected);
}

/* forward, loss and backward of the fixture's batch; returns the loss. */
static float fixture_step(GPTModel *m, float *grad_logits) {
    int ids[32], targets[32];
    for (int i = 0; i < 32; i++) {
        ids[i] = (int)tensor_file_find(&grad_fx, "input_ids")->data[i];
        targets[i] = (int)tensor_file_find(&grad_fx, "targets")->data[i];
    }
    gpt_forward(m, ids, 2, 16);
    float loss = cross_entropy_forward(NULL, grad_logits, m->logits, targets, 32, 300);
    cross_entropy_backward(grad_logits, grad_logits, targets, 32, 300);
    gpt_backward(m, grad_logits);
    return loss;
}

/* Two backward passes: the second adds the same gradients again (as two
 * loss.backward() calls do), then gpt_zero_grad clears them. */
START_TEST(test_gradients_match_pytorch) {
    GPTModel *m = gpt_from_fixture(&grad_fx, false, 0.1f);
    float *grad_logits = malloc(32 * 300 * sizeof(float));
    gpt_zero_grad(m);
    for (int pass = 1; pass <= 2; pass++) {
        float loss = fixture_step(m, grad_logits);
        float want = tensor_file_find(&grad_fx, "loss")->data[0];
        ck_assert_msg(close_enough(loss, want, 1e-5f, 0), "loss %.8g, PyTorch %.8g", loss, want);
        assert_all_close("logits", m->logits, tensor_file_find(&grad_fx, "logits")->data, 32 * 300, REL, ABS);
        for (int i = 0; i < m->n_tensors; i++) {
            const ParamTensor *p = &m->tensors[i];
            char name[80];
            snprintf(name, sizeof name, "grad.%s", p->name);
            const Tensor *t = tensor_file_expect(&grad_fx, name, p->ndim, p->shape);
            assert_grad_close(name, m->grads + p->offset, t->data, p->size, (float)pass);
        }
    }
    gpt_zero_grad(m);
    for (size_t k = 0; k < m->n_params; k++) ck_assert(m->grads[k] == 0.0f);
    free(grad_logits);
    gpt_free(m);
}
END_TEST

/* Tied: the head's gradient and the embedding's land in one tensor (twice
 * over after two passes). Its logits reach 40 and the loss is 42, so the
 * loss is compared relatively. */
START_TEST(test_tied_gradients_match_pytorch) {
    GPTModel *m = gpt_from_fixture(&grad_fx, true, 0.1f);
    float *grad_logits = malloc(32 * 300 * sizeof(float));
    const float *want = tensor_file_find(&grad_fx, "tied.grad.tok_emb.weight")->data;
    for (int pass = 1; pass <= 2; pass++) {
        float loss = fixture_step(m, grad_logits); /* the first allocates zeroed gradients */
        float want_loss = tensor_file_find(&grad_fx, "tied.loss")->data[0];
        ck_assert_msg(close_enough(loss, want_loss, 1e-5f, 0), "tied loss %.8g, PyTorch %.8g", loss, want_loss);
        assert_grad_close("tied.grad.tok_emb.weight", m->grad_tok_emb, want, 300 * 64, (float)pass);
    }
    free(grad_logits);
    gpt_free(m);
}
END_TEST

Suite *gpt_suite(void) {
    Suite *s = suite_create("gpt");
    TCase *tc = tcase_create("pytorch");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, load_fixture, free_fixture);
    add_test(tc, test_param_counts_match_the_book_and_openai);
    add_test(tc, test_config_check);
    add_test(tc, test_forward_matches_pytorch_layer_by_layer);
    add_test(tc, test_feedforward_matches_pytorch);
    add_test(tc, test_future_tokens_do_not_leak);
    add_test(tc, test_tied_head_uses_token_embedding);
    add_test(tc, test_init_like_pytorch_defaults);
    add_test(tc, test_many_layers_views);
    add_test(tc, test_every_tensor_has_its_spec_and_view);
    add_exit_test(tc, test_too_long_input_exits, 1);
    add_exit_test(tc, test_bad_token_exits, 1);
    add_exit_test(tc, test_missing_param_in_file_exits, 1);
    suite_add_tcase(s, tc);

    TCase *grad = tcase_create("gradients");
    tcase_set_timeout(grad, 60);
    tcase_add_unchecked_fixture(grad, load_grad_fixture, free_grad_fixture);
    add_test(grad, test_feedforward_backward_matches_finite_differences);
    add_test(grad, test_block_backward_matches_finite_differences);
    add_test(grad, test_gpt_backward_matches_finite_differences);
    add_test(grad, test_gpt_backward_with_dropout_matches_finite_differences);
    add_test(grad, test_dropout_modes);
    add_test(grad, test_separate_dropout_rates);
    add_test(grad, test_buffers_fill_their_allocations);
    add_test(grad, test_gradients_match_pytorch);
    add_test(grad, test_tied_gradients_match_pytorch);
    suite_add_tcase(s, grad);
    return s;
}
