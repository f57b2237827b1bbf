/* fuzz_wire.c: libFuzzer target for the wire reader of the views and of the
 * C text views (src/core/pbwire.c).
 *
 * The first byte picks a message type of those the views read; the rest is
 * one message of it. Two properties are checked:
 *   - the flat read (pbw_flat_read) takes only what the field walk
 *     (pbw_next) takes, and gives the same value for every field;
 *   - what the walk takes, every field in its wire type (as the C views
 *     take them) and every packed run of values whole (the walk frames
 *     those, as it frames messages inside, without reading them), protobuf-c
 *     unpacks too, with the same value for every
 *     singular scalar field the walk found: the views print the same
 *     whichever reader read the image. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.pb-c.h"
#include "fdinfo.pb-c.h"
#include "fs.pb-c.h"
#include "mm.pb-c.h"
#include "pipe.pb-c.h"
#include "pstree.pb-c.h"
#include "regfile.pb-c.h"
#include "sk-unix.pb-c.h"
#include "vma.pb-c.h"
#include "pbwire.h"

static const ProtobufCMessageDescriptor *const kinds[] = {
	&vma_entry__descriptor,	     &mm_entry__descriptor,   &fdinfo_entry__descriptor,
	&file_entry__descriptor,     &fs_entry__descriptor,   &task_kobj_ids_entry__descriptor,
	&reg_file_entry__descriptor, &pipe_entry__descriptor, &unix_sk_entry__descriptor,
	&pstree_entry__descriptor,
};

static void fail(const ProtobufCMessageDescriptor *d, const char *what, const char *field)
{
	fprintf(stderr, "fuzz_wire: %s: %s%s%s\n", d->name, what, field ? ": " : "", field ? field : "");
	abort();
}

/* A singular scalar field of an unpacked message, as 64 bits the way
 * pbw_int gives it. */
static int64_t unpacked_int(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *p = (const char *)m + f->offset;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM: {
		int32_t v;
		memcpy(&v, p, sizeof v);
		return v;
	}
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: {
		uint32_t v;
		memcpy(&v, p, sizeof v);
		return v;
	}
	case PROTOBUF_C_TYPE_BOOL: {
		protobuf_c_boolean v;
		memcpy(&v, p, sizeof v);
		return v != 0;
	}
	default: {
		int64_t v;
		memcpy(&v, p, sizeof v);
		return v;
	}
	}
}

/* Whether the packed values of fl are whole values of its type. */
static int packed_ok(const struct pbw_field *fl)
{
	const uint8_t *p = fl->v, *end = fl->v + fl->n;
	unsigned wt = schema_wire_type(fl->f->type);
	if (wt != 0)
		return fl->n % (wt == 5 ? 4 : 8) == 0;
	for (uint64_t v; p < end;)
		if (pbw_varint(&p, end, &v) < 0)
			return 0;
	return 1;
}

static int is_int(ProtobufCType t)
{
	return t != PROTOBUF_C_TYPE_FLOAT && t != PROTOBUF_C_TYPE_DOUBLE && t != PROTOBUF_C_TYPE_STRING &&
	       t != PROTOBUF_C_TYPE_BYTES && t != PROTOBUF_C_TYPE_MESSAGE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const ProtobufCMessageDescriptor *d = kinds[data[0] % (sizeof kinds / sizeof *kinds)];
	const uint8_t *m = data + 1;
	size_t n = size - 1;

	/* The walk, every field in its wire type: the last value of each field. */
	struct pbw w;
	struct pbw_field fl;
	uint64_t last[256];
	unsigned char got[256] = { 0 };
	int walked, typed = 1, merged = 0, unframed = 0;
	if (pbw_start(&w, d, m, n) < 0)
		return 0;
	while ((walked = pbw_next(&w, &fl)) > 0) {
		int t = pbw_typed(&fl);
		if (!t)
			typed = 0;
		if (t == 2 && !packed_ok(&fl))
			unframed = 1; /* the walk frames packed values, it does not read them */
		if (fl.again && fl.f->type == PROTOBUF_C_TYPE_MESSAGE && fl.f->label != PROTOBUF_C_LABEL_REPEATED)
			merged = 1;
		if (fl.wt != 2) {
			last[fl.i] = fl.raw;
			got[fl.i] = 1;
		}
	}

	struct pbw_flat flat;
	uint64_t raw[64], seen;
	if (pbw_flat_init(&flat, d) == 0 && pbw_flat_read(&flat, m, n, raw, &seen) == 0) {
		if (walked < 0 || !typed)
			fail(d, "the flat read takes what the walk does not", NULL);
		for (unsigned i = 0; i < d->n_fields; i++) {
			if (!(seen >> i & 1) != !got[i])
				fail(d, "the flat read and the walk see different fields", d->fields[i].name);
			if (got[i] && raw[i] != last[i])
				fail(d, "the flat read and the walk read different values", d->fields[i].name);
		}
	}

	if (walked < 0 || !typed || merged || unframed)
		return 0;
	ProtobufCMessage *msg = protobuf_c_message_unpack(d, NULL, n, m);
	if (!msg) {
		/* protobuf-c also checks the messages inside, which the walk frames only */
		for (unsigned i = 0; i < d->n_fields; i++)
			if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
				return 0;
		fail(d, "the walk takes a message protobuf-c does not unpack", NULL);
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!got[i] || f->label == PROTOBUF_C_LABEL_REPEATED || !is_int(f->type))
			continue;
		if (pbw_int(f, last[i]) != unpacked_int(msg, f))
			fail(d, "the walk and protobuf-c read different values", f->name);
	}
	protobuf_c_message_free_unpacked(msg, NULL);
	return 0;
}
