/* pbwire.h: the one reader of the protobuf wire format: varints, fixed
 * values, length-delimited framing, and walks over a message's fields.
 *
 * Two levels. pbw_frame reads one field as it is on the wire, schema aside,
 * and names the fault, and where, when the field is not whole: show --raw
 * (rawdump.c), the explanations of protobuf-c's "failed" (pbcheck.c) and the
 * readers of kept unknown fields print from it. pbw_next walks a message of a
 * known type, finding each field in the descriptor, for the readers that want
 * a few fields of many messages (the views' selective reader in pb2lua.c);
 * the reader decides what to check of the fields it takes (pbw_typed).
 * Whatever the walk cannot be sure of is an error (-1), on which the reader
 * leaves the message to protobuf-c, whose errors are the ones reported.
 *
 * Prefix pbw_ (pbwire, short: the walk is called in tight loops, and its
 * names stand in many lines of the readers). */
#ifndef CRITLUA_PBWIRE_H
#define CRITLUA_PBWIRE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "schema.h"

struct pbw {
	const ProtobufCMessageDescriptor *d;
	const uint8_t *p, *end;
	unsigned next; /* the field index after the last one found: fields come in order */
	uint64_t seen[4]; /* by field index: to check the required ones at the end */
};

/* One field of the message, as it is on the wire. */
struct pbw_field {
	const ProtobufCFieldDescriptor *f;
	const uint8_t *at; /* where the field starts (its key): the bytes before it
			    * since the last field returned are fields the schema
			    * does not know */
	unsigned i; /* f's index in d->fields */
	int again; /* the field came before in this message */
	unsigned wt; /* wire type: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 */
	uint64_t raw; /* wire types 0, 1 and 5: the value as read */
	const uint8_t *v; /* wire type 2: the bytes */
	size_t n;
};

/* Start a walk over the message of type d in p[0..len). -1: d has more
 * fields than the walk keeps track of. */
int pbw_start(struct pbw *w, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len);

/* The next field the schema knows (fields it does not know are passed over).
 * 1: *fl is the field; 0: the message is done and every required field was
 * there; -1: malformed, or a required field missing. */
int pbw_next(struct pbw *w, struct pbw_field *fl);

/* Whether fl comes in the wire type of its field: 1 as one value, 2 as
 * packed values of a repeated scalar, 0 not (an error to the reader). */
static inline int pbw_typed(const struct pbw_field *fl)
{
	if (fl->wt == schema_wire_type(fl->f->type))
		return 1;
	return fl->wt == 2 && fl->f->label == PROTOBUF_C_LABEL_REPEATED ? 2 : 0;
}

int pbw_varint_long(const uint8_t **pp, const uint8_t *end, uint64_t *out);

/* A varint at *pp (before end), advancing *pp; -1 when it is cut or too long.
 * Inline for the one-byte ones: tags, and most values. */
static inline int pbw_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	if (*pp < end && **pp < 0x80) {
		*out = *(*pp)++;
		return 0;
	}
	return pbw_varint_long(pp, end, out);
}

/* n (at most 8) bytes at p, little-endian. */
uint64_t pbw_le(const uint8_t *p, unsigned n);

/* One field as framed on the wire. */
struct pbw_frame {
	uint64_t tag;        /* as read: field number << 3 | wire type (the number unchecked) */
	unsigned wt;         /* wire type */
	uint64_t raw;        /* wire types 0, 1 and 5: the value; 2: the length */
	const uint8_t *val;  /* where the value starts (wire type 2: its length) */
	const uint8_t *data; /* wire type 2: the bytes (raw of them) */
};

/* What pbw_frame found wrong. A tag fault leaves nothing of fr set; the
 * others come after the tag, which fr has (tag, wt, val). */
enum pbw_fault {
	PBW_TAG_CUT = -1,    /* the data ends inside the tag */
	PBW_TAG_LONG = -2,   /* the tag is over 5 bytes */
	PBW_VARINT_CUT = -3, /* the data ends inside a varint: the value, or the length of wire type 2 */
	PBW_VARINT_LONG = -4, /* that varint is over 10 bytes */
	PBW_FIXED_CUT = -5,  /* the data ends inside a fixed32 or fixed64 value */
	PBW_LEN_PAST = -6,   /* the length runs past the end */
	PBW_WIRE_TYPE = -7,  /* wire type 3, 4, 6 or 7: groups and unused ones, not in CRIU's proto2 */
};

/* The field at *pp (before end) into *fr. 1, *pp past it; or a pbw_fault,
 * *pp where the reading stopped (the end, for data that ends inside a varint;
 * 10 bytes into a varint over 10 bytes; after the length that runs past). */
int pbw_frame(const uint8_t **pp, const uint8_t *end, struct pbw_frame *fr);

/* A varint or fixed scalar as protobuf-c stores it in 64 bits: 32-bit types
 * keep their low 32 bits (signed ones sign-extended), sint types are
 * unzigzagged, bool is 0 or 1. */
int64_t pbw_int(const ProtobufCFieldDescriptor *f, uint64_t raw);

/* A faster way through messages of small scalar fields, such as the tens
 * of thousands of VMAs of a checkpoint: a table from the one-byte tag of
 * each varint field numbered below 16 to the field. pbw_flat_read takes the
 * message in one pass when every field in it is such a field, and gives up
 * (-1) on anything else, for the caller to walk it with pbw_next: what it
 * accepts, pbw_next accepts with the same values. */
struct pbw_flat {
	const ProtobufCMessageDescriptor *d;
	uint8_t slot[128]; /* tag byte -> field index + 1, or 0 */
	uint64_t required; /* by field index */
};

/* -1 when d has more than 64 fields. */
int pbw_flat_init(struct pbw_flat *t, const ProtobufCMessageDescriptor *d);

/* The message in p[0..len): raw[i] the value of field i (the last one given),
 * *seen the fields present, by index. 0, or -1: walk it with pbw_next. */
int pbw_flat_read(const struct pbw_flat *t, const uint8_t *p, size_t len, uint64_t *raw, uint64_t *seen);

#endif
