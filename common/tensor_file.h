/* tensor_file.h: a plain container of named float32 tensors, used for the
 * PyTorch reference fixtures and as the body of our checkpoints.
 *
 * Layout (all integers little-endian uint32):
 *   "LLMTNSR1"                      8-byte magic
 *   n_tensors
 *   n_tensors times:
 *     name_len, name bytes (no NUL)
 *     ndim (1..4), shape[ndim]
 *     the float32 values, row-major, little-endian
 */
#ifndef COMMON_TENSOR_FILE_H
#define COMMON_TENSOR_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "tensor.h"

typedef struct {
    int count;
    char **names;
    Tensor *tensors;
    char *path; /* for error messages */
} TensorFile;

/* Parse a tensor file held in bytes[0..n) (name stands for the file in
 * messages). Every count and size is checked against the bytes there
 * before anything is allocated from it. On error: false, *out empty and
 * err says what is wrong. */
bool tensor_file_parse(const void *bytes, size_t n, const char *name, TensorFile *out, char *err, size_t err_size);
/* Read and parse the file at path; false with err set on any problem. */
bool tensor_file_try_read(const char *path, TensorFile *out, char *err, size_t err_size);
/* tensor_file_try_read that exits with the message (for the programs). */
TensorFile tensor_file_read(const char *path);
void tensor_file_free(TensorFile *tf);
/* The tensor with this name, or NULL. */
const Tensor *tensor_file_find(const TensorFile *tf, const char *name);
/* The tensor with this name and exactly this shape; exits otherwise. */
const Tensor *tensor_file_expect(const TensorFile *tf, const char *name, int ndim, const int shape[]);

/* Write tensors atomically (temporary file, then rename). */
void tensor_file_write(const char *path, int count, const char *const names[], const Tensor tensors[]);

#endif
