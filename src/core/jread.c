/* jread.c: JSON values read with json-c, strictly. See jread.h.
 *
 * json-c (0.16, with JSON_TOKENER_STRICT) builds the values, but lets pass
 * what Python's json refuses or reads otherwise: 'single quotes', NaN,
 * Infinity, leading zeros ([00]), raw control characters in strings; it
 * clamps integers beyond int64/uint64 to the nearest end; it turns lone
 * surrogates into U+FFFD (critlua writes a byte that is not UTF-8 as
 * \udc80..\udcff and must get the byte back); it cuts a key at \u0000; and
 * of a key given twice it keeps the last value without a word. So a scan of
 * the value's text (jread_scan) runs first: it checks every token (strings,
 * numbers, literals; the grammar between them is json-c's), counts the
 * object members the text holds, and finds the surrogate escapes, which it
 * decodes itself into a copy of the text json-c then reads (jread_copy).
 *
 * json-c 0.16 (Debian 12) also gets some surrogate pairs wrong: it gives
 * U+FFFD for every pair whose high half has 0x36 or 0x37 in its low six bits
 * (\ud836, \ud837, \ud876, \ud877, ... \udbf7: 32 of the 1024 high halves,
 * with any low half: 32768 of the 1048576 pairs, found by trying them all;
 * "\ud83d\ude00" is right, "\ud876\ude00" is not). As json-c never sees a
 * surrogate escape here (the copy holds the characters in UTF-8, which json-c
 * passes through as they are), its version does not matter. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jread.h"

/* A point of the copy from which it is `delta` bytes shorter than the text. */
struct jread_shift {
	size_t at, delta;
};

int jread_init(struct jread *r, int max_depth)
{
	memset(r, 0, sizeof *r);
	r->max_depth = max_depth;
	/* the scan refuses nesting past max_depth first; json-c's own limit only
	 * has to be out of its way */
	r->tok = json_tokener_new_ex(max_depth + 2);
	r->kinds = malloc((size_t)max_depth + 1);
	if (!r->tok || !r->kinds) {
		jread_free(r);
		return -1;
	}
	json_tokener_set_flags(r->tok, JSON_TOKENER_STRICT);
	return 0;
}

void jread_free(struct jread *r)
{
	if (r->tok)
		json_tokener_free(r->tok);
	free(r->kinds);
	free(r->copy);
	free(r->shifts);
	memset(r, 0, sizeof *r);
}

void jread_int(struct json_object *o, int *neg, unsigned long long *mag)
{
	int64_t i = json_object_get_int64(o);
	*neg = i < 0;
	/* a positive value above INT64_MAX is kept as uint64 by json-c */
	*mag = i < 0 ? (unsigned long long)0 - (unsigned long long)i
		     : (unsigned long long)json_object_get_uint64(o);
}

/* ---- the scan ---- */

struct jscan {
	const char *t;
	size_t n, i;
	size_t members;    /* the ':' outside strings: one per object member */
	size_t surrogates; /* surrogate escapes (json-c is not given them) */
	size_t bytes;      /* of every string value (not keys), decoded: json-c's values must hold as many */
	int scalar_end;    /* the value is a number or literal: json-c needs a delimiter after it */
	const char *why;   /* set on error, with i at the error */
};

static int js_fail(struct jscan *s, size_t at, const char *why)
{
	s->i = at;
	s->why = at >= s->n ? "the JSON text ends too early" : why;
	return -1;
}

static int js_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int js_hex4(const char *p, size_t left, unsigned *v)
{
	if (left < 4)
		return 0;
	*v = 0;
	for (int k = 0; k < 4; k++) {
		char c = p[k];
		unsigned h;
		if (c >= '0' && c <= '9')
			h = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			h = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			h = (unsigned)(c - 'A' + 10);
		else
			return 0;
		*v = *v << 4 | h;
	}
	return 1;
}

/* A surrogate escape at p (\uXXXX with XXXX in d800..dfff): its length in
 * the text (12 for a pair, 6 for one of \udc80..\udcff), 0 for any other
 * lone surrogate; *cp the character (a pair) or the byte. */
static size_t js_surrogate(const char *p, size_t left, unsigned hi, unsigned *cp)
{
	unsigned lo;
	if (hi <= 0xdbff && left >= 12 && p[6] == '\\' && p[7] == 'u' && js_hex4(p + 8, left - 8, &lo) &&
	    lo >= 0xdc00 && lo <= 0xdfff) {
		*cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
		return 12;
	}
	if (hi >= 0xdc80 && hi <= 0xdcff) {
		*cp = hi & 0xff;
		return 6;
	}
	return 0;
}

/* The string at s->i (its opening quote); *nul_at: where a \u0000 is in it
 * (or SIZE_MAX). 1 when the text ends inside it. Its decoded bytes are
 * added to s->bytes, then taken back by the caller for a key. */
static int js_string(struct jread *r, struct jscan *s, size_t *nul_at)
{
	const char *t = s->t;
	size_t n = s->n, i = s->i + 1;
	*nul_at = SIZE_MAX;
	for (;;) {
		unsigned char c = 0;
		size_t run = i;
		while (i < n && (c = (unsigned char)t[i]) != '"' && c != '\\' && c >= 0x20)
			i++;
		s->bytes += i - run;
		if (i >= n) {
			s->i = n;
			return 1;
		}
		if (c == '"') {
			s->i = i + 1;
			return 0;
		}
		if (c < 0x20)
			return js_fail(s, i, "invalid string sequence");
		/* an escape: json-c checks all but \u's surrogates and NULs */
		unsigned cp, v;
		if (i + 1 >= n || t[i + 1] != 'u' || !js_hex4(t + i + 2, n - i - 2, &v)) {
			s->bytes++;
			i += 2;
			continue;
		}
		if (v == 0 && *nul_at == SIZE_MAX)
			*nul_at = i;
		if (v < 0xd800 || v > 0xdfff) {
			s->bytes += v < 0x80 ? 1 : v < 0x800 ? 2 : 3;
			i += 6;
			continue;
		}
		size_t k = js_surrogate(t + i, n - i, v, &cp);
		if (!k) {
			snprintf(r->why, sizeof r->why,
				 "lone surrogate \\u%04x in a string (only \\udc80..\\udcff may stand alone: "
				 "they are bytes that are not UTF-8)",
				 v);
			return js_fail(s, i, r->why);
		}
		s->surrogates++;
		s->bytes += k == 12 ? 4 : 1;
		i += k;
	}
}

/* The number at s->i, as Python reads it; integers must fit [-2^63, 2^64-1]. */
static int js_number(struct jread *r, struct jscan *s)
{
	const char *t = s->t;
	size_t n = s->n, i = s->i, start = i;
	int neg = 0, is_int = 1, over = 0;
	if (t[i] == '-')
		neg = 1, i++;
	if (i >= n || !js_digit(t[i]))
		return js_fail(s, i, "number expected");
	if (t[i] == '0' && i + 1 < n && js_digit(t[i + 1]))
		return js_fail(s, i + 1, "unexpected character"); /* a leading zero */
	uint64_t mag = 0;
	for (; i < n && js_digit(t[i]); i++) {
		unsigned d = (unsigned)(t[i] - '0');
		if (mag > (UINT64_MAX - d) / 10)
			over = 1;
		mag = mag * 10 + d;
	}
	if (i < n && t[i] == '.') {
		is_int = 0;
		if (++i >= n || !js_digit(t[i]))
			return js_fail(s, i, "number expected");
		while (i < n && js_digit(t[i]))
			i++;
	}
	if (i < n && (t[i] == 'e' || t[i] == 'E')) {
		is_int = 0;
		if (++i < n && (t[i] == '+' || t[i] == '-'))
			i++;
		if (i >= n || !js_digit(t[i]))
			return js_fail(s, i, "number expected");
		while (i < n && js_digit(t[i]))
			i++;
	}
	if (is_int && (over || (neg && mag > (uint64_t)1 << 63))) {
		snprintf(r->why, sizeof r->why, "integer %.*s%s is out of range (-2^63 .. 2^64-1)",
			 (int)(i - start > 40 ? 40 : i - start), t + start, i - start > 40 ? "..." : "");
		return js_fail(s, start, r->why);
	}
	s->i = i;
	return 0;
}

static int js_literal(struct jscan *s)
{
	char c = s->t[s->i];
	const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
	for (size_t k = 0; word[k]; k++)
		if (s->i + k >= s->n || s->t[s->i + k] != word[k])
			return js_fail(s, s->i + k, c == 'n' ? "null expected" : "boolean expected");
	s->i += strlen(word);
	return 0;
}

/* What a character that starts no token means where it is: in an object
 * (kind '{') or array ('['), after `last` ('v': a value). As json-c says it. */
static const char *js_bad_char(unsigned char kind, char last)
{
	int after_value = last == 'v' || last == '}' || last == ']';
	if (kind == '{' && (last == '{' || last == ','))
		return "quoted object property name expected";
	if (kind == '{' && after_value)
		return "object value separator ',' expected";
	if (kind == '[' && after_value)
		return "array value separator ',' expected";
	return "unexpected character";
}

/* Scan the value at s->i to its end (s->i after it, or at the text's end
 * when the text ends inside it: json-c then says so). 0, or -1 (s->why). */
static int jread_scan(struct jread *r, struct jscan *s)
{
	const char *t = s->t;
	size_t n = s->n;
	int depth = 0;
	char last = 0; /* the last character outside strings: where a key is expected */
	for (;;) {
		while (s->i < n && (t[s->i] == ' ' || t[s->i] == '\t' || t[s->i] == '\n' || t[s->i] == '\r'))
			s->i++;
		if (s->i >= n)
			return 0;
		char c = t[s->i];
		switch (c) {
		case '{':
		case '[':
			if (depth >= r->max_depth)
				return js_fail(s, s->i, "nested too deep");
			r->kinds[depth++] = (unsigned char)c;
			s->i++;
			last = c;
			continue;
		case '}':
		case ']':
			if (depth == 0)
				return js_fail(s, s->i, "unexpected character");
			s->i++;
			last = c;
			if (--depth == 0)
				return 0;
			continue;
		case ',':
		case ':':
			if (depth == 0)
				return js_fail(s, s->i, "unexpected character");
			s->members += c == ':';
			s->i++;
			last = c;
			continue;
		case '"': {
			size_t nul_at, bytes = s->bytes;
			int key = depth && r->kinds[depth - 1] == '{' && (last == '{' || last == ',');
			int rc = js_string(r, s, &nul_at);
			if (key)
				s->bytes = bytes;
			if (rc < 0)
				return -1;
			if (rc > 0)
				return 0;
			/* json-c's keys are C strings: "a\u0000b" would come back as "a" */
			if (key && nul_at != SIZE_MAX)
				return js_fail(s, nul_at, "a key cannot hold \\u0000 (a NUL character)");
			break;
		}
		case 't':
		case 'f':
		case 'n':
			if (js_literal(s) < 0)
				return -1;
			s->scalar_end = depth == 0;
			break;
		default:
			if (c == '-' || js_digit(c)) {
				if (js_number(r, s) < 0)
					return -1;
				s->scalar_end = depth == 0;
				break;
			}
			return js_fail(s, s->i, js_bad_char(depth ? r->kinds[depth - 1] : 0, last));
		}
		last = 'v';
		if (depth == 0)
			return 0;
	}
}

/* ---- json-c ---- */

static const char *jread_jc_why(const char *src, size_t off, size_t len, enum json_tokener_error er)
{
	switch (er) {
	case json_tokener_continue:
	case json_tokener_error_parse_eof:
		return "the JSON text ends too early";
	case json_tokener_error_depth:
		return "nested too deep";
	case json_tokener_error_parse_unexpected:
		/* strict json-c says this of a '}' after ',' in an object */
		if (off < len && src[off] == '}') {
			size_t k = off;
			while (k > 0 && (src[k - 1] == ' ' || src[k - 1] == '\t' || src[k - 1] == '\n' ||
					 src[k - 1] == '\r'))
				k--;
			if (k > 0 && src[k - 1] == ',')
				return "quoted object property name expected";
		}
		return "unexpected character";
	case json_tokener_error_parse_comment:
		return "unexpected character";
	case json_tokener_error_size:
		return "the JSON text is too large";
	default:
		return json_tokener_error_desc(er);
	}
}

static int jread_grow(void **p, size_t *cap, size_t need, size_t elt)
{
	if (*cap >= need)
		return 0;
	size_t c = *cap ? *cap : 64;
	while (c < need) {
		if (c > SIZE_MAX / 4 / elt)
			return -1;
		c *= 2;
	}
	void *q = realloc(*p, c * elt);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

/* text[a, b) with its surrogate escapes decoded (in strings only) into
 * r->copy, with a space after it; r->shifts says where it got shorter. */
static int jread_copy(struct jread *r, const char *t, size_t a, size_t b)
{
	if (jread_grow((void **)&r->copy, &r->copy_cap, b - a + 2, 1) < 0)
		return -1;
	r->nshifts = 0;
	char *w = r->copy;
	int in_str = 0;
	for (size_t i = a; i < b;) {
		char c = t[i];
		if (!in_str) {
			in_str = c == '"';
			*w++ = c;
			i++;
			continue;
		}
		if (c == '"') {
			in_str = 0;
			*w++ = c;
			i++;
			continue;
		}
		unsigned v, cp;
		size_t k;
		if (c != '\\' || i + 1 >= b || t[i + 1] != 'u' || !js_hex4(t + i + 2, b - i - 2, &v) ||
		    v < 0xd800 || v > 0xdfff || !(k = js_surrogate(t + i, b - i, v, &cp))) {
			size_t step = c == '\\' && i + 1 < b ? 2 : 1;
			memcpy(w, t + i, step);
			w += step;
			i += step;
			continue;
		}
		char *at = w;
		if (k == 6) {
			*w++ = (char)cp;
		} else {
			*w++ = (char)(0xf0 | cp >> 18);
			*w++ = (char)(0x80 | (cp >> 12 & 0x3f));
			*w++ = (char)(0x80 | (cp >> 6 & 0x3f));
			*w++ = (char)(0x80 | (cp & 0x3f));
		}
		i += k;
		if (jread_grow((void **)&r->shifts, &r->shifts_cap, r->nshifts + 1, sizeof *r->shifts) < 0)
			return -1;
		r->shifts[r->nshifts++] = (struct jread_shift){ (size_t)(w - r->copy),
								k - (size_t)(w - at) };
	}
	*w++ = ' ';
	*w = 0;
	return 0;
}

/* Offset off of the copy as an offset of the text that starts at base. */
static size_t jread_unshift(const struct jread *r, size_t base, size_t off)
{
	size_t d = 0;
	for (size_t k = 0; k < r->nshifts && r->shifts[k].at <= off; k++)
		d += r->shifts[k].delta;
	return base + off + d;
}

/* Members of the objects in o and bytes of its strings, all the way down. */
static void jread_tally(struct json_object *o, size_t *members, size_t *bytes)
{
	switch (json_object_get_type(o)) {
	case json_type_object:
		for (struct lh_entry *me = json_object_get_object(o)->head; me; me = me->next) {
			*members += 1;
			jread_tally((struct json_object *)lh_entry_v(me), members, bytes);
		}
		break;
	case json_type_array: {
		size_t len = json_object_array_length(o);
		for (size_t i = 0; i < len; i++)
			jread_tally(json_object_array_get_idx(o, i), members, bytes);
		break;
	}
	case json_type_string:
		*bytes += (size_t)json_object_get_string_len(o);
		break;
	default:
		break;
	}
}

/* json-c kept one of two equal keys (the text has more members than the
 * values): find the second one in src[0, len) (valid JSON, as json-c read
 * it). Its offset just after the key, or SIZE_MAX (out of memory). Each
 * object's keys go into a json-c object used as a set. */
static size_t jread_find_duplicate(struct jread *r, const char *src, size_t len)
{
	struct json_object **sets = calloc((size_t)r->max_depth + 1, sizeof *sets);
	struct json_tokener *kt = json_tokener_new();
	size_t found = SIZE_MAX;
	int depth = 0;
	char last = 0;
	if (!sets || !kt)
		goto out;
	for (size_t i = 0; i < len && found == SIZE_MAX;) {
		char c = src[i];
		if (c == '{' || c == '[') {
			sets[depth] = c == '{' ? json_object_new_object() : NULL;
			if (c == '{' && !sets[depth])
				goto out;
			depth++;
		} else if (c == '}' || c == ']') {
			if (depth > 0) {
				depth--;
				json_object_put(sets[depth]);
				sets[depth] = NULL;
			}
		} else if (c == '"') {
			size_t a = i++;
			while (i < len && src[i] != '"')
				i += src[i] == '\\' ? 2 : 1;
			i++;
			if (depth > 0 && sets[depth - 1] && (last == '{' || last == ',')) {
				json_tokener_reset(kt);
				struct json_object *k = json_tokener_parse_ex(kt, src + a, (int)(i - a));
				if (!k)
					goto out;
				const char *key = json_object_get_string(k);
				if (json_object_object_get_ex(sets[depth - 1], key, NULL))
					found = i;
				else if (json_object_object_add(sets[depth - 1], key, NULL) < 0)
					i = len; /* out of memory: found stays SIZE_MAX */
				json_object_put(k);
			}
			last = 'v';
			continue;
		}
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			last = c;
		i++;
	}
out:
	for (int k = 0; sets && k <= r->max_depth; k++)
		json_object_put(sets[k]);
	free(sets);
	if (kt)
		json_tokener_free(kt);
	return found;
}

int jread_value(struct jread *r, const char *text, size_t len, size_t start,
		struct json_object **out, size_t *end, const char **why)
{
	struct jscan s = { .t = text, .n = len, .i = start };
	*out = NULL;
	while (s.i < len && (text[s.i] == ' ' || text[s.i] == '\t' || text[s.i] == '\n' || text[s.i] == '\r'))
		s.i++;
	size_t at = s.i;
	if (at >= len) {
		*end = len;
		*why = "the JSON text ends too early";
		return -1;
	}
	if (len - at > INT32_MAX - 2) {
		*end = at;
		*why = "the JSON text is too large (2 GiB at most)";
		return -1;
	}
	int scan_rc = jread_scan(r, &s);
	size_t stop = s.i;
	json_tokener_reset(r->tok);
	if (scan_rc < 0) {
		/* json-c may find a mistake before the one the scan found: the first one counts */
		struct json_object *o = json_tokener_parse_ex(r->tok, text + at, (int)(stop - at));
		enum json_tokener_error er = json_tokener_get_error(r->tok);
		size_t off = json_tokener_get_parse_end(r->tok);
		json_object_put(o);
		if (er != json_tokener_success && er != json_tokener_continue && at + off < stop) {
			*end = at + off;
			*why = jread_jc_why(text + at, off, stop - at, er);
		} else {
			*end = stop;
			*why = s.why;
		}
		return -1;
	}
	/* json-c reads the copy when the scan found surrogate escapes (they are
	 * decoded there), and a number or literal at the top with a space after
	 * it: without a delimiter json-c waits for more digits or letters. */
	const char *src = text + at;
	size_t slen = stop - at, want = slen;
	int copied = 0;
	if (s.surrogates || s.scalar_end) {
		if (jread_copy(r, text, at, stop) < 0) {
			*end = at;
			*why = "out of memory";
			return -1;
		}
		src = r->copy;
		slen = strlen(r->copy); /* the copy has no NUL: the scan refused raw ones */
		want = s.scalar_end ? slen : slen - 1;
		if (!s.scalar_end)
			slen--;
		copied = 1;
	}
	/* json-c 0.16 has no error for a failed allocation: it stops with some
	 * other one ("unexpected character") or goes on. malloc says ENOMEM. */
	errno = 0;
	struct json_object *o = json_tokener_parse_ex(r->tok, src, (int)slen);
	enum json_tokener_error er = json_tokener_get_error(r->tok);
	size_t off = json_tokener_get_parse_end(r->tok);
	int oom = errno == ENOMEM;
	if (er != json_tokener_success || off != want) {
		json_object_put(o);
		*end = copied ? jread_unshift(r, at, off) : at + off;
		if (oom)
			*why = "out of memory (json-c could not hold the value)";
		else if (er == json_tokener_success)
			*why = "unexpected character";
		else if (er == json_tokener_continue && stop < len)
			*why = "unexpected character"; /* json-c wants more than the value's text */
		else
			*why = jread_jc_why(src, off, slen, er);
		if (er == json_tokener_continue && stop >= len)
			*end = len;
		return -1;
	}
	/* json-c 0.16 goes on when it cannot grow a string (out of memory): the
	 * string comes out short, or empty. The values must hold every byte of
	 * the strings of the text. */
	size_t members = 0, bytes = 0;
	jread_tally(o, &members, &bytes);
	if (oom || (bytes != s.bytes && members == s.members)) {
		json_object_put(o);
		*end = at;
		*why = "out of memory (json-c could not hold the value)";
		return -1;
	}
	/* duplicate keys: json-c keeps one value, so the values hold fewer
	 * members than the text; only then look for which key it was */
	if (members != s.members) {
		size_t d = jread_find_duplicate(r, src, want);
		json_object_put(o);
		if (d == SIZE_MAX) {
			*end = at;
			*why = "out of memory";
			return -1;
		}
		*end = copied ? jread_unshift(r, at, d) : at + d;
		*why = "duplicate key (a key may appear once in an object)";
		return -1;
	}
	*out = o;
	*end = stop;
	return 0;
}
