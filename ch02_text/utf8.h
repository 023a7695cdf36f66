/* utf8.h: reading text the way the book's Python does. open(..., encoding=
 * "utf-8") keeps a leading BOM as a character and, with errors="replace",
 * turns each maximal invalid subsequence into one U+FFFD. Everything after
 * this point may assume valid UTF-8. */
#ifndef CH02_UTF8_H
#define CH02_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the valid sequence starting at s (1-4), or 0 if the bytes there
 * are not valid UTF-8; *cp gets the code point. */
int utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp);
/* Write cp (<= 0x10FFFF, not a surrogate) as UTF-8; returns 1-4. */
int utf8_encode(uint32_t cp, char out[4]);
bool utf8_is_valid(const char *s, size_t len);
/* A valid copy of s with each maximal invalid subpart replaced by U+FFFD, as
 * Python's bytes.decode("utf-8", errors="replace") does. NUL-terminated. */
char *utf8_sanitize(const char *s, size_t len, size_t *out_len);
/* Read a whole text file as above. */
char *read_text_file(const char *path, size_t *len);

#endif
