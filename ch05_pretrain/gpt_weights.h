/* gpt_weights.h: 5.4 saving and loading model weights, and 5.5 loading
 * pretrained weights from OpenAI (and from Hugging Face).
 *
 * Our linear layers are stored (in, out) with the query/key/value
 * projections fused, which is exactly the layout of OpenAI's checkpoint and
 * of Hugging Face's GPT-2 (its Conv1D layers), so loading is renaming: no
 * transposes, no splitting (the book's load_weights_into_gpt splits and
 * transposes only because its PyTorch model stores nn.Linear's (out, in)).
 *
 * Every tensor's three names (ours, OpenAI's, Hugging Face's) are in the
 * model's one list of its parameters, ch04_gpt/gpt.c's ParamSpec tables:
 * blocks.L.att.qkv.weight (C,3C) is model/hL/attn/c_attn/w in OpenAI's
 * checkpoint and h.L.attn.c_attn.weight in Hugging Face's, and so on. Our
 * out_head.weight (V,C) is Hugging Face's lm_head.weight; OpenAI's has
 * none (the head is tied to the token embedding, wte).
 *
 * OpenAI's weight matrices carry a leading dimension of 1 ([1, C, 3C]).
 *
 * Our checkpoints are safetensors files with the Hugging Face names (no
 * "transformer." prefix) and the configuration in the metadata, so PyTorch
 * can read them with safetensors.torch.load_file. */
#ifndef CH05_GPT_WEIGHTS_H
#define CH05_GPT_WEIGHTS_H

#include <stddef.h>

#include "../ch02_text/bpe.h"
#include "../ch04_gpt/gpt.h"
#include "safetensors.h"
#include "tf_checkpoint.h"

/* Loading checks everything before it allocates the model: the
 * configuration's fields against the limits of ch04_gpt/config.h, its
 * sizes against the checkpoint's tensors (an error names the field, as the
 * configuration file calls it), and every tensor's presence, shape, dtype
 * and bytes. A configuration the checkpoint does not back can thus never
 * ask for more memory than the checkpoint's files hold.
 *
 * Each gpt_try_* returns NULL on any problem, with a message naming the
 * file and what is wrong in err (err_size bytes); the gpt_load_* without
 * "try" exit with that message instead (for the programs). */

/* OpenAI's release: dir/hparams.json and dir/model.ckpt.{index,data-*}.
 * The config gets qkv_bias and a tied head, as GPT-2 has them, and
 * drop_rate 0.1. */
GPTModel *gpt_try_load_openai(const char *dir, char *err, size_t err_size);
GPTModel *gpt_load_openai(const char *dir);
/* The configuration in hparams.json's text[0..len) (path for messages). */
bool gpt_config_parse_openai(const char *text, size_t len, const char *path, GPTConfig *out, char *err,
                             size_t err_size);
/* A model of configuration c (from config_path) with its weights from an
 * open bundle. */
GPTModel *gpt_from_tf_checkpoint(const GPTConfig *c, const char *config_path, const TfCheckpoint *ck, char *err,
                                 size_t err_size);

/* Hugging Face's GPT-2: dir/config.json and dir/model.safetensors, names
 * with or without the "transformer." prefix (F32, F16 or BF16). The head is
 * tied unless the file holds an lm_head.weight that differs from wte (or the
 * config says tie_word_embeddings false); buffers such as h.N.attn.bias are
 * ignored. */
GPTModel *gpt_try_load_huggingface(const char *dir, char *err, size_t err_size);
GPTModel *gpt_load_huggingface(const char *dir);
/* The configuration in config.json's text[0..len): tie_weights from
 * tie_word_embeddings; qkv_bias is decided by the weights' file. */
bool gpt_config_parse_huggingface(const char *text, size_t len, const char *path, GPTConfig *out, char *err,
                                  size_t err_size);
/* A model of configuration c (from config_path) with its weights from an
 * open safetensors file with Hugging Face's names. */
GPTModel *gpt_from_hf_safetensors(const GPTConfig *c, const char *config_path, const SafetensorsFile *sf, char *err,
                                  size_t err_size);

/* The Hugging Face name of one of our parameters ("blocks.0.att.qkv.weight"
 * -> "h.0.attn.c_attn.weight"), and the OpenAI one ("model/h0/attn/c_attn/w";
 * false for out_head.weight, which OpenAI's checkpoints do not have). */
void gpt_hf_name(const char *ours, char *out, size_t size);
bool gpt_openai_name(const char *ours, char *out, size_t size);

/* What a checkpoint may hold besides the model. Each buffer is shaped like
 * the parameter buffer (m->n_params floats, say AdamW's moments) and is
 * stored as one tensor per parameter named prefix + Hugging Face name
 * ("optimizer.m.h.0.attn.c_attn.weight"); tensors are stored as they are;
 * metadata keys must not be the configuration's own. Any field may be 0. */
typedef struct {
    int n_buffers;
    const char *const *buffer_prefixes;
    const float *const *buffers;
    int n_tensors;
    const SafetensorsWriteTensor *tensors;
    int n_meta;
    const char *const *meta_keys;
    const char *const *meta_values;
} CheckpointExtras;

/* Write the model (and extras, which may be NULL) atomically to path. The
 * metadata holds the configuration (vocab_size, context_length, emb_dim,
 * n_heads, n_layers, drop_rate, qkv_bias, tie_weights) and format "pt". */
void gpt_save_checkpoint(const GPTModel *m, const char *path, const CheckpointExtras *extras);

/* Read a checkpoint written by gpt_save_checkpoint. When file is not NULL
 * the open SafetensorsFile is handed over through it (for the extras: see
 * safetensors_metadata and gpt_checkpoint_read_buffer; close it with
 * safetensors_close); otherwise it is closed. */
GPTModel *gpt_try_load_checkpoint(const char *path, SafetensorsFile **file, char *err, size_t err_size);
GPTModel *gpt_load_checkpoint(const char *path, SafetensorsFile **file);
/* The model of an open checkpoint: the configuration from its metadata. */
GPTModel *gpt_from_checkpoint(const SafetensorsFile *sf, char *err, size_t err_size);
/* Fill dst (m->n_params floats) from the buffer stored under prefix. */
bool gpt_checkpoint_try_read_buffer(const SafetensorsFile *sf, const GPTModel *m, const char *prefix, float *dst,
                                    char *err, size_t err_size);
void gpt_checkpoint_read_buffer(const SafetensorsFile *sf, const GPTModel *m, const char *prefix, float *dst);

/* Whichever of the three path is: a directory with hparams.json and
 * model.ckpt.index (OpenAI), a directory with config.json and
 * model.safetensors (Hugging Face), or a .safetensors file (our checkpoint). */
GPTModel *gpt_try_load_any(const char *path, char *err, size_t err_size);
GPTModel *gpt_load_any(const char *path);

/* The same model with an output head of its own, a copy of the token
 * embedding (as the book's GPTModel has: out_head is a separate nn.Linear);
 * m is freed. A model already untied is returned as it is. */
GPTModel *gpt_untie(GPTModel *m);

/* The tokenizer that goes with a model: the files beside it when it has
 * them (OpenAI's encoder.json/vocab.bpe, or Hugging Face's
 * vocab.json/merges.txt, the same formats), else GPT-2's from DATA_DIR. */
Bpe *gpt_load_tokenizer(const char *model_path);

#endif
