/* pbcheck.c: explaining protobuf problems that protobuf-c only reports as
 * "failed": missing required fields, malformed wire data, and where; reading
 * a field by name. The wire data is walked with pbwire's pbw_frame. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbcheck.h"
#include "pbwire.h"
#include "schema.h"

/* ---- field values by name, for the payload rules of image.c ---- */

uint64_t pb_get_u64(const ProtobufCMessage *m, const char *name, int *present)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	const char *base = (const char *)m;
	if (present)
		*present = 0;
	if (!f || f->label == PROTOBUF_C_LABEL_REPEATED)
		return 0;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
	    !*(const protobuf_c_boolean *)(base + f->quantifier_offset))
		return 0;
	if (present)
		*present = 1;
	const void *v = base + f->offset;
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)v != 0;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return (uint64_t)(int64_t) * (const int32_t *)v;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return *(const uint32_t *)v;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)v;
	default:
		if (present)
			*present = 0;
		return 0;
	}
}

static int pb_is_pointer_field(const ProtobufCFieldDescriptor *f)
{
	return f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING;
}

/* Whether everything pb_check_required asks for is set, without naming
 * anything: the names cost a snprintf per field of every message, which was
 * a quarter of what encoding a large image took, to be thrown away. */
static int pb_required_all_set(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!pb_is_pointer_field(f))
			continue;
		const void *v = base + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			void *const *arr = *(void *const *const *)v;
			for (size_t k = 0; k < n; k++)
				if (!arr[k] || (f->type == PROTOBUF_C_TYPE_MESSAGE && !pb_required_all_set(arr[k])))
					return 0;
			continue;
		}
		const void *p = *(const void *const *)v;
		if (!p ? f->label == PROTOBUF_C_LABEL_REQUIRED
		       : f->type == PROTOBUF_C_TYPE_MESSAGE && !pb_required_all_set(p))
			return 0;
	}
	return 1;
}

int pb_check_required(const ProtobufCMessage *m, const char *path, struct err *e)
{
	if (pb_required_all_set(m))
		return 0; /* the usual case; the walk below names what is missing */
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	char sub[512];
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *v = base + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			if (f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
				continue;
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			void *const *arr = *(void *const *const *)v;
			for (size_t k = 0; k < n; k++) {
				snprintf(sub, sizeof sub, "%s.%s[%zu]", path, f->name, k);
				if (!arr[k])
					return err_set(e, "%s: missing", sub);
				if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
				    pb_check_required(arr[k], sub, e) < 0)
					return -1;
			}
			continue;
		}
		if (!pb_is_pointer_field(f))
			continue; /* scalars always hold a value in protobuf-c */
		const void *p = *(const void *const *)v;
		snprintf(sub, sizeof sub, "%s.%s", path, f->name);
		if (!p) {
			if (f->label == PROTOBUF_C_LABEL_REQUIRED)
				return err_set(e, "%s: required field is missing", sub);
			continue;
		}
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && pb_check_required(p, sub, e) < 0)
			return -1;
	}
	return 0;
}

/* Edit distance, for "did you mean" (names are short; a row buffer suffices). */
static size_t pb_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return (size_t)-1;
	size_t row[64];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			if (up + 1 < best)
				best = up + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *pb_nearest_field(const ProtobufCMessageDescriptor *d, const char *name)
{
	const char *best = NULL;
	size_t n = strlen(name), bestd = n / 3 + 1; /* only close names */
	for (unsigned i = 0; i < d->n_fields; i++) {
		size_t dist = pb_edit_distance(name, d->fields[i].name);
		if (dist <= bestd && (!best || dist < bestd)) {
			best = d->fields[i].name;
			bestd = dist;
		}
	}
	if (best || n < 3)
		return best;
	/* "cwd" for cwd_id: the start of a name */
	for (unsigned i = 0; i < d->n_fields; i++)
		if (strncmp(d->fields[i].name, name, n) == 0)
			return d->fields[i].name;
	return NULL;
}

/* The first unknown field of m (or of a message inside) whose number is out
 * of range: -1, and e names it when path is given. */
static int pb_bad_numbers(const ProtobufCMessage *m, const char *path, struct err *e)
{
	for (unsigned i = 0; i < m->n_unknown_fields; i++)
		if (m->unknown_fields[i].tag == 0 || m->unknown_fields[i].tag > 0x1fffffffu)
			return path ? err_set(e, "%s: field number %u is out of range (1 to 536870911)", path,
					      m->unknown_fields[i].tag)
				    : -1;
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	char sub[512];
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		const void *v = base + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)v;
			for (size_t k = 0; k < n; k++) {
				if (path)
					snprintf(sub, sizeof sub, "%s.%s[%zu]", path, f->name, k);
				if (arr[k] && pb_bad_numbers(arr[k], path ? sub : NULL, e) < 0)
					return -1;
			}
		} else if (*(ProtobufCMessage *const *)v) {
			if (path)
				snprintf(sub, sizeof sub, "%s.%s", path, f->name);
			if (pb_bad_numbers(*(ProtobufCMessage *const *)v, path ? sub : NULL, e) < 0)
				return -1;
		}
	}
	return 0;
}

/* protobuf-c reads a 5-byte key into 32 bits without checking the field
 * number's range (1 to 2^29 - 1) and would write such an unknown field back
 * with its number cut short: the image would not come back as it was. The
 * walk makes no paths (path NULL) unless it finds one, then names it. */
int pb_check_unknown_numbers(const ProtobufCMessage *m, const char *path, struct err *e)
{
	if (pb_bad_numbers(m, NULL, e) == 0)
		return 0;
	return pb_bad_numbers(m, path, e);
}

/* ---- nesting depth: protobuf-c unpacks nested messages recursively, so a
 * recursive type (aa_namespace) could nest deep enough to overflow the stack ---- */

static int pb_on_cycle(const ProtobufCMessageDescriptor *d, const ProtobufCMessageDescriptor **stack,
		    unsigned depth)
{
	for (unsigned i = 0; i < depth; i++)
		if (stack[i] == d)
			return 1;
	if (depth >= 64)
		return 1; /* deeper than any acyclic schema: treat as recursive */
	stack[depth] = d;
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE &&
		    pb_on_cycle(d->fields[i].descriptor, stack, depth + 1))
			return 1;
	return 0;
}

int pb_is_recursive(const ProtobufCMessageDescriptor *d)
{
	/* per thread: libcrit's callers may decode in several at once */
	static _Thread_local struct {
		const ProtobufCMessageDescriptor *d;
		int rec;
	} cache[512];
	static _Thread_local unsigned n;
	for (unsigned i = 0; i < n; i++)
		if (cache[i].d == d)
			return cache[i].rec;
	const ProtobufCMessageDescriptor *stack[64];
	int rec = pb_on_cycle(d, stack, 0);
	if (n < sizeof cache / sizeof cache[0]) {
		cache[n].d = d;
		cache[n++].rec = rec;
	}
	return rec;
}

int pb_check_depth(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
		   unsigned limit, struct err *e)
{
	if (limit == 0)
		return err_set(e, "messages nest more than %d deep", PB_MAX_DEPTH);
	const uint8_t *end = p + len;
	while (p < end) {
		struct pbw_frame fr;
		if (pbw_frame(&p, end, &fr) < 0)
			return 0; /* malformed: protobuf-c refuses it, explain says why */
		if (fr.wt != 2)
			continue;
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field(d, (uint32_t)(fr.tag >> 3));
		if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
		    pb_check_depth(f->descriptor, fr.data, (size_t)fr.raw, limit - 1, e) < 0)
			return -1;
	}
	return 0;
}

/* Returns 1 and fills e when it finds the fault, else 0. `at` is the offset of
 * data within the outermost message, for the report. */
static int pb_explain(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, size_t at,
		   const char *path, struct err *e)
{
	if (strlen(path) > 200)
		return 0; /* nested too deep to name: the depth check reports it */
	unsigned char seen[1024] = { 0 }; /* required-field presence by field index (first 1024) */
	const uint8_t *q = p, *end = p + len;
	char sub[256];
	while (q < end) {
		size_t start = (size_t)(q - p);
		struct pbw_frame fr;
		int rc = pbw_frame(&q, end, &fr);
		if (rc == PBW_TAG_CUT || rc == PBW_TAG_LONG)
			return err_set(e, "at byte %zu%s%s: %s", at + start, *path ? " in " : "", path,
				       rc == PBW_TAG_CUT ? "the data ends inside a field tag"
							 : "a field tag is over 5 bytes"),
			       1;
		uint32_t num = (uint32_t)(fr.tag >> 3);
		int wt = (int)fr.wt;
		if (num == 0)
			return err_set(e, "at byte %zu%s%s: field number 0 is invalid", at + start,
				       *path ? " in " : "", path),
			       1;
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, num);
		snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", f ? f->name : "");
		if (f && f->label != PROTOBUF_C_LABEL_REPEATED && wt != (int)schema_wire_type(f->type))
			return err_set(e, "at byte %zu: field '%s' (%u) is %s but has wire type %d",
				       at + start, sub, num,
				       f->type == PROTOBUF_C_TYPE_MESSAGE ? "a message" : "a scalar", wt),
			       1;
		size_t vstart = (size_t)(fr.val - p);
		if (rc == PBW_LEN_PAST || (wt == 2 && (rc == PBW_VARINT_CUT || rc == PBW_VARINT_LONG)))
			return err_set(e, "at byte %zu: field %u%s%s: length %s runs past the end "
					  "of the message (%zu bytes left)",
				       at + vstart, num, f ? " " : "", f ? sub : "",
				       rc != PBW_LEN_PAST ? "(truncated)" : "", (size_t)(end - q)),
			       1;
		switch (rc) {
		case PBW_VARINT_CUT:
		case PBW_VARINT_LONG:
			return err_set(e, "at byte %zu: field %u%s%s: %s", at + vstart, num, f ? " " : "",
				       f ? sub : "",
				       rc == PBW_VARINT_CUT ? "the data ends inside a varint"
							    : "a varint is over 10 bytes"),
			       1;
		case PBW_FIXED_CUT:
			return err_set(e, "at byte %zu: field %u: the data ends inside a %d-byte value",
				       at + vstart, num, wt == 1 ? 8 : 4),
			       1;
		case PBW_WIRE_TYPE:
			return err_set(e, "at byte %zu: field %u has wire type %d, which CRIU never writes",
				       at + start, num, wt),
			       1;
		default:
			break;
		}
		if (wt == 2 && f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
		    pb_explain(f->descriptor, fr.data, (size_t)fr.raw, at + (size_t)(fr.data - p), sub, e))
			return 1;
		if (f) {
			size_t idx = (size_t)(f - d->fields);
			if (idx < sizeof seen)
				seen[idx] = 1;
		}
	}
	for (unsigned i = 0; i < d->n_fields && i < sizeof seen; i++)
		if (d->fields[i].label == PROTOBUF_C_LABEL_REQUIRED && !seen[i])
			return err_set(e, "required field '%s%s%s' is missing", path, *path ? "." : "",
				       d->fields[i].name),
			       1;
	return 0;
}

void pb_explain_unpack_failure(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
			       size_t len, struct err *e)
{
	if (!pb_explain(desc, data, len, 0, "", e))
		err_set(e, "protobuf-c refused it");
}

/* ---- unpacking, telling out-of-memory from bad bytes ---- */

struct pb_watch {
	ProtobufCAllocator *inner; /* NULL: malloc */
	int failed;
};

static void *pb_watch_alloc(void *data, size_t size)
{
	struct pb_watch *w = data;
	void *p = w->inner ? w->inner->alloc(w->inner->allocator_data, size) : malloc(size);
	if (!p)
		w->failed = 1;
	return p;
}

static void pb_watch_free(void *data, void *p)
{
	struct pb_watch *w = data;
	if (w->inner)
		w->inner->free(w->inner->allocator_data, p);
	else
		free(p);
}

ProtobufCMessage *pb_unpack(const ProtobufCMessageDescriptor *d, ProtobufCAllocator *alloc, size_t len,
			    const uint8_t *data, int *oom)
{
	struct pb_watch w = { alloc, 0 };
	ProtobufCAllocator a = { pb_watch_alloc, pb_watch_free, &w };
	ProtobufCMessage *m = protobuf_c_message_unpack(d, &a, len, data);
	*oom = !m && w.failed;
	return m;
}
