/*
 * unicode_classes.h - Unicode character classes as GPT-2's pre-tokenizer sees them.
 *
 * The GPT-2 split regex uses \p{L}, \p{N} and \s. To match OpenAI's tiktoken
 * exactly we use tiktoken's own view of these classes (Unicode 16), which is
 * generated into unicode_classes.c by tests/reference/gen_unicode_classes.js.
 */
#ifndef UNICODE_CLASSES_H
#define UNICODE_CLASSES_H

#include <stdint.h>

enum unicode_class { UC_OTHER = 0, UC_LETTER = 1, UC_NUMBER = 2, UC_SPACE = 3 };

/* Class of code point cp as tiktoken's GPT-2 pattern sees it (\p{L}, \p{N}, \s). cp > 0x10FFFF -> UC_OTHER. */
enum unicode_class unicode_class(uint32_t cp);

#endif /* UNICODE_CLASSES_H */
