/* jdom.c: JSON values into one arena. See jdom.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jdom.h"
#include "textcodec.h"
#include "util.h"

/* ---- the arena ---- */

struct jblock {
	struct jblock *next;
	size_t size;
	_Alignas(16) uint8_t data[];
};

#define JBLOCK_MIN (64 * 1024)

static void *jalloc(struct jdom *d, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n > d->left) {
		size_t size = n > JBLOCK_MIN ? n : JBLOCK_MIN;
		if (d->blocks && d->blocks->size > size)
			size = d->blocks->size; /* grow as the values do */
		if (size > SIZE_MAX / 2 - sizeof(struct jblock))
			abort();
		struct jblock *b = xmalloc(sizeof *b + size);
		b->size = size;
		b->next = d->blocks;
		d->blocks = b;
		d->cur = b->data;
		d->left = size;
	}
	void *p = d->cur;
	d->cur += n;
	d->left -= n;
	return p;
}

void jdom_reset(struct jdom *d)
{
	/* keep the newest block (the largest), free the others */
	struct jblock *keep = d->blocks;
	if (!keep)
		return;
	for (struct jblock *b = keep->next, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	keep->next = NULL;
	d->cur = keep->data;
	d->left = keep->size;
	d->stack_len = 0;
}

void jdom_free(struct jdom *d)
{
	for (struct jblock *b = d->blocks, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	free(d->stack);
	memset(d, 0, sizeof *d);
}

/* ---- the parser ---- */

struct jp {
	struct jdom *d;
	const char *t;
	size_t n, i;
	int max_depth;
	const char *why; /* set on error, with i at the error */
};

static int jp_fail(struct jp *p, const char *why)
{
	if (!p->why)
		p->why = p->i >= p->n ? "the JSON text ends too early" : why;
	return -1;
}

static void jp_ws(struct jp *p)
{
	while (p->i < p->n) {
		char c = p->t[p->i];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->i++;
	}
}

/* The scratch stack: items of the arrays and members of the objects being
 * read, copied into the arena when each is closed. */
static void *jp_push(struct jp *p, size_t size)
{
	struct jdom *d = p->d;
	if (d->stack_cap - d->stack_len < size) {
		size_t cap = d->stack_cap ? d->stack_cap : 4096;
		while (cap - d->stack_len < size)
			cap *= 2;
		d->stack = xrealloc(d->stack, cap);
		d->stack_cap = cap;
	}
	void *at = (uint8_t *)d->stack + d->stack_len;
	d->stack_len += size;
	return at;
}

static int hex4(const char *s, size_t left, unsigned *v)
{
	if (left < 4)
		return 0;
	*v = 0;
	for (int k = 0; k < 4; k++) {
		int h = tc_hexval((unsigned char)s[k]);
		if (h < 0)
			return 0;
		*v = *v << 4 | (unsigned)h;
	}
	return 1;
}

/* A string at p->i (the opening quote) into the arena: *s, *len. */
static int jp_string(struct jp *p, const char **s, uint32_t *len)
{
	size_t i = ++p->i, n = p->n;
	const char *t = p->t;
	/* the common case: no escapes, the bytes as they are */
	size_t j = i;
	while (j < n && t[j] != '"' && t[j] != '\\' && (unsigned char)t[j] >= 0x20)
		j++;
	if (j < n && t[j] == '"') {
		char *out = jalloc(p->d, j - i + 1);
		memcpy(out, t + i, j - i);
		out[j - i] = 0;
		*s = out;
		*len = (uint32_t)(j - i);
		p->i = j + 1;
		return 0;
	}
	/* with escapes: the decoded text is never longer than the source */
	size_t end = j;
	while (end < n && t[end] != '"') {
		if (t[end] == '\\')
			end++;
		end++;
	}
	char *out = jalloc(p->d, (end < n ? end : n) - i + 1), *w = out;
	memcpy(w, t + i, j - i);
	w += j - i;
	for (p->i = j; p->i < n;) {
		unsigned char c = (unsigned char)t[p->i];
		if (c == '"') {
			*w = 0;
			*s = out;
			*len = (uint32_t)(w - out);
			p->i++;
			return 0;
		}
		if (c < 0x20)
			return jp_fail(p, "invalid string sequence");
		if (c != '\\') {
			*w++ = (char)c;
			p->i++;
			continue;
		}
		if (++p->i >= n)
			break;
		char e = t[p->i++];
		switch (e) {
		case '"':
		case '\\':
		case '/':
			*w++ = e;
			break;
		case 'b':
			*w++ = '\b';
			break;
		case 'f':
			*w++ = '\f';
			break;
		case 'n':
			*w++ = '\n';
			break;
		case 'r':
			*w++ = '\r';
			break;
		case 't':
			*w++ = '\t';
			break;
		case 'u': {
			size_t esc = p->i - 2; /* the backslash */
			unsigned cp, lo;
			if (!hex4(t + p->i, n - p->i, &cp))
				return jp_fail(p, "invalid string sequence");
			p->i += 4;
			if (cp >= 0xd800 && cp <= 0xdbff && n - p->i >= 6 && t[p->i] == '\\' &&
			    t[p->i + 1] == 'u' && hex4(t + p->i + 2, n - p->i - 2, &lo) && lo >= 0xdc00 &&
			    lo <= 0xdfff) {
				/* a surrogate pair: one character */
				p->i += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				*w++ = (char)(0xf0 | cp >> 18);
				*w++ = (char)(0x80 | (cp >> 12 & 0x3f));
				*w++ = (char)(0x80 | (cp >> 6 & 0x3f));
				*w++ = (char)(0x80 | (cp & 0x3f));
			} else if (cp >= 0xdc80 && cp <= 0xdcff) {
				/* Python's surrogateescape: a byte that is not UTF-8 */
				*w++ = (char)(cp & 0xff);
			} else if (cp >= 0xd800 && cp <= 0xdfff) {
				p->i = esc;
				snprintf(p->d->why, sizeof p->d->why,
					 "lone surrogate \\u%04x in a string (only \\udc80..\\udcff may stand "
					 "alone: they are bytes that are not UTF-8)",
					 cp);
				return jp_fail(p, p->d->why);
			} else if (cp < 0x80) {
				*w++ = (char)cp;
			} else if (cp < 0x800) {
				*w++ = (char)(0xc0 | cp >> 6);
				*w++ = (char)(0x80 | (cp & 0x3f));
			} else {
				*w++ = (char)(0xe0 | cp >> 12);
				*w++ = (char)(0x80 | (cp >> 6 & 0x3f));
				*w++ = (char)(0x80 | (cp & 0x3f));
			}
			break;
		}
		default:
			p->i--;
			return jp_fail(p, "invalid string sequence");
		}
	}
	return jp_fail(p, "invalid string sequence");
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A number at p->i: an integer when it has no fraction or exponent. */
static int jp_number(struct jp *p, struct jval *v)
{
	size_t i = p->i, n = p->n, start = i;
	const char *t = p->t;
	int neg = 0, is_int = 1;
	if (i < n && t[i] == '-')
		neg = 1, i++;
	if (i >= n || !is_digit(t[i])) {
		p->i = i;
		return jp_fail(p, "number expected");
	}
	if (t[i] == '0' && i + 1 < n && is_digit(t[i + 1])) {
		p->i = i + 1;
		return jp_fail(p, "unexpected character"); /* a leading zero */
	}
	uint64_t mag = 0;
	int over = 0;
	for (; i < n && is_digit(t[i]); i++) {
		unsigned dgt = (unsigned)(t[i] - '0');
		if (mag > (UINT64_MAX - dgt) / 10)
			over = 1;
		mag = mag * 10 + dgt;
	}
	if (i < n && t[i] == '.') {
		is_int = 0;
		if (++i >= n || !is_digit(t[i])) {
			p->i = i;
			return jp_fail(p, "number expected");
		}
		while (i < n && is_digit(t[i]))
			i++;
	}
	if (i < n && (t[i] == 'e' || t[i] == 'E')) {
		is_int = 0;
		i++;
		if (i < n && (t[i] == '+' || t[i] == '-'))
			i++;
		if (i >= n || !is_digit(t[i])) {
			p->i = i;
			return jp_fail(p, "number expected");
		}
		while (i < n && is_digit(t[i]))
			i++;
	}
	p->i = i;
	v->n = (uint32_t)(i - start); /* the number's text, for messages */
	if (is_int) {
		if (over || (neg && mag > (uint64_t)1 << 63)) {
			snprintf(p->d->why, sizeof p->d->why, "integer %.*s%s is out of range (-2^63 .. 2^64-1)",
				 (int)(i - start > 40 ? 40 : i - start), t + start, i - start > 40 ? "..." : "");
			p->i = start;
			return jp_fail(p, p->d->why);
		}
		v->type = JT_INT;
		v->u.mag = mag;
		v->neg = neg && mag != 0;
		return 0;
	}
	/* strtod needs a terminated string: the text may end right here */
	char buf[64], *num = i - start < sizeof buf ? buf : xmalloc(i - start + 1);
	memcpy(num, t + start, i - start);
	num[i - start] = 0;
	v->type = JT_DOUBLE;
	v->u.d = strtod(num, NULL);
	if (num != buf)
		free(num);
	return 0;
}

static int jp_literal(struct jp *p, const char *word, const char *why)
{
	size_t len = strlen(word);
	for (size_t k = 0; k < len; k++, p->i++)
		if (p->i >= p->n || p->t[p->i] != word[k])
			return jp_fail(p, why);
	return 0;
}

static int jp_value(struct jp *p, struct jval *v, int depth);

/* The members read since `base` (bytes into the stack), with keys given
 * twice merged: the last value at the first place. Returns the count. */
static size_t merge_keys(struct jmember *m, size_t n)
{
	if (n < 2)
		return n;
	size_t out = 0;
	if (n <= 16) {
		for (size_t i = 0; i < n; i++) {
			size_t j = 0;
			while (j < out && (m[j].klen != m[i].klen || memcmp(m[j].key, m[i].key, m[i].klen) != 0))
				j++;
			if (j < out)
				m[j].val = m[i].val;
			else
				m[out++] = m[i];
		}
		return out;
	}
	size_t cap = 32;
	while (cap < 2 * n)
		cap *= 2;
	size_t *slot = xmalloc(cap * sizeof *slot); /* index + 1 into m, 0: empty */
	memset(slot, 0, cap * sizeof *slot);
	for (size_t i = 0; i < n; i++) {
		uint64_t h = 1469598103934665603ull;
		for (size_t k = 0; k < m[i].klen; k++)
			h = (h ^ (unsigned char)m[i].key[k]) * 1099511628211ull;
		size_t s = (size_t)h & (cap - 1);
		while (slot[s] && (m[slot[s] - 1].klen != m[i].klen ||
				   memcmp(m[slot[s] - 1].key, m[i].key, m[i].klen) != 0))
			s = (s + 1) & (cap - 1);
		if (slot[s]) {
			m[slot[s] - 1].val = m[i].val;
		} else {
			m[out] = m[i];
			slot[s] = ++out;
		}
	}
	free(slot);
	return out;
}

/* After an item of an array or object: 1 on ',' (another item follows), 0
 * on the closing character, -1 (why) on anything else. */
static int jp_next(struct jp *p, char close, const char *why)
{
	jp_ws(p);
	if (p->i < p->n && p->t[p->i] == ',') {
		p->i++;
		jp_ws(p);
		return 1;
	}
	if (p->i < p->n && p->t[p->i] == close) {
		p->i++;
		return 0;
	}
	return jp_fail(p, why);
}

/* Past the opening bracket of an array or object and the blanks after it;
 * 1 when `close` follows at once (and past it too): the container is empty. */
static int jp_open(struct jp *p, char close)
{
	p->i++;
	jp_ws(p);
	if (p->i < p->n && p->t[p->i] == close) {
		p->i++;
		return 1;
	}
	return 0;
}

/* The n bytes the container pushed since base, moved from the stack into
 * the arena (NULL when none). */
static void *jp_pop(struct jp *p, size_t base, size_t n)
{
	void *out = n ? jalloc(p->d, n) : NULL;
	if (n)
		memcpy(out, (uint8_t *)p->d->stack + base, n);
	p->d->stack_len = base;
	return out;
}

static int jp_array(struct jp *p, struct jval *v, int depth)
{
	size_t base = p->d->stack_len, count = 0;
	if (!jp_open(p, ']')) {
		int more;
		do {
			struct jval item;
			if (jp_value(p, &item, depth + 1) < 0)
				return -1;
			memcpy(jp_push(p, sizeof item), &item, sizeof item);
			count++;
		} while ((more = jp_next(p, ']', "array value separator ',' expected")) > 0);
		if (more < 0)
			return -1;
	}
	v->type = JT_ARRAY;
	v->n = (uint32_t)count; /* fewer than the bytes of the text */
	v->u.items = jp_pop(p, base, count * sizeof(struct jval));
	return 0;
}

static int jp_object(struct jp *p, struct jval *v, int depth)
{
	size_t base = p->d->stack_len, count = 0;
	if (!jp_open(p, '}')) {
		int more;
		do {
			struct jmember m;
			if (p->i >= p->n || p->t[p->i] != '"')
				return jp_fail(p, "quoted object property name expected");
			if (jp_string(p, &m.key, &m.klen) < 0)
				return -1;
			jp_ws(p);
			if (p->i >= p->n || p->t[p->i] != ':')
				return jp_fail(p, "object property name separator ':' expected");
			p->i++;
			if (jp_value(p, &m.val, depth + 1) < 0)
				return -1;
			memcpy(jp_push(p, sizeof m), &m, sizeof m);
			count++;
		} while ((more = jp_next(p, '}', "object value separator ',' expected")) > 0);
		if (more < 0)
			return -1;
	}
	v->type = JT_OBJECT;
	if (count) /* duplicate keys merged in place, on the stack */
		count = merge_keys((struct jmember *)((uint8_t *)p->d->stack + base), count);
	v->n = (uint32_t)count;
	v->u.members = jp_pop(p, base, count * sizeof(struct jmember));
	return 0;
}

static int jp_value(struct jp *p, struct jval *v, int depth)
{
	jp_ws(p);
	memset(v, 0, sizeof *v);
	if (p->i >= p->n)
		return jp_fail(p, "unexpected end of data");
	size_t start = p->i;
	v->src = p->t + start;
	int rc;
	switch (p->t[p->i]) {
	case '{':
	case '[':
		if (depth >= p->max_depth)
			return jp_fail(p, "nested too deep");
		rc = p->t[p->i] == '{' ? jp_object(p, v, depth) : jp_array(p, v, depth);
		break;
	case '"':
		v->type = JT_STRING;
		rc = jp_string(p, &v->u.s, &v->n);
		break;
	case 't':
		v->type = JT_BOOL;
		v->u.b = 1;
		rc = jp_literal(p, "true", "boolean expected");
		break;
	case 'f':
		v->type = JT_BOOL;
		rc = jp_literal(p, "false", "boolean expected");
		break;
	case 'n':
		rc = jp_literal(p, "null", "null expected");
		break;
	default:
		if (p->t[p->i] == '-' || is_digit(p->t[p->i]))
			rc = jp_number(p, v);
		else
			rc = jp_fail(p, "unexpected character");
	}
	return rc;
}

const struct jval *jdom_parse(struct jdom *d, const char *text, size_t len, size_t start,
			      int max_depth, size_t *end, const char **why)
{
	struct jp p = { .d = d, .t = text, .n = len, .i = start, .max_depth = max_depth };
	if (len > UINT32_MAX) {
		*end = start;
		*why = "the JSON text is too large (4 GiB at most)";
		return NULL;
	}
	struct jval *v = jalloc(d, sizeof *v);
	d->stack_len = 0;
	if (jp_value(&p, v, 0) < 0) {
		*end = p.i < len ? p.i : len;
		*why = p.why;
		return NULL;
	}
	*end = p.i;
	return v;
}

const struct jval *jdom_get(const struct jval *obj, const char *key)
{
	if (!obj || obj->type != JT_OBJECT)
		return NULL;
	size_t klen = strlen(key);
	for (size_t i = 0; i < obj->n; i++)
		if (obj->u.members[i].klen == klen && memcmp(obj->u.members[i].key, key, klen) == 0)
			return &obj->u.members[i].val;
	return NULL;
}

double jdom_number(const struct jval *v)
{
	if (v->type == JT_DOUBLE)
		return v->u.d;
	return v->neg ? -(double)v->u.mag : (double)v->u.mag;
}
