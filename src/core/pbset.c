/* pbset.c: a scalar into a protobuf-c field, checked. See pbset.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbset.h"

/* ---- the (criu) name maps (SPEC §2): schema_flag_map, schema_dict_map ---- */

static const struct schema_name *pbset_find_name(const struct schema_name *names, const char *s, size_t n)
{
	for (; names && names->name; names++)
		if (strlen(names->name) == n && memcmp(names->name, s, n) == 0)
			return names;
	return NULL;
}

/* "A, B, C" into dst, for error messages. */
static void pbset_list_names(const struct schema_name *names, char *dst, size_t size)
{
	size_t at = 0;
	dst[0] = 0;
	for (; names->name && at + 1 < size; names++)
		if (names->value || strcmp(names->name, "VMA_AREA_NONE") != 0)
			at += (size_t)snprintf(dst + at, size - at, "%s%s", at ? ", " : "", names->name);
}

/* ---- integers ---- */

static int pbset_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int pbset_digit(char c, unsigned base)
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
const char *pbset_pyint(const char *s, size_t n, int dec_only, struct pbset_num *v)
{
	while (n && pbset_space(*s))
		s++, n--;
	while (n && pbset_space(s[n - 1]))
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
		int d = pbset_digit(s[i], base);
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

void pbset_num_text(const struct pbset_num *v, char *dst, size_t size)
{
	snprintf(dst, size, "%s%llu", v->neg ? "-" : "", (unsigned long long)v->mag);
}

static int pbset_is_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

/* A flags string: names of the map and/or integers joined by "|". */
static int pbset_flags(struct err *e, const char *mapname, const char *s, size_t n, struct pbset_num *v)
{
	const struct schema_name *names = schema_flag_map(mapname);
	v->neg = 0;
	v->mag = 0;
	size_t i = 0;
	while (i < n && pbset_space(s[i]))
		i++;
	if (i == n)
		return 0; /* "" is no flag set */
	for (size_t start = 0; start <= n;) {
		size_t end = start;
		while (end < n && s[end] != '|')
			end++;
		size_t a = start, b = end;
		while (a < b && pbset_space(s[a]))
			a++;
		while (b > a && pbset_space(s[b - 1]))
			b--;
		if (a == b)
			return err_set(e, "\"%.*s\": an empty flag between '|'s", (int)(n > 80 ? 80 : n), s);
		const struct schema_name *nm = pbset_find_name(names, s + a, b - a);
		if (nm) {
			v->mag |= nm->value;
		} else if (pbset_is_name_char(s[a]) || !names) {
			struct pbset_num t;
			if (pbset_pyint(s + a, b - a, 0, &t) || t.neg) {
				char known[400];
				if (!names)
					return err_set(e, "\"%.*s\" is not a flag value (flag map %s is unknown, so "
							  "only numbers are accepted)",
						       (int)(b - a > 80 ? 80 : b - a), s + a, mapname);
				pbset_list_names(names, known, sizeof known);
				return err_set(e, "unknown flag \"%.*s\" for %s (known: %s)",
					       (int)(b - a > 80 ? 80 : b - a), s + a, mapname, known);
			}
			v->mag |= t.mag;
		} else {
			struct pbset_num t;
			const char *why = pbset_pyint(s + a, b - a, 0, &t);
			if (!why && t.neg)
				why = "negative";
			if (why)
				return err_set(e, "flag value \"%.*s\": %s", (int)(b - a > 80 ? 80 : b - a),
					       s + a, why);
			v->mag |= t.mag;
		}
		start = end + 1;
	}
	return 0;
}

/* "major:minor" of a dev (kernel's new encoding) or odev (glibc's) field. */
static int pbset_dev(struct err *e, int odev, const char *s, size_t n, struct pbset_num *v)
{
	const char *colon = memchr(s, ':', n);
	struct pbset_num ma, mi;
	const char *why = pbset_pyint(s, (size_t)(colon - s), 1, &ma);
	if (!why)
		why = pbset_pyint(colon + 1, n - (size_t)(colon + 1 - s), 1, &mi);
	if (why || ma.neg || mi.neg)
		return err_set(e, "\"%.*s\" is not a device number \"major:minor\"", (int)(n > 80 ? 80 : n),
			       s);
	if (ma.mag > 0xfff || mi.mag > 0xfffff)
		return err_set(e, "device %llu:%llu does not fit 32 bits (major up to 4095, minor up "
				  "to 1048575)",
			       (unsigned long long)ma.mag, (unsigned long long)mi.mag);
	v->neg = 0;
	if (odev)
		v->mag = (ma.mag & 0xfff) << 8 | (mi.mag & 0xff) | (mi.mag & ~(uint64_t)0xff) << 12;
	else
		v->mag = ma.mag << 20 | mi.mag;
	return 0;
}

/* Check v against the range of fd's type and store it at dst. */
int pbset_store_num(const ProtobufCFieldDescriptor *fd, const struct pbset_num *v, void *dst,
		     struct err *e)
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
		pbset_num_text(v, t, sizeof t);
		if (max_neg)
			return err_set(e, "%s is out of range for %s (-%llu .. %llu)", t, tn,
				       (unsigned long long)max_neg, (unsigned long long)max_pos);
		return err_set(e, "%s is out of range for %s (0 .. %llu)", t, tn,
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

static int pbset_b64val(unsigned char ch)
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

static void pbset_char_text(unsigned char ch, char *dst, size_t size)
{
	if (ch > 0x20 && ch < 0x7f)
		snprintf(dst, size, "'%c'", ch);
	else
		snprintf(dst, size, "byte 0x%02x", ch);
}

/* Strict base64: the alphabet, '=' padding at the end, line breaks anywhere. */
int pbset_base64(struct err *e, const char *s, size_t n, uint8_t **out, size_t *outlen)
{
	uint8_t *o = malloc(n / 4 * 3 + 3);
	if (!o)
		return err_oom(e);
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
				return err_set(e, "not base64: '=' at offset %zu is misplaced", i);
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
						return err_set(e, "not base64: data after the '=' padding (offset %zu)",
							       j);
					}
				break;
			}
			continue;
		}
		int d = pbset_b64val(ch);
		if (d < 0 || pad) {
			free(o);
			pbset_char_text(ch, ct, sizeof ct);
			if (pad)
				return err_set(e, "not base64: %s after '=' (offset %zu)", ct, i);
			return err_set(e, "not base64: %s at offset %zu", ct, i);
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
		return err_set(e, "not base64: the text ends inside a group of 4 characters (is the '=' "
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
static int pbset_qp(struct err *e, const char *s, size_t n, uint8_t **out, size_t *outlen)
{
	uint8_t *o = malloc(n + 1);
	if (!o)
		return err_oom(e);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x80) {
			free(o);
			return err_set(e, "not quoted-printable: byte 0x%02x at offset %zu must be written "
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
		if (i + 2 >= n || (h = pbset_digit(s[i + 1], 16)) < 0 || (l = pbset_digit(s[i + 2], 16)) < 0) {
			free(o);
			return err_set(e, "not quoted-printable: '=' at offset %zu is not followed by two "
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

int pbset_enum_name(const ProtobufCFieldDescriptor *fd, const char *s, void *dst, struct err *e)
{
	const ProtobufCEnumDescriptor *ed = fd->descriptor;
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
	if (ev) {
		int32_t w = ev->value;
		memcpy(dst, &w, 4);
		return 0;
	}
	char known[400];
	size_t at = 0;
	known[0] = 0;
	for (unsigned i = 0; i < ed->n_values && at + 1 < sizeof known; i++)
		at += (size_t)snprintf(known + at, sizeof known - at, "%s%s", i ? ", " : "",
				       ed->values[i].name);
	return err_set(e, "unknown name \"%.80s\" for enum %s (known: %s)", s, ed->name, known);
}

int pbset_string(const char *s, size_t n, void *dst, struct err *e)
{
	/* protobuf-c keeps string fields NUL-terminated: a NUL would cut it */
	const char *nul = memchr(s, 0, n);
	if (nul)
		return err_set(e, "a string field cannot hold a NUL character (\\u0000, at byte %zu)",
			       (size_t)(nul - s));
	char *p = malloc(n + 1);
	if (!p)
		return err_oom(e);
	memcpy(p, s, n);
	p[n] = 0;
	*(char **)dst = p;
	return 0;
}

int pbset_bytes(const void *s, size_t n, void *dst)
{
	ProtobufCBinaryData bd = { n, n ? malloc(n) : NULL };
	if (n && !bd.data)
		return -1;
	if (n)
		memcpy(bd.data, s, n);
	memcpy(dst, &bd, sizeof bd);
	return 0;
}

void pbset_double(const ProtobufCFieldDescriptor *fd, double d, void *dst)
{
	if (fd->type == PROTOBUF_C_TYPE_FLOAT) {
		float f = (float)d;
		memcpy(dst, &f, 4);
	} else {
		memcpy(dst, &d, 8);
	}
}

void pbset_bool(int b, void *dst)
{
	protobuf_c_boolean v = b ? 1 : 0;
	memcpy(dst, &v, sizeof v);
}

/* An integer field's string: flags, a device, a dict name or a number. */
static int pbset_text_num(const ProtobufCFieldDescriptor *fd, const struct field_opts *fo,
			  const char *s, size_t n, struct pbset_num *v, struct err *e)
{
	if (fo && fo->flags)
		return pbset_flags(e, fo->flags, s, n, v);
	if (fo && (fo->dev || fo->odev) && memchr(s, ':', n))
		return pbset_dev(e, fo->odev, s, n, v);
	if (fo && fo->dict) {
		const struct schema_name *names = schema_dict_map(fo->dict, fd->name);
		size_t a = 0;
		while (a < n && pbset_space(s[a]))
			a++;
		if (a < n && pbset_is_name_char(s[a])) {
			const struct schema_name *nm = pbset_find_name(names, s, n);
			if (!nm) {
				char known[400] = "none";
				if (names)
					pbset_list_names(names, known, sizeof known);
				return err_set(e, "unknown name \"%.*s\" for %s.%s (known: %s)",
					       (int)(n > 80 ? 80 : n), s, fo->dict, fd->name, known);
			}
			v->neg = 0;
			v->mag = nm->value;
			return 0;
		}
	}
	const char *why = pbset_pyint(s, n, 0, v);
	if (why)
		return err_set(e, "\"%.*s\": %s", (int)(n > 80 ? 80 : n), s, why);
	return 0;
}

int pbset_text(const ProtobufCFieldDescriptor *fd, const struct field_opts *fo, const char *s,
	       size_t n, void *dst, struct err *e)
{
	struct pbset_num v;
	switch (fd->type) {
	case PROTOBUF_C_TYPE_ENUM:
		/* a name, or a number the schema does not name (a newer CRIU's) */
		if (pbset_pyint(s, n, 0, &v))
			return pbset_enum_name(fd, s, dst, e);
		return pbset_store_num(fd, &v, dst, e);
	case PROTOBUF_C_TYPE_STRING:
		return pbset_string(s, n, dst, e);
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData bd = { 0, NULL };
		int rc;
		if (fo && fo->conv && strcmp(fo->conv, "unix_name") == 0)
			rc = pbset_qp(e, s, n, &bd.data, &bd.len);
		else if (fo && fo->conv)
			rc = err_set(e, "unknown (criu).conv \"%s\"", fo->conv);
		else
			rc = pbset_base64(e, s, n, &bd.data, &bd.len);
		if (rc < 0)
			return -1;
		memcpy(dst, &bd, sizeof bd);
		return 0;
	}
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
	case PROTOBUF_C_TYPE_BOOL:
	case PROTOBUF_C_TYPE_MESSAGE:
		return err_set(e, "a string is not a value of a %s field",
			       fd->type == PROTOBUF_C_TYPE_BOOL ? "bool" : fd->type == PROTOBUF_C_TYPE_MESSAGE ? "message" : "number");
	default:
		if (pbset_text_num(fd, fo, s, n, &v, e) < 0)
			return -1;
		return pbset_store_num(fd, &v, dst, e);
	}
}
