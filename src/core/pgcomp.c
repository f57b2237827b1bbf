/* pgcomp.c: telling the compressed memory pages of CRIU's development branch
 * apart from other fields a newer CRIU writes, so that the refusal says what
 * it saw. critlua does not read compressed pages: their layout changed several
 * times in 2026 (docs/MEMORY.md, "Compressed pages: not read yet"). */
#include <string.h>

#include "pbwire.h"
#include "pgcomp.h"

/* Both the pagemap and the inventory refusals end with this: why, where the
 * reason is written up, and the way out. */
#define PGCOMP_WHY                                                                                  \
	"; critlua does not read compressed pages yet, their format is still changing "                \
	"(docs/MEMORY.md, \"Compressed pages\"): decompress the checkpoint first with `crit "     \
	"decompress`, from the CRIU that wrote it"

static const char *wire_name(ProtobufCWireType t)
{
	switch (t) {
	case PROTOBUF_C_WIRE_TYPE_VARINT: return "varint";
	case PROTOBUF_C_WIRE_TYPE_64BIT: return "64-bit";
	case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED: return "length-delimited";
	case PROTOBUF_C_WIRE_TYPE_32BIT: return "32-bit";
	default: return "group";
	}
}

/* The value of a varint unknown field; 0 with *ok unset when it is not one
 * or is cut (the one wire reader decides). */
static uint64_t varint_of(const ProtobufCMessageUnknownField *u, int *ok)
{
	const uint8_t *p = u->data;
	uint64_t v = 0;
	*ok = u->wire_type == PROTOBUF_C_WIRE_TYPE_VARINT && pbw_varint(&p, u->data + u->len, &v) == 0;
	return *ok ? v : 0;
}

/* The fields criu-dev added for compressed pages, by message: the inventory's
 * `compress` (15) and its region or block size (16); the pagemap entry's
 * block sizes, total and block length (6, 7, 8 as flat fields in the first
 * version; 6 alone as a nested `regions` or `blocks` message since). */
static int is_compression_field(const char *msg, uint32_t tag)
{
	if (strcmp(msg, "inventory_entry") == 0)
		return tag == 15 || tag == 16;
	if (strcmp(msg, "pagemap_entry") == 0)
		return tag >= 6 && tag <= 8;
	return 0;
}

int pgcomp_refuse_unknown(const ProtobufCMessage *m, const char *file, size_t entry, struct err *e)
{
	if (!m->n_unknown_fields)
		return 0;
	const char *msg = m->descriptor->name;
	for (unsigned i = 0; i < m->n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *u = &m->unknown_fields[i];
		if (!is_compression_field(msg, u->tag))
			continue;
		int ok;
		uint64_t v = varint_of(u, &ok);
		if (strcmp(msg, "inventory_entry") == 0 && u->tag == 15 && ok && v)
			return err_set(e, "%s: entry %zu: field %u = %llu, unknown to CRIU 4.2's schema, is CRIU's "
					  "development-branch `compress`: the memory pages are compressed with LZ4"
					  PGCOMP_WHY,
				       file, entry, u->tag, (unsigned long long)v);
		if (strcmp(msg, "inventory_entry") == 0 && u->tag == 15 && ok)
			return err_set(e, "%s: entry %zu: field %u = 0, unknown to CRIU 4.2's schema, is CRIU's "
					  "development-branch `compress` (pages not compressed): written by a newer "
					  "CRIU; refusing to read memory rather than misread it",
				       file, entry, u->tag);
		return err_set(e, "%s: entry %zu: field %u (%s, %zu byte(s)), unknown to CRIU 4.2's schema, is %s "
				  "of CRIU's development branch" PGCOMP_WHY,
			       file, entry, u->tag, wire_name(u->wire_type), u->len,
			       strcmp(msg, "inventory_entry") == 0 ? "the compressed pages' block size"
								   : "the compressed-pages metadata");
	}
	const ProtobufCMessageUnknownField *u = &m->unknown_fields[0];
	return err_set(e, "%s: entry %zu has %u field(s) unknown to CRIU 4.2's schema (field %u, %s): written "
			  "by a newer CRIU; refusing to read memory rather than misread it",
		       file, entry, m->n_unknown_fields, u->tag, wire_name(u->wire_type));
}

int pgcomp_refuse_flags(uint32_t flags, const char *file, size_t entry, struct err *e)
{
	const uint32_t known = 1u | 2u | 4u; /* PE_PARENT, PE_LAZY, PE_PRESENT */
	if (!(flags & ~known))
		return 0;
	if (flags & PGCOMP_PE_PAYLOAD_ALIGNED)
		return err_set(e, "%s: entry %zu: flags 0x%x have bits unknown to CRIU 4.2: PE_PAYLOAD_ALIGNED "
				  "(0x8), which CRIU's development branch sets on compressed pages" PGCOMP_WHY,
			       file, entry, flags);
	return err_set(e, "%s: entry %zu: flags 0x%x have bits unknown to CRIU 4.2's PE_PARENT, PE_LAZY and "
			  "PE_PRESENT (written by a newer CRIU); refusing to read memory rather than misread it",
		       file, entry, flags);
}
