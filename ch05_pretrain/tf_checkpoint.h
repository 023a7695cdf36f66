/* tf_checkpoint.h: reading TensorFlow's checkpoints (the "tensor bundle"
 * format of tf.train.Saver and Keras), which is how OpenAI published GPT-2:
 * models/124M/model.ckpt.index and model.ckpt.data-00000-of-00001. The book
 * reads them with tf.train.load_variable; this is that, without TensorFlow.
 *
 * PREFIX.index is a LevelDB table (an SSTable) mapping names to protobufs:
 *
 *   data blocks   entries (key, value), keys sorted, each key stored as the
 *                 bytes it shares with the previous key plus the rest:
 *                   varint shared, varint non_shared, varint value_len,
 *                   key[shared..], value
 *                 then u32 restart offsets (entries stored whole) and their
 *                 count
 *   metaindex     (unused here)
 *   index block   one entry per data block: key >= the block's last key,
 *                 value = the block's handle (varint offset, varint size)
 *   footer        48 bytes: metaindex handle, index handle, zero padding,
 *                 u64 magic 0xdb4775248b80fb57
 *
 * Every block is followed by a 5-byte trailer: a compression byte (0 none,
 * 1 Snappy) and the masked CRC-32C of the block and that byte.
 *
 * The key "" holds a BundleHeaderProto (number of shards, endianness,
 * version); every other key is a tensor name whose value is a
 * BundleEntryProto: dtype, shape, shard, offset and size of its bytes in
 * PREFIX.data-0000S-of-0000N, and the masked CRC-32C of those bytes. Tensor
 * data are raw little-endian, row-major. */
#ifndef CH05_TF_CHECKPOINT_H
#define CH05_TF_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* TensorFlow's DataType numbers (types.proto) for the common types. */
enum {
    TF_DT_FLOAT = 1,
    TF_DT_DOUBLE = 2,
    TF_DT_INT32 = 3,
    TF_DT_UINT8 = 4,
    TF_DT_INT16 = 5,
    TF_DT_INT8 = 6,
    TF_DT_STRING = 7,
    TF_DT_INT64 = 9,
    TF_DT_BOOL = 10,
    TF_DT_BFLOAT16 = 14,
    TF_DT_HALF = 19,
};

#define TF_MAX_DIMS 8

typedef struct {
    char *name;
    int dtype;                    /* TF_DT_* */
    int ndim;                     /* 0 for a scalar */
    int64_t shape[TF_MAX_DIMS];
    size_t numel;
    int shard;                    /* which data file holds the bytes */
    uint64_t offset, size;        /* byte range in that file */
    uint32_t crc32c;              /* as stored: masked CRC-32C of the bytes */
    int n_slices;                 /* > 0: a partitioned variable, stored elsewhere */
} TfTensor;

typedef struct {
    char *prefix;                 /* "dir/model.ckpt" */
    char *index_path;             /* "dir/model.ckpt.index" */
    int num_shards;
    bool big_endian;
    int version_producer;
    int n_tensors;
    TfTensor *tensors;            /* sorted by name, as the table holds them */
    /* tf_checkpoint_parse: the data shard is in memory (borrowed) */
    bool in_memory;
    const uint8_t *data;
    size_t data_len;
} TfCheckpoint;

/* Open a checkpoint from its prefix ("dir/model.ckpt") or its index file
 * ("dir/model.ckpt.index"). The index is parsed and every block's CRC
 * checked; a missing, truncated, corrupt or compressed index gives NULL,
 * with a message in err that names the file and the problem. */
TfCheckpoint *tf_checkpoint_try_open(const char *path, char *err, size_t err_size);
/* The same for an index held in index[0..index_len), with the data of a
 * single shard in data[0..data_len) (NULL: no data file). The data are
 * borrowed and must outlive the checkpoint (the index need not); name
 * stands for the prefix in messages. */
TfCheckpoint *tf_checkpoint_parse(const void *index, size_t index_len, const void *data, size_t data_len,
                                  const char *name, char *err, size_t err_size);
/* For the fuzz harness only (tests/fuzz/fuzz_tf_index.c): when true, a
 * block whose CRC does not match is parsed anyway, so that mutated indexes
 * reach the entry and protobuf parsers (random bytes almost never carry a
 * valid CRC). Nothing else sets it. */
extern bool tf_checkpoint_ignore_block_crc;

/* tf_checkpoint_try_open that exits with the message (for the programs). */
TfCheckpoint *tf_checkpoint_open(const char *path);
void tf_checkpoint_close(TfCheckpoint *ck);

/* The tensor with this name, or NULL. */
const TfTensor *tf_checkpoint_find(const TfCheckpoint *ck, const char *name);
/* "DT_FLOAT", ...; "DT_?" for numbers not named here. */
const char *tf_dtype_name(int dtype);
/* The data file of a shard: "PREFIX.data-00000-of-00001" (malloc'd). */
char *tf_checkpoint_shard_path(const TfCheckpoint *ck, int shard);

/* Whether t can be read as floats: DT_FLOAT, not partitioned, a byte size
 * that matches its shape, and a data file that holds those bytes. Cheap
 * (no data is read), so a loader can check every tensor before it
 * allocates anything; false with err set otherwise. */
bool tf_checkpoint_check_f32(const TfCheckpoint *ck, const TfTensor *t, char *err, size_t err_size);
/* Read a DT_FLOAT tensor into dst[0..t->numel) and check its CRC. Another
 * dtype, a missing or short data file, or a CRC mismatch gives false with
 * a message naming the tensor (tf_checkpoint_read_f32 exits instead). */
bool tf_checkpoint_try_read_f32(const TfCheckpoint *ck, const TfTensor *t, float *dst, char *err, size_t err_size);
void tf_checkpoint_read_f32(const TfCheckpoint *ck, const TfTensor *t, float *dst);
/* The named tensor as a malloc'd float array, allocated only once the data
 * file is known to hold it (NULL with err set on any problem;
 * tf_checkpoint_load_f32 exits instead). */
float *tf_checkpoint_try_load_f32(const TfCheckpoint *ck, const char *name, size_t *numel, char *err,
                                  size_t err_size);
float *tf_checkpoint_load_f32(const TfCheckpoint *ck, const char *name, size_t *numel);

#endif
