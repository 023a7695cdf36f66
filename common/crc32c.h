/* crc32c.h: CRC-32C (Castagnoli), the checksum of LevelDB tables and of
 * TensorFlow checkpoints. Same parameters as iSCSI's: reflected polynomial
 * 0x82F63B78, initial value and final xor 0xFFFFFFFF, so
 * crc32c("123456789") == 0xE3069283. */
#ifndef COMMON_CRC32C_H
#define COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of data[0..n). */
uint32_t crc32c(const void *data, size_t n);
/* The CRC of (what crc was computed over) followed by data[0..n), so a long
 * stream can be checksummed piece by piece: crc32c_extend(0, ...) starts one. */
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n);

/* LevelDB stores "masked" CRCs: a CRC computed over data that itself holds
 * CRCs is weak, so the stored value is rotated and offset. */
uint32_t crc32c_mask(uint32_t crc);
uint32_t crc32c_unmask(uint32_t masked);

#endif
