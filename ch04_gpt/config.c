/* config.c: see config.h. */
#include "config.h"

#include <stdio.h>
#include <string.h>

/* ==== 4.1 Coding an LLM architecture ==== */

GPTConfig gpt_config_124m(void) {
    return (GPTConfig){.vocab_size = 50257,
                       .context_length = 1024,
                       .emb_dim = 768,
                       .n_heads = 12,
                       .n_layers = 12,
                       .drop_rate = 0.1f,
                       .qkv_bias = false,
                       .tie_weights = false};
}

bool gpt_config_preset(const char *name, GPTConfig *out) {
    static const struct {
        const char *name;
        int emb_dim, n_layers, n_heads;
    } sizes[] = {
        {"gpt2-small", 768, 12, 12},   /* 124M */
        {"gpt2-medium", 1024, 24, 16}, /* 355M */
        {"gpt2-large", 1280, 36, 20},  /* 774M */
        {"gpt2-xl", 1600, 48, 25},     /* 1558M */
    };
    *out = gpt_config_124m();
    if (strcmp(name, "124M") == 0) return true;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(name, sizes[i].name) == 0) {
            out->emb_dim = sizes[i].emb_dim;
            out->n_layers = sizes[i].n_layers;
            out->n_heads = sizes[i].n_heads;
            out->qkv_bias = true;
            out->tie_weights = true;
            return true;
        }
    return false;
}

const char *gpt_config_preset_names(void) { return "124M, gpt2-small, gpt2-medium, gpt2-large, gpt2-xl"; }

/* A dropout rate, named as in GPTConfig: 1 would drop everything and
 * scale by 1/(1-p) = infinity. */
static bool rate_in_range(const char *field, float rate, char *err, size_t err_size) {
    if (rate >= 0.0f && rate < 1.0f) return true;
    snprintf(err, err_size, "%s %g is not in [0, 1)", field, rate);
    return false;
}

/* One size against its range, named as in GPTConfig. */
static bool in_range(const char *field, int value, int min, int max, char *err, size_t err_size) {
    if (value < min) return snprintf(err, err_size, "%s %d is below %d", field, value, min), false;
    if (value > max) return snprintf(err, err_size, "%s %d is over the limit of %d", field, value, max), false;
    return true;
}

bool gpt_config_check(const GPTConfig *c, char *err, size_t err_size) {
    if (!in_range("vocab_size", c->vocab_size, 1, GPT_MAX_VOCAB, err, err_size) ||
        !in_range("context_length", c->context_length, 1, GPT_MAX_CONTEXT, err, err_size) ||
        !in_range("emb_dim", c->emb_dim, 1, GPT_MAX_EMB_DIM, err, err_size) ||
        !in_range("n_heads", c->n_heads, 1, GPT_MAX_EMB_DIM, err, err_size) ||
        !in_range("n_layers", c->n_layers, 0, GPT_MAX_LAYERS, err, err_size))
        return false;
    if (c->emb_dim % c->n_heads != 0) {
        snprintf(err, err_size, "emb_dim %d is not divisible by n_heads %d", c->emb_dim, c->n_heads);
        return false;
    }
    if (!rate_in_range("drop_rate", c->drop_rate, err, err_size)) return false;
    if (c->separate_dropout)
        return rate_in_range("drop_rate_emb", c->drop_rate_emb, err, err_size) &&
               rate_in_range("drop_rate_attn", c->drop_rate_attn, err, err_size) &&
               rate_in_range("drop_rate_shortcut", c->drop_rate_shortcut, err, err_size);
    return true;
}

/* ==== Exercise 4.3: separate dropout rates ==== */

GPTDropRates gpt_drop_rates(const GPTConfig *c) {
    if (c->separate_dropout) return (GPTDropRates){c->drop_rate_emb, c->drop_rate_attn, c->drop_rate_shortcut};
    return (GPTDropRates){c->drop_rate, c->drop_rate, c->drop_rate};
}
