/* test_wire.c: the one wire reader (src/core/pbwire.c) and the schema facts
 * every walk shares (src/core/schema.h): what pbw_frame reads, which fault it
 * names and where it stops; that the field walk refuses every fault; the
 * element size and wire type of each protobuf-c field type; and that every
 * (criu) flags and dict option of the schema finds its name map. */
#include <stdint.h>
#include <string.h>

#include "../c/check.h"
#include "pbwire.h"
#include "schema.h"

struct frame_case {
	const char *what;
	const char *bytes;
	size_t len;
	int rc;       /* 1 or a pbw_fault */
	size_t stop;  /* where *pp is after the call */
	unsigned wt;  /* when the tag was read */
	uint64_t raw; /* when rc is 1 */
};

#define B(s) s, sizeof s - 1

static const struct frame_case frame_cases[] = {
	{ "varint", B("\x08\x96\x01"), 1, 3, 0, 150 },
	{ "varint of 10 bytes", B("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), 1, 11, 0, UINT64_MAX },
	{ "fixed64", B("\x09\x01\x02\x03\x04\x05\x06\x07\x08"), 1, 9, 1, 0x0807060504030201 },
	{ "fixed32", B("\x0d\x78\x56\x34\x12"), 1, 5, 5, 0x12345678 },
	{ "bytes", B("\x0a\x02hi"), 1, 4, 2, 2 },
	{ "empty bytes", B("\x0a\x00"), 1, 2, 2, 0 },
	{ "two-byte tag", B("\x80\x01\x05"), 1, 3, 0, 5 },
	{ "nothing", B(""), PBW_TAG_CUT, 0, 0, 0 },
	{ "tag cut", B("\x80"), PBW_TAG_CUT, 1, 0, 0 },
	{ "tag of 11 bytes", B("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), PBW_TAG_LONG, 10, 0, 0 },
	{ "varint missing", B("\x08"), PBW_VARINT_CUT, 1, 0, 0 },
	{ "varint cut", B("\x08\x80\x80"), PBW_VARINT_CUT, 3, 0, 0 },
	{ "varint of 11 bytes", B("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), PBW_VARINT_LONG, 11, 0, 0 },
	{ "fixed64 cut", B("\x09\x01\x02\x03"), PBW_FIXED_CUT, 1, 1, 0 },
	{ "fixed32 cut", B("\x0d\x01"), PBW_FIXED_CUT, 1, 5, 0 },
	{ "length cut", B("\x0a\x80"), PBW_VARINT_CUT, 2, 2, 0 },
	{ "length past the end", B("\x0a\x05" "ab"), PBW_LEN_PAST, 2, 2, 0 },
	{ "group start", B("\x0b\x00"), PBW_WIRE_TYPE, 1, 3, 0 },
	{ "group end", B("\x0c"), PBW_WIRE_TYPE, 1, 4, 0 },
	{ "wire type 6", B("\x0e"), PBW_WIRE_TYPE, 1, 6, 0 },
	{ "wire type 7", B("\x0f"), PBW_WIRE_TYPE, 1, 7, 0 },
};

static void test_frames(void)
{
	for (size_t i = 0; i < sizeof frame_cases / sizeof frame_cases[0]; i++) {
		const struct frame_case *c = &frame_cases[i];
		const uint8_t *p = (const uint8_t *)c->bytes, *at = p;
		struct pbw_frame fr;
		int rc = pbw_frame(&at, p + c->len, &fr);
		CHECK(rc == c->rc, "%s: pbw_frame gave %d, not %d", c->what, rc, c->rc);
		CHECK((size_t)(at - p) == c->stop, "%s: stopped at %zu, not %zu", c->what, (size_t)(at - p),
		      c->stop);
		if (rc == PBW_TAG_CUT || rc == PBW_TAG_LONG)
			continue;
		CHECK(fr.wt == c->wt, "%s: wire type %u, not %u", c->what, fr.wt, c->wt);
		if (rc == 1)
			CHECK(fr.raw == c->raw, "%s: value %llu, not %llu", c->what, (unsigned long long)fr.raw,
			      (unsigned long long)c->raw);
		if (rc == 1 && fr.wt == 2)
			CHECK(fr.data == fr.val + 1 && fr.data + fr.raw == at, "%s: the bytes are misplaced", c->what);
	}
}

/* The walk of a message of a known type refuses every fault pbw_frame names. */
static void test_walk_refuses_faults(void)
{
	const ProtobufCMessageDescriptor *d = schema_message("fs_entry");
	CHECK(d != NULL, "fs_entry is in the schema");
	if (!d)
		return;
	for (size_t i = 0; i < sizeof frame_cases / sizeof frame_cases[0]; i++) {
		const struct frame_case *c = &frame_cases[i];
		if (c->rc == 1 || c->len == 0)
			continue;
		/* cwd_id and root_id (required) first, so that only the fault can fail it */
		uint8_t m[64] = { 0x08, 0x01, 0x10, 0x02 };
		memcpy(m + 4, c->bytes, c->len);
		struct pbw w;
		struct pbw_field fl;
		int rc;
		CHECK(pbw_start(&w, d, m, 4 + c->len) == 0, "pbw_start");
		while ((rc = pbw_next(&w, &fl)) > 0)
			;
		CHECK(rc == -1, "%s: the walk took it (%d)", c->what, rc);
	}
}

static void test_schema_facts(void)
{
	static const struct {
		ProtobufCType t;
		size_t size;
		unsigned wt;
	} types[] = {
		{ PROTOBUF_C_TYPE_INT32, sizeof(int32_t), 0 },
		{ PROTOBUF_C_TYPE_SINT32, sizeof(int32_t), 0 },
		{ PROTOBUF_C_TYPE_SFIXED32, sizeof(int32_t), 5 },
		{ PROTOBUF_C_TYPE_INT64, sizeof(int64_t), 0 },
		{ PROTOBUF_C_TYPE_SINT64, sizeof(int64_t), 0 },
		{ PROTOBUF_C_TYPE_SFIXED64, sizeof(int64_t), 1 },
		{ PROTOBUF_C_TYPE_UINT32, sizeof(uint32_t), 0 },
		{ PROTOBUF_C_TYPE_FIXED32, sizeof(uint32_t), 5 },
		{ PROTOBUF_C_TYPE_UINT64, sizeof(uint64_t), 0 },
		{ PROTOBUF_C_TYPE_FIXED64, sizeof(uint64_t), 1 },
		{ PROTOBUF_C_TYPE_FLOAT, sizeof(float), 5 },
		{ PROTOBUF_C_TYPE_DOUBLE, sizeof(double), 1 },
		{ PROTOBUF_C_TYPE_BOOL, sizeof(protobuf_c_boolean), 0 },
		{ PROTOBUF_C_TYPE_ENUM, sizeof(int), 0 },
		{ PROTOBUF_C_TYPE_STRING, sizeof(char *), 2 },
		{ PROTOBUF_C_TYPE_BYTES, sizeof(ProtobufCBinaryData), 2 },
		{ PROTOBUF_C_TYPE_MESSAGE, sizeof(ProtobufCMessage *), 2 },
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		CHECK(schema_elem_size(types[i].t) == types[i].size, "type %d: element size %zu, not %zu",
		      (int)types[i].t, schema_elem_size(types[i].t), types[i].size);
		CHECK(schema_wire_type(types[i].t) == types[i].wt, "type %d: wire type %u, not %u",
		      (int)types[i].t, schema_wire_type(types[i].t), types[i].wt);
	}

	/* Every flags and dict option of the schema has its names. */
	for (const struct schema_opt_row *r = schema_opt_rows; r->message; r++) {
		const ProtobufCMessageDescriptor *d = schema_message(r->message);
		const ProtobufCFieldDescriptor *f =
			d ? protobuf_c_message_descriptor_get_field(d, (unsigned)r->number) : NULL;
		CHECK(f != NULL, "option row %s.%d names no field", r->message, r->number);
		if (!f)
			continue;
		if (r->opts.flags)
			CHECK(schema_flag_map(r->opts.flags) != NULL, "%s.%s: flag map %s unknown", r->message,
			      f->name, r->opts.flags);
		if (r->opts.dict)
			CHECK(schema_dict_map(r->opts.dict, f->name) != NULL, "%s.%s: no %s dict for it",
			      r->message, f->name, r->opts.dict);
	}
	const struct schema_name *prot = schema_flag_map("mmap.prot");
	CHECK(prot && strcmp(prot[2].name, "PROT_EXEC") == 0 && prot[2].value == 4 && !prot[3].name,
	      "mmap.prot is PROT_READ, PROT_WRITE, PROT_EXEC");
	const struct schema_name *fam = schema_dict_map("sk", "family");
	CHECK(fam && strcmp(fam[2].name, "INET6") == 0 && fam[2].value == 10, "sk.family has INET6 = 10");
	CHECK(!schema_flag_map("no.such") && !schema_dict_map("sk", "no_such"), "unknown maps are NULL");
}

int main(void)
{
	test_frames();
	test_walk_refuses_faults();
	test_schema_facts();
	return check_report("test_wire");
}
