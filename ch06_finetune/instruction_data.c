/* instruction_data.c: see instruction_data.h. */
#include "instruction_data.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/utf8.h"
#include "../ch05_pretrain/loss.h"

/* The value of key in a JSON object. When the key is there twice, the last
 * one counts, as in Python's json module (cJSON's lookup finds the first). */
static const cJSON *last_item(const cJSON *object, const char *key) {
    const cJSON *found = NULL;
    for (const cJSON *item = object->child; item; item = item->next)
        if (item->string && strcmp(item->string, key) == 0) found = item;
    return found;
}

/* A copy of the entry's string value for key; NULL (with the reason in err)
 * when it has none. */
static char *entry_string(const cJSON *entry, const char *key, int index, char *err, size_t err_size) {
    const cJSON *v = last_item(entry, key);
    if (!cJSON_IsString(v)) return snprintf(err, err_size, "entry %d has no string '%s'", index, key), NULL;
    return xstrdup(v->valuestring);
}

/* Fill s->items[i] from the JSON object e; false with the reason in err. */
static bool read_entry(const cJSON *e, int i, InstructionSet *s, char *err, size_t err_size) {
    if (!cJSON_IsObject(e)) return snprintf(err, err_size, "entry %d is not an object", i), false;
    InstructionEntry *item = &s->items[i];
    return (item->instruction = entry_string(e, "instruction", i, err, err_size)) &&
           (item->input = entry_string(e, "input", i, err, err_size)) &&
           (item->output = entry_string(e, "output", i, err, err_size));
}

static int line_of_offset(const char *text, size_t offset) {
    int line = 1;
    for (size_t i = 0; i < offset; i++) line += text[i] == '\n';
    return line;
}

bool instruction_data_parse(const char *json, size_t len, InstructionSet *out, char *err, size_t err_size) {
    *out = (InstructionSet){0};
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        const char *where = cJSON_GetErrorPtr();
        size_t offset = where && where >= json && where <= json + len ? (size_t)(where - json) : len;
        return snprintf(err, err_size, "not valid JSON (the error is near line %d)", line_of_offset(json, offset)),
               false;
    }
    bool ok = cJSON_IsArray(root);
    if (!ok) {
        snprintf(err, err_size, "not a JSON list of entries");
    } else {
        /* n first, so that instruction_set_free frees whatever was filled in */
        out->n = cJSON_GetArraySize(root);
        out->items = xcalloc((size_t)(out->n > 0 ? out->n : 1), sizeof(InstructionEntry));
        int i = 0;
        for (const cJSON *e = root->child; ok && e; e = e->next, i++) ok = read_entry(e, i, out, err, err_size);
    }
    cJSON_Delete(root);
    if (!ok) instruction_set_free(out);
    return ok;
}

InstructionSet instruction_data_read(const char *path) {
    size_t len;
    char *text = read_file(path, &len);
    InstructionSet s;
    char err[256];
    if (!instruction_data_parse(text, len, &s, err, sizeof err)) fatal("%s: %s", path, err);
    free(text);
    return s;
}

void instruction_set_free(InstructionSet *s) {
    for (int i = 0; i < s->n; i++) {
        free(s->items[i].instruction);
        free(s->items[i].input);
        free(s->items[i].output);
    }
    free(s->items);
    *s = (InstructionSet){0};
}

static InstructionSet copy_range(const InstructionSet *all, int begin, int end) {
    InstructionSet s = {.n = end - begin};
    s.items = xcalloc((size_t)(s.n > 0 ? s.n : 1), sizeof(InstructionEntry));
    for (int i = 0; i < s.n; i++) {
        const InstructionEntry *e = &all->items[begin + i];
        s.items[i] = (InstructionEntry){xstrdup(e->instruction), xstrdup(e->input), xstrdup(e->output)};
    }
    return s;
}

void instruction_split_sizes(int n, int *train, int *test, int *val) {
    /* Python's int(len(data) * 0.85) and int(len(data) * 0.1) */
    *train = (int)((double)n * 0.85);
    *test = (int)((double)n * 0.1);
    *val = n - *train - *test;
}

void instruction_data_split(const InstructionSet *all, InstructionSet *train, InstructionSet *test,
                            InstructionSet *val) {
    int train_n, test_n, val_n;
    instruction_split_sizes(all->n, &train_n, &test_n, &val_n);
    *train = copy_range(all, 0, train_n);
    *test = copy_range(all, train_n, train_n + test_n);
    *val = copy_range(all, train_n + test_n, all->n);
}

static char *concat(const char *const parts[], int n) {
    size_t len = 0;
    for (int i = 0; i < n; i++) len += strlen(parts[i]);
    char *out = xmalloc(len + 1), *p = out;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(parts[i]);
        memcpy(p, parts[i], k);
        p += k;
    }
    *p = '\0';
    return out;
}

const char *prompt_style_name(PromptStyle style) { return style == PROMPT_PHI3 ? "phi3" : "alpaca"; }

bool prompt_style_parse(const char *name, PromptStyle *out) {
    if (strcmp(name, "alpaca") == 0) *out = PROMPT_ALPACA;
    else if (strcmp(name, "phi3") == 0) *out = PROMPT_PHI3;
    else return false;
    return true;
}

const char *prompt_response_tag(PromptStyle style) { return style == PROMPT_PHI3 ? "<|assistant|>:" : "### Response:"; }

char *format_input_as(const InstructionEntry *e, PromptStyle style) {
    if (style == PROMPT_PHI3) {
        const char *parts[] = {"<|user|>\n", e->instruction, e->input[0] ? "\n" : "", e->input};
        return concat(parts, 4);
    }
    const char *parts[] = {"Below is an instruction that describes a task. "
                           "Write a response that appropriately completes the request."
                           "\n\n### Instruction:\n",
                           e->instruction, e->input[0] ? "\n\n### Input:\n" : "", e->input};
    return concat(parts, 4);
}

char *format_input(const InstructionEntry *e) { return format_input_as(e, PROMPT_ALPACA); }

char *format_training_text_as(const InstructionEntry *e, PromptStyle style) {
    char *prompt = format_input_as(e, style);
    /* the tag on a line of its own: "\n\n### Response:\n", "\n<|assistant|>:\n" */
    const char *parts[] = {prompt, style == PROMPT_PHI3 ? "\n" : "\n\n", prompt_response_tag(style), "\n", e->output};
    char *text = concat(parts, 5);
    free(prompt);
    return text;
}

char *format_training_text(const InstructionEntry *e) { return format_training_text_as(e, PROMPT_ALPACA); }

static int encoded_length(Bpe *bpe, const char *text) {
    IntVec ids = {0};
    bpe_encode(bpe, text, strlen(text), false, &ids);
    int n = (int)ids.len;
    intvec_free(&ids);
    return n;
}

void instruction_dataset_init_as(InstructionDataset *ds, const InstructionSet *s, Bpe *bpe, PromptStyle style) {
    ds->n = s->n;
    ds->encoded = xcalloc((size_t)(s->n > 0 ? s->n : 1), sizeof(IntVec));
    ds->prompt_lengths = xcalloc((size_t)(s->n > 0 ? s->n : 1), sizeof(int));
    for (int i = 0; i < s->n; i++) {
        char *text = format_training_text_as(&s->items[i], style), *prompt = format_input_as(&s->items[i], style);
        bpe_encode(bpe, text, strlen(text), false, &ds->encoded[i]);
        ds->prompt_lengths[i] = encoded_length(bpe, prompt);
        free(text);
        free(prompt);
    }
}

void instruction_dataset_init(InstructionDataset *ds, const InstructionSet *s, Bpe *bpe) {
    instruction_dataset_init_as(ds, s, bpe, PROMPT_ALPACA);
}

void instruction_dataset_free(InstructionDataset *ds) {
    for (int i = 0; i < ds->n; i++) intvec_free(&ds->encoded[i]);
    free(ds->encoded);
    free(ds->prompt_lengths);
    *ds = (InstructionDataset){0};
}

int instruction_dataset_longest(const InstructionDataset *ds) {
    int longest = 0;
    for (int i = 0; i < ds->n; i++)
        if ((int)ds->encoded[i].len > longest) longest = (int)ds->encoded[i].len;
    return longest;
}

/* ---- 7.3 collate ------------------------------------------------------------- */

int collate_length(const int *lengths, int n, int allowed_max_length) {
    /* BEGIN EXERCISE 7a: instruction collate (book 7.3) */
    /* padded to max(len + 1); inputs are that minus the last token */
    int longest = 0;
    for (int i = 0; i < n; i++)
        if (lengths[i] > longest) longest = lengths[i];
    if (allowed_max_length > 0 && longest > allowed_max_length) longest = allowed_max_length;
    return longest;
    /* END EXERCISE 7a */
}

void collate_batch(const int *const *seqs, const int *lengths, int n, int T, int pad_id, int *inputs, int *targets) {
    /* BEGIN EXERCISE 7a: instruction collate (book 7.3) */
    for (int b = 0; b < n; b++) {
        const int *seq = seqs[b];
        const int len = lengths[b];
        int *in = inputs + (size_t)b * T, *tg = targets + (size_t)b * T;
        /* padded[j] = seq[j] for j < len, then pad_id (the appended one and the padding) */
        bool seen_pad = false;
        for (int j = 0; j < T; j++) {
            in[j] = j < len ? seq[j] : pad_id;
            int next = j + 1 < len ? seq[j + 1] : pad_id;
            /* targets == pad_id: the first stays (the end of the text), the rest are ignored */
            if (next == pad_id) {
                if (seen_pad) next = CROSS_ENTROPY_IGNORE_INDEX;
                seen_pad = true;
            }
            tg[j] = next;
        }
    }
    /* END EXERCISE 7a */
}

void collate_mask_prompts(int *targets, int n, int T, const int *prompt_lengths) {
    for (int b = 0; b < n; b++)
        for (int j = 0; j < prompt_lengths[b] - 1 && j < T; j++) targets[(size_t)b * T + j] = CROSS_ENTROPY_IGNORE_INDEX;
}

/* ---- the responses, as Python's json.dump(indent=4) ------------------------------- */

/* A JSON string as json.dumps writes it with ensure_ascii: \" \\ \n \r \t
 * \b \f, other control characters, DEL and every non-ASCII character as \uXXXX
 * (lower-case hex; above U+FFFF as a surrogate pair). */
static void append_json_string(ByteBuf *out, const char *s) {
    size_t len;
    char *valid = utf8_sanitize(s, strlen(s), &len);
    bytebuf_append(out, "\"", 1);
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)valid[i];
        char buf[16];
        if (c >= 0x80) {
            uint32_t cp;
            int n = utf8_decode((const unsigned char *)valid + i, len - i, &cp);
            i += n > 0 ? (size_t)n : 1;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else {
                snprintf(buf, sizeof buf, "\\u%04x", cp);
            }
            bytebuf_append(out, buf, strlen(buf));
            continue;
        }
        i++;
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(buf, sizeof buf, "\\u%04x", c);
                esc = buf;
            }
        }
        if (esc) bytebuf_append(out, esc, strlen(esc));
        else bytebuf_append(out, &c, 1);
    }
    bytebuf_append(out, "\"", 1);
    free(valid);
}

void instruction_data_format_responses(const InstructionSet *s, char *const *responses, ByteBuf *out) {
    bytebuf_append(out, "[", 1);
    for (int i = 0; i < s->n; i++) {
        const InstructionEntry *e = &s->items[i];
        const char *keys[4] = {"instruction", "input", "output", "model_response"};
        const char *values[4] = {e->instruction, e->input, e->output, responses[i]};
        bytebuf_append(out, i ? ",\n    {" : "\n    {", i ? 7 : 6);
        for (int k = 0; k < 4; k++) {
            bytebuf_append(out, k ? ",\n        " : "\n        ", k ? 10 : 9);
            append_json_string(out, keys[k]);
            bytebuf_append(out, ": ", 2);
            append_json_string(out, values[k]);
        }
        bytebuf_append(out, "\n    }", 6);
    }
    bytebuf_append(out, s->n ? "\n]" : "]", s->n ? 2 : 1);
}

void instruction_data_write_responses(const char *path, const InstructionSet *s, char *const *responses) {
    ByteBuf out = {0};
    instruction_data_format_responses(s, responses, &out);
    write_file_atomic(path, out.data, out.len);
    bytebuf_free(&out);
}
