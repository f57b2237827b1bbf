/* json_out.c: CRIT's JSON out of protobuf-c messages and image files, written
 * as a stream in Python json.dump's exact layout; one generic descriptor walk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json_out.h"
#include "progress.h"
#include "textcodec.h"

#define JW_FLUSH_AT (1u << 20)

/* ---- the writer ---- */

void jw_init(struct jw *w, struct buf *out, int indent)
{
	memset(w, 0, sizeof *w);
	w->out = out;
	w->indent = indent;
}

/* The options of every field of a descriptor, looked up once: the schema's
 * own look-up hashes per call, which showed as a seventh of pretty's time. */
#define JW_OPTCACHE 128
struct jw_optcache {
	const ProtobufCMessageDescriptor *d;
	const struct field_opts **opts; /* NULL when no field has options */
};

void jw_fini(struct jw *w)
{
	if (w->optcache) {
		for (size_t i = 0; i < JW_OPTCACHE; i++)
			free(w->optcache[i].opts);
		free(w->optcache);
		w->optcache = NULL;
	}
	free(w->items);
	w->items = NULL;
	w->cap = w->depth = 0;
}

/* Out of memory: the output is marked incomplete (out->oom), and everything
 * the writer is asked for from then on does nothing; its user checks
 * buf_oom(out) at the end. */
static void jw_oom(struct jw *w)
{
	w->out->oom = 1;
}

static const struct field_opts **jw_opts(struct jw *w, const ProtobufCMessageDescriptor *d)
{
	if (!w->optcache && !(w->optcache = calloc(JW_OPTCACHE, sizeof *w->optcache))) {
		jw_oom(w);
		return NULL;
	}
	struct jw_optcache *c = &w->optcache[((uintptr_t)d >> 4) % JW_OPTCACHE];
	if (c->d == d)
		return c->opts;
	free(c->opts);
	c->d = d;
	c->opts = NULL;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const struct field_opts *o = schema_field_opts(d, i);
		if (!o)
			continue;
		if (!c->opts && !(c->opts = calloc(d->n_fields, sizeof *c->opts))) {
			c->d = NULL;
			jw_oom(w);
			return NULL;
		}
		c->opts[i] = o;
	}
	return c->opts;
}

static inline void jw_put(struct jw *w, const char *s, size_t n)
{
	struct buf *b = w->out;
	if (b->cap - b->len < n && buf_reserve(b, n) < 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static inline void jw_putc(struct jw *w, char c)
{
	struct buf *b = w->out;
	if (b->cap == b->len && buf_reserve(b, 1) < 0)
		return;
	b->p[b->len++] = (uint8_t)c;
}

static void jw_newline(struct jw *w, int comma)
{
	size_t n = (size_t)w->depth * 4 + 2;
	if (buf_reserve(w->out, n) < 0)
		return;
	uint8_t *o = w->out->p + w->out->len;
	if (comma)
		*o++ = ',';
	*o++ = '\n';
	memset(o, ' ', (size_t)w->depth * 4);
	w->out->len = (size_t)(o - w->out->p) + (size_t)w->depth * 4;
}

/* Before a value: the separator its position needs. The key of an object
 * member counts as the start of the item; its value then needs nothing. */
static inline void jw_item(struct jw *w)
{
	if (w->depth == 0 || w->out->oom)
		return;
	unsigned char *it = &w->items[w->depth - 1];
	if (*it == 2) { /* a key was just written */
		*it = 1;
		return;
	}
	if (w->indent)
		jw_newline(w, *it);
	else if (*it)
		jw_put(w, ", ", 2);
	*it = 1;
}

static void jw_flush(struct jw *w)
{
	if (!w->flush_to || w->flush_err || w->out->oom)
		return;
	if (w->out->len && fwrite(w->out->p, 1, w->out->len, w->flush_to) != w->out->len)
		w->flush_err = errno ? errno : EIO;
	w->flushed += w->out->len;
	w->out->len = 0;
}

static void jw_open(struct jw *w, char c)
{
	jw_item(w);
	jw_putc(w, c);
	if (w->out->oom) { /* depth still counts, for jw_close; items is not read again */
		w->depth++;
		return;
	}
	if (w->depth == w->cap) {
		unsigned char *items = realloc(w->items, w->cap ? w->cap * 2 : 32);
		if (!items) {
			jw_oom(w);
			w->depth++;
			return;
		}
		w->items = items;
		w->cap = w->cap ? w->cap * 2 : 32;
	}
	w->items[w->depth++] = 0;
}

static void jw_close(struct jw *w, char c)
{
	w->depth--;
	if (w->out->oom)
		return;
	if (w->indent && w->items[w->depth])
		jw_newline(w, 0);
	jw_putc(w, c);
	if (w->flush_to && w->out->len >= JW_FLUSH_AT)
		jw_flush(w);
}

void jw_begin_object(struct jw *w)
{
	jw_open(w, '{');
}

void jw_end_object(struct jw *w)
{
	jw_close(w, '}');
}

void jw_begin_array(struct jw *w)
{
	jw_open(w, '[');
}

void jw_end_array(struct jw *w)
{
	jw_close(w, ']');
}

void jw_key(struct jw *w, const char *k, size_t n)
{
	jw_item(w);
	tc_json_string(w->out, k, n);
	jw_put(w, ": ", 2);
	if (!w->out->oom)
		w->items[w->depth - 1] = 2;
}

/* A key known to need no escaping (a schema field name). */
static inline void jw_key_id(struct jw *w, const char *k)
{
	size_t n = strlen(k);
	jw_item(w);
	if (buf_reserve(w->out, n + 4) < 0)
		return;
	uint8_t *o = w->out->p + w->out->len;
	o[0] = '"';
	memcpy(o + 1, k, n);
	memcpy(o + 1 + n, "\": ", 3);
	w->out->len += n + 4;
	w->items[w->depth - 1] = 2;
}

void jw_raw(struct jw *w, const char *s, size_t n)
{
	jw_item(w);
	jw_put(w, s, n);
}

void jw_null(struct jw *w)
{
	jw_raw(w, "null", 4);
}

void jw_bool(struct jw *w, int v)
{
	if (v)
		jw_raw(w, "true", 4);
	else
		jw_raw(w, "false", 5);
}

void jw_int(struct jw *w, int64_t v)
{
	jw_item(w);
	if (buf_reserve(w->out, 21) < 0)
		return;
	w->out->len += tc_i64((char *)w->out->p + w->out->len, v);
}

void jw_uint(struct jw *w, uint64_t v)
{
	jw_item(w);
	if (buf_reserve(w->out, 20) < 0)
		return;
	w->out->len += tc_u64((char *)w->out->p + w->out->len, v);
}

void jw_double(struct jw *w, double v)
{
	char t[32];
	jw_raw(w, t, tc_double(t, v));
}

void jw_string(struct jw *w, const char *s, size_t n)
{
	jw_item(w);
	tc_json_string(w->out, s, n);
}

void jw_base64(struct jw *w, const uint8_t *p, size_t n)
{
	jw_item(w);
	jw_putc(w, '"');
	tc_b64_mime(w->out, p, n, 1);
	jw_putc(w, '"');
}

/* A short ASCII string that needs no escaping. */
static void jw_plain_string(struct jw *w, const char *s, size_t n)
{
	jw_item(w);
	if (buf_reserve(w->out, n + 2) < 0)
		return;
	uint8_t *o = w->out->p + w->out->len;
	o[0] = '"';
	memcpy(o + 1, s, n);
	o[n + 1] = '"';
	w->out->len += n + 2;
}

/* ---- integer fields in pretty mode ---- */

static void jw_hex(struct jw *w, int64_t sv, uint64_t uv, int is_signed)
{
	char t[24];
	jw_plain_string(w, t, is_signed ? tc_hex_i64(t, sv) : tc_hex_u64(t, uv));
}

/* Python's "%d:%d" of a device number: the kernel's encoding (minor in the
 * low 20 bits), or with (criu).odev glibc's major()/minor() of a dev_t. */
static void jw_dev(struct jw *w, int odev, int64_t sv, uint64_t uv, int is_signed)
{
	char t[48];
	size_t n;
	if (odev) {
		uint64_t major = ((uv >> 8) & 0xfff) | ((uv >> 32) & ~(uint64_t)0xfff);
		uint64_t minor = (uv & 0xff) | ((uv >> 12) & ~(uint64_t)0xff);
		n = tc_u64(t, major);
		t[n++] = ':';
		n += tc_u64(t + n, minor);
	} else if (is_signed) {
		/* Python's >> floors: -1 >> 20 == -1 (gcc's >> on signed does the same) */
		n = tc_i64(t, sv >> 20);
		t[n++] = ':';
		n += tc_i64(t + n, sv & 0xfffff);
	} else {
		n = tc_u64(t, uv >> 20);
		t[n++] = ':';
		n += tc_u64(t + n, uv & 0xfffff);
	}
	jw_plain_string(w, t, n);
}

static void jw_flags(struct jw *w, const struct schema_name *map, int64_t sv, uint64_t uv, int is_signed)
{
	char t[512];
	size_t n = 0;
	uint64_t all = 0, v = is_signed ? (uint64_t)sv : uv;
	for (const struct schema_name *f = map; f->name; f++) {
		all |= f->value;
		if (!(v & f->value))
			continue;
		if (n) {
			memcpy(t + n, " | ", 3);
			n += 3;
		}
		size_t k = strlen(f->name);
		memcpy(t + n, f->name, k);
		n += k;
	}
	uint64_t rest = v & ~all;
	if (rest) {
		if (n) {
			memcpy(t + n, " | ", 3);
			n += 3;
		}
		/* Python keeps the sign: a negative value leaves negative bits */
		n += is_signed && sv < 0 ? tc_hex_i64(t + n, (int64_t)rest) : tc_hex_u64(t + n, rest);
	}
	jw_plain_string(w, t, n);
}

/* An integer in pretty mode, o being the field's options (or NULL). */
static void jw_int_opts(struct jw *w, const ProtobufCFieldDescriptor *f,
			const struct field_opts *o, int64_t sv, uint64_t uv, int is_signed, int hex)
{
	if (hex || (o && o->hex)) {
		jw_hex(w, sv, uv, is_signed);
		return;
	}
	if (o && o->dev) {
		jw_dev(w, o->odev, sv, uv, is_signed);
		return;
	}
	if (o && o->flags) {
		const struct schema_name *map = schema_flag_map(o->flags);
		if (map)
			jw_flags(w, map, sv, uv, is_signed);
		else
			jw_hex(w, sv, uv, is_signed); /* CRIT: an unknown map prints hex */
		return;
	}
	if (o && o->dict) {
		const struct schema_name *it = schema_dict_map(o->dict, f->name);
		for (; it && it->name; it++)
			if (is_signed ? it->value == sv : it->value == uv) {
				jw_plain_string(w, it->name, strlen(it->name));
				return;
			}
	}
	if (is_signed)
		jw_int(w, sv);
	else
		jw_uint(w, uv);
}

/* A bytes value of field `index` of d: base64, or quoted-printable where
 * (criu).conv = "unix_name". */
static void jw_field_bytes(struct jw *w, const ProtobufCMessageDescriptor *d, unsigned index,
			   const uint8_t *p, size_t n)
{
	const struct field_opts **opts = index < d->n_fields ? jw_opts(w, d) : NULL;
	const struct field_opts *o = opts ? opts[index] : NULL;
	if (o && o->conv && strcmp(o->conv, "unix_name") == 0) {
		struct buf q = { 0 };
		tc_qp(&q, p, n);
		if (buf_oom(&q))
			jw_oom(w);
		jw_string(w, (const char *)q.p, q.len);
		buf_free(&q);
		return;
	}
	jw_base64(w, p, n);
}

/* ---- ipadd: Python ipaddress's compressed forms ---- */

static uint32_t jw_ntohl(uint32_t v)
{
	return (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
}

static size_t jw_ipv6_text(char *t, const uint32_t words[4])
{
	unsigned h[8];
	for (int i = 0; i < 4; i++) {
		uint32_t v = jw_ntohl(words[i]);
		h[2 * i] = v >> 16;
		h[2 * i + 1] = v & 0xffff;
	}
	/* the first longest run of two or more zero groups becomes "::" */
	int best = -1, best_len = 0;
	for (int i = 0; i < 8;) {
		if (h[i]) {
			i++;
			continue;
		}
		int j = i;
		while (j < 8 && !h[j])
			j++;
		if (j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = j;
	}
	if (best_len < 2)
		best = -1;
	size_t n = 0;
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			t[n++] = ':';
			if (i == 0)
				t[n++] = ':';
			i += best_len - 1;
			continue;
		}
		n += (size_t)sprintf(t + n, "%x", h[i]);
		if (i < 7)
			t[n++] = ':';
	}
	return n;
}

/* The (criu) ipadd form of a repeated u32 field: 1 or 4 words give ["addr"];
 * returns 0 (nothing written) for other counts. */
static int jw_ipadd(struct jw *w, const uint32_t *words, size_t n)
{
	char t[48];
	size_t len;
	if (n == 1) {
		uint32_t v = jw_ntohl(words[0]);
		len = (size_t)sprintf(t, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255,
				      v & 255);
	} else if (n == 4) {
		len = jw_ipv6_text(t, words);
	} else {
		/* No address has that many words (CRIT would show the first four as one,
		 * and lose the rest): the numbers, so that encode gets them all back. */
		return 0;
	}
	jw_begin_array(w);
	jw_plain_string(w, t, len);
	jw_end_array(w);
	return 1;
}

/* ---- messages ---- */

static void jw_message_fields(struct jw *w, const ProtobufCMessage *m, int pretty, int hex);

/* One value of field f (index i of d) stored at p. */
static void jw_value(struct jw *w, const ProtobufCMessageDescriptor *d, unsigned i,
		     const ProtobufCFieldDescriptor *f, const struct field_opts *o, const void *p,
		     int pretty, int hex)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: {
		int64_t v = *(const int32_t *)p;
		if (pretty)
			jw_int_opts(w, f, o, v, (uint64_t)v, 1, hex);
		else
			jw_int(w, v);
		break;
	}
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: {
		int64_t v = *(const int64_t *)p;
		if (pretty)
			jw_int_opts(w, f, o, v, (uint64_t)v, 1, hex);
		else
			jw_int(w, v);
		break;
	}
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: {
		uint64_t v = *(const uint32_t *)p;
		if (pretty)
			jw_int_opts(w, f, o, (int64_t)v, v, 0, hex);
		else
			jw_uint(w, v);
		break;
	}
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t v = *(const uint64_t *)p;
		if (pretty)
			jw_int_opts(w, f, o, (int64_t)v, v, 0, hex);
		else
			jw_uint(w, v);
		break;
	}
	case PROTOBUF_C_TYPE_BOOL:
		jw_bool(w, *(const protobuf_c_boolean *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		jw_double(w, *(const float *)p);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		jw_double(w, *(const double *)p);
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(f->descriptor, v);
		if (ev)
			jw_plain_string(w, ev->name, strlen(ev->name));
		else
			jw_int(w, v); /* a value from a newer CRIU: its number */
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		jw_string(w, s ? s : "", s ? strlen(s) : 0);
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		jw_field_bytes(w, d, i, b->data, b->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
		jw_begin_object(w);
		if (sub)
			jw_message_fields(w, sub, pretty, hex);
		jw_end_object(w);
		break;
	}
	}
}

/* Is the non-repeated field f of m set? */
static int jw_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	const void *p = base + f->offset;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return *(void *const *)p != NULL;
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		const char *s = *(char *const *)p;
		/* protobuf-c points an absent string at its default */
		return s && (f->label == PROTOBUF_C_LABEL_REQUIRED || s != f->default_value);
	}
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return 1;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
		return f->quantifier_offset && *(const protobuf_c_boolean *)(base + f->quantifier_offset);
	/* proto3 without presence: set when not zero */
	if (f->type == PROTOBUF_C_TYPE_BYTES)
		return ((const ProtobufCBinaryData *)p)->len != 0;
	size_t sz = schema_elem_size(f->type);
	static const uint8_t zero[8];
	return memcmp(p, zero, sz) != 0;
}

static void jw_unknown(struct jw *w, const ProtobufCMessage *m)
{
	struct buf raw = { 0 };
	for (unsigned i = 0; i < m->n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *u = &m->unknown_fields[i];
		uint64_t key = (uint64_t)u->tag << 3 | u->wire_type;
		uint8_t v[10];
		size_t n = 0;
		do {
			v[n] = (uint8_t)(key & 0x7f);
			key >>= 7;
			if (key)
				v[n] |= 0x80;
			n++;
		} while (key);
		buf_add(&raw, v, n);
		buf_add(&raw, u->data, u->len);
	}
	if (buf_oom(&raw))
		jw_oom(w);
	jw_key_id(w, JW_UNKNOWN_KEY);
	jw_base64(w, raw.p, raw.len);
	buf_free(&raw);
}

/* The members of m, into an object the caller has opened (so it can add
 * "extra"); hex: the hex flag inherited from enclosing fields. */
static void jw_message_fields(struct jw *w, const ProtobufCMessage *m, int pretty, int hex)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	const struct field_opts **opts = pretty ? jw_opts(w, d) : NULL;
	/* protoc-c emits d->fields sorted by number: CRIT's order */
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const struct field_opts *o = opts ? opts[i] : NULL;
		int fhex = hex || (o && o->hex);
		if (f->label != PROTOBUF_C_LABEL_REPEATED) {
			if (!jw_present(m, f))
				continue;
			jw_key_id(w, f->name);
			jw_value(w, d, i, f, o, base + f->offset, pretty, fhex);
			continue;
		}
		size_t n = *(const size_t *)(base + f->quantifier_offset);
		if (!n)
			continue;
		const char *arr = *(char *const *)(base + f->offset);
		jw_key_id(w, f->name);
		if (o && o->ipadd &&
		    (f->type == PROTOBUF_C_TYPE_UINT32 || f->type == PROTOBUF_C_TYPE_FIXED32) &&
		    jw_ipadd(w, (const uint32_t *)arr, n))
			continue;
		size_t sz = schema_elem_size(f->type);
		jw_begin_array(w);
		for (size_t k = 0; k < n; k++)
			jw_value(w, d, i, f, o, arr + k * sz, pretty, fhex);
		jw_end_array(w);
	}
	if (m->n_unknown_fields)
		jw_unknown(w, m);
}

void jw_message(struct jw *w, const ProtobufCMessage *m, int pretty)
{
	jw_begin_object(w);
	jw_message_fields(w, m, pretty, 0);
	jw_end_object(w);
}

/* ---- payloads ---- */

size_t jw_human_size(char *dst, uint64_t n)
{
	/* CRIT divides a float by 1024 until it is below 1024; whole numbers
	 * print without a fraction. */
	static const char *const units[] = { "", "K", "M", "G", "T", "P", "E", "Z" };
	double num = (double)n;
	for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
		if (num < 1024.0) {
			if (num == (double)(uint64_t)num)
				return (size_t)sprintf(dst, "%llu%sB", (unsigned long long)num, units[u]);
			return (size_t)sprintf(dst, "%.1f%sB", num, units[u]);
		}
		num /= 1024.0;
	}
	return (size_t)sprintf(dst, "%.1fYB", num);
}

/* The payload of an entry as "extra" (the key too); nothing when it has none. */
static void jw_entry_extra(struct jw *w, const struct magic_info *mi, const struct img_entry *en,
			   int nopl)
{
	if (mi->payload == PL_IPC_MSG) {
		jw_key_id(w, "extra");
		if (nopl) {
			uint64_t size = 0;
			for (size_t i = 0; i < en->n_items; i++)
				size += protobuf_c_message_get_packed_size(en->items[i].msg) +
					en->items[i].len;
			char t[48] = "... <";
			size_t n = 5 + jw_human_size(t + 5, size);
			t[n++] = '>';
			jw_plain_string(w, t, n);
			return;
		}
		/* CRIT converts these messages without the pretty options */
		jw_begin_array(w);
		for (size_t i = 0; i < en->n_items; i++) {
			jw_message(w, en->items[i].msg, 0);
			jw_base64(w, en->items[i].data, en->items[i].len);
		}
		jw_end_array(w);
		return;
	}
	if (!en->has_extra || mi->payload == PL_NONE || mi->payload == PL_PAGEMAP)
		return;
	if (nopl) {
		if (mi->payload == PL_GHOST)
			return; /* CRIT skips ghost data without a note */
		char t[48] = "... <";
		size_t n = 5 + jw_human_size(t + 5, en->extra_len);
		t[n++] = '>';
		jw_key_id(w, "extra");
		jw_plain_string(w, t, n);
		return;
	}
	jw_key_id(w, "extra");
	switch (mi->payload) {
	case PL_TCP_STREAM: {
		size_t inq = (size_t)pb_get_u64(en->msg, "inq_len", NULL);
		if (inq > en->extra_len)
			inq = en->extra_len;
		jw_begin_object(w);
		jw_key_id(w, "inq");
		jw_base64(w, en->extra, inq);
		jw_key_id(w, "outq");
		jw_base64(w, en->extra + inq, en->extra_len - inq);
		jw_end_object(w);
		break;
	}
	case PL_IPC_SEM:
		jw_begin_array(w);
		for (size_t i = 0; i + 1 < en->extra_len; i += 2)
			jw_uint(w, (uint64_t)en->extra[i] | (uint64_t)en->extra[i + 1] << 8);
		jw_end_array(w);
		break;
	default:
		jw_base64(w, en->extra, en->extra_len);
		break;
	}
}

/* ---- whole images ---- */

void jw_entry(struct jw *w, const struct magic_info *mi, const struct img_entry *en, int pretty,
	      int nopl)
{
	jw_begin_object(w);
	jw_message_fields(w, en->msg, pretty, 0);
	jw_entry_extra(w, mi, en, nopl);
	jw_end_object(w);
}

/* {"magic": NAME, "entries": [ — the entries and the two closings follow. */
static void jw_image_head(struct jw *w, const struct magic_info *mi)
{
	jw_begin_object(w);
	jw_key_id(w, "magic");
	jw_plain_string(w, mi->name, strlen(mi->name));
	jw_key_id(w, "entries");
	jw_begin_array(w);
}

void jw_img(struct jw *w, const struct img *img, int pretty)
{
	jw_image_head(w, img->mi);
	for (size_t i = 0; i < img->n; i++)
		jw_entry(w, img->mi, &img->entries[i], pretty, 0);
	jw_end_array(w);
	jw_end_object(w);
}

static int jw_image(struct jw *w, const uint8_t *data, size_t len, const char *name, int pretty,
		    int nopl, struct err *e)
{
	const char *raw = img_raw_kind(name, data, len);
	if (raw)
		return err_set(e, "%s: %s", name, raw);
	struct img_reader r;
	if (img_reader_init(&r, data, len, e) < 0)
		return err_prefix(e, "%s", name);
	jw_image_head(w, r.mi);
	for (;;) {
		struct img_entry en;
		int rc = img_reader_next(&r, &en, e);
		if (rc < 0)
			return err_prefix(e, "%s", name);
		if (rc == 0)
			break;
		jw_entry(w, r.mi, &en, pretty, nopl);
		img_entry_free(&en);
		progress_set(r.off);
	}
	jw_end_array(w);
	jw_end_object(w);
	if (buf_oom(w->out))
		return err_set(e, "%s: out of memory", name);
	return 0;
}

int jw_image_buf(const uint8_t *data, size_t len, const char *name, struct buf *out, int pretty,
		 int nopl, struct err *e)
{
	struct jw w;
	jw_init(&w, out, pretty);
	int rc = jw_image(&w, data, len, name, pretty, nopl, e);
	jw_fini(&w);
	return rc;
}

static int jw_is_stdio(const char *path)
{
	return !path || strcmp(path, "-") == 0;
}

int jw_image_file(const char *in_path, const char *out_path, int pretty, int nopl, struct err *e)
{
	const char *name = jw_is_stdio(in_path) ? "<stdin>" : in_path;
	uint8_t *data;
	size_t len;
	if (read_file(jw_is_stdio(in_path) ? "-" : in_path, &data, &len, e) < 0)
		return err_prefix(e, "%s", name);

	struct buf out = { 0 };
	struct jw w;
	jw_init(&w, &out, pretty);
	int to_stdout = jw_is_stdio(out_path);
	if (to_stdout) {
		/* Stream to stdout in chunks: a large image's JSON is never held
		 * whole. An error in an image of less than a chunk writes nothing. */
		fflush(stdout);
		w.flush_to = stdout;
	}
	/* Progress on the terminal, unless the JSON itself goes there. */
	int progress = !(to_stdout && isatty(STDOUT_FILENO));
	if (progress) {
		char label[128];
		const char *base = strrchr(name, '/');
		snprintf(label, sizeof label, "decoding %.100s", base ? base + 1 : name);
		progress_start(label, len, NULL);
	}
	int rc = jw_image(&w, data, len, name, pretty, nopl, e);
	if (progress)
		progress_stop();
	free(data);
	if (rc == 0 && to_stdout) {
		jw_putc(&w, '\n'); /* CRIT adds a newline on stdout only */
		jw_flush(&w);
		if (!w.flush_err && fflush(stdout) != 0)
			w.flush_err = errno ? errno : EIO;
		if (w.flush_err)
			rc = err_set(e, "<stdout>: %s", strerror(w.flush_err));
	} else if (rc == 0) {
		rc = write_file_atomic(out_path, out.p, out.len, e);
		if (rc < 0)
			err_prefix(e, "%s", out_path);
	} else if (to_stdout && w.flushed) {
		/* What is still buffered is dropped; the reader must not take
		 * the part already written for a whole image. */
		char msg[sizeof e->msg];
		memcpy(msg, e->msg, sizeof msg);
		err_set(e, "%.900s (the JSON on stdout stops after %zu bytes)", msg, w.flushed);
	}
	jw_fini(&w);
	buf_free(&out);
	return rc;
}

int jw_info_file(const char *path, struct buf *out, const char **magic, size_t *count,
		 struct err *e)
{
	const char *name = jw_is_stdio(path) ? "<stdin>" : path;
	uint8_t *data;
	size_t len;
	if (read_file(jw_is_stdio(path) ? "-" : path, &data, &len, e) < 0)
		return err_prefix(e, "%s", name);
	const char *raw = img_raw_kind(name, data, len);
	struct img_reader r;
	if (raw) {
		free(data);
		return err_set(e, "%s: %s", name, raw);
	}
	if (img_reader_init(&r, data, len, e) < 0) {
		free(data);
		return err_prefix(e, "%s", name);
	}
	size_t n = 0;
	for (;;) {
		struct img_entry en;
		int rc = img_reader_next(&r, &en, e);
		if (rc < 0) {
			free(data);
			return err_prefix(e, "%s", name);
		}
		if (rc == 0)
			break;
		img_entry_free(&en);
		n++;
	}
	free(data);
	if (r.mi->payload == PL_PAGEMAP && n)
		n--; /* CRIT does not count the pagemap head */
	struct jw w;
	jw_init(&w, out, 1);
	jw_begin_object(&w);
	jw_key_id(&w, "magic");
	jw_plain_string(&w, r.mi->name, strlen(r.mi->name));
	jw_key_id(&w, "count");
	jw_uint(&w, n);
	jw_end_object(&w);
	jw_fini(&w);
	if (buf_oom(out))
		return err_set(e, "%s: out of memory", name);
	if (magic)
		*magic = r.mi->name;
	if (count)
		*count = n;
	return 0;
}
