/* schema.c: look-ups over the generated schema tables, and the (criu) name
 * maps, read by json_out.c (numbers to names) and json_in.c (back). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "util.h"

/* Per message descriptor, an array of option pointers indexed like d->fields.
 * An open-addressing table keyed by descriptor pointer; built on first use. */
struct opt_slot {
	const ProtobufCMessageDescriptor *desc;
	const struct field_opts **by_field;
};

static struct opt_slot *slots;
static size_t nslots; /* power of two */
/* Built once, before any look-up reads it: readers in several threads
 * (libcrit's callers) share it. When memory runs out while it is built,
 * slots stays NULL and look-ups scan schema_opt_rows instead: slower, the
 * same answers, and no error to report. */
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

static size_t schema_hash_ptr(const void *p)
{
	uintptr_t v = (uintptr_t)p;
	v ^= v >> 17;
	v *= 0x9E3779B97F4A7C15u;
	return (size_t)(v >> 16);
}

static struct opt_slot *schema_slot_for(const ProtobufCMessageDescriptor *d, int create)
{
	for (size_t i = schema_hash_ptr(d) & (nslots - 1);; i = (i + 1) & (nslots - 1)) {
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

static void schema_build_index(void)
{
	size_t rows = 0;
	while (schema_opt_rows[rows].message)
		rows++;
	for (nslots = 16; nslots < rows * 2; nslots *= 2)
		;
	struct opt_slot *built = calloc(nslots, sizeof *slots);
	if (!built)
		return;
	slots = built;
	for (size_t r = 0; r < rows; r++) {
		const ProtobufCMessageDescriptor *d = schema_message(schema_opt_rows[r].message);
		if (!d)
			continue;
		const ProtobufCFieldDescriptor *fd =
			protobuf_c_message_descriptor_get_field(d, (unsigned)schema_opt_rows[r].number);
		if (!fd)
			continue;
		struct opt_slot *s = schema_slot_for(d, 1);
		if (!s->by_field &&
		    !(s->by_field = calloc(d->n_fields ? d->n_fields : 1, sizeof *s->by_field))) {
			for (size_t i = 0; i < nslots; i++)
				free(slots[i].by_field);
			free(slots);
			slots = NULL;
			return;
		}
		s->by_field[fd - d->fields] = &schema_opt_rows[r].opts;
	}
}

const struct field_opts *schema_field_opts(const ProtobufCMessageDescriptor *d, unsigned index)
{
	pthread_once(&slots_once, schema_build_index);
	if (!slots) { /* no index (out of memory when it was built) */
		if (index >= d->n_fields)
			return NULL;
		for (size_t r = 0; schema_opt_rows[r].message; r++)
			if ((uint32_t)schema_opt_rows[r].number == d->fields[index].id &&
			    strcmp(schema_opt_rows[r].message, d->name) == 0)
				return &schema_opt_rows[r].opts;
		return NULL;
	}
	const struct opt_slot *s = schema_slot_for(d, 0);
	return s && index < d->n_fields ? s->by_field[index] : NULL;
}

const ProtobufCMessageDescriptor *schema_message(const char *name)
{
	for (size_t i = 0; schema_messages[i]; i++)
		if (strcmp(schema_messages[i]->name, name) == 0)
			return schema_messages[i];
	return NULL;
}

/* ---- the (criu) name maps (SPEC §2) ---- */

static const struct schema_name schema_mmap_prot[] = {
	{ "PROT_READ", 0x1 }, { "PROT_WRITE", 0x2 }, { "PROT_EXEC", 0x4 }, { NULL, 0 },
};
static const struct schema_name schema_mmap_flags[] = {
	{ "MAP_SHARED", 0x1 },	 { "MAP_PRIVATE", 0x2 },     { "MAP_DROPPABLE", 0x8 },
	{ "MAP_ANON", 0x20 },	 { "MAP_GROWSDOWN", 0x100 }, { NULL, 0 },
};
static const struct schema_name schema_mmap_status[] = {
	{ "VMA_AREA_NONE", 0 }, /* CRIT's map has it; it adds no bit */
	{ "VMA_AREA_REGULAR", 1u << 0 },  { "VMA_AREA_STACK", 1u << 1 },
	{ "VMA_AREA_VSYSCALL", 1u << 2 }, { "VMA_AREA_VDSO", 1u << 3 },
	{ "VMA_AREA_HEAP", 1u << 5 },	  { "VMA_FILE_PRIVATE", 1u << 6 },
	{ "VMA_FILE_SHARED", 1u << 7 },	  { "VMA_ANON_SHARED", 1u << 8 },
	{ "VMA_ANON_PRIVATE", 1u << 9 },  { "VMA_AREA_SYSVIPC", 1u << 10 },
	{ "VMA_AREA_SOCKET", 1u << 11 },  { "VMA_AREA_VVAR", 1u << 12 },
	{ "VMA_AREA_AIORING", 1u << 13 }, { "VMA_AREA_MEMFD", 1u << 14 },
	{ "VMA_AREA_SHSTK", 1u << 15 },	  { "VMA_AREA_UPROBES", 1u << 17 },
	{ "VMA_UNSUPP", 1u << 31 },	  { NULL, 0 },
};
static const struct schema_name schema_rfile_flags[] = {
	{ "O_WRONLY", 01 },	    { "O_RDWR", 02 },		{ "O_CREAT", 0100 },
	{ "O_EXCL", 0200 },	    { "O_NOCTTY", 0400 },	{ "O_TRUNC", 01000 },
	{ "O_APPEND", 02000 },	    { "O_NONBLOCK", 04000 },	{ "O_DSYNC", 010000 },
	{ "FASYNC", 020000 },	    { "O_DIRECT", 040000 },	{ "O_LARGEFILE", 0100000 },
	{ "O_DIRECTORY", 0200000 }, { "O_NOFOLLOW", 0400000 }, { "O_NOATIME", 01000000 },
	{ "O_CLOEXEC", 02000000 },  { NULL, 0 },
};
static const struct schema_name schema_pmap_flags[] = {
	{ "PE_PARENT", 1 }, { "PE_LAZY", 2 }, { "PE_PRESENT", 4 }, { NULL, 0 },
};
static const struct schema_name schema_seals_flags[] = {
	{ "F_SEAL_SEAL", 0x1 },	 { "F_SEAL_SHRINK", 0x2 },	  { "F_SEAL_GROW", 0x4 },
	{ "F_SEAL_WRITE", 0x8 }, { "F_SEAL_FUTURE_WRITE", 0x10 }, { NULL, 0 },
};
static const struct schema_name schema_gen_task_state[] = {
	{ "Alive", 1 }, { "Zombie", 3 }, { "Stopped", 6 }, { NULL, 0 },
};
static const struct schema_name schema_sk_family[] = {
	{ "UNIX", 1 }, { "INET", 2 }, { "INET6", 10 }, { "NETLINK", 16 }, { "PACKET", 17 }, { NULL, 0 },
};
static const struct schema_name schema_sk_type[] = {
	{ "STREAM", 1 }, { "DGRAM", 2 }, { "RAW", 3 }, { "SEQPACKET", 5 }, { "PACKET", 10 }, { NULL, 0 },
};
static const struct schema_name schema_sk_state[] = {
	{ "ESTABLISHED", 1 }, { "SYN_SENT", 2 },  { "SYN_RECV", 3 }, { "FIN_WAIT1", 4 },
	{ "FIN_WAIT2", 5 },   { "TIME_WAIT", 6 }, { "CLOSE", 7 },    { "CLOSE_WAIT", 8 },
	{ "LAST_ACK", 9 },    { "LISTEN", 10 },	  { NULL, 0 },
};
static const struct schema_name schema_sk_proto[] = {
	{ "IP", 0 }, { "TCP", 6 }, { "UDP", 17 }, { "UDPLITE", 136 }, { NULL, 0 },
};

/* A dict is keyed by its name and the field's name, as CRIT keys it; a
 * flag map by its name alone (field NULL). */
static const struct {
	const char *map, *field;
	const struct schema_name *names;
} schema_flag_maps[] = {
	{ "mmap.prot", NULL, schema_mmap_prot },     { "mmap.flags", NULL, schema_mmap_flags },
	{ "mmap.status", NULL, schema_mmap_status }, { "rfile.flags", NULL, schema_rfile_flags },
	{ "pmap.flags", NULL, schema_pmap_flags },   { "seals.flags", NULL, schema_seals_flags },
}, schema_dict_maps[] = {
	{ "gen", "task_state", schema_gen_task_state }, { "sk", "family", schema_sk_family },
	{ "sk", "type", schema_sk_type },		{ "sk", "state", schema_sk_state },
	{ "sk", "proto", schema_sk_proto },
};

const struct schema_name *schema_flag_map(const char *flags)
{
	for (size_t i = 0; i < sizeof schema_flag_maps / sizeof schema_flag_maps[0]; i++)
		if (strcmp(schema_flag_maps[i].map, flags) == 0)
			return schema_flag_maps[i].names;
	return NULL;
}

const struct schema_name *schema_dict_map(const char *dict, const char *field)
{
	for (size_t i = 0; i < sizeof schema_dict_maps / sizeof schema_dict_maps[0]; i++)
		if (strcmp(schema_dict_maps[i].map, dict) == 0 && strcmp(schema_dict_maps[i].field, field) == 0)
			return schema_dict_maps[i].names;
	return NULL;
}

const char *schema_type_name(ProtobufCType t)
{
	static const char *const names[] = {
		[PROTOBUF_C_TYPE_INT32] = "int32",     [PROTOBUF_C_TYPE_SINT32] = "sint32",
		[PROTOBUF_C_TYPE_SFIXED32] = "sfixed32", [PROTOBUF_C_TYPE_INT64] = "int64",
		[PROTOBUF_C_TYPE_SINT64] = "sint64",   [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
		[PROTOBUF_C_TYPE_UINT32] = "uint32",   [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
		[PROTOBUF_C_TYPE_UINT64] = "uint64",   [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
		[PROTOBUF_C_TYPE_FLOAT] = "float",     [PROTOBUF_C_TYPE_DOUBLE] = "double",
		[PROTOBUF_C_TYPE_BOOL] = "bool",       [PROTOBUF_C_TYPE_ENUM] = "enum",
		[PROTOBUF_C_TYPE_STRING] = "string",   [PROTOBUF_C_TYPE_BYTES] = "bytes",
		[PROTOBUF_C_TYPE_MESSAGE] = "message",
	};
	return (unsigned)t < sizeof names / sizeof names[0] && names[t] ? names[t] : "?";
}
