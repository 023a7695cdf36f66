/* config.h: the size of a GPT, as the book's GPT_CONFIG_124M dictionary. */
#ifndef CH04_CONFIG_H
#define CH04_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* ==== 4.1 Coding an LLM architecture ==== */

typedef struct {
    int vocab_size;     /* 50257 for GPT-2's BPE */
    int context_length; /* the most tokens the model sees at once */
    int emb_dim;        /* C, the width of every token's vector */
    int n_heads;        /* attention heads; emb_dim must divide by it */
    int n_layers;       /* transformer blocks */
    float drop_rate;    /* dropout during training */
    bool qkv_bias;      /* biases on the query/key/value projections */
    bool tie_weights;   /* the output head reuses the token embedding */
    /* Exercise 4.3: a dropout rate for each place instead of drop_rate for
     * all. false, the default (and so what every configuration that does
     * not mention it gets): drop_rate everywhere, as in the chapter. */
    bool separate_dropout;
    float drop_rate_emb;      /* after the embeddings (the book's drop_emb) */
    float drop_rate_attn;     /* on the attention weights */
    float drop_rate_shortcut; /* on both branches before their shortcut (drop_shortcut) */
} GPTConfig;

/* The book's GPT_CONFIG_124M: GPT-2 small's shape with dropout 0.1, no qkv
 * bias and an untied output head. */
GPTConfig gpt_config_124m(void);

/* Presets by name: "124M" (the book's), and OpenAI's sizes "gpt2-small",
 * "gpt2-medium", "gpt2-large", "gpt2-xl" (with qkv bias and a tied head, as
 * OpenAI's weights have them). Returns false for an unknown name. */
bool gpt_config_preset(const char *name, GPTConfig *out);
/* The preset names, for --help. */
const char *gpt_config_preset_names(void);

/* The largest sizes accepted. They are far above any real GPT (GPT-2 XL:
 * vocabulary 50257, context 1024, width 1600, 48 layers) and keep every
 * size computed from them in range (4 x emb_dim as an int, the parameter
 * table), so a configuration read from a file cannot overflow anything.
 * They bound no allocation on their own: a loader checks a configuration
 * against the checkpoint's tensors before it allocates the model. */
#define GPT_MAX_VOCAB (1 << 24)
#define GPT_MAX_CONTEXT (1 << 20)
#define GPT_MAX_EMB_DIM (1 << 16)
#define GPT_MAX_LAYERS (1 << 12)

/* False, with a one-line reason naming the field, when the numbers make no
 * model or exceed the limits above (or, with separate_dropout, a rate is
 * outside [0, 1)). */
bool gpt_config_check(const GPTConfig *c, char *err, size_t err_size);

/* ==== Exercise 4.3: separate dropout rates ==== */

/* The rate each dropout layer uses: the three rates of a configuration
 * with separate_dropout, otherwise drop_rate three times. */
typedef struct {
    float emb, attn, shortcut;
} GPTDropRates;
GPTDropRates gpt_drop_rates(const GPTConfig *c);

#endif
