/* test_schema.c: proves that proto/ (as compiled into critlua) says exactly what the
 * facts say: tests/data/criu-schema.json for messages, fields, enums and (criu)
 * options, tests/data/magic.tsv for the magic table of src/core/magic.c.
 * usage: test_schema criu-schema.json criu.pb magic.tsv */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "check.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "image.h"
#include "schema.h"

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static json_object *jget(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static int jbool(json_object *o, const char *key)
{
	json_object *v = jget(o, key);
	return v && json_object_get_boolean(v);
}

static int streq(const char *a, const char *b)
{
	return (!a || !b) ? a == b : strcmp(a, b) == 0;
}

static const char *label_name(ProtobufCLabel l)
{
	switch (l) {
	case PROTOBUF_C_LABEL_REQUIRED: return "required";
	case PROTOBUF_C_LABEL_OPTIONAL: return "optional";
	case PROTOBUF_C_LABEL_REPEATED: return "repeated";
	case PROTOBUF_C_LABEL_NONE: return "none";
	}
	return "?";
}

static const char *type_name(ProtobufCType t)
{
	static const char *const names[] = {
		[PROTOBUF_C_TYPE_INT32] = "int32", [PROTOBUF_C_TYPE_SINT32] = "sint32",
		[PROTOBUF_C_TYPE_SFIXED32] = "sfixed32", [PROTOBUF_C_TYPE_INT64] = "int64",
		[PROTOBUF_C_TYPE_SINT64] = "sint64", [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
		[PROTOBUF_C_TYPE_UINT32] = "uint32", [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
		[PROTOBUF_C_TYPE_UINT64] = "uint64", [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
		[PROTOBUF_C_TYPE_FLOAT] = "float", [PROTOBUF_C_TYPE_DOUBLE] = "double",
		[PROTOBUF_C_TYPE_BOOL] = "bool", [PROTOBUF_C_TYPE_ENUM] = "enum",
		[PROTOBUF_C_TYPE_STRING] = "string", [PROTOBUF_C_TYPE_BYTES] = "bytes",
		[PROTOBUF_C_TYPE_MESSAGE] = "message",
	};
	return (unsigned)t < sizeof names / sizeof names[0] && names[t] ? names[t] : "?";
}

/* The facts write a default as JSON of the field's type (an enum's by name). */
static void check_default(const char *where, const ProtobufCFieldDescriptor *fd, json_object *jd)
{
	const void *dv = fd->default_value;
	if (!jd) {
		CHECK(dv == NULL, "%s: a default the facts do not have", where);
		return;
	}
	if (!dv) {
		check_fail(__FILE__, __LINE__, "%s: default %s missing", where, json_object_to_json_string(jd));
		return;
	}
	int ok;
	switch (fd->type) {
	case PROTOBUF_C_TYPE_BOOL:
		ok = *(const protobuf_c_boolean *)dv == json_object_get_boolean(jd);
		break;
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		ok = *(const int32_t *)dv == json_object_get_int64(jd);
		break;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		ok = *(const uint32_t *)dv == json_object_get_uint64(jd);
		break;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		ok = *(const int64_t *)dv == json_object_get_int64(jd);
		break;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		ok = *(const uint64_t *)dv == json_object_get_uint64(jd);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		ok = *(const float *)dv == (float)json_object_get_double(jd);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		ok = *(const double *)dv == json_object_get_double(jd);
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *v =
			protobuf_c_enum_descriptor_get_value_by_name(fd->descriptor, json_object_get_string(jd));
		ok = v && *(const int *)dv == v->value;
		break;
	}
	case PROTOBUF_C_TYPE_STRING:
		ok = strcmp((const char *)dv, json_object_get_string(jd)) == 0;
		break;
	default: /* bytes and messages have no defaults in CRIU's schema */
		ok = 0;
	}
	CHECK(ok, "%s: default differs from %s", where, json_object_to_json_string(jd));
}

static void check_opts(const char *where, const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *fd,
		       json_object *jo)
{
	const struct field_opts *o = schema_field_opts(d, (unsigned)(fd - d->fields));
	if (!jo) {
		CHECK(o == NULL, "%s: (criu) options the facts do not have", where);
		return;
	}
	if (!o) {
		check_fail(__FILE__, __LINE__, "%s: (criu) options %s missing", where,
			   json_object_to_json_string(jo));
		return;
	}
	CHECK(o->hex == jbool(jo, "hex") && o->ipadd == jbool(jo, "ipadd") && o->dev == jbool(jo, "dev") &&
		      o->odev == jbool(jo, "odev") && streq(o->flags, jstr(jo, "flags")) &&
		      streq(o->dict, jstr(jo, "dict")) && streq(o->conv, jstr(jo, "conv")),
	      "%s: (criu) options differ from %s", where, json_object_to_json_string(jo));
	/* Every key of the facts must be one the table carries. */
	json_object_object_foreach(jo, key, val)
	{
		(void)val;
		CHECK(strstr(" hex ipadd dev odev flags dict conv ", key) && strlen(key) > 2,
		      "%s: option %s unknown to struct field_opts", where, key);
	}
}

static void check_message(json_object *jm)
{
	const char *name = jstr(jm, "full_name");
	const ProtobufCMessageDescriptor *d = schema_message(name);
	if (!d) {
		check_fail(__FILE__, __LINE__, "message %s: not in schema_messages", name);
		return;
	}
	json_object *fields = jget(jm, "fields");
	size_t nf = json_object_array_length(fields);
	CHECK(d->n_fields == nf, "message %s: %u fields, the facts have %zu", name, d->n_fields, nf);
	for (size_t i = 0; i < nf; i++) {
		json_object *jf = json_object_array_get_idx(fields, i);
		const char *fname = jstr(jf, "name");
		char where[300];
		snprintf(where, sizeof where, "%s.%s", name, fname);
		const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(d, fname);
		if (!fd) {
			check_fail(__FILE__, __LINE__, "%s: field missing", where);
			continue;
		}
		CHECK(fd->id == (uint32_t)json_object_get_int64(jget(jf, "number")), "%s: number %u", where, fd->id);
		CHECK(streq(label_name(fd->label), jstr(jf, "label")), "%s: label %s, the facts say %s", where,
		      label_name(fd->label), jstr(jf, "label"));
		CHECK(streq(type_name(fd->type), jstr(jf, "type")), "%s: type %s, the facts say %s", where,
		      type_name(fd->type), jstr(jf, "type"));
		const char *tn = NULL;
		if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
			tn = ((const ProtobufCMessageDescriptor *)fd->descriptor)->name;
		else if (fd->type == PROTOBUF_C_TYPE_ENUM)
			tn = ((const ProtobufCEnumDescriptor *)fd->descriptor)->name;
		CHECK(streq(tn, jstr(jf, "type_name")), "%s: type name %s, the facts say %s", where,
		      tn ? tn : "(none)", jstr(jf, "type_name") ? jstr(jf, "type_name") : "(none)");
		check_default(where, fd, jget(jf, "default"));
		check_opts(where, d, fd, jget(jf, "criu"));
	}
}

static const ProtobufCEnumDescriptor *find_enum(const char *name)
{
	for (size_t i = 0; schema_enums[i]; i++)
		if (strcmp(schema_enums[i]->name, name) == 0)
			return schema_enums[i];
	return NULL;
}

static void check_enum(json_object *je, const char *prefix)
{
	char name[300];
	snprintf(name, sizeof name, "%s%s", prefix, jstr(je, "name"));
	const ProtobufCEnumDescriptor *ed = find_enum(name);
	if (!ed) {
		check_fail(__FILE__, __LINE__, "enum %s: not in schema_enums", name);
		return;
	}
	json_object *vals = jget(je, "values");
	size_t nv = json_object_array_length(vals);
	CHECK(ed->n_value_names == nv, "enum %s: %u names, the facts have %zu", name, ed->n_value_names, nv);
	for (size_t i = 0; i < nv; i++) {
		json_object *jv = json_object_array_get_idx(vals, i);
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(ed, jstr(jv, "name"));
		CHECK(v && v->value == json_object_get_int64(jget(jv, "number")), "enum %s: value %s wrong or missing",
		      name, jstr(jv, "name"));
	}
}

/* The descriptor set protoc compiled from proto/: which file holds what. */
static const Google__Protobuf__FileDescriptorProto *set_file(const Google__Protobuf__FileDescriptorSet *set,
							     const char *name)
{
	for (size_t i = 0; i < set->n_file; i++)
		if (strcmp(set->file[i]->name, name) == 0)
			return set->file[i];
	return NULL;
}

static void check_file(json_object *jf, const Google__Protobuf__FileDescriptorSet *set, size_t *n_msgs,
		       size_t *n_enums)
{
	const char *fname = jstr(jf, "file");
	const Google__Protobuf__FileDescriptorProto *fp = set_file(set, fname);
	if (!fp) {
		check_fail(__FILE__, __LINE__, "%s: not in proto/", fname);
		return;
	}
	CHECK(streq(fp->syntax ? fp->syntax : "proto2", jstr(jf, "syntax")), "%s: syntax %s", fname, fp->syntax);
	CHECK(streq(fp->package ? fp->package : "", jstr(jf, "package")), "%s: package %s", fname, fp->package);

	json_object *imports = jget(jf, "imports");
	size_t ni = json_object_array_length(imports);
	CHECK(fp->n_dependency == ni, "%s: %zu imports, the facts have %zu", fname, fp->n_dependency, ni);
	for (size_t i = 0; i < ni && i < fp->n_dependency; i++)
		CHECK(streq(fp->dependency[i], json_object_get_string(json_object_array_get_idx(imports, i))),
		      "%s: import %zu is %s", fname, i, fp->dependency[i]);

	/* CRIU's schema nests enums in messages but no messages: the facts list
	 * every message of a file at the top. */
	json_object *msgs = jget(jf, "messages");
	size_t nm = json_object_array_length(msgs);
	CHECK(fp->n_message_type == nm, "%s: %zu messages, the facts have %zu", fname, fp->n_message_type, nm);
	for (size_t i = 0; i < nm; i++) {
		json_object *jm = json_object_array_get_idx(msgs, i);
		CHECK(i < fp->n_message_type && streq(fp->message_type[i]->name, jstr(jm, "name")),
		      "%s: message %zu is not %s", fname, i, jstr(jm, "name"));
		if (i < fp->n_message_type)
			CHECK(fp->message_type[i]->n_nested_type == 0, "%s: nested messages in %s", fname,
			      jstr(jm, "name"));
		check_message(jm);
		json_object *nested = jget(jm, "enums");
		size_t nn = nested ? json_object_array_length(nested) : 0;
		if (i < fp->n_message_type)
			CHECK(fp->message_type[i]->n_enum_type == nn, "%s: %s has %zu enums, the facts %zu", fname,
			      jstr(jm, "name"), fp->message_type[i]->n_enum_type, nn);
		char prefix[300];
		snprintf(prefix, sizeof prefix, "%s.", jstr(jm, "full_name"));
		for (size_t k = 0; k < nn; k++)
			check_enum(json_object_array_get_idx(nested, k), prefix);
		*n_enums += nn;
	}
	*n_msgs += nm;

	json_object *enums = jget(jf, "enums");
	size_t ne = json_object_array_length(enums);
	CHECK(fp->n_enum_type == ne, "%s: %zu enums, the facts have %zu", fname, fp->n_enum_type, ne);
	for (size_t i = 0; i < ne; i++) {
		json_object *je = json_object_array_get_idx(enums, i);
		CHECK(i < fp->n_enum_type && streq(fp->enum_type[i]->name, jstr(je, "name")),
		      "%s: enum %zu is not %s", fname, i, jstr(je, "name"));
		check_enum(je, "");
	}
	*n_enums += ne;

	json_object *exts = jget(jf, "extensions");
	size_t nx = json_object_array_length(exts);
	CHECK(fp->n_extension == nx, "%s: %zu extensions, the facts have %zu", fname, fp->n_extension, nx);
	for (size_t i = 0; i < nx && i < fp->n_extension; i++) {
		json_object *jx = json_object_array_get_idx(exts, i);
		const Google__Protobuf__FieldDescriptorProto *x = fp->extension[i];
		const char *extendee = x->extendee && x->extendee[0] == '.' ? x->extendee + 1 : x->extendee;
		const char *tn = x->type_name && x->type_name[0] == '.' ? x->type_name + 1 : x->type_name;
		CHECK(streq(x->name, jstr(jx, "name")) && x->number == json_object_get_int(jget(jx, "number")) &&
			      streq(extendee, jstr(jx, "extendee")) &&
			      x->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE &&
			      streq(jstr(jx, "type"), "message") && streq(tn, jstr(jx, "type_name")),
		      "%s: extension %s differs", fname, jstr(jx, "name"));
	}
}

static void check_schema(const char *json_path, const char *set_path)
{
	json_object *root = json_object_from_file(json_path);
	if (!root) {
		check_fail(__FILE__, __LINE__, "%s: %s", json_path, json_util_get_last_err());
		return;
	}
	struct err e = { { 0 } };
	uint8_t *data;
	size_t len;
	if (read_file(set_path, &data, &len, &e) < 0) {
		check_fail(__FILE__, __LINE__, "%s: %s", set_path, e.msg);
		json_object_put(root);
		return;
	}
	Google__Protobuf__FileDescriptorSet *set = google__protobuf__file_descriptor_set__unpack(NULL, len, data);
	free(data);
	if (!set) {
		check_fail(__FILE__, __LINE__, "%s: not a descriptor set", set_path);
		json_object_put(root);
		return;
	}

	json_object *files = jget(root, "files");
	size_t nfiles = json_object_array_length(files), n_msgs = 0, n_enums = 0, ours = 0;
	for (size_t i = 0; i < nfiles; i++)
		check_file(json_object_array_get_idx(files, i), set, &n_msgs, &n_enums);
	for (size_t i = 0; i < set->n_file; i++)
		if (strncmp(set->file[i]->name, "google/", 7) != 0)
			ours++;
	CHECK(nfiles == 75, "the facts have %zu files, not 75", nfiles);
	CHECK(ours == nfiles, "proto/ has %zu files, the facts %zu", ours, nfiles);

	size_t compiled = 0, compiled_enums = 0;
	while (schema_messages[compiled])
		compiled++;
	while (schema_enums[compiled_enums])
		compiled_enums++;
	CHECK(n_msgs == 158, "the facts have %zu messages, not 158", n_msgs);
	CHECK(compiled == n_msgs, "schema_messages has %zu messages, the facts %zu", compiled, n_msgs);
	CHECK(compiled_enums == n_enums, "schema_enums has %zu enums, the facts %zu", compiled_enums, n_enums);

	/* No option row may point at a message or field that does not exist. */
	size_t rows = 0;
	for (const struct schema_opt_row *r = schema_opt_rows; r->message; r++, rows++) {
		const ProtobufCMessageDescriptor *d = schema_message(r->message);
		CHECK(d && protobuf_c_message_descriptor_get_field(d, (unsigned)r->number),
		      "option row %s/%d names no field", r->message, r->number);
	}
	CHECK(rows == 103, "%zu option rows, the facts have 103 fields with (criu) options", rows);
	printf("schema: %zu files, %zu messages, %zu enums, %zu option rows match the facts\n", nfiles, n_msgs,
	       n_enums, rows);
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
	json_object_put(root);
}

static enum payload_kind payload_of(const char *name)
{
	static const struct {
		const char *name;
		enum payload_kind kind;
	} map[] = {
		{ "PAGEMAP", PL_PAGEMAP }, { "GHOST_FILE", PL_GHOST }, { "PIPES_DATA", PL_PIPE_DATA },
		{ "FIFO_DATA", PL_PIPE_DATA }, { "SK_QUEUES", PL_SK_QUEUE }, { "TCP_STREAM", PL_TCP_STREAM },
		{ "BPFMAP_DATA", PL_BPFMAP }, { "IPCNS_SEM", PL_IPC_SEM }, { "IPCNS_MSG", PL_IPC_MSG },
		{ "IPCNS_SHM", PL_IPC_SHM },
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(map[i].name, name) == 0)
			return map[i].kind;
	return PL_NONE;
}

/* magic.tsv: name value head message files payload (a header line first). */
static void check_magics(const char *tsv_path)
{
	struct err e = { { 0 } };
	uint8_t *data;
	size_t len;
	if (read_file(tsv_path, &data, &len, &e) < 0) {
		check_fail(__FILE__, __LINE__, "%s: %s", tsv_path, e.msg);
		return;
	}
	size_t rows = 0;
	char *save = NULL;
	for (char *line = strtok_r((char *)data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *col[6] = { 0 };
		char *p = line;
		for (int c = 0; c < 6; c++) {
			col[c] = p;
			p = p ? strchr(p, '\t') : NULL;
			if (p)
				*p++ = 0;
		}
		if (strcmp(col[0], "name") == 0 || !col[4])
			continue;
		rows++;
		const struct magic_info *mi = magic_by_name(col[0]);
		if (!mi) {
			check_fail(__FILE__, __LINE__, "magic %s: not in magic_table", col[0]);
			continue;
		}
		uint32_t value = (uint32_t)strtoul(col[1], NULL, 16);
		CHECK(mi->magic == value, "magic %s: 0x%08x, the facts say %s", col[0], mi->magic, col[1]);
		CHECK(magic_by_value(value) == mi, "magic %s: magic_by_value finds another type", col[0]);
		enum img_form head = strcmp(col[2], "IMG_COMMON") == 0	? FORM_COMMON
				     : strcmp(col[2], "IMG_SERVICE") == 0 ? FORM_SERVICE
									  : FORM_BARE;
		CHECK(mi->head == head, "magic %s: head form %d, the facts say %s", col[0], mi->head, col[2]);
		char *second = strchr(col[3], ',');
		if (second)
			*second++ = 0;
		CHECK(streq(mi->message, col[3]) && streq(mi->message2, second), "magic %s: message types %s,%s",
		      col[0], mi->message, mi->message2 ? mi->message2 : "");
		CHECK(mi->desc && streq(mi->desc->name, col[3]), "magic %s: descriptor not resolved to %s", col[0],
		      col[3]);
		CHECK(!second || (mi->desc2 && streq(mi->desc2->name, second)),
		      "magic %s: second descriptor not resolved to %s", col[0], second);
		CHECK(streq(mi->files, col[4]), "magic %s: files \"%s\", the facts say \"%s\"", col[0], mi->files,
		      col[4]);
		CHECK(mi->payload == payload_of(col[0]), "magic %s: payload kind %d", col[0], mi->payload);
		CHECK((mi->payload == PL_NONE) == (!col[5] || !col[5][0]) || mi->payload == PL_PAGEMAP,
		      "magic %s: the facts say the payload is \"%s\"", col[0], col[5] ? col[5] : "");
	}
	size_t table = 0;
	while (magic_table[table].name)
		table++;
	CHECK(rows == 68, "magic.tsv has %zu rows, not 68", rows);
	CHECK(table == rows, "magic_table has %zu types, the facts %zu", table, rows);
	printf("magics: %zu image types match the facts\n", table);
	free(data);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: test_schema criu-schema.json criu.pb magic.tsv\n");
		return 2;
	}
	check_schema(argv[1], argv[2]);
	check_magics(argv[3]);
	return check_report("test_schema");
}
