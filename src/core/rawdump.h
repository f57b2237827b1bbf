/* rawdump.h: `show --raw` — an image's messages in wire form (field numbers,
 * wire types, values), for images whose magic or fields critlua does not know. */
#ifndef CRITLUA_RAWDUMP_H
#define CRITLUA_RAWDUMP_H

#include "util.h"

/* Append the wire form of the image at path to out. -1 with e set when the
 * file cannot be read; what is wrong inside the file is told in the text. */
int rawdump_image(const char *path, struct buf *out, struct err *e);

#endif
