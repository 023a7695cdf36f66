/* utf8.c: see utf8.h. The ranges below are Unicode's table of well-formed
 * byte sequences (Table 3-7): they exclude overlong forms, surrogates and
 * code points past U+10FFFF. */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

#include "../common/util.h"

/* How many bytes a sequence with this lead byte has, and the allowed range
 * of its second byte (the later bytes are always 0x80..0xBF). */
static int sequence_shape(unsigned char lead, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80, *hi = 0xBF;
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead == 0xE0) return *lo = 0xA0, 3;
    if (lead == 0xED) return *hi = 0x9F, 3;
    if (lead >= 0xE1 && lead <= 0xEF) return 3;
    if (lead == 0xF0) return *lo = 0x90, 4;
    if (lead >= 0xF1 && lead <= 0xF3) return 4;
    if (lead == 0xF4) return *hi = 0x8F, 4;
    return 0; /* 0x80..0xC1 and 0xF5..0xFF never start a sequence */
}

/* Number of bytes from s that form a valid prefix of a sequence (the
 * "maximal subpart"); equals the full length when the sequence is valid. */
static int valid_prefix(const unsigned char *s, size_t avail, int *full) {
    unsigned char lo, hi;
    int n = sequence_shape(s[0], &lo, &hi);
    *full = n;
    if (n <= 1) return n;
    int k = 1;
    for (; k < n && (size_t)k < avail; k++) {
        unsigned char b = s[k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
    }
    return k;
}

int utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp) {
    if (avail == 0) return 0;
    int full;
    int k = valid_prefix(s, avail, &full);
    if (full == 0 || k != full) return 0;
    switch (full) {
    case 1: *cp = s[0]; break;
    case 2: *cp = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F); break;
    case 3: *cp = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F); break;
    default:
        *cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
              (s[3] & 0x3F);
    }
    return full;
}

int utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

bool utf8_is_valid(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int n = utf8_decode(u + i, len - i, &cp);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

char *utf8_sanitize(const char *s, size_t len, size_t *out_len) {
    const unsigned char *u = (const unsigned char *)s;
    /* each invalid byte grows into at most 3 bytes of U+FFFD */
    char *out = xmalloc(checked_mul(len, 3) + 1);
    size_t o = 0, i = 0;
    while (i < len) {
        if (u[i] < 0x80) {
            out[o++] = (char)u[i++];
            continue;
        }
        int full;
        int k = valid_prefix(u + i, len - i, &full);
        if (full != 0 && k == full) {
            memcpy(out + o, u + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += k > 0 ? k : 1;
        }
    }
    out[o] = '\0';
    if (out_len) *out_len = o;
    return out;
}

char *read_text_file(const char *path, size_t *len) {
    size_t raw_len;
    char *raw = read_file(path, &raw_len);
    if (utf8_is_valid(raw, raw_len)) {
        if (len) *len = raw_len;
        return raw;
    }
    char *clean = utf8_sanitize(raw, raw_len, len);
    free(raw);
    return clean;
}
