/* finetune.c: see finetune.h. */
#include "finetune.h"

#include <stdlib.h>
#include <string.h>

#include "../ch02_text/utf8.h"
#include "../ch05_pretrain/gpt_weights.h"
#include "../ch05_pretrain/safetensors.h"
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

static bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

char *instruct_response_as(GPTModel *m, Bpe *bpe, const InstructionEntry *e, int max_new_tokens, PromptStyle style) {
    char *prompt = format_input_as(e, style);
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
    /* .replace("### Response:", "") (Phi-3: "<|assistant|>:") */
    const char *tag = prompt_response_tag(style);
    const size_t tag_len = strlen(tag);
    char *w = text;
    for (const char *r = text; *r;) {
        if (strncmp(r, tag, tag_len) == 0) r += tag_len;
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

char *instruct_response(GPTModel *m, Bpe *bpe, const InstructionEntry *e, int max_new_tokens) {
    return instruct_response_as(m, bpe, e, max_new_tokens, PROMPT_ALPACA);
}

PromptStyle instruct_checkpoint_style(const char *model_path) {
    size_t n = strlen(model_path);
    static const char ext[] = ".safetensors";
    if (n < sizeof ext - 1 || strcmp(model_path + n - (sizeof ext - 1), ext) != 0) return PROMPT_ALPACA;
    char err[256];
    SafetensorsFile *sf = safetensors_try_open(model_path, err, sizeof err);
    if (!sf) return PROMPT_ALPACA; /* loading the model says what is wrong */
    const char *name = safetensors_metadata(sf, "instruction.prompt_style");
    PromptStyle style = PROMPT_ALPACA;
    if (name && !prompt_style_parse(name, &style))
        fatal("%s: metadata 'instruction.prompt_style' is '%s', not 'alpaca' or 'phi3'", model_path, name);
    safetensors_close(sf);
    return style;
}
