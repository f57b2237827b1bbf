/* jread.h: one JSON value read with json-c, as strictly as Python's json
 * module reads it — the reader under `encode` and crit.json.decode. json-c
 * builds the values; a scan of the text before it adds what json-c lets pass
 * (see jread.c): single quotes, NaN and Infinity, leading zeros, raw control
 * characters in strings, integers outside [-2^63, 2^64-1], lone surrogates,
 * \u0000 in keys, keys given twice in one object, and json-c 0.16's U+FFFD
 * for some surrogate pairs. */
#ifndef CRITLUA_JREAD_H
#define CRITLUA_JREAD_H

#include <stddef.h>

#include <json-c/json.h>

struct jread_shift;

/* Reusable between values (one tokener, one scratch copy). */
struct jread {
	struct json_tokener *tok;
	int max_depth;
	unsigned char *kinds;          /* '{' or '[' per open container while scanning */
	char *copy;                    /* the value's text as json-c reads it, when it differs */
	size_t copy_cap;
	struct jread_shift *shifts;    /* where the copy is shorter than the text */
	size_t nshifts, shifts_cap;
	char why[200];                 /* an error message made for the text */
};

/* 0, or -1 when out of memory. max_depth: containers nested at most that deep. */
int jread_init(struct jread *r, int max_depth);
void jread_free(struct jread *r);

/* Read the JSON value that starts at text[start] (after white space) and
 * ends before text[len]. Returns 0 with *out the value (NULL for null; the
 * caller json_object_put()s it) and *end just after it; or -1 with *end at
 * the error and *why saying what it is ("unexpected character"; "the JSON
 * text ends too early" when the text ends inside the value; "nested too
 * deep"; "duplicate key" with *end just after the second key; "out of
 * memory"). Strings: a surrogate pair is its character in UTF-8, a lone
 * \udc80..\udcff the byte 0x80..0xff (Python's surrogateescape, as critlua
 * writes bytes that are not UTF-8); any other lone surrogate is an error. */
int jread_value(struct jread *r, const char *text, size_t len, size_t start,
		struct json_object **out, size_t *end, const char **why);

/* Integer value o as sign and magnitude (json-c keeps int64 and uint64). */
void jread_int(struct json_object *o, int *neg, unsigned long long *mag);

#endif
