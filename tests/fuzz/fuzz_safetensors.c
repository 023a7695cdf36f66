/* fuzz_safetensors: the safetensors reader on arbitrary bytes, held in
 * memory (safetensors_parse): the header length, the JSON header, dtypes,
 * shapes, data_offsets and __metadata__; then every tensor read as floats,
 * and the file loaded as one of our checkpoints (the configuration from
 * its metadata), which must be checked against the tensors before the
 * model is allocated. Nothing may crash, leak, exit or allocate more than
 * the input backs. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../ch05_pretrain/gpt_weights.h"
#include "../../ch05_pretrain/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    SafetensorsFile *sf = safetensors_parse(data, size, "fuzz.safetensors", err, sizeof err);
    if (!sf) return 0;
    for (int i = 0; i < sf->n_tensors; i++)
        free(safetensors_try_load_f32(sf, sf->tensors[i].name, NULL, err, sizeof err));
    safetensors_metadata(sf, "format");
    gpt_free(gpt_from_checkpoint(sf, err, sizeof err));
    safetensors_close(sf);
    return 0;
}
