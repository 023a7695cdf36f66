/* classifier.c: see classifier.h. */
#include "classifier.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch05_pretrain/gpt_weights.h"
#include "../ch05_pretrain/loss.h"
#include "../common/ops.h"
#include "../common/rng.h"
#include "../common/util.h"

const char *classifier_token_name(ClassifierToken token) { return token == CLASSIFIER_TOKEN_FIRST ? "first" : "last"; }

bool classifier_token_parse(const char *name, ClassifierToken *out) {
    if (strcmp(name, "last") == 0) *out = CLASSIFIER_TOKEN_LAST;
    else if (strcmp(name, "first") == 0) *out = CLASSIFIER_TOKEN_FIRST;
    else return false;
    return true;
}

static Classifier *classifier_alloc(GPTModel *gpt, int n_classes, int trainable_blocks) {
    if (n_classes < 2) fatal("a classifier needs at least 2 classes, not %d", n_classes);
    const int C = gpt->config.emb_dim;
    Classifier *c = xcalloc(1, sizeof *c);
    c->gpt = gpt;
    c->n_classes = n_classes;
    const size_t n_head = (size_t)n_classes * C + n_classes;
    c->head = xcalloc(n_head, sizeof(float));
    c->head_grads = xcalloc(n_head, sizeof(float));
    c->weight = c->head;
    c->bias = c->head + (size_t)n_classes * C;
    c->grad_weight = c->head_grads;
    c->grad_bias = c->head_grads + (size_t)n_classes * C;
    classifier_set_trainable_blocks(c, trainable_blocks);
    return c;
}

Classifier *classifier_create(GPTModel *gpt, int n_classes, int trainable_blocks, uint64_t seed) {
    /* BEGIN EXERCISE 6a: classification head (book 6.5) */
    Classifier *c = classifier_alloc(gpt, n_classes, trainable_blocks);
    /* torch.nn.Linear(C, K): weight and bias uniform in +-1/sqrt(C) */
    const int C = gpt->config.emb_dim;
    const float bound = 1.0f / sqrtf((float)C);
    Rng rng;
    rng_seed(&rng, seed);
    rng_fill_uniform(&rng, c->weight, (size_t)n_classes * C, -bound, bound);
    rng_fill_uniform(&rng, c->bias, (size_t)n_classes, -bound, bound);
    return c;
    /* END EXERCISE 6a */
}

void classifier_set_trainable_blocks(Classifier *c, int trainable_blocks) {
    const int L = c->gpt->config.n_layers;
    if (trainable_blocks < 0 || trainable_blocks > L)
        fatal("%d trainable blocks: the model has %d (give 0..%d)", trainable_blocks, L, L);
    c->first_trainable = L - trainable_blocks;
}

void classifier_free(Classifier *c) {
    if (!c) return;
    lora_free(c->lora);
    gpt_free(c->gpt);
    free(c->head);
    free(c->last);
    free(c->grad_last);
    free(c->head_grads);
    free(c->logits);
    free(c->grad_hidden);
    free(c);
}

/* The position the head reads: model(input)[:, -1, :] or, exercise 6.3,
 * model(input)[:, 0, :]. */
static int token_position(const Classifier *c) { return c->token == CLASSIFIER_TOKEN_FIRST ? 0 : c->T - 1; }

/* The final norm's output at that position of row b. */
static const float *token_hidden(const Classifier *c, int b) {
    const int C = c->gpt->config.emb_dim;
    return c->gpt->final_norm + ((size_t)b * c->T + token_position(c)) * C;
}

/* model(input)[:, -1, :] (or [:, 0, :]) with the new out_head, a
 * Linear(C, n_classes): c->logits (B, n_classes) from each row's
 * token_hidden. */
static void classifier_head_forward(Classifier *c, int B) {
    /* BEGIN EXERCISE 6a: classification head (book 6.5) */
    const int C = c->gpt->config.emb_dim, K = c->n_classes;
    for (int b = 0; b < B; b++) {
        const float *h = token_hidden(c, b);
        for (int k = 0; k < K; k++)
            c->logits[b * K + k] = c->bias[k] + vec_dot(h, c->weight + (size_t)k * C, (size_t)C);
    }
    /* END EXERCISE 6a */
}

const float *classifier_forward(Classifier *c, const int *ids, int B, int T) {
    gpt_forward_hidden(c->gpt, ids, B, T);
    c->B = B;
    c->T = T;
    const int C = c->gpt->config.emb_dim, K = c->n_classes;
    if ((size_t)B * K > c->logits_capacity) {
        c->logits_capacity = (size_t)B * K;
        c->logits = xrealloc(c->logits, c->logits_capacity * sizeof(float));
        c->last = xrealloc(c->last, checked_mul((size_t)B * C, sizeof(float)));
        c->grad_last = xrealloc(c->grad_last, checked_mul((size_t)B * C, sizeof(float)));
    }
    classifier_head_forward(c, B);
    if (c->lora) { /* the head's adapter, on the last positions gathered into rows */
        for (int b = 0; b < B; b++) memcpy(c->last + (size_t)b * C, token_hidden(c, b), (size_t)C * sizeof(float));
        lora_linear_forward(lora_head(c->lora), c->logits, c->last, B);
    }
    return c->logits;
}

void classifier_backward(Classifier *c, const float *grad_logits) {
    const int B = c->B, T = c->T, C = c->gpt->config.emb_dim, K = c->n_classes;
    if (!c->gpt->acts || B == 0) fatal("classifier_backward: no forward pass to go back through");
    const size_t n_hidden = (size_t)B * T * C;
    if (n_hidden > c->grad_hidden_capacity) {
        free(c->grad_hidden);
        c->grad_hidden = xmalloc(checked_mul(n_hidden, sizeof(float)));
        c->grad_hidden_capacity = n_hidden;
    }
    /* only the head's position reaches the loss: the other rows pass back 0 */
    memset(c->grad_hidden, 0, n_hidden * sizeof(float));
    if (c->lora) { /* the head's adapter, into its gathered rows */
        memset(c->grad_last, 0, (size_t)B * C * sizeof(float));
        lora_linear_backward(lora_head(c->lora), c->grad_last, grad_logits, c->last, B);
    }
    for (int b = 0; b < B; b++) {
        const float *h = token_hidden(c, b);
        float *grad_h = c->grad_hidden + ((size_t)b * T + token_position(c)) * C;
        for (int k = 0; k < K; k++) {
            const float g = grad_logits[b * K + k];
            const float *w = c->weight + (size_t)k * C;
            /* logit = h . w + bias: grad_h += g w, and, unless LoRA froze the
             * head, grad_w += g h, grad_bias += g */
            for (int j = 0; j < C; j++) grad_h[j] += g * w[j];
            if (c->lora) continue;
            float *grad_w = c->grad_weight + (size_t)k * C;
            for (int j = 0; j < C; j++) grad_w[j] += g * h[j];
            c->grad_bias[k] += g;
        }
        if (c->lora)
            for (int j = 0; j < C; j++) grad_h[j] += c->grad_last[(size_t)b * C + j];
    }
    gpt_backward_hidden(c->gpt, c->grad_hidden, c->lora ? 0 : c->first_trainable);
}

void classifier_trainable(Classifier *c, Trainable *t) {
    if (c->lora) { /* appendix E: the adapters alone */
        lora_trainable(c->lora, t);
        return;
    }
    GPTModel *m = c->gpt;
    if (!m->grads) gpt_zero_grad(m); /* the gradient buffer, zero once: frozen parts stay so */
    size_t offset, count;
    gpt_tail_range(m, c->first_trainable, &offset, &count);
    trainable_add(t, "gpt", m->params + offset, m->grads + offset, count);
    const size_t n_head = (size_t)c->n_classes * m->config.emb_dim + c->n_classes;
    trainable_add(t, "head", c->head, c->head_grads, n_head);
}

void classifier_use_lora(Classifier *c, int rank, float alpha, uint64_t seed) {
    if (c->lora) fatal("classifier_use_lora: the classifier has adapters already");
    c->lora = lora_create(&c->gpt->config, c->n_classes, rank, alpha, seed);
    lora_attach(c->lora, c->gpt, false);
}

void classifier_merge_lora(Classifier *c) {
    if (!c->lora) return;
    lora_merge(c->lora, c->weight);
    lora_free(c->lora);
    c->lora = NULL;
}

float classifier_loss_batch(Classifier *c, const int *ids, const int *labels, int B, int T, bool backward,
                            int *n_correct) {
    const int K = c->n_classes;
    const float *logits = classifier_forward(c, ids, B, T);
    if (n_correct) {
        int correct = 0;
        for (int b = 0; b < B; b++) correct += vec_argmax(logits + (size_t)b * K, K) == labels[b];
        *n_correct = correct;
    }
    /* the softmax overwrites the logits: the backward pass needs only it */
    float loss = cross_entropy_forward(NULL, c->logits, c->logits, labels, B, K);
    if (backward) {
        cross_entropy_backward(c->logits, c->logits, labels, B, K);
        classifier_backward(c, c->logits);
    }
    return loss;
}

/* ---- 6.8 Using the LLM as a spam classifier ------------------------------------ */

int classify_review(Classifier *c, Bpe *bpe, const char *text, int max_length) {
    IntVec ids = {0};
    bpe_encode(bpe, text, strlen(text), false, &ids);
    int *input = xmalloc((size_t)max_length * sizeof(int));
    for (int i = 0; i < max_length; i++) input[i] = i < (int)ids.len ? ids.data[i] : bpe_eot_id(bpe);
    const int label = vec_argmax(classifier_forward(c, input, 1, max_length), c->n_classes);
    free(input);
    intvec_free(&ids);
    return label;
}

/* ---- checkpoints ------------------------------------------------------------ */

void classifier_save(const Classifier *c, const char *path, int max_length) {
    if (c->lora) fatal("classifier_save: merge the LoRA adapters first (classifier_merge_lora)");
    const int C = c->gpt->config.emb_dim, K = c->n_classes;
    SafetensorsWriteTensor head[2] = {
        {.name = "classifier.weight", .dtype = "F32", .ndim = 2, .shape = {K, C}, .data = c->weight},
        {.name = "classifier.bias", .dtype = "F32", .ndim = 1, .shape = {K}, .data = c->bias},
    };
    char classes[16], length[16];
    snprintf(classes, sizeof classes, "%d", K);
    snprintf(length, sizeof length, "%d", max_length);
    const char *keys[] = {"task", "classifier.num_classes", "classifier.max_length", "classifier.token"};
    const char *values[] = {"classification", classes, length, classifier_token_name(c->token)};
    CheckpointExtras extras = {.n_tensors = 2, .tensors = head, .n_meta = 4, .meta_keys = keys, .meta_values = values};
    gpt_save_checkpoint(c->gpt, path, &extras);
}

static long meta_long(const SafetensorsFile *sf, const char *key, long max) {
    const char *v = safetensors_metadata(sf, key);
    long out;
    if (!v || !parse_long(v, 1, max, &out)) fatal("%s: metadata '%s' is missing or bad", sf->path, key);
    return out;
}

Classifier *classifier_load(const char *path, int *max_length) {
    SafetensorsFile *sf;
    GPTModel *gpt = gpt_load_checkpoint(path, &sf);
    const char *task = safetensors_metadata(sf, "task");
    if (!task || strcmp(task, "classification") != 0)
        fatal("%s: not a classifier (no classification head): train one with `ch06 train-classifier`", path);
    const int K = (int)meta_long(sf, "classifier.num_classes", 1 << 20);
    const int C = gpt->config.emb_dim;
    *max_length = (int)meta_long(sf, "classifier.max_length", gpt->config.context_length);
    Classifier *c = classifier_alloc(gpt, K, 1 <= gpt->config.n_layers ? 1 : 0);
    safetensors_read_f32(sf, safetensors_expect(sf, "classifier.weight", 2, (int64_t[]){K, C}), c->weight);
    safetensors_read_f32(sf, safetensors_expect(sf, "classifier.bias", 1, (int64_t[]){K}), c->bias);
    const char *token = safetensors_metadata(sf, "classifier.token"); /* absent before exercise 6.3: the last */
    if (token && !classifier_token_parse(token, &c->token))
        fatal("%s: metadata 'classifier.token' is '%s', not 'last' or 'first'", path, token);
    safetensors_close(sf);
    return c;
}

/* ---- print(model): the book's module tree (6.4, appendix E) ----------------------------- */

/* Dropout(p=0.0, inplace=False): p as Python's repr of a float */
static void print_dropout(const char *indent, const char *name, float p) {
    if (p == floorf(p)) printf("%s(%s): Dropout(p=%.1f, inplace=False)\n", indent, name, p);
    else printf("%s(%s): Dropout(p=%g, inplace=False)\n", indent, name, p);
}

static void print_linear(const char *indent, const char *name, int in, int out, bool bias, bool with_lora) {
    const char *b = bias ? "True" : "False";
    if (!with_lora) {
        printf("%s(%s): Linear(in_features=%d, out_features=%d, bias=%s)\n", indent, name, in, out, b);
        return;
    }
    printf("%s(%s): LinearWithLoRA(\n", indent, name);
    printf("%s  (linear): Linear(in_features=%d, out_features=%d, bias=%s)\n", indent, in, out, b);
    printf("%s  (lora): LoRALayer()\n%s)\n", indent, indent);
}

/* The adapter of a block's layer (block -1: the head), for its sizes. */
static const LoraLinear *lora_adapter(const Lora *l, int block, const char *layer) {
    char name[64];
    if (block >= 0) snprintf(name, sizeof name, "blocks.%d.%s", block, layer);
    else snprintf(name, sizeof name, "%s", layer);
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->layers[i].name, name) == 0) return &l->layers[i];
    fatal("no LoRA adapter %s", name);
}

/* A linear layer's sizes: its adapter's, or in and out without adapters. */
static void linear_sizes(const Lora *l, int block, const char *layer, int in, int out, int *got_in, int *got_out) {
    if (!l) {
        *got_in = in, *got_out = out;
        return;
    }
    const LoraLinear *a = lora_adapter(l, block, layer);
    if (strcmp(layer, "att.qkv") == 0 && a->parts != 3)
        fatal("the query, key and value adapter has %d parts, not 3", a->parts);
    *got_in = a->in, *got_out = a->out;
}

void print_gpt_modules(const GPTConfig *c, int head_out, bool head_bias, const Lora *l) {
    const GPTDropRates p = gpt_drop_rates(c);
    const int C = c->emb_dim;
    int in, out;
    printf("GPTModel(\n  (tok_emb): Embedding(%d, %d)\n  (pos_emb): Embedding(%d, %d)\n", c->vocab_size, C,
           c->context_length, C);
    print_dropout("  ", "drop_emb", p.emb);
    puts("  (trf_blocks): Sequential(");
    static const char *const qkv_names[3] = {"W_query", "W_key", "W_value"};
    for (int b = 0; b < c->n_layers; b++) {
        printf("    (%d): TransformerBlock(\n      (att): MultiHeadAttention(\n", b);
        linear_sizes(l, b, "att.qkv", C, C, &in, &out);
        for (int k = 0; k < 3; k++) print_linear("        ", qkv_names[k], in, out, c->qkv_bias, l != NULL);
        linear_sizes(l, b, "att.out_proj", C, C, &in, &out);
        print_linear("        ", "out_proj", in, out, true, l != NULL);
        print_dropout("        ", "dropout", p.attn);
        puts("      )\n      (ff): FeedForward(\n        (layers): Sequential(");
        linear_sizes(l, b, "ff.fc1", C, 4 * C, &in, &out);
        print_linear("          ", "0", in, out, true, l != NULL);
        puts("          (1): GELU()");
        linear_sizes(l, b, "ff.fc2", 4 * C, C, &in, &out);
        print_linear("          ", "2", in, out, true, l != NULL);
        puts("        )\n      )\n      (norm1): LayerNorm()\n      (norm2): LayerNorm()");
        print_dropout("      ", "drop_resid", p.shortcut);
        puts("    )");
    }
    puts("  )\n  (final_norm): LayerNorm()");
    linear_sizes(l, -1, "head", C, head_out, &in, &out);
    print_linear("  ", "out_head", in, out, head_bias, l != NULL);
    puts(")");
}
