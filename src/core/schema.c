/* schema.c: look-ups over the generated schema tables. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

/* Per message descriptor, an array of option pointers indexed like d->fields.
 * An open-addressing table keyed by descriptor pointer; built on first use. */
struct opt_slot {
	const ProtobufCMessageDescriptor *desc;
	const struct field_opts **by_field;
};

static struct opt_slot *slots;
static size_t nslots; /* power of two */

static size_t hash_ptr(const void *p)
{
	uintptr_t v = (uintptr_t)p;
	v ^= v >> 17;
	v *= 0x9E3779B97F4A7C15u;
	return (size_t)(v >> 16);
}

static struct opt_slot *slot_for(const ProtobufCMessageDescriptor *d, int create)
{
	for (size_t i = hash_ptr(d) & (nslots - 1);; i = (i + 1) & (nslots - 1)) {
		if (slots[i].desc == d)
			return &slots[i];
		if (!slots[i].desc) {
			if (!create)
				return NULL;
			slots[i].desc = d;
			return &slots[i];
		}
	}
}

static void build_index(void)
{
	size_t rows = 0;
	while (schema_opt_rows[rows].message)
		rows++;
	for (nslots = 16; nslots < rows * 2; nslots *= 2)
		;
	slots = calloc(nslots, sizeof *slots);
	if (!slots)
		abort();
	for (size_t r = 0; r < rows; r++) {
		const ProtobufCMessageDescriptor *d = schema_message(schema_opt_rows[r].message);
		if (!d)
			continue;
		const ProtobufCFieldDescriptor *fd =
			protobuf_c_message_descriptor_get_field(d, (unsigned)schema_opt_rows[r].number);
		if (!fd)
			continue;
		struct opt_slot *s = slot_for(d, 1);
		if (!s->by_field) {
			s->by_field = calloc(d->n_fields, sizeof *s->by_field);
			if (!s->by_field)
				abort();
		}
		s->by_field[fd - d->fields] = &schema_opt_rows[r].opts;
	}
}

const struct field_opts *schema_field_opts(const ProtobufCMessageDescriptor *d, unsigned index)
{
	if (!slots)
		build_index();
	const struct opt_slot *s = slot_for(d, 0);
	return s && index < d->n_fields ? s->by_field[index] : NULL;
}

const ProtobufCMessageDescriptor *schema_message(const char *name)
{
	for (size_t i = 0; schema_messages[i]; i++)
		if (strcmp(schema_messages[i]->name, name) == 0)
			return schema_messages[i];
	return NULL;
}
