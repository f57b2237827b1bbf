/* optgen: read the descriptor set protoc wrote for proto/ and emit
 * schema-table.c, the list of every message and enum descriptor and the
 * (criu) options of each field, which protobuf-c's descriptors do not keep. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "opts.pb-c.h"
#include "pbwire.h" /* the varint reader: built in from src/core */

#define CRIU_OPTS_EXTENSION 1018

/* protoc-c's C name for a full name: '.' becomes "__", and an upper-case
 * letter not preceded by another is lowered with a '_' before it. */
static void c_name(char *out, size_t n, const char *full)
{
	size_t o = 0;
	for (size_t i = 0; full[i] && o + 3 < n; i++) {
		char c = full[i];
		if (c == '.') {
			out[o++] = '_';
			out[o++] = '_';
		} else if (isupper((unsigned char)c)) {
			if (i > 0 && full[i - 1] != '.' && !isupper((unsigned char)full[i - 1]))
				out[o++] = '_';
			out[o++] = (char)tolower((unsigned char)c);
		} else {
			out[o++] = c;
		}
	}
	out[o] = 0;
}

static void header_name(char *out, size_t n, const char *proto)
{
	snprintf(out, n, "%s", proto);
	char *dot = strstr(out, ".proto");
	if (dot)
		snprintf(dot, n - (size_t)(dot - out), ".pb-c.h");
}

static void put_str(FILE *f, const char *s)
{
	if (!s) {
		fputs("NULL", f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static CRIUOpts *field_opts(const Google__Protobuf__FieldDescriptorProto *fd)
{
	if (!fd->options)
		return NULL;
	const ProtobufCMessage *m = &fd->options->base;
	/* protoc writes `[(criu).dev = true, (criu).odev = true]` as one extension
	 * field per option; concatenated, they parse as the merged message. */
	uint8_t *all = NULL;
	size_t all_len = 0;
	for (unsigned i = 0; i < m->n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *u = &m->unknown_fields[i];
		if (u->tag != CRIU_OPTS_EXTENSION || u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
			continue;
		/* protobuf-c keeps the length prefix in an unknown field's data. */
		const uint8_t *at = u->data, *end = u->data + u->len;
		uint64_t len;
		if (pbw_varint(&at, end, &len) < 0 || len != (uint64_t)(end - at)) {
			fprintf(stderr, "optgen: field %s: (criu) options do not parse\n", fd->name);
			exit(1);
		}
		all = realloc(all, all_len + (size_t)len + 1);
		if (!all)
			exit(1);
		memcpy(all + all_len, at, (size_t)len);
		all_len += (size_t)len;
	}
	if (!all)
		return NULL;
	CRIUOpts *o = criu__opts__unpack(NULL, all_len, all);
	free(all);
	if (!o) {
		fprintf(stderr, "optgen: field %s: (criu) options do not parse\n", fd->name);
		exit(1);
	}
	return o;
}

static void emit_messages(FILE *f, const char *prefix, Google__Protobuf__DescriptorProto **msgs,
			  size_t n, int want_enums)
{
	char full[512], cn[512];
	for (size_t i = 0; i < n; i++) {
		snprintf(full, sizeof full, "%s%s", prefix, msgs[i]->name);
		if (want_enums) {
			for (size_t e = 0; e < msgs[i]->n_enum_type; e++) {
				char ef[600];
				snprintf(ef, sizeof ef, "%s.%s", full, msgs[i]->enum_type[e]->name);
				c_name(cn, sizeof cn, ef);
				fprintf(f, "\t&%s__descriptor,\n", cn);
			}
		} else {
			c_name(cn, sizeof cn, full);
			fprintf(f, "\t&%s__descriptor,\n", cn);
		}
		char sub[520];
		snprintf(sub, sizeof sub, "%s.", full);
		emit_messages(f, sub, msgs[i]->nested_type, msgs[i]->n_nested_type, want_enums);
	}
}

static void emit_opts(FILE *f, const char *prefix, Google__Protobuf__DescriptorProto **msgs, size_t n)
{
	char full[512];
	for (size_t i = 0; i < n; i++) {
		snprintf(full, sizeof full, "%s%s", prefix, msgs[i]->name);
		for (size_t k = 0; k < msgs[i]->n_field; k++) {
			const Google__Protobuf__FieldDescriptorProto *fd = msgs[i]->field[k];
			CRIUOpts *o = field_opts(fd);
			if (!o)
				continue;
			fprintf(f, "\t{ ");
			put_str(f, full);
			fprintf(f, ", %d, { %d, %d, %d, %d, ", fd->number, o->has_hex && o->hex,
				o->has_ipadd && o->ipadd, o->has_dev && o->dev, o->has_odev && o->odev);
			put_str(f, o->flags);
			fputs(", ", f);
			put_str(f, o->dict);
			fputs(", ", f);
			put_str(f, o->conv);
			fputs(" } },\n", f);
			criu__opts__free_unpacked(o, NULL);
		}
		char sub[520];
		snprintf(sub, sizeof sub, "%s.", full);
		emit_opts(f, sub, msgs[i]->nested_type, msgs[i]->n_nested_type);
	}
}

static int is_ours(const Google__Protobuf__FileDescriptorProto *fp)
{
	return strncmp(fp->name, "google/", 7) != 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: optgen DESCRIPTOR_SET OUT.c\n");
		return 2;
	}
	FILE *in = fopen(argv[1], "rb");
	if (!in) {
		perror(argv[1]);
		return 1;
	}
	size_t cap = 1 << 20, len = 0;
	unsigned char *buf = malloc(cap);
	size_t got;
	while (buf && (got = fread(buf + len, 1, cap - len, in)) > 0) {
		len += got;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(in);
	if (!buf)
		return 1;
	Google__Protobuf__FileDescriptorSet *set =
		google__protobuf__file_descriptor_set__unpack(NULL, len, buf);
	if (!set) {
		fprintf(stderr, "optgen: %s: not a descriptor set\n", argv[1]);
		return 1;
	}
	FILE *f = fopen(argv[2], "w");
	if (!f) {
		perror(argv[2]);
		return 1;
	}
	fprintf(f, "/* Generated by optgen from proto/: do not edit. */\n#include \"schema.h\"\n");
	char hn[512], cn[512];
	for (size_t i = 0; i < set->n_file; i++) {
		if (!is_ours(set->file[i]))
			continue;
		header_name(hn, sizeof hn, set->file[i]->name);
		fprintf(f, "#include \"%s\"\n", hn);
	}
	fprintf(f, "\nconst ProtobufCMessageDescriptor *const schema_messages[] = {\n");
	for (size_t i = 0; i < set->n_file; i++)
		if (is_ours(set->file[i]))
			emit_messages(f, "", set->file[i]->message_type, set->file[i]->n_message_type, 0);
	fprintf(f, "\tNULL\n};\n\nconst ProtobufCEnumDescriptor *const schema_enums[] = {\n");
	for (size_t i = 0; i < set->n_file; i++) {
		const Google__Protobuf__FileDescriptorProto *fp = set->file[i];
		if (!is_ours(fp))
			continue;
		for (size_t e = 0; e < fp->n_enum_type; e++) {
			c_name(cn, sizeof cn, fp->enum_type[e]->name);
			fprintf(f, "\t&%s__descriptor,\n", cn);
		}
		emit_messages(f, "", fp->message_type, fp->n_message_type, 1);
	}
	fprintf(f, "\tNULL\n};\n\nconst struct schema_opt_row schema_opt_rows[] = {\n");
	for (size_t i = 0; i < set->n_file; i++)
		if (is_ours(set->file[i]))
			emit_opts(f, "", set->file[i]->message_type, set->file[i]->n_message_type);
	fprintf(f, "\t{ NULL, 0, { 0, 0, 0, 0, NULL, NULL, NULL } }\n};\n");
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
	free(buf);
	if (fclose(f) != 0) {
		perror(argv[2]);
		return 1;
	}
	return 0;
}
