/* Tests for common/crc32c: the check value of the CRC catalogue, the
 * vectors of RFC 3720 (iSCSI, whose CRC this is), agreement with a
 * bit-at-a-time reference at every length and alignment (whichever of the
 * table or the SSE4.2 path is compiled in), streaming, and LevelDB's mask. */
#include <string.h>

#include "../common/crc32c.h"
#include "../common/rng.h"
#include "test_helpers.h"

/* The definition: one bit at a time, reflected polynomial 0x82F63B78. */
static uint32_t reference_crc32c(const unsigned char *p, size_t n) {
    uint32_t r = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        r ^= p[i];
        for (int k = 0; k < 8; k++) r = (r & 1) ? (r >> 1) ^ 0x82F63B78u : r >> 1;
    }
    return ~r;
}

START_TEST(test_check_value) {
    ck_assert_uint_eq(crc32c("123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(crc32c("", 0), 0);
    ck_assert_uint_eq(crc32c("a", 1), 0xC1D04330u);
}
END_TEST

/* RFC 3720, appendix B.4: 32 bytes of zeros, of ones, increasing, decreasing. */
START_TEST(test_rfc3720_vectors) {
    unsigned char buf[32];
    memset(buf, 0, 32);
    ck_assert_uint_eq(crc32c(buf, 32), 0x8A9136AAu);
    memset(buf, 0xFF, 32);
    ck_assert_uint_eq(crc32c(buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) buf[i] = (unsigned char)i;
    ck_assert_uint_eq(crc32c(buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++) buf[i] = (unsigned char)(31 - i);
    ck_assert_uint_eq(crc32c(buf, 32), 0x113FDB5Cu);
}
END_TEST

START_TEST(test_matches_bitwise_reference_at_every_offset) {
    unsigned char buf[300];
    Rng rng;
    rng_seed(&rng, 7);
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(rng_next_u64(&rng) >> 56);
    for (size_t start = 0; start < 9; start++)
        for (size_t n = 0; start + n <= sizeof buf; n += 1 + n / 8)
            ck_assert_uint_eq(crc32c(buf + start, n), reference_crc32c(buf + start, n));
}
END_TEST

START_TEST(test_extend_streams) {
    const char *text = "The quick brown fox jumps over the lazy dog";
    size_t n = strlen(text);
    uint32_t whole = crc32c(text, n);
    ck_assert_uint_eq(whole, 0x22620404u);
    for (size_t cut = 0; cut <= n; cut++)
        ck_assert_uint_eq(crc32c_extend(crc32c(text, cut), text + cut, n - cut), whole);
}
END_TEST

START_TEST(test_mask) {
    /* LevelDB's mask: rotate right by 15, add 0xa282ead8 */
    ck_assert_uint_eq(crc32c_mask(0), 0xA282EAD8u);
    uint32_t c = 0xE3069283u;
    ck_assert_uint_eq(crc32c_mask(c), ((c >> 15) | (c << 17)) + 0xA282EAD8u);
    ck_assert_uint_ne(crc32c_mask(c), c);
    ck_assert_uint_ne(crc32c_mask(crc32c_mask(c)), crc32c_mask(c));
    for (uint32_t x = 1; x < 0xF0000000u; x = x * 3 + 17) ck_assert_uint_eq(crc32c_unmask(crc32c_mask(x)), x);
}
END_TEST

Suite *crc32c_suite(void) {
    Suite *s = suite_create("crc32c");
    TCase *tc = tcase_create("crc32c");
    add_test(tc, test_check_value);
    add_test(tc, test_rfc3720_vectors);
    add_test(tc, test_matches_bitwise_reference_at_every_offset);
    add_test(tc, test_extend_streams);
    add_test(tc, test_mask);
    suite_add_tcase(s, tc);
    return s;
}
