/* fuzz_model_config: an arbitrary text as OpenAI's hparams.json and as
 * Hugging Face's config.json: the configuration parsed and checked, the
 * model's parameter table built from it (its shapes, without the
 * parameters), a model created when it is small, and the configuration
 * loaded against a real checkpoint held in memory: OpenAI's GPT-2 124M
 * index (no data file) for hparams.json, tiny_gpt2's model.safetensors
 * for config.json, both from $DATA_DIR when they are there. A
 * configuration the checkpoint does not back must be refused before
 * anything large is allocated, and building a model must take time
 * linear in its size (the fuzzer's -timeout finds what is not). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../ch04_gpt/gpt.h"
#include "../../ch05_pretrain/gpt_weights.h"
#include "../../common/util.h"

/* Models of up to this many parameters (16 MB) are created for real. */
enum { MAX_CREATED = 1 << 22 };

static TfCheckpoint *gpt2_index;
static SafetensorsFile *tiny; /* its bytes stay, it reads from them */

/* The file in $DATA_DIR, or NULL (size in *n). */
static char *data_bytes(const char *relative, size_t *n) {
    char *path = path_join(data_dir(), relative);
    char *bytes = try_read_file(path, n, NULL, 0);
    free(path);
    return bytes;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    size_t n;
    char *index = data_bytes("tf_checkpoint/gpt2_124M_index_only/model.ckpt.index", &n);
    if (index) gpt2_index = tf_checkpoint_parse(index, n, NULL, 0, "model.ckpt", NULL, 0);
    free(index);
    char *st = data_bytes("safetensors/tiny_gpt2/model.safetensors", &n);
    if (st) tiny = safetensors_parse(st, n, "model.safetensors", NULL, 0);
    return 0;
}

/* The shapes a configuration gives, and the model itself when small. */
static void build(const GPTConfig *c) {
    char err[256];
    int count;
    size_t total;
    ParamTensor *table = gpt_param_table(c, &count, &total, err, sizeof err);
    free(table);
    if (!table || total > MAX_CREATED) return;
    GPTModel *m = gpt_try_create(c, err, sizeof err);
    if (m) gpt_zero_grad(m); /* binds the gradients' views too */
    gpt_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    const char *text = (const char *)data;
    GPTConfig c = {0};
    if (gpt_config_parse_openai(text, size, "hparams.json", &c, err, sizeof err)) {
        build(&c);
        if (gpt2_index) gpt_free(gpt_from_tf_checkpoint(&c, "hparams.json", gpt2_index, err, sizeof err));
    }
    if (gpt_config_parse_huggingface(text, size, "config.json", &c, err, sizeof err)) {
        build(&c);
        if (tiny) gpt_free(gpt_from_hf_safetensors(&c, "config.json", tiny, err, sizeof err));
    }
    return 0;
}
