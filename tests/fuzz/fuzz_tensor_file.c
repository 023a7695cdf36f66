/* fuzz_tensor_file: the project's own tensor container (the PyTorch
 * reference fixtures) on arbitrary bytes, held in memory
 * (tensor_file_parse): magic, tensor count, names, ranks, shapes and
 * values, each checked against the bytes left before anything is
 * allocated. */
#include <stddef.h>
#include <stdint.h>

#include "../../common/tensor_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    TensorFile tf;
    if (!tensor_file_parse(data, size, "fuzz.bin", &tf, err, sizeof err)) return 0;
    for (int i = 0; i < tf.count; i++) tensor_file_find(&tf, tf.names[i]);
    tensor_file_free(&tf);
    return 0;
}
