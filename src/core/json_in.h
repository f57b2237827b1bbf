/* json_in.h: reading CRIT's JSON dialect back into images — strictly: every
 * unknown key, missing required field, wrong type or out-of-range value is an
 * error naming its path (entries[3].vmas[2].prot), and nothing is written. */
#ifndef CRITLUA_JSON_IN_H
#define CRITLUA_JSON_IN_H

#include <stddef.h>

#include "image.h"
#include "util.h"

struct json_object;

/* Parse JSON text (nesting at most max_depth deep) with json-c, strictly
 * (src/core/jread.h: integers outside [-2^63, 2^64-1], keys given twice and
 * lone surrogates are errors, a lone \udc80..\udcff is the byte it stands
 * for). 0 with *out the value (NULL for null; json_object_put it), or -1 with
 * e set: "JSON line 3, column 17 (at entries[0].vmas): ...". */
int json_parse_text(const char *text, size_t len, int max_depth, struct json_object **out,
		    struct err *e);

/* JSON text {"magic": NAME, "entries": [...]} to an image in the form CRIU
 * writes for that magic (with its head: a v1 image comes back as v1.1, as
 * CRIT does). out is filled only on success; img_free it. */
int json_to_img(const char *text, size_t len, struct img *out, struct err *e);

/* `encode`: read JSON (stdin for "-" or NULL), write the image atomically
 * (stdout for "-" or NULL). On error nothing is written and e says why,
 * prefixed with the input's name. */
int json_encode_file(const char *in_path, const char *out_path, struct err *e);

#endif
