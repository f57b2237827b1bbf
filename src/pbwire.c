/* pbwire.c: reading a message's fields off the wire. See pbwire.h. */
#include <string.h>

#include "pbwire.h"

int pbw_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64 && p < end; shift += 7) {
		uint8_t b = *p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*pp = p;
			*out = v;
			return 0;
		}
	}
	return -1;
}

uint64_t pbw_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned k = 0; k < n; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
}

unsigned pbw_wire_type(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return 5;
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 1;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return 2;
	default:
		return 0;
	}
}

int64_t pbw_int(const ProtobufCFieldDescriptor *f, uint64_t raw)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return (int32_t)(uint32_t)raw;
	case PROTOBUF_C_TYPE_SINT32: {
		uint32_t u = (uint32_t)raw;
		return (int32_t)(u >> 1) ^ -(int32_t)(u & 1);
	}
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return (uint32_t)raw;
	case PROTOBUF_C_TYPE_SINT64:
		return (int64_t)((raw >> 1) ^ (0 - (raw & 1)));
	case PROTOBUF_C_TYPE_BOOL:
		return raw != 0;
	default:
		return (int64_t)raw;
	}
}

int pbw_start(struct pbw *w, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len)
{
	if (d->n_fields > 64 * sizeof w->seen / sizeof w->seen[0])
		return -1;
	w->d = d;
	w->p = p;
	w->end = p + len;
	w->next = 0;
	memset(w->seen, 0, sizeof w->seen);
	return 0;
}

/* The field numbered id: first the one after the last found, as fields come
 * in the order of their numbers and d->fields is sorted by number. */
static const ProtobufCFieldDescriptor *pbw_field_of(struct pbw *w, uint32_t id)
{
	const ProtobufCMessageDescriptor *d = w->d;
	if (w->next < d->n_fields && d->fields[w->next].id == id)
		return &d->fields[w->next];
	return protobuf_c_message_descriptor_get_field(d, id);
}

int pbw_next(struct pbw *w, struct pbw_field *fl)
{
	while (w->p < w->end) {
		uint64_t tag;
		if (pbw_varint(&w->p, w->end, &tag) < 0 || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
			return -1;
		fl->wt = (unsigned)(tag & 7);
		fl->raw = 0;
		fl->v = NULL;
		fl->n = 0;
		switch (fl->wt) {
		case 0:
			if (pbw_varint(&w->p, w->end, &fl->raw) < 0)
				return -1;
			break;
		case 1:
		case 5: {
			unsigned width = fl->wt == 1 ? 8 : 4;
			if ((size_t)(w->end - w->p) < width)
				return -1;
			fl->raw = pbw_le(w->p, width);
			w->p += width;
			break;
		}
		case 2:
			if (pbw_varint(&w->p, w->end, &fl->raw) < 0 || fl->raw > (uint64_t)(w->end - w->p))
				return -1;
			fl->v = w->p;
			fl->n = (size_t)fl->raw;
			w->p += fl->n;
			break;
		default: /* groups: not in the proto2 schemas of CRIU */
			return -1;
		}
		const ProtobufCFieldDescriptor *f = pbw_field_of(w, (uint32_t)(tag >> 3));
		if (!f)
			continue; /* unknown to the schema: protobuf-c keeps these aside */
		fl->f = f;
		fl->i = (unsigned)(f - w->d->fields);
		w->next = fl->i + 1;
		w->seen[fl->i / 64] |= (uint64_t)1 << (fl->i % 64);
		return 1;
	}
	const ProtobufCMessageDescriptor *d = w->d;
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].label == PROTOBUF_C_LABEL_REQUIRED && !(w->seen[i / 64] >> (i % 64) & 1))
			return -1;
	return 0;
}

int pbw_typed(const struct pbw_field *fl)
{
	unsigned want = pbw_wire_type(fl->f->type);
	if (fl->wt == want)
		return 1;
	return fl->wt == 2 && fl->f->label == PROTOBUF_C_LABEL_REPEATED ? 2 : 0;
}
