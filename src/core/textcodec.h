/* textcodec.h: the text forms CRIT's JSON uses for bytes and strings — MIME
 * base64, quoted-printable (binascii.b2a_qp) and Python json string escaping.
 * The writers into a struct buf report running out of memory as the buffer
 * does: buf_oom(out) is set, and the text is incomplete. */
#ifndef CRITLUA_TEXTCODEC_H
#define CRITLUA_TEXTCODEC_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Python's base64.encodebytes: a newline after every 76 output characters
 * and after the last line; empty input gives nothing. With json set, each
 * newline is written as the two characters `\n` (the text goes inside a JSON
 * string as is: base64 needs no other escaping). */
void tc_b64_mime(struct buf *out, const uint8_t *p, size_t n, int json);

/* Decode base64 as Python's base64.decodebytes does: characters outside the
 * alphabet (newlines, spaces) are skipped. Returns 0, or -1 with e set when
 * the text is not base64 (a bad length or misplaced padding). */
int tc_b64_decode(struct buf *out, const char *s, size_t n, struct err *e);

/* Python's binascii.b2a_qp(data, quotetabs=False, istext=True, header=False),
 * as CRIT's `x fds` prints unix socket names. */
void tc_b2a_qp(struct buf *out, const uint8_t *p, size_t n);

/* A unix socket name for JSON: Python's form whenever a2b_qp reads it back as
 * the data (CRIT's output, byte for byte), else a form that does (lines end
 * with "\n", a "\r" before a "\n" is =0D). */
void tc_qp(struct buf *out, const uint8_t *p, size_t n);

/* The value of a hexadecimal digit, or -1. */
int tc_hexval(unsigned char c);

/* Python's binascii.a2b_qp(data, header=False): "=XX" decoded, soft line
 * breaks ("=\n", "=\r\n") removed, anything else kept. */
void tc_qp_decode(struct buf *out, const char *s, size_t n);

/* A JSON string (with the quotes) as Python's json.dumps(ensure_ascii=True)
 * writes it. Bytes that are not part of valid UTF-8 are written as the lone
 * surrogates \udc80..\udcff, as Python's "surrogateescape" error handler
 * decodes them, so any byte string survives a round trip through JSON. */
void tc_json_string(struct buf *out, const char *s, size_t n);

/* 1 when s[0..n) is valid UTF-8 (no surrogates, no overlongs). */
int tc_utf8_valid(const char *s, size_t n);

/* Decimal text of v into dst (at least 20 bytes for u64, 21 for i64);
 * returns the length. No NUL is written. */
size_t tc_u64(char *dst, uint64_t v);
size_t tc_i64(char *dst, int64_t v);
/* C's "%0*x" of v with width at most 16 (no "0x"): dst needs 16 bytes. */
size_t tc_hex_pad(char *dst, uint64_t v, unsigned width);
/* Python's "0x%x" % v for a signed or unsigned value ("0x-5" for -5). */
size_t tc_hex_u64(char *dst, uint64_t v);
size_t tc_hex_i64(char *dst, int64_t v);

/* Python's repr() of a float as json.dumps writes it: "1.0", "1e+16",
 * "NaN", "Infinity", "-Infinity". dst needs 32 bytes. */
size_t tc_double(char *dst, double v);

#endif
