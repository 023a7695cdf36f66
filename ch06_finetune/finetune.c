/* finetune.c: see finetune.h. */
#include "finetune.h"

#include <stdlib.h>
#include <string.h>

#include "../ch02_text/utf8.h"
#include "../ch04_gpt/generate.h"
#include "../ch05_pretrain/gpt_weights.h"
#include "../ch05_pretrain/sampling.h"
#include "../common/util.h"

GPTModel *finetune_load_model(const ModelChoice *mc, const char *default_size, int vocab_size) {
    GPTModel *m;
    if (mc->path && strcmp(mc->path, "random") == 0) {
        GPTConfig c = gpt_config_124m();
        c.context_length = mc->context ? mc->context : 1024;
        if (mc->emb_dim) c.emb_dim = mc->emb_dim;
        if (mc->n_layers) c.n_layers = mc->n_layers;
        if (mc->n_heads) c.n_heads = mc->n_heads;
        c.vocab_size = vocab_size;
        m = gpt_create(&c);
        gpt_init_weights(m, mc->seed);
    } else {
        if (mc->emb_dim || mc->n_layers || mc->n_heads || mc->context)
            fatal("--emb-dim, --n-layers, --n-heads and --context size a random model: use them with --model random");
        char *path = NULL;
        if (!mc->path) {
            char rel[64];
            snprintf(rel, sizeof rel, "gpt2/%s", default_size);
            path = path_join(data_dir(), rel);
            char *hparams = path_join(path, "hparams.json");
            if (!file_exists(hparams))
                fatal("%s: no GPT-2 %s weights there: download them with `make gpt2-%s`, or give --model", path,
                      default_size, default_size);
            free(hparams);
        }
        m = gpt_load_any(path ? path : mc->path);
        free(path);
    }
    if (m->config.vocab_size != vocab_size)
        fatal("the model's vocabulary (%d) is not GPT-2's tokenizer's (%d)", m->config.vocab_size, vocab_size);
    m->config.drop_rate = mc->dropout;
    return m;
}

FILE *finetune_open_csv(const char *out_dir, const char *name, const char *header, char **path) {
    *path = path_join(out_dir, name);
    write_file_atomic(*path, header, strlen(header)); /* a fresh file with the header, then rows appended */
    return xfopen(*path, "a");
}

void finetune_close_csv(FILE *f, const char *path) {
    if (fclose(f) != 0) fatal("%s: write failed", path);
}

void finetune_plot(const char *script, const char *csv, const char *png, const char *vars) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "gnuplot is not installed: no plot (apt-get install gnuplot-nox)\n");
        return;
    }
    char *dir = path_join(checkout_root(), "plots");
    char *gp = path_join(dir, script);
    size_t n = 2 * (strlen(gp) + strlen(csv) + strlen(vars)) + strlen(png) + 160;
    char *command = xmalloc(n);
    snprintf(command, n,
             "gnuplot -e \"csv='%s'; out='%s'; %s\" '%s' && gnuplot -e \"csv='%s'; out='-'; %s\" '%s' >&2", csv, png,
             vars, gp, csv, vars, gp);
    if (system(command) == 0) fprintf(stderr, "wrote %s\n", png);
    else fprintf(stderr, "gnuplot failed: no plot\n");
    free(command);
    free(gp);
    free(dir);
}

static bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

char *instruct_response(GPTModel *m, Bpe *bpe, const InstructionEntry *e, int max_new_tokens) {
    char *prompt = format_input(e);
    IntVec ids = {0};
    bpe_encode(bpe, prompt, strlen(prompt), false, &ids);
    int *seq = xmalloc((ids.len + (size_t)max_new_tokens) * sizeof(int));
    memcpy(seq, ids.data, ids.len * sizeof(int));
    Sampler s = {.temperature = 0.0f, .top_p = 1.0f, .eos_id = bpe_eot_id(bpe)};
    bool was_training = m->training;
    m->training = false;
    int n = generate(m, seq, (int)ids.len, max_new_tokens, &s, NULL, NULL);
    m->training = was_training;
    /* generated_text[len(input_text):]: the new tokens' text */
    ByteBuf bytes = {0};
    if (!bpe_decode(bpe, seq + ids.len, (size_t)n - ids.len, &bytes, NULL))
        fatal("the model produced an id outside the tokenizer's vocabulary");
    size_t len;
    char *text = utf8_sanitize(bytes.data ? bytes.data : "", bytes.len, &len);
    /* .replace("### Response:", "") */
    static const char tag[] = "### Response:";
    char *w = text;
    for (const char *r = text; *r;) {
        if (strncmp(r, tag, sizeof tag - 1) == 0) r += sizeof tag - 1;
        else *w++ = *r++;
    }
    *w = '\0';
    /* .strip() */
    char *start = text, *end = w;
    while (start < end && is_space(*start)) start++;
    while (end > start && is_space(end[-1])) end--;
    char *out = xmalloc((size_t)(end - start) + 1);
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    free(text);
    bytebuf_free(&bytes);
    free(seq);
    intvec_free(&ids);
    free(prompt);
    return out;
}

void print_sample(GPTModel *m, Bpe *bpe, const char *prompt, int max_new_tokens) {
    IntVec ids = {0};
    bpe_encode(bpe, prompt, strlen(prompt), false, &ids);
    int *seq = xmalloc((ids.len + (size_t)max_new_tokens) * sizeof(int));
    memcpy(seq, ids.data, ids.len * sizeof(int));
    bool was_training = m->training;
    m->training = false;
    int n = generate_greedy(m, seq, (int)ids.len, max_new_tokens, true, NULL, NULL);
    m->training = was_training;
    ByteBuf text = {0};
    if (!bpe_decode(bpe, seq, (size_t)n, &text, NULL)) fatal("the model produced an id outside the tokenizer's vocabulary");
    for (size_t i = 0; i < text.len; i++)
        if (text.data[i] == '\n') text.data[i] = ' ';
    if (text.len) fwrite(text.data, 1, text.len, stdout);
    putchar('\n');
    fflush(stdout);
    bytebuf_free(&text);
    free(seq);
    intvec_free(&ids);
}
