/* fuzz_tf_index: the TensorFlow tensor-bundle reader on an arbitrary index
 * file, held in memory (tf_checkpoint_parse): the table's footer, block
 * handles, CRCs, restart points and prefix-compressed keys, and the
 * BundleHeaderProto and BundleEntryProto messages (block CRCs are not
 * enforced, or hardly a mutation would get past them). The data file is fixed:
 * the real tf1_adam_mlp shard from $DATA_DIR (none when it is missing), so
 * the seeds' entries point into real bytes and mutated ones past them.
 * Then every tensor is loaded as floats (offset, size, dtype and CRC
 * against the data), and GPT-2 124M is built from the bundle (its seed is
 * OpenAI's real index), which must fail cleanly before any allocation. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../ch04_gpt/config.h"
#include "../../ch05_pretrain/gpt_weights.h"
#include "../../ch05_pretrain/tf_checkpoint.h"
#include "../../common/util.h"

static char *shard;
static size_t shard_len;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    tf_checkpoint_ignore_block_crc = true;
    char *path = path_join(data_dir(), "tf_checkpoint/tf1_adam_mlp/model.ckpt.data-00000-of-00001");
    shard = try_read_file(path, &shard_len, NULL, 0);
    free(path);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    TfCheckpoint *ck = tf_checkpoint_parse(data, size, shard, shard_len, "fuzz.ckpt", err, sizeof err);
    if (!ck) return 0;
    for (int i = 0; i < ck->n_tensors; i++) {
        tf_dtype_name(ck->tensors[i].dtype);
        free(tf_checkpoint_try_load_f32(ck, ck->tensors[i].name, NULL, err, sizeof err));
    }
    GPTConfig c = {0};
    gpt_config_preset("gpt2-small", &c);
    gpt_free(gpt_from_tf_checkpoint(&c, "hparams.json", ck, err, sizeof err));
    tf_checkpoint_close(ck);
    return 0;
}
