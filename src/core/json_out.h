/* json_out.h: CRIT's JSON dialect out of protobuf-c messages and images — a
 * streaming writer with Python json.dump's exact layout (SPEC §2). */
#ifndef CRITLUA_JSON_OUT_H
#define CRITLUA_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <protobuf-c/protobuf-c.h>

#include "image.h"
#include "schema.h"
#include "util.h"

/* The key under which fields the schema does not know (from a newer CRIU)
 * travel: the MIME base64 of their protobuf wire bytes (key and value, in the
 * order they were read), after the known fields of their message. No schema
 * field can have this name. */
#define JW_UNKNOWN_KEY "(unknown)"

/* The writer: Python's json.dump(obj, f) (indent 0: one line, ", " and ": ")
 * or json.dump(obj, f, indent=4). Containers are opened and closed in order;
 * the writer knows when a separator or a newline is due. When memory runs
 * out, buf_oom(out) is set and every later call does nothing: its user
 * checks buf_oom(out) once at the end (jw_image_buf and the file forms
 * return "out of memory" themselves). */
struct jw {
	struct buf *out;
	int indent; /* 1: indent=4 */
	unsigned depth;
	unsigned char *items; /* per open container: something was written in it */
	unsigned cap;
	FILE *flush_to; /* when set, out is written there whenever it grows past 1 MiB */
	int flush_err;  /* errno of a failed flush */
	size_t flushed; /* bytes written to flush_to so far */
	struct jw_optcache *optcache; /* (criu) options per descriptor, filled on use */
};

void jw_init(struct jw *w, struct buf *out, int indent);
void jw_fini(struct jw *w); /* frees the writer's own state, not out */

void jw_begin_object(struct jw *w);
void jw_end_object(struct jw *w);
void jw_begin_array(struct jw *w);
void jw_end_array(struct jw *w);
/* An object key (n bytes, JSON-escaped as needed); the value must follow. */
void jw_key(struct jw *w, const char *k, size_t n);
/* Values: inside an array each one is an item, after jw_key the key's value. */
void jw_null(struct jw *w);
void jw_bool(struct jw *w, int v);
void jw_int(struct jw *w, int64_t v);
void jw_uint(struct jw *w, uint64_t v);
void jw_double(struct jw *w, double v);
void jw_string(struct jw *w, const char *s, size_t n); /* surrogateescape for non-UTF-8 */
void jw_base64(struct jw *w, const uint8_t *p, size_t n); /* MIME base64 string */
void jw_raw(struct jw *w, const char *s, size_t n);    /* already-formatted JSON value */

/* A message as a JSON object: set fields in field-number order, unknown
 * fields under JW_UNKNOWN_KEY; pretty applies the (criu) options. */
void jw_message(struct jw *w, const ProtobufCMessage *m, int pretty);

/* One entry of an image of type mi as decode writes it: its message's fields,
 * then its payload as CRIT's "extra" value (SPEC §1.3), with nopl "... <SIZE>". */
void jw_entry(struct jw *w, const struct magic_info *mi, const struct img_entry *en, int pretty,
	      int nopl);
/* A whole image held in memory, as decode writes it. */
void jw_img(struct jw *w, const struct img *img, int pretty);
/* CRIT's size text: "8B", "1.5KB". dst needs 32 bytes. */
size_t jw_human_size(char *dst, uint64_t n);

/* `decode`: the JSON of image file in_path ("-" or NULL: stdin) written to
 * out_path ("-" or NULL: stdout, with a final newline, as CRIT does; a file
 * is written atomically, without one). Entry by entry: the decoded image is
 * never held whole. Returns 0, or -1 with e set (prefixed with the file). */
int jw_image_file(const char *in_path, const char *out_path, int pretty, int nopl, struct err *e);
/* The same from bytes in memory into out (no final newline). name prefixes errors. */
int jw_image_buf(const uint8_t *data, size_t len, const char *name, struct buf *out, int pretty,
		 int nopl, struct err *e);

/* `info`: {"magic": NAME, "count": N} with indent 4 (no final newline) into
 * out. N counts the entries decode prints, but not PAGEMAP's head. */
int jw_info_file(const char *path, struct buf *out, const char **magic, size_t *count,
		 struct err *e);

#endif
