/* trainable.c: see trainable.h. */
#include "trainable.h"

#include <stdio.h>
#include <string.h>

#include "../common/util.h"

void trainable_add(Trainable *t, const char *name, float *params, float *grads, size_t n) {
    if (t->n_groups == TRAINABLE_MAX_GROUPS) fatal("trainable_add: more than %d groups", TRAINABLE_MAX_GROUPS);
    if (!params || !grads) fatal("trainable_add: group '%s' has no parameters or no gradients", name);
    ParamGroup *g = &t->groups[t->n_groups++];
    snprintf(g->name, sizeof g->name, "%s", name);
    g->params = params;
    g->grads = grads;
    g->n = n;
    adamw_init(&g->opt, n);
}

void gpt_tail_range(const GPTModel *m, int first_layer, size_t *offset, size_t *count) {
    const int L = m->config.n_layers;
    if (first_layer < 0 || first_layer > L) fatal("gpt_tail_range: first layer %d is not in 0..%d", first_layer, L);
    const ParamTensor *shift = gpt_find_param(m, "final_norm.shift");
    if (!shift) fatal("gpt_tail_range: the model has no final_norm.shift");
    size_t begin = 0;
    if (first_layer > 0) {
        char prefix[32];
        if (first_layer < L) snprintf(prefix, sizeof prefix, "blocks.%d.", first_layer);
        else snprintf(prefix, sizeof prefix, "final_norm.");
        const ParamTensor *first = NULL;
        for (int i = 0; i < m->n_tensors && !first; i++)
            if (strncmp(m->tensors[i].name, prefix, strlen(prefix)) == 0) first = &m->tensors[i];
        if (!first) fatal("gpt_tail_range: the model has no tensor named %s*", prefix);
        begin = first->offset;
    }
    *offset = begin;
    *count = shift->offset + shift->size - begin;
}

size_t trainable_count(const Trainable *t) {
    size_t n = 0;
    for (int i = 0; i < t->n_groups; i++) n += t->groups[i].n;
    return n;
}

void trainable_zero_grad(Trainable *t) {
    for (int i = 0; i < t->n_groups; i++) memset(t->groups[i].grads, 0, t->groups[i].n * sizeof(float));
}

void trainable_step(Trainable *t, const AdamWConfig *cfg, float lr) {
    for (int i = 0; i < t->n_groups; i++) adamw_step(&t->groups[i].opt, t->groups[i].params, t->groups[i].grads, cfg, lr);
}

void trainable_free(Trainable *t) {
    for (int i = 0; i < t->n_groups; i++) adamw_free(&t->groups[i].opt);
    t->n_groups = 0;
}

static void optimizer_zero_grad(void *t) { trainable_zero_grad(t); }

static void optimizer_step(void *t, const AdamWConfig *config) { trainable_step(t, config, config->lr); }

Optimizer trainable_optimizer(Trainable *t, const AdamWConfig *config) {
    return (Optimizer){.config = *config, .zero_grad = optimizer_zero_grad, .step = optimizer_step, .params = t};
}
