/* jdom.h: a JSON value parsed into one arena — the reader under `encode` and
 * crit.json.decode. RFC 8259 as strictly as Python's json module reads it
 * (no comments, trailing commas, leading zeros, NaN, control characters in
 * strings). A value is read in one pass and freed at once, with no allocation
 * per value: for the 24 MB JSON of a 100 000-file image that is most of what
 * `encode` did with a general-purpose JSON library (see BENCHMARKS.md).
 * In an object with a key twice, the last value stays, at the first place. */
#ifndef CRITLUA_JDOM_H
#define CRITLUA_JDOM_H

#include <stddef.h>
#include <stdint.h>

enum jtype { JT_NULL, JT_BOOL, JT_INT, JT_DOUBLE, JT_STRING, JT_ARRAY, JT_OBJECT };

struct jmember;

struct jval {
	const char *src; /* where the value starts in the text */
	union {
		int b;                   /* JT_BOOL */
		uint64_t mag;            /* JT_INT: the magnitude; neg says the sign */
		double d;                /* JT_DOUBLE */
		const char *s;           /* JT_STRING: NUL-terminated (may hold NULs) */
		struct jval *items;      /* JT_ARRAY */
		struct jmember *members; /* JT_OBJECT, in the text's order */
	} u;
	uint32_t n;   /* JT_STRING: bytes; JT_ARRAY: items; JT_OBJECT: members;
		       * JT_INT, JT_DOUBLE: the length of its text at src */
	uint8_t type; /* enum jtype */
	uint8_t neg;  /* JT_INT: negative (never for 0) */
};

struct jmember {
	const char *key; /* NUL-terminated */
	uint32_t klen;
	struct jval val;
};

/* What values are parsed into; reusable (jdom_reset keeps its memory). */
struct jdom {
	struct jblock *blocks;
	uint8_t *cur;
	size_t left;
	void *stack; /* scratch for arrays and objects being read */
	size_t stack_len, stack_cap;
	char why[160]; /* an error message made for the text */
};

/* Parse the JSON value that starts at text[start] (after white space),
 * nested at most max_depth deep, into d. Returns the value, with *end just
 * after it; or NULL with *end at the error and *why saying what it is
 * ("unexpected character"; *why is "the JSON text ends too early" when the
 * text ends inside the value, "nested too deep" past max_depth). Integers
 * must fit in [-2^63, 2^64-1]. In strings, a surrogate pair is its character
 * in UTF-8, and a lone \udc80..\udcff the byte 0x80..0xff (Python's
 * surrogateescape, as critlua writes bytes that are not UTF-8); any other
 * lone surrogate is an error. The text may be 4 GiB at most. The value lives
 * until jdom_reset/jdom_free. */
const struct jval *jdom_parse(struct jdom *d, const char *text, size_t len, size_t start,
			      int max_depth, size_t *end, const char **why);

void jdom_reset(struct jdom *d); /* forget the values, keep the memory */
void jdom_free(struct jdom *d);

/* The member `key` of an object (the last of that name), or NULL. */
const struct jval *jdom_get(const struct jval *obj, const char *key);

/* An integer value as a double; JT_DOUBLE as it is. */
double jdom_number(const struct jval *v);

#endif
