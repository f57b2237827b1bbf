/* textcodec.c: MIME base64, quoted-printable and JSON string escaping,
 * byte-compatible with the Python functions CRIT relies on. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "textcodec.h"

static const char tc_hexl[] = "0123456789abcdef";
static const char tc_hexu[] = "0123456789ABCDEF";
static const char tc_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- base64 ---- */

void tc_b64_mime(struct buf *out, const uint8_t *p, size_t n, int json)
{
	if (!n)
		return;
	/* 57 input bytes make one 76-character line. */
	size_t lines = (n + 56) / 57;
	if (buf_reserve(out, (n + 2) / 3 * 4 + lines * (json ? 2 : 1)) < 0)
		return; /* out->oom says so */
	char *o = (char *)out->p + out->len;
	while (n) {
		size_t chunk = n < 57 ? n : 57;
		const uint8_t *end = p + chunk / 3 * 3;
		for (; p < end; p += 3) {
			uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
			o[0] = tc_b64[v >> 18];
			o[1] = tc_b64[(v >> 12) & 63];
			o[2] = tc_b64[(v >> 6) & 63];
			o[3] = tc_b64[v & 63];
			o += 4;
		}
		size_t rest = chunk % 3;
		if (rest) {
			uint32_t v = (uint32_t)p[0] << 16 | (rest == 2 ? (uint32_t)p[1] << 8 : 0);
			o[0] = tc_b64[v >> 18];
			o[1] = tc_b64[(v >> 12) & 63];
			o[2] = rest == 2 ? tc_b64[(v >> 6) & 63] : '=';
			o[3] = '=';
			o += 4;
			p += rest;
		}
		if (json) {
			*o++ = '\\';
			*o++ = 'n';
		} else {
			*o++ = '\n';
		}
		n -= chunk;
	}
	out->len = (size_t)((uint8_t *)o - out->p);
}

static signed char tc_b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (signed char)(c - 'A');
	if (c >= 'a' && c <= 'z')
		return (signed char)(c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (signed char)(c - '0' + 52);
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int tc_b64_decode(struct buf *out, const char *s, size_t n, struct err *e)
{
	/* As binascii.a2b_base64 without strict mode: other characters are
	 * skipped, a completed padding ends the data, an incomplete quad is an
	 * error. */
	uint32_t acc = 0;
	int quad = 0, pads = 0;
	size_t ndata = 0;
	if (buf_reserve(out, n / 4 * 3 + 3) < 0)
		return err_oom(e); /* reserved whole: the adds below cannot fail */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '=') {
			if (quad >= 2 && quad + ++pads >= 4)
				goto done;
			continue;
		}
		signed char v = tc_b64_val(c);
		if (v < 0)
			continue;
		pads = 0;
		ndata++;
		acc = acc << 6 | (uint32_t)v;
		if (++quad == 4) {
			uint8_t b[3] = { (uint8_t)(acc >> 16), (uint8_t)(acc >> 8), (uint8_t)acc };
			buf_add(out, b, 3);
			quad = 0;
			acc = 0;
		}
	}
	if (quad == 1)
		return err_set(e, "invalid base64: %zu data characters cannot be 1 more than a multiple of 4",
			       ndata);
	if (quad)
		return err_set(e, "invalid base64: incorrect padding");
	return 0;
done:
	if (quad == 2)
		buf_addc(out, (char)(acc >> 4));
	else if (quad == 3) {
		uint8_t b[2] = { (uint8_t)(acc >> 10), (uint8_t)(acc >> 2) };
		buf_add(out, b, 2);
	}
	return 0;
}

/* ---- quoted-printable ---- */

#define TC_QP_LINE 76

/* safe: never lose a byte. Python's form takes the data's first line break
 * for the line ending of all of them: with "\n", a "\r\n" in the data is
 * written "\n"; with "\r\n", a lone "\n" is written "\r\n"; either way
 * a2b_qp cannot give the data back. The safe form ends lines with "\n" and
 * writes a "\r" before a "\n" as =0D. */
static void tc_qp_form(struct buf *out, const uint8_t *p, size_t n, int safe)
{
	/* The line ending style is the one of the data's first line break. */
	const uint8_t *nl = n ? memchr(p, '\n', n) : NULL; /* p is NULL for empty data */
	int crlf = !safe && nl && nl > p && nl[-1] == '\r';
	const char *eol = crlf ? "\r\n" : "\n";
	const char *soft = crlf ? "=\r\n" : "=\n";
	size_t linelen = 0;

	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		int last = i + 1 == n;
		int enc = c > 126 || c == '=' ||
			  (c == '.' && linelen == 0 &&
			   (last || p[i + 1] == '\n' || p[i + 1] == '\r' || p[i + 1] == 0)) ||
			  ((c == '\t' || c == ' ') && last) ||
			  (c < 33 && c != '\r' && c != '\n' && c != '\t' && c != ' ') ||
			  (safe && c == '\r' && !last && p[i + 1] == '\n');
		if (enc) {
			if (linelen + 3 >= TC_QP_LINE) {
				buf_adds(out, soft);
				linelen = 0;
			}
			char h[3] = { '=', tc_hexu[c >> 4], tc_hexu[c & 15] };
			buf_add(out, h, 3);
			linelen += 3;
			i++;
		} else if (c == '\n' || (c == '\r' && !last && p[i + 1] == '\n')) {
			/* Whitespace before a line break would be lost in transport. */
			if (i && (p[i - 1] == ' ' || p[i - 1] == '\t')) {
				uint8_t ws = out->p[out->len - 1];
				out->p[out->len - 1] = '=';
				char h[2] = { tc_hexu[ws >> 4], tc_hexu[ws & 15] };
				buf_add(out, h, 2);
			}
			buf_adds(out, eol);
			linelen = 0;
			i += c == '\r' ? 2 : 1;
		} else {
			if (!last && p[i + 1] != '\n' && linelen + 1 >= TC_QP_LINE) {
				buf_adds(out, soft);
				linelen = 0;
			}
			buf_addc(out, (char)c);
			linelen++;
			i++;
		}
	}
}

void tc_b2a_qp(struct buf *out, const uint8_t *p, size_t n)
{
	tc_qp_form(out, p, n, 0);
}

void tc_qp(struct buf *out, const uint8_t *p, size_t n)
{
	/* Python's form, byte for byte, whenever it reads back as the data (every
	 * name without a "\r\n", and most with); the safe form otherwise. */
	size_t start = out->len;
	tc_qp_form(out, p, n, 0);
	if (n == 0 || !memchr(p, '\r', n))
		return; /* no CR in the data: nothing to lose */
	struct buf back = { 0 };
	tc_qp_decode(&back, (const char *)out->p + start, out->len - start);
	if (buf_oom(&back))
		out->oom = 1;
	if (buf_oom(out)) {
		buf_free(&back);
		return;
	}
	int same = back.len == n && (n == 0 || memcmp(back.p, p, n) == 0);
	buf_free(&back);
	if (!same) {
		out->len = start;
		tc_qp_form(out, p, n, 1);
	}
}

int tc_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void tc_qp_decode(struct buf *out, const char *s, size_t n)
{
	if (buf_reserve(out, n) < 0)
		return;
	for (size_t i = 0; i < n;) {
		if (s[i] != '=') {
			out->p[out->len++] = (uint8_t)s[i++];
			continue;
		}
		if (++i >= n)
			break;
		if (s[i] == '\n' || s[i] == '\r') {
			/* soft line break: drop up to and including the newline */
			while (i < n && s[i] != '\n')
				i++;
			if (i < n)
				i++;
		} else if (s[i] == '=') {
			out->p[out->len++] = '=';
			i++;
		} else if (i + 1 < n && tc_hexval((unsigned char)s[i]) >= 0 &&
			   tc_hexval((unsigned char)s[i + 1]) >= 0) {
			out->p[out->len++] = (uint8_t)(tc_hexval((unsigned char)s[i]) << 4 |
						       tc_hexval((unsigned char)s[i + 1]));
			i += 2;
		} else {
			out->p[out->len++] = '=';
		}
	}
}

/* ---- JSON strings ---- */

/* Per byte: 0 copied as is, 1 short escape, 2 \u00XX, 3 starts a multi-byte
 * sequence (or is invalid). */
static const uint8_t tc_jclass[256] = {
	2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 1, 1, 2, 2, /* \b \t \n \f \r */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* " */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* \\ */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, /* DEL */
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
};

/* The code point of the valid UTF-8 sequence at s (n bytes left), with its
 * length in *len; -1 when s does not start one. */
static int32_t tc_utf8_decode(const uint8_t *s, size_t n, size_t *len)
{
	uint8_t c = s[0];
	int32_t cp;
	size_t need;
	uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		cp = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		cp = c & 0x07;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return -1;
	}
	if (n <= need || s[1] < lo || s[1] > hi)
		return -1;
	for (size_t k = 1; k <= need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	*len = need + 1;
	return cp;
}

int tc_utf8_valid(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	for (size_t i = 0; i < n;) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t len;
		if (tc_utf8_decode(p + i, n - i, &len) < 0)
			return 0;
		i += len;
	}
	return 1;
}

static inline char *tc_put_u(char *o, uint32_t u)
{
	o[0] = '\\';
	o[1] = 'u';
	o[2] = tc_hexl[(u >> 12) & 15];
	o[3] = tc_hexl[(u >> 8) & 15];
	o[4] = tc_hexl[(u >> 4) & 15];
	o[5] = tc_hexl[u & 15];
	return o + 6;
}

void tc_json_string(struct buf *out, const char *str, size_t n)
{
	const uint8_t *s = (const uint8_t *)str;
	/* Worst case: every byte becomes a 6-character escape. Reserving for it
	 * up front keeps the loop free of capacity checks. */
	if (buf_reserve(out, n * 6 + 2) < 0)
		return;
	char *o = (char *)out->p + out->len;
	*o++ = '"';
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && !tc_jclass[s[run]])
			run++;
		if (run > i) {
			memcpy(o, s + i, run - i);
			o += run - i;
			i = run;
			if (i == n)
				break;
		}
		uint8_t c = s[i];
		switch (tc_jclass[c]) {
		case 1:
			*o++ = '\\';
			*o++ = c == '"' ? '"' : c == '\\' ? '\\' : c == '\n' ? 'n' : c == '\r' ? 'r' :
			       c == '\t' ? 't' : c == '\b' ? 'b' : 'f';
			i++;
			break;
		case 2:
			o = tc_put_u(o, c);
			i++;
			break;
		default: {
			size_t len;
			int32_t cp = tc_utf8_decode(s + i, n - i, &len);
			if (cp < 0) {
				o = tc_put_u(o, 0xdc00u + c); /* surrogateescape */
				i++;
			} else if (cp >= 0x10000) {
				uint32_t v = (uint32_t)cp - 0x10000;
				o = tc_put_u(o, 0xd800u + (v >> 10));
				o = tc_put_u(o, 0xdc00u + (v & 0x3ff));
				i += len;
			} else {
				o = tc_put_u(o, (uint32_t)cp);
				i += len;
			}
		}
		}
	}
	*o++ = '"';
	out->len = (size_t)((uint8_t *)o - out->p);
}

/* ---- numbers ---- */

static const char tc_digits2[] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

size_t tc_u64(char *dst, uint64_t v)
{
	char tmp[20];
	char *t = tmp + sizeof tmp;
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		t -= 2;
		memcpy(t, tc_digits2 + r * 2, 2);
	}
	if (v >= 10) {
		t -= 2;
		memcpy(t, tc_digits2 + v * 2, 2);
	} else {
		*--t = (char)('0' + v);
	}
	size_t len = (size_t)(tmp + sizeof tmp - t);
	memcpy(dst, t, len);
	return len;
}

size_t tc_i64(char *dst, int64_t v)
{
	if (v >= 0)
		return tc_u64(dst, (uint64_t)v);
	dst[0] = '-';
	return 1 + tc_u64(dst + 1, -(uint64_t)v);
}

size_t tc_hex_pad(char *dst, uint64_t v, unsigned width)
{
	char tmp[16];
	size_t k = 0;
	do {
		tmp[k++] = tc_hexl[v & 15];
		v >>= 4;
	} while (v);
	size_t pad = width > 16 ? 16 : width, o = 0;
	for (; pad > k; pad--)
		dst[o++] = '0';
	while (k)
		dst[o++] = tmp[--k];
	return o;
}

size_t tc_hex_u64(char *dst, uint64_t v)
{
	char tmp[16];
	size_t k = 0;
	do {
		tmp[k++] = tc_hexl[v & 15];
		v >>= 4;
	} while (v);
	dst[0] = '0';
	dst[1] = 'x';
	for (size_t i = 0; i < k; i++)
		dst[2 + i] = tmp[k - 1 - i];
	return k + 2;
}

size_t tc_hex_i64(char *dst, int64_t v)
{
	if (v >= 0)
		return tc_hex_u64(dst, (uint64_t)v);
	/* Python formats the magnitude after the sign: "0x%x" % -5 == "0x-5". */
	size_t len = tc_hex_u64(dst + 1, -(uint64_t)v);
	dst[0] = '0';
	dst[1] = 'x';
	dst[2] = '-';
	return len + 1;
}

size_t tc_double(char *dst, double v)
{
	if (isnan(v))
		return (size_t)sprintf(dst, "NaN");
	if (isinf(v))
		return (size_t)sprintf(dst, v < 0 ? "-Infinity" : "Infinity");
	/* The shortest digit string that reads back as v, as repr() finds it. */
	char sci[40];
	int prec;
	for (prec = 0; prec < 17; prec++) {
		snprintf(sci, sizeof sci, "%.*e", prec, v);
		if (strtod(sci, NULL) == v)
			break;
	}
	/* sci is [-]d[.ddd]e[+-]XX; lay the digits out as repr() does:
	 * positional for exponents -4..15, scientific otherwise. */
	char digits[20];
	size_t nd = 0;
	const char *q = sci;
	int neg = *q == '-';
	if (neg)
		q++;
	for (; *q != 'e'; q++)
		if (*q != '.')
			digits[nd++] = *q;
	int exp = atoi(q + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	char *o = dst;
	if (neg)
		*o++ = '-';
	if (exp >= -4 && exp < 16) {
		if (exp < 0) {
			*o++ = '0';
			*o++ = '.';
			for (int z = -1; z > exp; z--)
				*o++ = '0';
			memcpy(o, digits, nd);
			o += nd;
		} else {
			for (int k = 0; k <= exp; k++)
				*o++ = (size_t)k < nd ? digits[k] : '0';
			*o++ = '.';
			if ((size_t)exp + 1 < nd) {
				memcpy(o, digits + exp + 1, nd - (size_t)exp - 1);
				o += nd - (size_t)exp - 1;
			} else {
				*o++ = '0';
			}
		}
	} else {
		*o++ = digits[0];
		if (nd > 1) {
			*o++ = '.';
			memcpy(o, digits + 1, nd - 1);
			o += nd - 1;
		}
		o += sprintf(o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
	}
	return (size_t)(o - dst);
}
