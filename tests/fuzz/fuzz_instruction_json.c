/* fuzz_instruction_json.c: the instruction data set's JSON (a list of
 * {"instruction", "input", "output"} entries).
 *
 * instruction_data_parse must either return false with a message or give
 * the entries (exiting, crashing or leaking fails). For entries it gives:
 *   - the book's split keeps every entry, and the prompts can be built;
 *   - the responses file written from them (json.dump's layout, ASCII
 *     only) parses back to the same entries, with their text repaired as
 *     Python's errors="replace" does (the writer repairs invalid UTF-8),
 *     and has each entry's model_response. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <string.h>

#include "../../ch02_text/utf8.h"
#include "../../ch06_finetune/instruction_data.h"
#include "property.h"

static bool same_repaired(const char *original, const char *back) {
    char *repaired = utf8_sanitize(original, strlen(original), NULL);
    bool same = strcmp(repaired, back) == 0;
    free(repaired);
    return same;
}

static void check_split_and_prompts(const InstructionSet *all) {
    InstructionSet train, test, val;
    instruction_data_split(all, &train, &test, &val);
    PROPERTY(train.n >= 0 && test.n >= 0 && val.n >= 0 && train.n + test.n + val.n == all->n);
    instruction_set_free(&train);
    instruction_set_free(&test);
    instruction_set_free(&val);
    for (int i = 0; i < all->n; i++) {
        char *text = format_training_text(&all->items[i]);
        PROPERTY(strstr(text, all->items[i].instruction) != NULL);
        free(text);
    }
}

static void check_responses_round_trip(const InstructionSet *all) {
    char **responses = xcalloc((size_t)(all->n > 0 ? all->n : 1), sizeof(char *));
    for (int i = 0; i < all->n; i++) responses[i] = all->items[i].output;
    ByteBuf json = {0};
    instruction_data_format_responses(all, responses, &json);
    for (size_t k = 0; k < json.len; k++) PROPERTY((unsigned char)json.data[k] < 0x80);
    InstructionSet back;
    char err[256] = "";
    PROPERTY(instruction_data_parse(json.data, json.len, &back, err, sizeof err));
    PROPERTY(back.n == all->n);
    cJSON *root = cJSON_ParseWithLength(json.data, json.len);
    PROPERTY(root != NULL);
    const cJSON *entry = root->child;
    for (int i = 0; i < all->n; i++, entry = entry->next) {
        PROPERTY(same_repaired(all->items[i].instruction, back.items[i].instruction));
        PROPERTY(same_repaired(all->items[i].input, back.items[i].input));
        PROPERTY(same_repaired(all->items[i].output, back.items[i].output));
        const cJSON *response = cJSON_GetObjectItemCaseSensitive(entry, "model_response");
        PROPERTY(cJSON_IsString(response) && same_repaired(responses[i], response->valuestring));
    }
    cJSON_Delete(root);
    instruction_set_free(&back);
    bytebuf_free(&json);
    free(responses);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *x = size ? (const char *)data : ""; /* never offset a null pointer */
    InstructionSet all;
    char err[256] = "";
    if (!instruction_data_parse(x, size, &all, err, sizeof err)) {
        PROPERTY(err[0] != '\0' && all.n == 0 && all.items == NULL);
        return 0;
    }
    check_split_and_prompts(&all);
    check_responses_round_trip(&all);
    instruction_set_free(&all);
    return 0;
}
