/* rawdump.h: `show --raw` — an image's messages in wire form (field numbers,
 * wire types, values), for images whose magic or fields critlua does not know. */
#ifndef CRITLUA_RAWDUMP_H
#define CRITLUA_RAWDUMP_H

#include "util.h"

/* Append the wire form of the image at path to out. -1 with e set when the
 * file cannot be read; 1 with e set to the first damage found (naming the
 * file, entry and offset) when it is damaged: the text, which shows the damage
 * in place, is appended all the same; 0 when it is whole. */
int rawdump_image(const char *path, struct buf *out, struct err *e);

#endif
