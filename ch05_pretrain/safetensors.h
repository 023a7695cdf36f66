/* safetensors.h: Hugging Face's safetensors format, the way the book's
 * ch05/02_alternative_weight_loading notebook loads GPT-2, and the format of
 * our own checkpoints (a PyTorch user can open them with safetensors.torch).
 *
 * Layout:
 *   u64 little-endian N          the header's length in bytes
 *   N bytes of JSON              {"__metadata__": {"key": "value", ...},
 *                                 "name": {"dtype": "F32", "shape": [2, 3],
 *                                          "data_offsets": [begin, end]}, ...}
 *   the data section             each tensor's raw little-endian row-major
 *                                bytes at [begin, end) from the section start
 *
 * The reader checks everything before it trusts it: the header's length
 * against the file, the JSON, every dtype and shape, and that each tensor's
 * byte range is inside the data section, has the size its dtype and shape
 * say, and overlaps no other. Tensors are read one at a time, so a model
 * never needs the whole file in memory. */
#ifndef CH05_SAFETENSORS_H
#define CH05_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SAFETENSORS_MAX_DIMS 8
/* The Python library refuses headers over 100 MB; so do we. */
#define SAFETENSORS_MAX_HEADER 100000000u

typedef struct {
    char *name;
    char dtype[8];                        /* as in the header: "F32", "BF16", "I64", ... */
    size_t dtype_size;                    /* bytes per element */
    int ndim;                             /* 0 for a scalar */
    int64_t shape[SAFETENSORS_MAX_DIMS];
    size_t numel;
    uint64_t begin, end;                  /* byte range, relative to the data section */
} SafetensorsTensor;

typedef struct {
    char *path;
    FILE *f;                              /* NULL when parsed from memory */
    const unsigned char *mem;             /* the whole file then (borrowed) */
    uint64_t data_start;                  /* 8 + header length */
    uint64_t data_size;                   /* bytes after the header */
    int n_tensors;
    SafetensorsTensor *tensors;           /* in header order */
    const SafetensorsTensor **by_name;    /* the same, sorted by name (for safetensors_find) */
    int n_meta;
    char **meta_keys, **meta_values;      /* the "__metadata__" strings */
} SafetensorsFile;

/* Open and validate path. On any problem: NULL, and err (err_size bytes)
 * says what is wrong, naming the file and the tensor where there is one.
 * Every size in the header is checked against the file before it is
 * trusted. */
SafetensorsFile *safetensors_try_open(const char *path, char *err, size_t err_size);
/* The same for a whole file held in bytes[0..n), which must outlive the
 * result (tensors are read from there); name stands for the file in
 * messages. */
SafetensorsFile *safetensors_parse(const void *bytes, size_t n, const char *name, char *err, size_t err_size);
/* safetensors_try_open that exits with the message (for the programs). */
SafetensorsFile *safetensors_open(const char *path);
void safetensors_close(SafetensorsFile *sf);

/* The tensor with this name, or NULL (a binary search). */
const SafetensorsTensor *safetensors_find(const SafetensorsFile *sf, const char *name);
/* The tensor with this name and exactly this shape; NULL with err set
 * otherwise (safetensors_expect exits instead). */
const SafetensorsTensor *safetensors_try_expect(const SafetensorsFile *sf, const char *name, int ndim,
                                                const int64_t shape[], char *err, size_t err_size);
const SafetensorsTensor *safetensors_expect(const SafetensorsFile *sf, const char *name, int ndim,
                                            const int64_t shape[]);
/* A metadata value, or NULL. */
const char *safetensors_metadata(const SafetensorsFile *sf, const char *key);

/* Whether t is F32, F16 or BF16: what the readers below convert. */
bool safetensors_is_float(const SafetensorsTensor *t);
/* Read tensor t as float32 into dst[0..t->numel): F32 as it is, F16 and BF16
 * converted exactly. Any other dtype, or a read error, returns false with
 * err naming the tensor (safetensors_read_f32 exits instead). */
bool safetensors_try_read_f32(const SafetensorsFile *sf, const SafetensorsTensor *t, float *dst, char *err,
                              size_t err_size);
void safetensors_read_f32(const SafetensorsFile *sf, const SafetensorsTensor *t, float *dst);
/* The named tensor as a malloc'd float array (NULL with err set if it is
 * missing or cannot be read; safetensors_load_f32 exits instead); *numel
 * gets its element count when numel is not NULL. */
float *safetensors_try_load_f32(const SafetensorsFile *sf, const char *name, size_t *numel, char *err,
                                size_t err_size);
float *safetensors_load_f32(const SafetensorsFile *sf, const char *name, size_t *numel);

/* Bytes per element of a safetensors dtype name; 0 if it is not one. */
size_t safetensors_dtype_size(const char *dtype);
/* IEEE half and bfloat16 bit patterns to float (exact: every value fits). */
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t b);

/* One tensor to write. dtype NULL means "F32"; data holds numel elements of
 * that dtype in little-endian order (for F32, plain floats). */
typedef struct {
    const char *name;
    const char *dtype;
    int ndim;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    const void *data;
} SafetensorsWriteTensor;

/* Write a safetensors file atomically (temporary name, then rename), as the
 * Python library does: compact JSON, "__metadata__" first (its keys sorted),
 * tensors sorted by dtype (largest elements first, which keeps every tensor
 * aligned, since the data section starts at a multiple of 8) then by name,
 * data in that order, and the header padded with spaces to a multiple of 8
 * bytes. A repeated name exits. */
void safetensors_write(const char *path, int n, const SafetensorsWriteTensor tensors[], int n_meta,
                       const char *const meta_keys[], const char *const meta_values[]);

#endif
