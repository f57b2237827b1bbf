/* json_in.c: CRIT's JSON dialect back into images, generically over the
 * protobuf-c descriptors, accepting every form CRIT and go-criu write and
 * refusing (with the path of the value) whatever would make a wrong image. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_in.h"
#include "jread.h"
#include "pbset.h"
#include "pbwire.h"
#include "json_out.h"
#include "schema.h"

/* CRIU's messages nest about 8 deep; the document adds 3 levels. */
#define JI_IMAGE_DEPTH 64
#define JI_MAX_FRAMES 128

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

/* The error a pbset_ function left in c->e, with the path before it. */
static int ji_core_fail(struct ji_cv *c)
{
	char msg[sizeof c->e->msg];
	snprintf(msg, sizeof msg, "%s", c->e->msg);
	return ji_fail(c, "%s", msg);
}

static int jv_is(struct json_object *o, enum json_type type)
{
	return json_object_get_type(o) == type; /* NULL is null */
}

static const char *jv_s(struct json_object *o)
{
	return json_object_is_type(o, json_type_string) ? json_object_get_string(o) : "";
}

/* Bytes of a string, items of an array, members of an object. */
static size_t jv_len(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string:
		return (size_t)json_object_get_string_len(o);
	case json_type_array:
		return json_object_array_length(o);
	case json_type_object:
		return (size_t)json_object_object_length(o);
	default:
		return 0;
	}
}

static const char *ji_type_name(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
		return "a fraction";
	case json_type_int:
		return "an integer";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	case json_type_string:
		return "a string";
	}
	return "?";
}

static void ji_int_of(struct json_object *o, struct pbset_num *v)
{
	unsigned long long mag;
	jread_int(o, &v->neg, &mag);
	v->mag = mag;
}

/* ---- messages ---- */

static ProtobufCMessage *ji_message(struct ji_cv *c, const ProtobufCMessageDescriptor *d,
				    struct json_object *o, int is_entry);

/* "expected ..." of field fd, for a JSON value of the wrong type. */
static int ji_want(struct ji_cv *c, const ProtobufCFieldDescriptor *fd, struct json_object *o)
{
	const char *got = ji_type_name(o);
	switch (fd->type) {
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		return ji_fail(c, "expected a number, got %s", got);
	case PROTOBUF_C_TYPE_BOOL:
		return ji_fail(c, "expected true or false, got %s", got);
	case PROTOBUF_C_TYPE_ENUM:
		return ji_fail(c, "expected a name of enum %s, got %s",
			       ((const ProtobufCEnumDescriptor *)fd->descriptor)->name, got);
	case PROTOBUF_C_TYPE_STRING:
		return ji_fail(c, "expected a string, got %s", got);
	case PROTOBUF_C_TYPE_BYTES:
		return ji_fail(c, "expected a base64 string, got %s", got);
	default:
		if (jv_is(o, json_type_double)) { /* json-c keeps the number's text */
			const char *t = json_object_to_json_string(o);
			return ji_fail(c, "expected an integer, got %.80s", t ? t : "a fraction");
		}
		return ji_fail(c, "expected an integer, got %s", got);
	}
}

/* One value of field fd (a scalar, or one element of a repeated field) into
 * dst: the scalar JSON holds, stored by src/core/pbset.h. */
static int ji_value(struct ji_cv *c, const ProtobufCFieldDescriptor *fd,
		    const struct field_opts *fo, struct json_object *o, void *dst)
{
	struct pbset_num v;
	int rc = 0;
	enum json_type type = json_object_get_type(o);
	if (type == json_type_null)
		return ji_fail(c, "null is not a value (leave the field out instead)");
	if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
		ProtobufCMessage *m = ji_message(c, fd->descriptor, o, 0);
		if (!m)
			return -1;
		*(ProtobufCMessage **)dst = m;
		return 0;
	}
	int num = fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_BYTES &&
		  fd->type != PROTOBUF_C_TYPE_BOOL;
	int real = fd->type == PROTOBUF_C_TYPE_FLOAT || fd->type == PROTOBUF_C_TYPE_DOUBLE;
	switch (type) {
	case json_type_string:
		if (!num || real) {
			if (fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_BYTES)
				return ji_want(c, fd, o);
		}
		rc = pbset_text(fd, fo, json_object_get_string(o), (size_t)json_object_get_string_len(o), dst,
				c->e);
		break;
	case json_type_int:
		if (real) {
			pbset_double(fd, json_object_get_double(o), dst);
			return 0;
		}
		if (!num)
			return ji_want(c, fd, o);
		ji_int_of(o, &v);
		rc = pbset_store_num(fd, &v, dst, c->e);
		break;
	case json_type_double:
		if (!real)
			return ji_want(c, fd, o);
		pbset_double(fd, json_object_get_double(o), dst);
		return 0;
	case json_type_boolean:
		if (fd->type != PROTOBUF_C_TYPE_BOOL)
			return ji_want(c, fd, o);
		pbset_bool(json_object_get_boolean(o), dst);
		return 0;
	default:
		return ji_want(c, fd, o);
	}
	return rc < 0 ? ji_core_fail(c) : 0;
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
		       const struct field_opts *fo, struct json_object *o)
{
	char *base = (char *)m;
	size_t *count = (size_t *)(base + fd->quantifier_offset);
	void **arrp = (void **)(base + fd->offset);
	if (!jv_is(o, json_type_array))
		return ji_fail(c, "expected an array, got %s", ji_type_name(o));
	size_t n = jv_len(o);
	if (fo && fo->ipadd && n >= 1) {
		struct json_object *e0 = json_object_array_get_idx(o, 0);
		const char *s = jv_s(e0);
		if (jv_is(e0, json_type_string) && (strchr(s, '.') || strchr(s, ':'))) {
			uint32_t w[4];
			size_t nw = 0;
			if (n != 1)
				return ji_fail(c, "an address is written as an array of one string, not %zu "
						  "items",
					       n);
			ji_push_index(c, 0);
			if (ji_ipadd(c, s, jv_len(e0), w, &nw) < 0)
				return -1;
			ji_pop(c);
			if (!(*arrp = malloc(nw * sizeof *w)))
				return ji_fail(c, "out of memory");
			memcpy(*arrp, w, nw * sizeof *w);
			*count = nw;
			return 0;
		}
	}
	size_t sz = schema_elem_size(fd->type);
	/* Owned by m from here: protobuf_c_message_free_unpacked frees the first *count. */
	*arrp = n ? calloc(n, sz) : NULL;
	*count = 0;
	if (n && !*arrp)
		return ji_fail(c, "out of memory");
	for (size_t i = 0; i < n; i++) {
		ji_push_index(c, i);
		if (ji_value(c, fd, fo, json_object_array_get_idx(o, i), (char *)*arrp + i * sz) < 0)
			return -1;
		ji_pop(c);
		*count = i + 1;
	}
	return 0;
}

/* Fields the schema does not know, from the writer's JW_UNKNOWN_KEY: the
 * MIME base64 of their wire bytes. */
static int ji_unknown(struct ji_cv *c, ProtobufCMessage *m, struct json_object *o)
{
	uint8_t *p;
	size_t n;
	if (!jv_is(o, json_type_string))
		return ji_fail(c, "expected the base64 of protobuf wire bytes, got %s", ji_type_name(o));
	if (pbset_base64(c->e, jv_s(o), jv_len(o), &p, &n) < 0)
		return ji_core_fail(c);
	if (!n) {
		free(p);
		return 0; /* no bytes (p may be NULL, which takes no offset) */
	}
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
		ProtobufCMessageUnknownField *v =
			realloc(m->unknown_fields, (m->n_unknown_fields + 1) * sizeof *m->unknown_fields);
		uint8_t *data = v ? malloc(off - tag_end) : NULL; /* off > tag_end: a value follows */
		if (v)
			m->unknown_fields = v;
		if (!data) {
			free(p);
			return ji_fail(c, "out of memory");
		}
		ProtobufCMessageUnknownField *u = &m->unknown_fields[m->n_unknown_fields++];
		u->tag = (uint32_t)num;
		u->wire_type = (ProtobufCWireType)wt;
		u->len = off - tag_end;
		u->data = data;
		memcpy(u->data, p + tag_end, u->len);
	}
	free(p);
	return 0;
bad:
	free(p);
	return ji_fail(c, "not valid protobuf wire bytes (a truncated or malformed field)");
}

static int ji_field(struct ji_cv *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd,
		    struct json_object *o)
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

/* Whether key is protojson's name of the field name (go-criu writes these):
 * lowerCamelCase, each '_' dropped and the letter after it upper-cased
 * ("mm_start_code" -> "mmStartCode"). A name without '_' has no other
 * name. Compared as it is made: nothing to allocate, nothing to cache. */
static int ji_is_json_name(const char *name, const char *key)
{
	if (!strchr(name, '_'))
		return 0;
	for (int up = 0; *name; name++) {
		if (*name == '_') {
			up = 1;
			continue;
		}
		if (*key++ != (up && *name >= 'a' && *name <= 'z' ? (char)(*name - 'a' + 'A') : *name))
			return 0;
		up = 0;
	}
	return *key == 0;
}

static const ProtobufCFieldDescriptor *ji_field_by_json_name(const ProtobufCMessageDescriptor *d,
							     const char *key)
{
	if (!strpbrk(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
		return NULL; /* no camelCase hump: it cannot differ from a proto name */
	for (unsigned i = 0; i < d->n_fields; i++)
		if (ji_is_json_name(d->fields[i].name, key))
			return &d->fields[i];
	return NULL;
}

/* A message of type d from object o; is_entry: the key "extra" is the
 * entry's payload, read by the caller. NULL on error (nothing leaks). */
static ProtobufCMessage *ji_message(struct ji_cv *c, const ProtobufCMessageDescriptor *d,
				    struct json_object *o, int is_entry)
{
	if (!jv_is(o, json_type_object)) {
		ji_fail(c, "expected an object (message %s), got %s", d->name, ji_type_name(o));
		return NULL;
	}
	ProtobufCMessage *m = malloc(d->sizeof_message);
	if (!m) {
		ji_fail(c, "out of memory");
		return NULL;
	}
	protobuf_c_message_init(d, m);
	unsigned char seen_small[256], *seen = seen_small;
	if (d->n_fields > sizeof seen_small) {
		if (!(seen = calloc(d->n_fields, 1))) {
			free(m);
			ji_fail(c, "out of memory");
			return NULL;
		}
	} else
		memset(seen, 0, d->n_fields);
	unsigned next_field = 0;
	/* json-c keeps the members in the text's order */
	for (struct lh_entry *me = json_object_get_object(o)->head; me; me = me->next) {
		const char *key = (const char *)lh_entry_k(me);
		struct json_object *val = (struct json_object *)lh_entry_v(me);
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

static int ji_b64_value(struct ji_cv *c, struct json_object *o, uint8_t **p, size_t *n)
{
	if (!jv_is(o, json_type_string))
		return ji_fail(c, "expected a base64 string, got %s", ji_type_name(o));
	return pbset_base64(c->e, jv_s(o), jv_len(o), p, n) < 0 ? ji_core_fail(c) : 0;
}

static int ji_tcp_extra(struct ji_cv *c, struct json_object *x, struct img_entry *en)
{
	struct json_object *q[2] = { NULL, NULL };
	int have[2] = { 0, 0 };
	static const char *const names[2] = { "inq", "outq" };
	uint8_t *d[2] = { NULL, NULL };
	size_t n[2] = { 0, 0 };
	if (!jv_is(x, json_type_object))
		return ji_fail(c, "expected {\"inq\": base64, \"outq\": base64}, got %s", ji_type_name(x));
	for (struct lh_entry *me = json_object_get_object(x)->head; me; me = me->next) {
		const char *key = (const char *)lh_entry_k(me);
		int k = strcmp(key, "inq") == 0 ? 0 : strcmp(key, "outq") == 0 ? 1 : -1;
		if (k < 0) {
			ji_push_key(c, key);
			ji_fail(c, "unknown key (a tcp stream payload has inq and outq)");
			ji_pop(c);
			return -1;
		}
		q[k] = (struct json_object *)lh_entry_v(me);
		have[k] = 1;
	}
	for (int k = 0; k < 2; k++) {
		if (!have[k]) {
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
	en->extra = malloc(n[0] + n[1] ? n[0] + n[1] : 1);
	if (!en->extra) {
		free(d[0]);
		free(d[1]);
		return ji_fail(c, "out of memory");
	}
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

static int ji_sem_extra(struct ji_cv *c, struct json_object *x, struct img_entry *en)
{
	if (!jv_is(x, json_type_array))
		return ji_fail(c, "expected an array of semaphore values, got %s", ji_type_name(x));
	size_t n = jv_len(x);
	uint8_t *p = malloc(n * 2 + 1);
	if (!p)
		return ji_fail(c, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(x, i);
		struct pbset_num v;
		ji_push_index(c, i);
		int rc;
		if (jv_is(o, json_type_int)) {
			ji_int_of(o, &v);
			rc = 0;
		} else if (jv_is(o, json_type_string)) {
			const char *why = pbset_pyint(jv_s(o), jv_len(o), 0, &v);
			rc = why ? ji_fail(c, "\"%.80s\": %s", jv_s(o), why) : 0;
		} else {
			rc = ji_fail(c, "expected an integer, got %s", ji_type_name(o));
		}
		if (rc == 0 && (v.neg || v.mag > 0xffff)) {
			char t[32];
			pbset_num_text(&v, t, sizeof t);
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

static int ji_msg_extra(struct ji_cv *c, struct json_object *x, struct img_entry *en)
{
	static const ProtobufCMessageDescriptor *ipc_msg;
	if (!ipc_msg)
		ipc_msg = schema_message("ipc_msg");
	if (!ipc_msg)
		return ji_fail(c, "the schema has no ipc_msg message");
	if (!jv_is(x, json_type_array))
		return ji_fail(c, "expected [{message}, base64, ...], got %s", ji_type_name(x));
	size_t n = jv_len(x);
	if (n % 2)
		return ji_fail(c, "an odd number of items (%zu): messages and their texts come in "
				  "pairs [{message}, base64, ...]",
			       n);
	en->items = n ? calloc(n / 2, sizeof *en->items) : NULL;
	en->n_items = 0;
	if (n && !en->items)
		return ji_fail(c, "out of memory");
	for (size_t i = 0; i < n; i += 2) {
		struct ipc_msg_item *it = &en->items[i / 2];
		ji_push_index(c, i);
		it->msg = ji_message(c, ipc_msg, json_object_array_get_idx(x, i), 0);
		ji_pop(c);
		if (!it->msg)
			return -1;
		en->n_items++; /* owned by en now: img_entry_free frees it */
		ji_push_index(c, i + 1);
		int rc = ji_b64_value(c, json_object_array_get_idx(x, i + 1), &it->data, &it->len);
		ji_pop(c);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int ji_is_nopl(struct json_object *x)
{
	return jv_is(x, json_type_string) && strncmp(jv_s(x), "... <", 5) == 0;
}

/* The payload of entry en (its message already read) from its "extra". */
static int ji_extra(struct ji_cv *c, const struct magic_info *mi, size_t index,
		    struct json_object *jo, struct img_entry *en)
{
	struct json_object *x;
	if (!json_object_object_get_ex(jo, "extra", &x))
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
		    const struct img_entry *first, struct json_object *jo, struct img_entry *en)
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
 * json-c's values of a whole image would take some 20 times the size of its
 * JSON. So the top level is walked here, and json-c (src/core/jread.h) reads
 * one entry at a time: memory stays near the size of the text, whatever the
 * entry count. */

struct ji_reader {
	struct ji_cv c;
	const char *t; /* the text */
	size_t n, pos;
	struct jread rd;
	struct json_object *cur; /* the value read last, freed by the next read */
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

/* Read the value at t[start] (json-c's values up to `end`) into *out,
 * freeing the one read before; *stop just after it. 0, or -1 with the error set. */
static int ji_read(struct ji_reader *r, size_t start, size_t end, struct json_object **out,
		   size_t *stop)
{
	const char *why;
	json_object_put(r->cur);
	r->cur = NULL;
	if (jread_value(&r->rd, r->t, end, start, &r->cur, stop, &why) < 0) {
		*out = NULL;
		if (end < r->n && *stop == end) /* the value goes on past the range */
			why = "unexpected character";
		return ji_reader_error(r, *stop, why);
	}
	*out = r->cur;
	return 0;
}

/* The value t[start, end) into *out. Returns 0, or -1 with the error set. */
static int ji_parse_range(struct ji_reader *r, size_t start, size_t end, struct json_object **out)
{
	size_t stop;
	if (ji_read(r, start, end, out, &stop) < 0)
		return -1;
	while (stop < end &&
	       (r->t[stop] == ' ' || r->t[stop] == '\t' || r->t[stop] == '\n' || r->t[stop] == '\r'))
		stop++;
	if (stop == end)
		return 0;
	*out = NULL;
	return ji_reader_error(r, stop, "unexpected character");
}

static void ji_reader_close(struct ji_reader *r)
{
	json_object_put(r->cur);
	jread_free(&r->rd);
	memset(r, 0, sizeof *r);
}

/* Set up the reader over text, values nested at most max_depth deep. */
static int ji_reader_text(struct ji_reader *r, const char *text, size_t len, int max_depth,
			  struct err *e)
{
	memset(r, 0, sizeof *r);
	r->c.e = e;
	if (len > INT32_MAX - 2)
		return err_set(e, "JSON text of %zu bytes is too large (2 GiB at most)", len);
	if (jread_init(&r->rd, max_depth) < 0)
		return err_set(e, "out of memory");
	r->t = text;
	r->n = len;
	return 0;
}

int json_parse_text(const char *text, size_t len, int max_depth, struct json_object **out,
		    struct err *e)
{
	struct ji_reader r;
	int rc = -1;
	e->msg[0] = 0;
	*out = NULL;
	if (ji_reader_text(&r, text, len, max_depth, e) == 0) {
		size_t i = ji_skip_ws(&r, 0);
		struct json_object *o;
		if (i == r.n)
			err_set(e, "no JSON value: the input is empty");
		else if (ji_parse_range(&r, i, r.n, &o) == 0) {
			*out = o;
			r.cur = NULL; /* the caller's now */
			rc = 0;
		}
	}
	ji_reader_close(&r);
	return rc;
}

/* The name in "magic" (the value at t[i, end)) into r->mi. */
static int ji_top_magic(struct ji_reader *r, size_t i, size_t end)
{
	struct json_object *m;
	ji_push_key(&r->c, "magic");
	if (ji_parse_range(r, i, end, &m) < 0)
		return -1;
	int rc = 0;
	if (!jv_is(m, json_type_string)) {
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
			struct json_object *k;
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
				struct json_object *o;
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
	if (ji_reader_text(r, text, len, JI_IMAGE_DEPTH, e) < 0)
		return -1;
	size_t i = ji_skip_ws(r, 0);
	if (i == r->n)
		return err_set(e, "no JSON value: the input is empty");
	if (r->t[i] != '{') {
		/* not an object: the parser names the syntax error, or we the type */
		struct json_object *o;
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
	struct json_object *o;
	if (ji_read(r, i, r->n, &o, &end) < 0)
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
	while ((rc = ji_reader_next(&r, out->n ? &out->entries[0] : &en, &en)) > 0) {
		struct img_entry *slot = img_add_entry(out);
		if (!slot) {
			img_entry_free(&en);
			rc = err_set(e, "entries[%zu]: out of memory", out->n);
			break;
		}
		*slot = en;
	}
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
	if (rc == 0 && buf_oom(&out))
		rc = err_oom(e);
	if (rc < 0) {
		buf_free(&out);
		return err_prefix(e, "%s", in_name);
	}
	rc = write_file_atomic(out_path ? out_path : "-", out.p, out.len, e);
	buf_free(&out);
	return rc < 0 ? err_prefix(e, "%s", out_name) : 0;
}
