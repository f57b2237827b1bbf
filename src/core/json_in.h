/* json_in.h: reading CRIT's JSON dialect back into images — strictly: every
 * unknown key, missing required field, wrong type or out-of-range value is an
 * error naming its path (entries[3].vmas[2].prot), and nothing is written. */
#ifndef CRITLUA_JSON_IN_H
#define CRITLUA_JSON_IN_H

#include <stddef.h>

#include "image.h"
#include "util.h"

struct jdom;
struct jval;

/* Parse JSON text (nesting at most max_depth deep) into dom (src/core/jdom.h:
 * integers outside [-2^63, 2^64-1] are errors, a lone \udc80..\udcff is the
 * byte it stands for). Returns the value (in dom until it is reset or freed),
 * or NULL with e set: "JSON line 3, column 17 (at entries[0].vmas): ...". */
const struct jval *json_parse_text(struct jdom *dom, const char *text, size_t len, int max_depth,
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
