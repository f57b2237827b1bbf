/* pbcheck.h: questions asked of protobuf-c messages through their
 * descriptors, beyond what protobuf-c answers: which required field is
 * missing, why an unpack "failed" (where, in which field), how deep the data
 * nests, the nearest field name, a field's value by name.
 *
 * Prefix pb_ (the file checks protobuf messages; image.h includes this
 * header, so every reader of images has these). */
#ifndef CRITLUA_PBCHECK_H
#define CRITLUA_PBCHECK_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "util.h"

/* The value of the scalar integer, enum or bool field `name` of m, as a
 * u64 (signed values sign-extended); 0 and *present = 0 when it is absent or
 * not such a field. present may be NULL. */
uint64_t pb_get_u64(const ProtobufCMessage *m, const char *name, int *present);

/* Say which required fields of a message (recursively) are missing, as
 * "path.field"; returns 0 when all are set, -1 with e naming the first. */
int pb_check_required(const ProtobufCMessage *m, const char *path, struct err *e);
/* The field of d whose name is nearest to name (a misspelling, or the start
 * of a name), for "did you mean"; NULL when none is close. */
const char *pb_nearest_field(const ProtobufCMessageDescriptor *d, const char *name);
/* Refuse unknown fields whose number is out of range (0 or above 2^29 - 1),
 * which protobuf-c reads but cannot write back. */
int pb_check_unknown_numbers(const ProtobufCMessage *m, const char *path, struct err *e);

/* Nesting: protobuf-c unpacks recursively, so for a recursive message type
 * (aa_namespace) the wire data is first checked to nest at most
 * PB_MAX_DEPTH deep, else e says so. */
#define PB_MAX_DEPTH 100
int pb_is_recursive(const ProtobufCMessageDescriptor *d);
int pb_check_depth(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
		   unsigned limit, struct err *e);

/* Why protobuf-c refused to unpack data as desc: walks the wire format and
 * names the byte offset and field that is wrong, or the missing required
 * field. Writes a sentence into e. */
void pb_explain_unpack_failure(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
			       size_t len, struct err *e);

/* protobuf_c_message_unpack through alloc (NULL: malloc), watching its
 * allocations: on NULL, *oom says whether one failed (the bytes may be
 * fine then) rather than the bytes being refused. The message is freed as
 * one from alloc is. */
ProtobufCMessage *pb_unpack(const ProtobufCMessageDescriptor *d, ProtobufCAllocator *alloc, size_t len,
			    const uint8_t *data, int *oom);

#endif
