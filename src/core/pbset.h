/* pbset.h: the one way a value enters a protobuf-c message field, for both
 * walks that build messages (src/core/json_in.c from JSON, src/lua/lua2pb.c
 * from Lua tables): each walk finds a scalar (an integer, a double, a bool, a
 * string) in its own containers and hands it here, where it is checked
 * against the field (ranges, enum names, CRIT's text forms) and stored. On
 * error e says why, without the path: the walk prefixes its own. */
#ifndef CRITLUA_PBSET_H
#define CRITLUA_PBSET_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "schema.h"
#include "util.h"

/* An integer as sign and magnitude: every int64 and uint64 fits. */
struct pbset_num {
	int neg; /* never for 0 */
	uint64_t mag;
};

/* v into an integer or enum field at dst, checked against the field's
 * range: "4294967296 is out of range for uint32 (0 .. 4294967295)". An enum
 * number the schema does not name (a newer CRIU's) is kept. */
int pbset_store_num(const ProtobufCFieldDescriptor *fd, const struct pbset_num *v, void *dst,
		    struct err *e);
/* The value of enum name s into enum field fd: "unknown name ... (known: ...)". */
int pbset_enum_name(const ProtobufCFieldDescriptor *fd, const char *s, void *dst, struct err *e);
/* A copy of s[0, n) into string field dst; a NUL in it is an error. */
int pbset_string(const char *s, size_t n, void *dst, struct err *e);
/* A copy of s[0, n) into bytes field dst; -1 (dst untouched) when memory runs out. */
int pbset_bytes(const void *s, size_t n, void *dst);
void pbset_double(const ProtobufCFieldDescriptor *fd, double d, void *dst); /* float or double */
void pbset_bool(int b, void *dst);

/* A string in CRIT's JSON forms (SPEC §2) into an integer, enum, string or
 * bytes field: integers as Python's int(s, 0) reads them, flags names joined
 * by '|', dict names, "major:minor" devices, enum names, base64 (or
 * quoted-printable for a (criu).conv unix_name) bytes. fo: the field's
 * (criu) options, or NULL. */
int pbset_text(const ProtobufCFieldDescriptor *fd, const struct field_opts *fo, const char *s,
	       size_t n, void *dst, struct err *e);

/* Python's int(s, 0) (int(s) with dec_only): NULL, or why s is not one. */
const char *pbset_pyint(const char *s, size_t n, int dec_only, struct pbset_num *v);
/* v as decimal text, for messages. */
void pbset_num_text(const struct pbset_num *v, char *dst, size_t size);
/* Strict base64 (line breaks allowed) into *out (malloc'd; NULL when empty). */
int pbset_base64(struct err *e, const char *s, size_t n, uint8_t **out, size_t *outlen);

#endif
