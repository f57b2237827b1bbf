/* json_in.c: CRIT's JSON dialect back into images, generically over the
 * protobuf-c descriptors, accepting every form CRIT and go-criu write and
 * refusing (with the path of the value) whatever would make a wrong image. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jdom.h"
#include "json_in.h"
#include "json_out.h"
#include "pbwire.h"
#include "schema.h"

/* CRIU's messages nest about 8 deep; the document adds 3 levels. */
#define JI_IMAGE_DEPTH 64
#define JI_MAX_FRAMES 128

/* ---- the (criu) name maps (SPEC §2): schema_flag_map, schema_dict_map ---- */

static const struct schema_name *ji_find_name(const struct schema_name *names, const char *s, size_t n)
{
	for (; names && names->name; names++)
		if (strlen(names->name) == n && memcmp(names->name, s, n) == 0)
			return names;
	return NULL;
}

/* "A, B, C" into dst, for error messages. */
static void ji_list_names(const struct schema_name *names, char *dst, size_t size)
{
	size_t at = 0;
	dst[0] = 0;
	for (; names->name && at + 1 < size; names++)
		if (names->value || strcmp(names->name, "VMA_AREA_NONE") != 0)
			at += (size_t)snprintf(dst + at, size - at, "%s%s", at ? ", " : "", names->name);
}

/* ---- parsing the text ---- */

/* The JSON path of the value being read at byte off (the text before off is
 * valid JSON as far as it goes): "entries[3].vmas[2]". Only for error messages. */
static void ji_path_at(const char *t, size_t off, char *out, size_t size)
{
	struct {
		char obj, want_key;
		size_t index, keylen;
		const char *key;
	} fr[JI_MAX_FRAMES];
	size_t depth = 0;
	for (size_t i = 0; i < off; i++) {
		switch (t[i]) {
		case '{':
		case '[':
			if (depth < JI_MAX_FRAMES) {
				fr[depth].obj = t[i] == '{';
				fr[depth].want_key = 1;
				fr[depth].index = 0;
				fr[depth].key = NULL;
				fr[depth].keylen = 0;
			}
			depth++;
			break;
		case '}':
		case ']':
			if (depth)
				depth--;
			break;
		case ',':
			if (depth && depth <= JI_MAX_FRAMES) {
				fr[depth - 1].want_key = 1;
				fr[depth - 1].index++;
			}
			break;
		case ':':
			if (depth && depth <= JI_MAX_FRAMES)
				fr[depth - 1].want_key = 0;
			break;
		case '"': {
			size_t j = i + 1;
			while (j < off && t[j] != '"')
				j += t[j] == '\\' ? 2 : 1;
			if (depth && depth <= JI_MAX_FRAMES && fr[depth - 1].obj && fr[depth - 1].want_key) {
				fr[depth - 1].key = t + i + 1;
				fr[depth - 1].keylen = (j < off ? j : off) - i - 1;
			}
			i = j;
			break;
		}
		default:
			break;
		}
	}
	size_t at = 0;
	out[0] = 0;
	for (size_t k = 0; k < depth && k < JI_MAX_FRAMES && at + 1 < size; k++) {
		if (k == 12 && depth > 16) { /* a runaway nesting: its start says enough */
			snprintf(out + at, size - at, "...");
			return;
		}
		if (fr[k].obj && fr[k].key)
			at += (size_t)snprintf(out + at, size - at, "%s%.*s", at ? "." : "",
					       (int)(fr[k].keylen > 64 ? 64 : fr[k].keylen), fr[k].key);
		else if (!fr[k].obj)
			at += (size_t)snprintf(out + at, size - at, "[%zu]", fr[k].index);
	}
	if (depth > JI_MAX_FRAMES && at + 1 < size)
		snprintf(out + at, size - at, "...");
}

/* "line 3, column 17 (at entries[0].vmas): <msg>" for byte off of t. */
static int ji_text_error(const char *t, size_t len, size_t off, struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int ji_text_error(const char *t, size_t len, size_t off, struct err *e, const char *fmt, ...)
{
	char msg[600], path[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (off > len)
		off = len;
	size_t line = 1, col = 1;
	for (size_t i = 0; i < off; i++) {
		if (t[i] == '\n')
			line++, col = 1;
		else
			col++;
	}
	ji_path_at(t, off, path, sizeof path);
	if (path[0])
		return err_set(e, "JSON line %zu, column %zu (at %s): %s", line, col, path, msg);
	return err_set(e, "JSON line %zu, column %zu: %s", line, col, msg);
}

/* ---- conversion state: where we are, for error messages ---- */

struct ji_frame {
	const char *key; /* NULL: an array index */
	size_t index;
};

struct ji_cv {
	struct err *e;
	struct ji_frame fr[JI_MAX_FRAMES];
	size_t depth;
};

static void ji_push_key(struct ji_cv *c, const char *key)
{
	if (c->depth < JI_MAX_FRAMES)
		c->fr[c->depth] = (struct ji_frame){ key, 0 };
	c->depth++;
}

static void ji_push_index(struct ji_cv *c, size_t index)
{
	if (c->depth < JI_MAX_FRAMES)
		c->fr[c->depth] = (struct ji_frame){ NULL, index };
	c->depth++;
}

static void ji_pop(struct ji_cv *c)
{
	c->depth--;
}

static int ji_fail(struct ji_cv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ji_fail(struct ji_cv *c, const char *fmt, ...)
{
	char path[400], msg[600];
	size_t at = 0;
	path[0] = 0;
	for (size_t k = 0; k < c->depth && k < JI_MAX_FRAMES && at + 1 < sizeof path; k++) {
		if (c->fr[k].key)
			at += (size_t)snprintf(path + at, sizeof path - at, "%s%.80s", at ? "." : "",
					       c->fr[k].key);
		else
			at += (size_t)snprintf(path + at, sizeof path - at, "[%zu]", c->fr[k].index);
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (path[0])
		return err_set(c->e, "%s: %s", path, msg);
	return err_set(c->e, "%s", msg);
}

static int jv_is(const struct jval *o, int type)
{
	return (o ? o->type : JT_NULL) == type;
}

static const char *jv_s(const struct jval *o)
{
	return o && o->type == JT_STRING ? o->u.s : "";
}

static const char *ji_type_name(const struct jval *v)
{
	switch (v ? v->type : JT_NULL) {
	case JT_NULL:
		return "null";
	case JT_BOOL:
		return "a boolean";
	case JT_DOUBLE:
		return "a fraction";
	case JT_INT:
		return "an integer";
	case JT_OBJECT:
		return "an object";
	case JT_ARRAY:
		return "an array";
	case JT_STRING:
		return "a string";
	}
	return "?";
}

/* ---- integers ---- */

/* Sign and magnitude: every int64 and uint64 fits. */
struct ji_int {
	int neg;
	uint64_t mag;
};

static int ji_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int ji_digit(char c, unsigned base)
{
	int d;
	if (c >= '0' && c <= '9')
		d = c - '0';
	else if (c >= 'a' && c <= 'z')
		d = c - 'a' + 10;
	else if (c >= 'A' && c <= 'Z')
		d = c - 'A' + 10;
	else
		return -1;
	return d < (int)base ? d : -1;
}

/* Python's int(s, 0) (or int(s) with dec_only): blanks around, a sign, 0x/0o/0b
 * prefixes, single underscores between digits; "017" is refused as Python
 * refuses it (but int("017") in base 10 is 17). NULL or why not. */
static const char *ji_pyint(const char *s, size_t n, int dec_only, struct ji_int *v)
{
	while (n && ji_space(*s))
		s++, n--;
	while (n && ji_space(s[n - 1]))
		n--;
	v->neg = 0;
	v->mag = 0;
	if (n && (*s == '+' || *s == '-')) {
		v->neg = *s == '-';
		s++, n--;
	}
	unsigned base = 10;
	int prefixed = 0;
	if (!dec_only && n >= 2 && s[0] == '0') {
		char p = (char)(s[1] | 0x20);
		base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 10;
		if (base != 10) {
			s += 2, n -= 2;
			prefixed = 1;
			/* Python's "0x%x" % -5 gives "0x-5", which the pretty writer
			 * copies; int() refuses it, but it can only mean -5 */
			if (n && *s == '-' && !v->neg) {
				v->neg = 1;
				s++, n--;
			}
		}
	}
	if (n == 0)
		return "not an integer";
	size_t digits = 0;
	int nonzero_lead = 0, prev_us = 0;
	if (prefixed && s[0] == '_') { /* "0x_1f" is valid: one '_' may follow the prefix */
		s++, n--;
		if (n == 0)
			return "not an integer";
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '_') {
			if (prev_us || i == 0 || i + 1 == n)
				return "not an integer (misplaced '_')";
			prev_us = 1;
			continue;
		}
		prev_us = 0;
		int d = ji_digit(s[i], base);
		if (d < 0)
			return "not an integer";
		if (digits == 0 && d != 0)
			nonzero_lead = 1;
		if (base == 10 && !dec_only && digits > 0 && !nonzero_lead && d != 0)
			return "leading zeros are not allowed in a decimal integer (octal takes a 0o prefix)";
		digits++;
		if (v->mag > (UINT64_MAX - (uint64_t)d) / base)
			return "out of range (-2^63 .. 2^64-1)";
		v->mag = v->mag * base + (uint64_t)d;
	}
	if (v->mag == 0)
		v->neg = 0;
	return NULL;
}

static void ji_int_text(const struct ji_int *v, char *dst, size_t size)
{
	snprintf(dst, size, "%s%llu", v->neg ? "-" : "", (unsigned long long)v->mag);
}

static void ji_int_of(const struct jval *o, struct ji_int *v)
{
	v->neg = o->neg;
	v->mag = o->u.mag;
}

static int ji_is_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

/* A flags string: names of the map and/or integers joined by "|". */
static int ji_flags(struct ji_cv *c, const char *mapname, const char *s, size_t n, struct ji_int *v)
{
	const struct schema_name *names = schema_flag_map(mapname);
	v->neg = 0;
	v->mag = 0;
	size_t i = 0;
	while (i < n && ji_space(s[i]))
		i++;
	if (i == n)
		return 0; /* "" is no flag set */
	for (size_t start = 0; start <= n;) {
		size_t end = start;
		while (end < n && s[end] != '|')
			end++;
		size_t a = start, b = end;
		while (a < b && ji_space(s[a]))
			a++;
		while (b > a && ji_space(s[b - 1]))
			b--;
		if (a == b)
			return ji_fail(c, "\"%.*s\": an empty flag between '|'s", (int)(n > 80 ? 80 : n), s);
		const struct schema_name *nm = ji_find_name(names, s + a, b - a);
		if (nm) {
			v->mag |= nm->value;
		} else if (ji_is_name_char(s[a]) || !names) {
			struct ji_int t;
			if (ji_pyint(s + a, b - a, 0, &t) || t.neg) {
				char known[400];
				if (!names)
					return ji_fail(c, "\"%.*s\" is not a flag value (flag map %s is unknown, so "
							  "only numbers are accepted)",
						       (int)(b - a > 80 ? 80 : b - a), s + a, mapname);
				ji_list_names(names, known, sizeof known);
				return ji_fail(c, "unknown flag \"%.*s\" for %s (known: %s)",
					       (int)(b - a > 80 ? 80 : b - a), s + a, mapname, known);
			}
			v->mag |= t.mag;
		} else {
			struct ji_int t;
			const char *why = ji_pyint(s + a, b - a, 0, &t);
			if (!why && t.neg)
				why = "negative";
			if (why)
				return ji_fail(c, "flag value \"%.*s\": %s", (int)(b - a > 80 ? 80 : b - a),
					       s + a, why);
			v->mag |= t.mag;
		}
		start = end + 1;
	}
	return 0;
}

/* "major:minor" of a dev (kernel's new encoding) or odev (glibc's) field. */
static int ji_dev(struct ji_cv *c, int odev, const char *s, size_t n, struct ji_int *v)
{
	const char *colon = memchr(s, ':', n);
	struct ji_int ma, mi;
	const char *why = ji_pyint(s, (size_t)(colon - s), 1, &ma);
	if (!why)
		why = ji_pyint(colon + 1, n - (size_t)(colon + 1 - s), 1, &mi);
	if (why || ma.neg || mi.neg)
		return ji_fail(c, "\"%.*s\" is not a device number \"major:minor\"", (int)(n > 80 ? 80 : n),
			       s);
	if (ma.mag > 0xfff || mi.mag > 0xfffff)
		return ji_fail(c, "device %llu:%llu does not fit 32 bits (major up to 4095, minor up "
				  "to 1048575)",
			       (unsigned long long)ma.mag, (unsigned long long)mi.mag);
	v->neg = 0;
	if (odev)
		v->mag = (ma.mag & 0xfff) << 8 | (mi.mag & 0xff) | (mi.mag & ~(uint64_t)0xff) << 12;
	else
		v->mag = ma.mag << 20 | mi.mag;
	return 0;
}

/* Any JSON integer form for field fd: a number, or a string CRIT writes or reads. */
static int ji_integer(struct ji_cv *c, const ProtobufCFieldDescriptor *fd,
		      const struct field_opts *fo, const struct jval *o, struct ji_int *v)
{
	if (jv_is(o, JT_INT)) {
		ji_int_of(o, v);
		return 0;
	}
	if (!jv_is(o, JT_STRING)) {
		if (jv_is(o, JT_DOUBLE))
			return ji_fail(c, "expected an integer, got %.*s",
				       (int)(o->n > 80 ? 80 : o->n), o->src);
		return ji_fail(c, "expected an integer, got %s", ji_type_name(o));
	}
	const char *s = jv_s(o);
	size_t n = o->n;
	if (fo && fo->flags)
		return ji_flags(c, fo->flags, s, n, v);
	if (fo && (fo->dev || fo->odev) && memchr(s, ':', n))
		return ji_dev(c, fo->odev, s, n, v);
	if (fo && fo->dict) {
		const struct schema_name *names = schema_dict_map(fo->dict, fd->name);
		size_t a = 0;
		while (a < n && ji_space(s[a]))
			a++;
		if (a < n && ji_is_name_char(s[a])) {
			const struct schema_name *nm = ji_find_name(names, s, n);
			if (!nm) {
				char known[400] = "none";
				if (names)
					ji_list_names(names, known, sizeof known);
				return ji_fail(c, "unknown name \"%.*s\" for %s.%s (known: %s)",
					       (int)(n > 80 ? 80 : n), s, fo->dict, fd->name, known);
			}
			v->neg = 0;
			v->mag = nm->value;
			return 0;
		}
	}
	const char *why = ji_pyint(s, n, 0, v);
	if (why)
		return ji_fail(c, "\"%.*s\": %s", (int)(n > 80 ? 80 : n), s, why);
	return 0;
}

/* Check v against the range of fd's type and store it at dst. */
static int ji_store_int(struct ji_cv *c, const ProtobufCFieldDescriptor *fd, const struct ji_int *v,
			void *dst)
{
	uint64_t max_pos;
	uint64_t max_neg; /* magnitude */
	const char *tn;
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		max_pos = INT32_MAX, max_neg = (uint64_t)INT32_MAX + 1, tn = "int32";
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		max_pos = UINT32_MAX, max_neg = 0, tn = "uint32";
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		max_pos = INT64_MAX, max_neg = (uint64_t)INT64_MAX + 1, tn = "int64";
		break;
	default:
		max_pos = UINT64_MAX, max_neg = 0, tn = "uint64";
		break;
	}
	if (v->neg ? v->mag > max_neg : v->mag > max_pos) {
		char t[32];
		ji_int_text(v, t, sizeof t);
		if (max_neg)
			return ji_fail(c, "%s is out of range for %s (-%llu .. %llu)", t, tn,
				       (unsigned long long)max_neg, (unsigned long long)max_pos);
		return ji_fail(c, "%s is out of range for %s (0 .. %llu)", t, tn,
			       (unsigned long long)max_pos);
	}
	uint64_t bits = v->neg ? (uint64_t)0 - v->mag : v->mag;
	if (max_pos <= UINT32_MAX) {
		uint32_t w = (uint32_t)bits;
		memcpy(dst, &w, 4);
	} else {
		memcpy(dst, &bits, 8);
	}
	return 0;
}

/* ---- bytes ---- */

static int ji_b64val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

static void ji_char_text(unsigned char ch, char *dst, size_t size)
{
	if (ch > 0x20 && ch < 0x7f)
		snprintf(dst, size, "'%c'", ch);
	else
		snprintf(dst, size, "byte 0x%02x", ch);
}

/* Strict base64: the alphabet, '=' padding at the end, line breaks anywhere. */
static int ji_base64(struct ji_cv *c, const char *s, size_t n, uint8_t **out, size_t *outlen)
{
	uint8_t *o = xmalloc(n / 4 * 3 + 3);
	size_t k = 0, quad = 0, pad = 0;
	uint32_t acc = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '\n' || ch == '\r')
			continue;
		char ct[16];
		if (ch == '=') {
			if (quad < 2) {
				free(o);
				return ji_fail(c, "not base64: '=' at offset %zu is misplaced", i);
			}
			pad++;
			quad++;
			if (quad == 4) {
				if (pad == 2)
					o[k++] = (uint8_t)(acc >> 4);
				else
					o[k++] = (uint8_t)(acc >> 10), o[k++] = (uint8_t)(acc >> 2);
				quad = 0;
				/* only line breaks may follow the padding */
				for (size_t j = i + 1; j < n; j++)
					if (s[j] != '\n' && s[j] != '\r') {
						free(o);
						return ji_fail(c, "not base64: data after the '=' padding (offset %zu)",
							       j);
					}
				break;
			}
			continue;
		}
		int d = ji_b64val(ch);
		if (d < 0 || pad) {
			free(o);
			ji_char_text(ch, ct, sizeof ct);
			if (pad)
				return ji_fail(c, "not base64: %s after '=' (offset %zu)", ct, i);
			return ji_fail(c, "not base64: %s at offset %zu", ct, i);
		}
		acc = acc << 6 | (uint32_t)d;
		if (++quad == 4) {
			o[k++] = (uint8_t)(acc >> 16);
			o[k++] = (uint8_t)(acc >> 8);
			o[k++] = (uint8_t)acc;
			quad = 0;
			acc = 0;
		}
	}
	if (quad) {
		free(o);
		return ji_fail(c, "not base64: the text ends inside a group of 4 characters (is the '=' "
				  "padding missing?)");
	}
	if (k == 0) {
		free(o);
		o = NULL;
	}
	*out = o;
	*outlen = k;
	return 0;
}

/* Quoted-printable as binascii.b2a_qp writes it: "=XX", soft breaks "=\n". */
static int ji_qp(struct ji_cv *c, const char *s, size_t n, uint8_t **out, size_t *outlen)
{
	uint8_t *o = xmalloc(n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x80) {
			free(o);
			return ji_fail(c, "not quoted-printable: byte 0x%02x at offset %zu must be written "
					  "=%02X",
				       ch, i, ch);
		}
		if (ch != '=') {
			o[k++] = ch;
			continue;
		}
		if (i + 1 < n && s[i + 1] == '\n') {
			i++;
			continue;
		}
		if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2;
			continue;
		}
		int h, l;
		if (i + 2 >= n || (h = ji_digit(s[i + 1], 16)) < 0 || (l = ji_digit(s[i + 2], 16)) < 0) {
			free(o);
			return ji_fail(c, "not quoted-printable: '=' at offset %zu is not followed by two "
					  "hex digits (write '=' as =3D)",
				       i);
		}
		o[k++] = (uint8_t)(h << 4 | l);
		i += 2;
	}
	*out = o;
	*outlen = k;
	return 0;
}

/* ---- messages ---- */

static ProtobufCMessage *ji_message(struct ji_cv *c, const ProtobufCMessageDescriptor *d,
				    const struct jval *o, int is_entry);

static int ji_enum(struct ji_cv *c, const ProtobufCFieldDescriptor *fd, const struct jval *o,
		   void *dst)
{
	const ProtobufCEnumDescriptor *ed = fd->descriptor;
	struct ji_int v;
	if (jv_is(o, JT_STRING)) {
		const char *s = jv_s(o);
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
		if (ev) {
			int32_t w = ev->value;
			memcpy(dst, &w, 4);
			return 0;
		}
		if (ji_pyint(s, o->n, 0, &v)) {
			char known[400];
			size_t at = 0;
			known[0] = 0;
			for (unsigned i = 0; i < ed->n_values && at + 1 < sizeof known; i++)
				at += (size_t)snprintf(known + at, sizeof known - at, "%s%s", i ? ", " : "",
						       ed->values[i].name);
			return ji_fail(c, "unknown name \"%.80s\" for enum %s (known: %s)", s, ed->name,
				       known);
		}
	} else if (jv_is(o, JT_INT)) {
		ji_int_of(o, &v);
	} else {
		return ji_fail(c, "expected a name of enum %s, got %s", ed->name, ji_type_name(o));
	}
	/* a number the schema does not name (a newer CRIU) is kept as it is */
	return ji_store_int(c, fd, &v, dst);
}

/* One value of field fd (a scalar, or one element of a repeated field) into dst. */
static int ji_value(struct ji_cv *c, const ProtobufCFieldDescriptor *fd,
		    const struct field_opts *fo, const struct jval *o, void *dst)
{
	struct ji_int v;
	if (jv_is(o, JT_NULL))
		return ji_fail(c, "null is not a value (leave the field out instead)");
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (ji_integer(c, fd, fo, o, &v) < 0)
			return -1;
		return ji_store_int(c, fd, &v, dst);
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE: {
		if (!jv_is(o, JT_DOUBLE) && !jv_is(o, JT_INT))
			return ji_fail(c, "expected a number, got %s", ji_type_name(o));
		double d = jdom_number(o);
		if (fd->type == PROTOBUF_C_TYPE_FLOAT) {
			float f = (float)d;
			memcpy(dst, &f, 4);
		} else {
			memcpy(dst, &d, 8);
		}
		return 0;
	}
	case PROTOBUF_C_TYPE_BOOL: {
		if (!jv_is(o, JT_BOOL))
			return ji_fail(c, "expected true or false, got %s", ji_type_name(o));
		protobuf_c_boolean b = o->u.b ? 1 : 0;
		memcpy(dst, &b, sizeof b);
		return 0;
	}
	case PROTOBUF_C_TYPE_ENUM:
		return ji_enum(c, fd, o, dst);
	case PROTOBUF_C_TYPE_STRING: {
		if (!jv_is(o, JT_STRING))
			return ji_fail(c, "expected a string, got %s", ji_type_name(o));
		size_t n = o->n;
		const char *s = jv_s(o);
		if (memchr(s, 0, n))
			return ji_fail(c, "a string field cannot hold a NUL character (\\u0000)");
		char *p = xmalloc(n + 1);
		memcpy(p, s, n + 1);
		*(char **)dst = p;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		if (!jv_is(o, JT_STRING))
			return ji_fail(c, "expected a base64 string, got %s", ji_type_name(o));
		ProtobufCBinaryData bd = { 0, NULL };
		const char *s = jv_s(o);
		size_t n = o->n;
		int rc;
		if (fo && fo->conv && strcmp(fo->conv, "unix_name") == 0)
			rc = ji_qp(c, s, n, &bd.data, &bd.len);
		else if (fo && fo->conv)
			rc = ji_fail(c, "unknown (criu).conv \"%s\"", fo->conv);
		else
			rc = ji_base64(c, s, n, &bd.data, &bd.len);
		if (rc < 0)
			return -1;
		memcpy(dst, &bd, sizeof bd);
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		ProtobufCMessage *m = ji_message(c, fd->descriptor, o, 0);
		if (!m)
			return -1;
		*(ProtobufCMessage **)dst = m;
		return 0;
	}
	}
	return ji_fail(c, "field type %d is not supported", (int)fd->type);
}

/* The (criu) ipadd form: ["10.0.0.1"] is one word, ["::1"] four, each word
 * the address bytes in network order read as a little-endian u32 (CRIT's
 * htonl on x86). */
static int ji_ipadd(struct ji_cv *c, const char *s, size_t n, uint32_t *w, size_t *nw)
{
	uint8_t a[16];
	if (strlen(s) == n && strchr(s, ':') && inet_pton(AF_INET6, s, a) == 1)
		*nw = 4;
	else if (strlen(s) == n && !strchr(s, ':') && inet_pton(AF_INET, s, a) == 1)
		*nw = 1;
	else
		return ji_fail(c, "\"%.80s\" is not an IPv4 or IPv6 address", s);
	for (size_t k = 0; k < *nw; k++)
		w[k] = (uint32_t)a[4 * k] | (uint32_t)a[4 * k + 1] << 8 | (uint32_t)a[4 * k + 2] << 16 |
		       (uint32_t)a[4 * k + 3] << 24;
	return 0;
}

static int ji_repeated(struct ji_cv *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd,
		       const struct field_opts *fo, const struct jval *o)
{
	char *base = (char *)m;
	size_t *count = (size_t *)(base + fd->quantifier_offset);
	void **arrp = (void **)(base + fd->offset);
	if (!jv_is(o, JT_ARRAY))
		return ji_fail(c, "expected an array, got %s", ji_type_name(o));
	size_t n = o->n;
	if (fo && fo->ipadd && n >= 1) {
		const struct jval *e0 = &o->u.items[0];
		const char *s = jv_s(e0);
		if (jv_is(e0, JT_STRING) && (strchr(s, '.') || strchr(s, ':'))) {
			uint32_t w[4];
			size_t nw = 0;
			if (n != 1)
				return ji_fail(c, "an address is written as an array of one string, not %zu "
						  "items",
					       n);
			ji_push_index(c, 0);
			if (ji_ipadd(c, s, e0->n, w, &nw) < 0)
				return -1;
			ji_pop(c);
			*arrp = xmalloc(nw * sizeof *w);
			memcpy(*arrp, w, nw * sizeof *w);
			*count = nw;
			return 0;
		}
	}
	size_t sz = schema_elem_size(fd->type);
	/* Owned by m from here: protobuf_c_message_free_unpacked frees the first *count. */
	*arrp = n ? xcalloc(n, sz) : NULL;
	*count = 0;
	for (size_t i = 0; i < n; i++) {
		ji_push_index(c, i);
		if (ji_value(c, fd, fo, &o->u.items[i], (char *)*arrp + i * sz) < 0)
			return -1;
		ji_pop(c);
		*count = i + 1;
	}
	return 0;
}

/* Fields the schema does not know, from the writer's JW_UNKNOWN_KEY: the
 * MIME base64 of their wire bytes. */
static int ji_unknown(struct ji_cv *c, ProtobufCMessage *m, const struct jval *o)
{
	uint8_t *p;
	size_t n;
	if (!jv_is(o, JT_STRING))
		return ji_fail(c, "expected the base64 of protobuf wire bytes, got %s", ji_type_name(o));
	if (ji_base64(c, jv_s(o), o->n, &p, &n) < 0)
		return -1;
	const uint8_t *at = p, *end = p + n;
	while (at < end) {
		struct pbw_frame fr;
		int rc = pbw_frame(&at, end, &fr);
		if (rc == PBW_TAG_CUT || rc == PBW_TAG_LONG)
			goto bad;
		unsigned wt = fr.wt;
		uint64_t num = fr.tag >> 3;
		if (num == 0 || num > 0x1fffffff)
			goto bad;
		if (protobuf_c_message_descriptor_get_field(m->descriptor, (unsigned)num)) {
			free(p);
			return ji_fail(c, "field number %llu is a known field of %s: write it by name",
				       (unsigned long long)num, m->descriptor->name);
		}
		if (rc < 0)
			goto bad; /* groups too: protobuf-c cannot keep them */
		size_t tag_end = (size_t)(fr.val - p), off = (size_t)(at - p);
		m->unknown_fields = xrealloc(m->unknown_fields,
					     (m->n_unknown_fields + 1) * sizeof *m->unknown_fields);
		ProtobufCMessageUnknownField *u = &m->unknown_fields[m->n_unknown_fields++];
		u->tag = (uint32_t)num;
		u->wire_type = (ProtobufCWireType)wt;
		u->len = off - tag_end;
		u->data = xmalloc(u->len);
		memcpy(u->data, p + tag_end, u->len);
	}
	free(p);
	return 0;
bad:
	free(p);
	return ji_fail(c, "not valid protobuf wire bytes (a truncated or malformed field)");
}

static int ji_field(struct ji_cv *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd,
		    const struct jval *o)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	char *base = (char *)m;
	const struct field_opts *fo = schema_field_opts(d, (unsigned)(fd - d->fields));
	if (fd->label == PROTOBUF_C_LABEL_REPEATED)
		return ji_repeated(c, m, fd, fo, o);
	if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *which = (uint32_t *)(base + fd->quantifier_offset);
		if (*which && *which != fd->id)
			return ji_fail(c, "another member of its oneof is already set");
	}
	if (ji_value(c, fd, fo, o, base + fd->offset) < 0)
		return -1;
	if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*(uint32_t *)(base + fd->quantifier_offset) = fd->id;
	else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->type != PROTOBUF_C_TYPE_STRING &&
		 fd->type != PROTOBUF_C_TYPE_MESSAGE)
		*(protobuf_c_boolean *)(base + fd->quantifier_offset) = 1;
	return 0;
}

/* protojson's name of a field (go-criu writes these): lowerCamelCase, each
 * '_' dropped and the letter after it upper-cased ("mm_start_code" ->
 * "mmStartCode"). NULL when it is the field's own name. */
static char *ji_json_name(const char *name)
{
	if (!strchr(name, '_'))
		return NULL;
	char *j = xmalloc(strlen(name) + 1), *o = j;
	for (int up = 0; *name; name++) {
		if (*name == '_') {
			up = 1;
			continue;
		}
		*o++ = up && *name >= 'a' && *name <= 'z' ? (char)(*name - 'a' + 'A') : *name;
		up = 0;
	}
	*o = 0;
	return j;
}

/* The camelCase names of a message's fields, made on first use. */
struct ji_json_names {
	const ProtobufCMessageDescriptor *d;
	char **names; /* by field index; NULL where the name has no '_' */
};

static const ProtobufCFieldDescriptor *ji_field_by_json_name(const ProtobufCMessageDescriptor *d,
							     const char *key)
{
	static struct ji_json_names *tab;
	static size_t ntab, used;
	if (!strpbrk(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
		return NULL; /* no camelCase hump: it cannot differ from a proto name */
	if (!tab) {
		for (ntab = 64; schema_messages[used]; used++)
			;
		while (ntab < used * 2)
			ntab *= 2;
		tab = xcalloc(ntab, sizeof *tab);
	}
	size_t h = ((uintptr_t)d >> 4) & (ntab - 1);
	while (tab[h].d && tab[h].d != d)
		h = (h + 1) & (ntab - 1);
	if (!tab[h].d) {
		/* messages outside schema_messages (tests) could fill the table: refuse then */
		static size_t filled;
		if (filled + 1 >= ntab)
			return NULL;
		filled++;
		tab[h].d = d;
		tab[h].names = xcalloc(d->n_fields ? d->n_fields : 1, sizeof(char *));
		for (unsigned i = 0; i < d->n_fields; i++)
			tab[h].names[i] = ji_json_name(d->fields[i].name);
	}
	for (unsigned i = 0; i < d->n_fields; i++)
		if (tab[h].names[i] && strcmp(tab[h].names[i], key) == 0)
			return &d->fields[i];
	return NULL;
}

/* A message of type d from object o; is_entry: the key "extra" is the
 * entry's payload, read by the caller. NULL on error (nothing leaks). */
static ProtobufCMessage *ji_message(struct ji_cv *c, const ProtobufCMessageDescriptor *d,
				    const struct jval *o, int is_entry)
{
	if (!jv_is(o, JT_OBJECT)) {
		ji_fail(c, "expected an object (message %s), got %s", d->name, ji_type_name(o));
		return NULL;
	}
	ProtobufCMessage *m = xmalloc(d->sizeof_message);
	protobuf_c_message_init(d, m);
	unsigned char seen_small[256], *seen = seen_small;
	if (d->n_fields > sizeof seen_small)
		seen = xcalloc(d->n_fields, 1);
	else
		memset(seen, 0, d->n_fields);
	unsigned next_field = 0;
	for (size_t mi = 0; mi < o->n; mi++) {
		const char *key = o->u.members[mi].key;
		const struct jval *val = &o->u.members[mi].val;
		if (is_entry && key[0] == 'e' && strcmp(key, "extra") == 0)
			continue;
		ji_push_key(c, key);
		if (key[0] == JW_UNKNOWN_KEY[0] && strcmp(key, JW_UNKNOWN_KEY) == 0) {
			if (ji_unknown(c, m, val) < 0)
				goto fail;
			ji_pop(c);
			continue;
		}
		/* CRIT writes the fields in the descriptor's order: look from
		 * just after the last one first */
		const ProtobufCFieldDescriptor *fd = NULL;
		for (unsigned k = next_field; k < d->n_fields && !fd; k++)
			if (strcmp(d->fields[k].name, key) == 0)
				fd = &d->fields[k];
		if (!fd)
			fd = protobuf_c_message_descriptor_get_field_by_name(d, key);
		if (!fd)
			fd = ji_field_by_json_name(d, key);
		if (fd)
			next_field = (unsigned)(fd - d->fields) + 1;
		if (!fd) {
			const char *near = pb_nearest_field(d, key);
			if (near)
				ji_fail(c, "unknown field (%s has no field of that name; did you mean '%s'?)",
					d->name, near);
			else
				ji_fail(c, "unknown field (%s has no field of that name)", d->name);
			goto fail;
		}
		if (seen[fd - d->fields]) {
			ji_fail(c, "field %s is given twice (under its name and its camelCase name)",
				fd->name);
			goto fail;
		}
		if (ji_field(c, m, fd, val) < 0)
			goto fail;
		seen[fd - d->fields] = 1;
		ji_pop(c);
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		if (d->fields[i].label != PROTOBUF_C_LABEL_REQUIRED || seen[i])
			continue;
		ji_push_key(c, d->fields[i].name);
		ji_fail(c, "required field is missing (%s)", d->name);
		ji_pop(c);
		goto fail_here;
	}
	if (seen != seen_small)
		free(seen);
	return m;
fail:
	ji_pop(c);
fail_here:
	if (seen != seen_small)
		free(seen);
	protobuf_c_message_free_unpacked(m, NULL);
	return NULL;
}

/* ---- entries and payloads ---- */

static int ji_msg_flag(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *fd =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	const char *base = (const char *)m;
	if (!fd || fd->type != PROTOBUF_C_TYPE_BOOL || fd->label == PROTOBUF_C_LABEL_REPEATED)
		return 0;
	if (fd->label == PROTOBUF_C_LABEL_OPTIONAL &&
	    !*(const protobuf_c_boolean *)(base + fd->quantifier_offset))
		return 0;
	return *(const protobuf_c_boolean *)(base + fd->offset) != 0;
}

static uint64_t ji_msg_uint(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *fd =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	const char *base = (const char *)m;
	if (!fd || fd->label == PROTOBUF_C_LABEL_REPEATED)
		return 0;
	if (fd->type == PROTOBUF_C_TYPE_UINT32)
		return *(const uint32_t *)(base + fd->offset);
	if (fd->type == PROTOBUF_C_TYPE_UINT64)
		return *(const uint64_t *)(base + fd->offset);
	return 0;
}

static int ji_b64_value(struct ji_cv *c, const struct jval *o, uint8_t **p, size_t *n)
{
	if (!jv_is(o, JT_STRING))
		return ji_fail(c, "expected a base64 string, got %s", ji_type_name(o));
	return ji_base64(c, jv_s(o), o->n, p, n);
}

static int ji_tcp_extra(struct ji_cv *c, const struct jval *x, struct img_entry *en)
{
	const struct jval *q[2] = { NULL, NULL };
	static const char *const names[2] = { "inq", "outq" };
	uint8_t *d[2] = { NULL, NULL };
	size_t n[2] = { 0, 0 };
	if (!jv_is(x, JT_OBJECT))
		return ji_fail(c, "expected {\"inq\": base64, \"outq\": base64}, got %s", ji_type_name(x));
	for (size_t mi = 0; mi < x->n; mi++) {
		const char *key = x->u.members[mi].key;
		int k = strcmp(key, "inq") == 0 ? 0 : strcmp(key, "outq") == 0 ? 1 : -1;
		if (k < 0) {
			ji_push_key(c, key);
			ji_fail(c, "unknown key (a tcp stream payload has inq and outq)");
			ji_pop(c);
			return -1;
		}
		q[k] = &x->u.members[mi].val;
	}
	for (int k = 0; k < 2; k++) {
		if (!q[k]) {
			free(d[0]);
			return ji_fail(c, "%s is missing (a tcp stream payload has inq and outq)", names[k]);
		}
		ji_push_key(c, names[k]);
		int rc = ji_b64_value(c, q[k], &d[k], &n[k]);
		if (rc == 0) {
			uint64_t want = ji_msg_uint(en->msg, k ? "outq_len" : "inq_len");
			if (n[k] != want)
				rc = ji_fail(c, "%zu bytes, but %s says %llu", n[k], k ? "outq_len" : "inq_len",
					     (unsigned long long)want);
		}
		ji_pop(c);
		if (rc < 0) {
			free(d[0]);
			free(d[1]);
			return -1;
		}
	}
	/* the image keeps inq then outq; the message's inq_len says where they part */
	en->extra = xmalloc(n[0] + n[1]);
	if (n[0])
		memcpy(en->extra, d[0], n[0]);
	if (n[1])
		memcpy(en->extra + n[0], d[1], n[1]);
	en->extra_len = n[0] + n[1];
	en->has_extra = 1;
	free(d[0]);
	free(d[1]);
	return 0;
}

static int ji_sem_extra(struct ji_cv *c, const struct jval *x, struct img_entry *en)
{
	if (!jv_is(x, JT_ARRAY))
		return ji_fail(c, "expected an array of semaphore values, got %s", ji_type_name(x));
	size_t n = x->n;
	uint8_t *p = xmalloc(n * 2 + 1);
	for (size_t i = 0; i < n; i++) {
		const struct jval *o = &x->u.items[i];
		struct ji_int v;
		ji_push_index(c, i);
		int rc;
		if (jv_is(o, JT_INT)) {
			ji_int_of(o, &v);
			rc = 0;
		} else if (jv_is(o, JT_STRING)) {
			const char *why = ji_pyint(jv_s(o), o->n, 0, &v);
			rc = why ? ji_fail(c, "\"%.80s\": %s", jv_s(o), why) : 0;
		} else {
			rc = ji_fail(c, "expected an integer, got %s", ji_type_name(o));
		}
		if (rc == 0 && (v.neg || v.mag > 0xffff)) {
			char t[32];
			ji_int_text(&v, t, sizeof t);
			rc = ji_fail(c, "%s is out of range for a semaphore value (0 .. 65535)", t);
		}
		ji_pop(c);
		if (rc < 0) {
			free(p);
			return -1;
		}
		p[2 * i] = (uint8_t)v.mag;
		p[2 * i + 1] = (uint8_t)(v.mag >> 8);
	}
	en->extra = p;
	en->extra_len = n * 2;
	en->has_extra = 1;
	return 0;
}

static int ji_msg_extra(struct ji_cv *c, const struct jval *x, struct img_entry *en)
{
	static const ProtobufCMessageDescriptor *ipc_msg;
	if (!ipc_msg)
		ipc_msg = schema_message("ipc_msg");
	if (!ipc_msg)
		return ji_fail(c, "the schema has no ipc_msg message");
	if (!jv_is(x, JT_ARRAY))
		return ji_fail(c, "expected [{message}, base64, ...], got %s", ji_type_name(x));
	size_t n = x->n;
	if (n % 2)
		return ji_fail(c, "an odd number of items (%zu): messages and their texts come in "
				  "pairs [{message}, base64, ...]",
			       n);
	en->items = n ? xcalloc(n / 2, sizeof *en->items) : NULL;
	en->n_items = 0;
	for (size_t i = 0; i < n; i += 2) {
		struct ipc_msg_item *it = &en->items[i / 2];
		ji_push_index(c, i);
		it->msg = ji_message(c, ipc_msg, &x->u.items[i], 0);
		ji_pop(c);
		if (!it->msg)
			return -1;
		en->n_items++; /* owned by en now: img_entry_free frees it */
		ji_push_index(c, i + 1);
		int rc = ji_b64_value(c, &x->u.items[i + 1], &it->data, &it->len);
		ji_pop(c);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int ji_is_nopl(const struct jval *x)
{
	return jv_is(x, JT_STRING) && strncmp(jv_s(x), "... <", 5) == 0;
}

/* The payload of entry en (its message already read) from its "extra". */
static int ji_extra(struct ji_cv *c, const struct magic_info *mi, size_t index,
		    const struct jval *jo, struct img_entry *en)
{
	const struct jval *x = jdom_get(jo, "extra");
	if (!x)
		return 0; /* img_write_entry says so if the message wants a payload */
	ji_push_key(c, "extra");
	int rc;
	if (ji_is_nopl(x)) {
		rc = ji_fail(c, "\"%.40s\" is a --nopl placeholder: the payload was left out of this "
				"JSON, so it cannot be encoded back (decode without --nopl)",
			     jv_s(x));
		goto out;
	}
	switch (mi->payload) {
	case PL_NONE:
	case PL_PAGEMAP:
		rc = ji_fail(c, "a %s image has no payload", mi->name);
		break;
	case PL_GHOST:
		if (index == 0 && ji_msg_flag(en->msg, "chunks")) {
			rc = ji_fail(c, "a chunked ghost file keeps its data in the chunk entries that "
					"follow, not here");
			break;
		}
		/* fallthrough */
	case PL_PIPE_DATA:
	case PL_SK_QUEUE:
	case PL_BPFMAP:
	case PL_IPC_SHM:
		rc = ji_b64_value(c, x, &en->extra, &en->extra_len);
		if (rc == 0)
			en->has_extra = 1;
		break;
	case PL_TCP_STREAM:
		rc = ji_tcp_extra(c, x, en);
		break;
	case PL_IPC_SEM:
		rc = ji_sem_extra(c, x, en);
		break;
	case PL_IPC_MSG:
		rc = ji_msg_extra(c, x, en);
		break;
	default:
		rc = ji_fail(c, "unknown payload kind");
		break;
	}
out:
	ji_pop(c);
	return rc;
}

/* Entry `index` of the "entries" array into en (img_entry_free it on error too). */
static int ji_entry(struct ji_cv *c, const struct magic_info *mi, size_t index,
		    const struct img_entry *first, const struct jval *jo, struct img_entry *en)
{
	int rc = -1;
	memset(en, 0, sizeof *en);
	ji_push_index(c, index);
	if (mi->payload == PL_GHOST && index > 0 && !ji_msg_flag(first->msg, "chunks")) {
		ji_fail(c, "a ghost file without chunks is a single entry (set chunks in entries[0] "
			   "to add chunk entries)");
		goto out;
	}
	const ProtobufCMessageDescriptor *d = img_entry_desc(mi, index, first);
	en->msg = ji_message(c, d, jo, 1);
	if (!en->msg)
		goto out;
	rc = ji_extra(c, mi, index, jo, en);
out:
	ji_pop(c);
	return rc;
}

/* ---- the document, entry by entry ----
 * The values of a whole image would take some 20 times the size of its JSON.
 * So the top level is walked here, and the parser (src/core/jdom.h) reads one
 * entry at a time into the same memory: it stays near the size of the text,
 * whatever the entry count. */

struct ji_reader {
	struct ji_cv c;
	const char *t; /* the text */
	size_t n, pos;
	struct jdom *dom, own_dom; /* the values: dom, the reader's own unless given */
	int max_depth;
	const struct magic_info *mi;
	size_t index;
	int done;
	int have_magic, have_entries;
	size_t entries_at; /* where the entries' '[' is */
	int resume; /* the top level goes on after the entries */
};

static size_t ji_skip_ws(const struct ji_reader *r, size_t i)
{
	while (i < r->n && (r->t[i] == ' ' || r->t[i] == '\t' || r->t[i] == '\n' || r->t[i] == '\r'))
		i++;
	return i;
}

/* Where the JSON value starting at i ends (the parser checks it in detail later). */
static size_t ji_value_end(const struct ji_reader *r, size_t i)
{
	const char *t = r->t;
	size_t n = r->n, depth = 0;
	for (; i < n; i++) {
		char ch = t[i];
		if (ch == '"') {
			for (i++; i < n && t[i] != '"'; i++)
				if (t[i] == '\\')
					i++;
			if (depth == 0)
				return i < n ? i + 1 : n;
		} else if (ch == '{' || ch == '[') {
			depth++;
		} else if (ch == '}' || ch == ']') {
			if (depth == 0)
				return i; /* an empty value: the parser says what is wrong */
			if (--depth == 0)
				return i + 1;
		} else if (depth == 0 &&
			   (ch == ',' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == ':')) {
			return i;
		}
	}
	return n;
}

static int ji_reader_error(struct ji_reader *r, size_t off, const char *msg)
{
	return ji_text_error(r->t, r->n, off, r->c.e, "%s", msg);
}

/* The value t[start, end) into *out. Returns 0, or -1 with the error set. */
static int ji_parse_range(struct ji_reader *r, size_t start, size_t end, const struct jval **out)
{
	size_t stop;
	const char *why;
	jdom_reset(r->dom);
	*out = jdom_parse(r->dom, r->t, end, start, r->max_depth, &stop, &why);
	while (*out && stop < end &&
	       (r->t[stop] == ' ' || r->t[stop] == '\t' || r->t[stop] == '\n' || r->t[stop] == '\r'))
		stop++;
	if (*out && stop == end)
		return 0;
	if (*out || (end < r->n && stop == end)) /* the value goes on past the range */
		why = "unexpected character";
	*out = NULL;
	return ji_reader_error(r, stop, why);
}

/* The value that starts at start, wherever it ends (*end). */
static int ji_parse_from(struct ji_reader *r, size_t start, const struct jval **out, size_t *end)
{
	const char *why;
	jdom_reset(r->dom);
	*out = jdom_parse(r->dom, r->t, r->n, start, r->max_depth, end, &why);
	return *out ? 0 : ji_reader_error(r, *end, why);
}

static void ji_reader_close(struct ji_reader *r)
{
	if (r->dom == &r->own_dom)
		jdom_free(&r->own_dom);
	memset(r, 0, sizeof *r);
}

/* Set up the reader over text; the values go into dom (NULL: the reader's own). */
static int ji_reader_text(struct ji_reader *r, const char *text, size_t len, int max_depth,
			  struct jdom *dom, struct err *e)
{
	memset(r, 0, sizeof *r);
	r->c.e = e;
	r->dom = dom ? dom : &r->own_dom;
	r->max_depth = max_depth;
	if (len > INT32_MAX - 1)
		return err_set(e, "JSON text of %zu bytes is too large (2 GiB at most)", len);
	r->t = text;
	r->n = len;
	return 0;
}

const struct jval *json_parse_text(struct jdom *dom, const char *text, size_t len, int max_depth,
				   struct err *e)
{
	struct ji_reader r;
	const struct jval *o = NULL;
	e->msg[0] = 0;
	if (ji_reader_text(&r, text, len, max_depth, dom, e) == 0) {
		size_t i = ji_skip_ws(&r, 0);
		if (i == r.n)
			err_set(e, "no JSON value: the input is empty");
		else
			ji_parse_range(&r, i, r.n, &o);
	}
	ji_reader_close(&r);
	return o;
}

/* The name in "magic" (the value at t[i, end)) into r->mi. */
static int ji_top_magic(struct ji_reader *r, size_t i, size_t end)
{
	const struct jval *m;
	ji_push_key(&r->c, "magic");
	if (ji_parse_range(r, i, end, &m) < 0)
		return -1;
	int rc = 0;
	if (!jv_is(m, JT_STRING)) {
		rc = ji_fail(&r->c, "expected the name of an image type, got %s", ji_type_name(m));
	} else {
		const char *name = jv_s(m);
		r->mi = magic_by_name(name);
		if (!r->mi)
			rc = ji_fail(&r->c, "unknown magic \"%.80s\"", name);
		else if (!r->mi->desc || (r->mi->message2 && !r->mi->desc2))
			rc = ji_fail(&r->c, "message type %s is not in the compiled schema",
				     r->mi->message);
	}
	ji_pop(&r->c);
	return rc;
}

/* Read the members of the top-level object from i, which is just after '{'
 * (after_value 0) or after a member's value (1). The entries are not read
 * here: when "magic" came first, the scan stops at the entries' first item
 * (r->resume: ji_reader_next comes back after the ']'); when it comes after
 * them, they are skipped and r->pos set to their start at the end. */
static int ji_top_scan(struct ji_reader *r, size_t i, int after_value)
{
	i = ji_skip_ws(r, i);
	if (!after_value && i < r->n && r->t[i] == '}') {
		i++;
	} else {
		for (;;) {
			if (after_value) {
				i = ji_skip_ws(r, i);
				if (i < r->n && r->t[i] == '}') {
					i++;
					break;
				}
				if (i >= r->n || r->t[i] != ',')
					return ji_reader_error(r, i, i < r->n ? "expected ',' or '}'"
									      : "the JSON text ends too early");
				i = ji_skip_ws(r, i + 1);
			}
			after_value = 1;
			if (i >= r->n || r->t[i] != '"')
				return ji_reader_error(r, i, "expected a key (a string in double quotes)");
			size_t kend = ji_value_end(r, i);
			const struct jval *k;
			if (ji_parse_range(r, i, kend, &k) < 0)
				return -1;
			int is_magic = strcmp(jv_s(k), "magic") == 0;
			int is_entries = strcmp(jv_s(k), "entries") == 0;
			int rc = 0;
			ji_push_key(&r->c, jv_s(k));
			if (!is_magic && !is_entries)
				rc = ji_fail(&r->c, "unknown key (the top level has magic and entries)");
			else if (is_magic ? r->have_magic : r->have_entries)
				rc = ji_fail(&r->c, "the key appears twice");
			ji_pop(&r->c);
			if (rc < 0)
				return -1;
			i = ji_skip_ws(r, kend);
			if (i >= r->n || r->t[i] != ':')
				return ji_reader_error(r, i, "expected ':' after the key");
			i = ji_skip_ws(r, i + 1);
			if (is_magic) {
				size_t vend = ji_value_end(r, i);
				r->have_magic = 1;
				if (ji_top_magic(r, i, vend) < 0)
					return -1;
				i = vend;
				continue;
			}
			r->have_entries = 1;
			r->entries_at = i;
			if (i >= r->n || r->t[i] != '[') {
				const struct jval *o;
				ji_push_key(&r->c, "entries");
				if (ji_parse_range(r, i, ji_value_end(r, i), &o) < 0)
					return -1;
				ji_fail(&r->c, "expected an array of entries, got %s", ji_type_name(o));
				return -1;
			}
			if (r->mi) {
				r->resume = 1;
				r->pos = ji_skip_ws(r, i + 1);
				ji_push_key(&r->c, "entries");
				return 0;
			}
			i = ji_value_end(r, i); /* come back when the magic is known */
		}
	}
	i = ji_skip_ws(r, i);
	if (i < r->n)
		return ji_reader_error(r, i, "unexpected text after the JSON value");
	if (!r->have_magic)
		return ji_fail(&r->c, "\"magic\" is missing");
	if (!r->have_entries)
		return ji_fail(&r->c, "\"entries\" is missing");
	if (!r->resume && !r->done) { /* the entries came before the magic */
		r->pos = ji_skip_ws(r, r->entries_at + 1);
		ji_push_key(&r->c, "entries");
	}
	return 0;
}

/* Check the text and start reading {"magic": NAME, "entries": [...]} (its
 * members in any order). */
static int ji_reader_open(struct ji_reader *r, const char *text, size_t len, struct err *e)
{
	if (ji_reader_text(r, text, len, JI_IMAGE_DEPTH, NULL, e) < 0)
		return -1;
	size_t i = ji_skip_ws(r, 0);
	if (i == r->n)
		return err_set(e, "no JSON value: the input is empty");
	if (r->t[i] != '{') {
		/* not an object: the parser names the syntax error, or we the type */
		const struct jval *o;
		if (ji_parse_range(r, i, r->n, &o) < 0)
			return -1;
		ji_fail(&r->c, "expected an object {\"magic\": NAME, \"entries\": [...]}, got %s",
			ji_type_name(o));
		return -1;
	}
	return ji_top_scan(r, i + 1, 0);
}

/* The ']' of the entries at i: the rest of the top level, if not read yet. */
static int ji_entries_end(struct ji_reader *r, size_t i)
{
	r->done = 1;
	ji_pop(&r->c);
	if (!r->resume)
		return 0;
	r->resume = 0;
	return ji_top_scan(r, i + 1, 1);
}

/* The next entry into en: 1, 0 at the end, -1 with the error set (en freed). */
static int ji_reader_next(struct ji_reader *r, const struct img_entry *first, struct img_entry *en)
{
	memset(en, 0, sizeof *en);
	if (r->done)
		return 0;
	if (r->index == 0 && r->pos < r->n && r->t[r->pos] == ']')
		return ji_entries_end(r, r->pos) < 0 ? -1 : 0;
	size_t i = r->pos, end;
	const struct jval *o;
	if (ji_parse_from(r, i, &o, &end) < 0)
		return -1;
	int rc = ji_entry(&r->c, r->mi, r->index, first, o, en);
	if (rc < 0) {
		img_entry_free(en);
		return -1;
	}
	r->index++;
	i = ji_skip_ws(r, end);
	if (i < r->n && r->t[i] == ',') {
		r->pos = ji_skip_ws(r, i + 1);
	} else if (i < r->n && r->t[i] == ']') {
		rc = ji_entries_end(r, i);
	} else {
		rc = ji_reader_error(r, i, i < r->n ? "expected ',' or ']' after an entry"
						    : "the JSON text ends too early");
	}
	if (rc < 0) {
		img_entry_free(en);
		return -1;
	}
	return 1;
}

int json_to_img(const char *text, size_t len, struct img *out, struct err *e)
{
	struct ji_reader r;
	struct img_entry en;
	int rc;
	memset(out, 0, sizeof *out);
	if (ji_reader_open(&r, text, len, e) < 0) {
		ji_reader_close(&r);
		return -1;
	}
	out->mi = r.mi;
	out->form = r.mi->head;
	while ((rc = ji_reader_next(&r, out->n ? &out->entries[0] : &en, &en)) > 0)
		*img_add_entry(out) = en;
	ji_reader_close(&r);
	if (rc < 0)
		img_free(out);
	return rc;
}

int json_encode_file(const char *in_path, const char *out_path, struct err *e)
{
	const char *in_name = in_path && strcmp(in_path, "-") != 0 ? in_path : "<stdin>";
	const char *out_name = out_path && strcmp(out_path, "-") != 0 ? out_path : "<stdout>";
	uint8_t *text;
	size_t len;
	if (read_file(in_path ? in_path : "-", &text, &len, e) < 0)
		return err_prefix(e, "%s", in_name);
	struct ji_reader r;
	struct buf out = { 0 };
	struct img_entry first = { 0 }, cur;
	int rc = ji_reader_open(&r, (const char *)text, len, e);
	if (rc == 0) {
		/* each entry is packed as soon as it is read: the image is never held whole */
		img_write_head(&out, r.mi, r.mi->head);
		for (size_t i = 0;; i++) {
			struct img_entry *en = i == 0 ? &first : &cur;
			rc = ji_reader_next(&r, &first, en);
			if (rc <= 0)
				break;
			rc = img_write_entry(&out, r.mi, i, &first, en, e);
			if (i > 0)
				img_entry_free(&cur);
			if (rc < 0)
				break;
		}
	}
	ji_reader_close(&r);
	img_entry_free(&first);
	free(text);
	if (rc < 0) {
		buf_free(&out);
		return err_prefix(e, "%s", in_name);
	}
	rc = write_file_atomic(out_path ? out_path : "-", out.p, out.len, e);
	buf_free(&out);
	return rc < 0 ? err_prefix(e, "%s", out_name) : 0;
}
