/* crit_impl.h: what the two files of libcrit's public API (crit.c,
 * crit_checkpoint.c) share; not installed. */
#ifndef CRITLUA_CRIT_IMPL_H
#define CRITLUA_CRIT_IMPL_H

#include <stdarg.h>
#include <stdio.h>

#include <crit/crit.h>

#include "image.h"
#include "util.h"

/* Copy e into err (when given); returns -1. */
int crit_fail(crit_error *err, const struct err *e);
int crit_failf(crit_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A crit_image owning *img's contents (img is left as it was, not to be
 * freed); NULL with err set when memory runs out (then img is freed). */
crit_image *crit_image_wrap(struct img *img, crit_error *err);
struct img *crit_image_img(crit_image *ci);

#endif
