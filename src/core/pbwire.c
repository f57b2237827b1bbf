/* pbwire.c: reading a message's fields off the wire. See pbwire.h. */
#include <string.h>

#include "pbwire.h"

int pbw_varint_long(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	unsigned shift = 0;
	if (end - p >= 10) { /* room for the longest: no bound to check per byte */
		for (; shift < 64; shift += 7) {
			uint8_t b = *p++;
			v |= (uint64_t)(b & 0x7f) << shift;
			if (b < 0x80)
				goto done;
		}
		return -1;
	}
	for (; shift < 64 && p < end; shift += 7) {
		uint8_t b = *p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (b < 0x80)
			goto done;
	}
	return -1;
done:
	*pp = p;
	*out = v;
	return 0;
}

uint64_t pbw_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned k = 0; k < n; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
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
	w->end = len ? p + len : p; /* an empty message may come as NULL, which takes no offset */
	w->next = 0;
	memset(w->seen, 0, sizeof w->seen);
	return 0;
}

/* The field numbered id: first the one after the last found and the last
 * found again, as fields come in the order of their numbers (and d->fields
 * is sorted by number). */
static const ProtobufCFieldDescriptor *pbw_field_of(struct pbw *w, uint32_t id)
{
	const ProtobufCMessageDescriptor *d = w->d;
	if (w->next < d->n_fields && d->fields[w->next].id == id)
		return &d->fields[w->next];
	if (w->next > 0 && d->fields[w->next - 1].id == id) /* a repeated field's next value */
		return &d->fields[w->next - 1];
	return protobuf_c_message_descriptor_get_field(d, id);
}

/* Where a varint that pbw_varint refused at p stopped: one of 10 bytes or
 * more is too long (each byte said more follows), a shorter one is cut. */
static int pbw_varint_fault(const uint8_t **pp, const uint8_t *end, int cut, int too_long)
{
	if (end - *pp >= 10) {
		*pp += 10;
		return too_long;
	}
	*pp = end;
	return cut;
}

/* pbw_frame, inlined into the walk: pbw_next is the views' inner loop. */
static inline __attribute__((always_inline)) int pbw_frame_inline(const uint8_t **pp, const uint8_t *end,
								  struct pbw_frame *fr)
{
	const uint8_t *p = *pp;
	if (pbw_varint(&p, end, &fr->tag) < 0) {
		*pp = p;
		return pbw_varint_fault(pp, end, PBW_TAG_CUT, PBW_TAG_LONG);
	}
	if (p - *pp > 5) { /* protobuf-c reads a tag of at most 5 bytes */
		*pp = p;
		return PBW_TAG_LONG;
	}
	fr->wt = (unsigned)(fr->tag & 7);
	fr->val = p;
	fr->data = NULL;
	switch (fr->wt) {
	case 0:
	case 2:
		if (pbw_varint(&p, end, &fr->raw) < 0) {
			*pp = p;
			return pbw_varint_fault(pp, end, PBW_VARINT_CUT, PBW_VARINT_LONG);
		}
		if (fr->wt == 2) {
			if (fr->raw > (uint64_t)(end - p)) {
				*pp = p;
				return PBW_LEN_PAST;
			}
			fr->data = p;
			p += fr->raw;
		}
		break;
	case 1:
	case 5: {
		unsigned width = fr->wt == 1 ? 8 : 4;
		if ((size_t)(end - p) < width) {
			*pp = p;
			return PBW_FIXED_CUT;
		}
		fr->raw = pbw_le(p, width);
		p += width;
		break;
	}
	default:
		*pp = p;
		return PBW_WIRE_TYPE;
	}
	*pp = p;
	return 1;
}

int pbw_frame(const uint8_t **pp, const uint8_t *end, struct pbw_frame *fr)
{
	return pbw_frame_inline(pp, end, fr);
}

int pbw_next(struct pbw *w, struct pbw_field *fl)
{
	const uint8_t *p = w->p, *end = w->end;
	while (p < end) {
		const uint8_t *at = p;
		struct pbw_frame fr;
		if (pbw_frame_inline(&p, end, &fr) < 0 || (fr.tag >> 3) == 0 || (fr.tag >> 3) > 0x1fffffff)
			return -1;
		const ProtobufCFieldDescriptor *f = pbw_field_of(w, (uint32_t)(fr.tag >> 3));
		if (!f)
			continue; /* unknown to the schema: protobuf-c keeps these aside */
		unsigned i = (unsigned)(f - w->d->fields);
		uint64_t bit = (uint64_t)1 << (i % 64);
		fl->f = f;
		fl->at = at;
		fl->i = i;
		fl->again = (w->seen[i / 64] & bit) != 0;
		fl->wt = fr.wt;
		fl->raw = fr.raw;
		fl->v = fr.data;
		fl->n = fr.data ? (size_t)fr.raw : 0;
		w->seen[i / 64] |= bit;
		w->next = i + 1;
		w->p = p;
		return 1;
	}
	w->p = p;
	const ProtobufCMessageDescriptor *d = w->d;
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].label == PROTOBUF_C_LABEL_REQUIRED && !(w->seen[i / 64] >> (i % 64) & 1))
			return -1;
	return 0;
}

int pbw_flat_init(struct pbw_flat *t, const ProtobufCMessageDescriptor *d)
{
	if (d->n_fields > 64)
		return -1;
	memset(t, 0, sizeof *t);
	t->d = d;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->label == PROTOBUF_C_LABEL_REQUIRED)
			t->required |= (uint64_t)1 << i;
		if (f->id < 16 && f->label != PROTOBUF_C_LABEL_REPEATED && schema_wire_type(f->type) == 0)
			t->slot[f->id << 3] = (uint8_t)(i + 1);
	}
	return 0;
}

int pbw_flat_read(const struct pbw_flat *t, const uint8_t *p, size_t len, uint64_t *raw, uint64_t *seen)
{
	const uint8_t *end = len ? p + len : p; /* p may be NULL when len is 0 */
	uint64_t got = 0;
	while (p < end) {
		unsigned s = *p < 0x80 ? t->slot[*p] : 0;
		if (!s)
			return -1;
		p++;
		if (pbw_varint(&p, end, &raw[s - 1]) < 0)
			return -1;
		got |= (uint64_t)1 << (s - 1);
	}
	if ((got & t->required) != t->required)
		return -1;
	*seen = got;
	return 0;
}
