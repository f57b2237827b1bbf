/* luapb.h: protobuf-c messages and CRIU images <-> typed Lua tables, by one
 * generic walk over the descriptors (pb2lua.c one way, lua2pb.c the other). */
#ifndef CRITLUA_LUAPB_H
#define CRITLUA_LUAPB_H

#include <lua.h>
#include <protobuf-c/protobuf-c.h>

#include "image.h"

/* Metatable of an image table ({magic=, entries=, form=}). */
#define LUAPB_IMAGE_MT "crit.image"

/* ---- pb2lua.c ---- */

/* Push the metatable of message type d (created and cached on first use). */
void luapb_push_metatable(lua_State *L, const ProtobufCMessageDescriptor *d);
/* The message type of a typed table at idx, or NULL for anything else. */
const ProtobufCMessageDescriptor *luapb_typeof(lua_State *L, int idx);
/* Push m as a typed table (unknown fields kept aside, see luapb_push_unknown). */
void luapb_push_message(lua_State *L, const ProtobufCMessage *m);
/* Push one entry: its message as a typed table with the payload as `extra`. */
void luapb_push_entry(lua_State *L, const struct magic_info *mi, const struct img_entry *en);
/* Push an image table (metatable LUAPB_IMAGE_MT). */
void luapb_push_image(lua_State *L, const struct img *img);
/* Push img as luapb_push_image does, with `path` set to label, and free
 * img's contents (crit.load, ar:load). */
void luapb_push_loaded(lua_State *L, struct img *img, const char *label);
/* Push the image in buf[0..len) like luapb_push_image, but with only the
 * fields the selection at stack index spec names in each entry ({name = true
 * | {sub-selection}}; true selects all), read straight off the wire, for
 * views over many images; plain: messages without their metatables; spare:
 * room for that many more keys in each message's table (for a caller that
 * adds its own). Returns 0, or -1 with nothing pushed when it cannot tell (an
 * image with payloads or a pagemap, data it is unsure of): then decode in
 * full, which also reports any error. A misspelt name raises. A selection
 * table is compiled once: it must not change afterwards. */
int luapb_push_image_select(lua_State *L, const uint8_t *buf, size_t len, int spec, int plain,
			    int spare);
/* Push the unknown fields kept for the typed table at idx (their wire bytes), or nil. */
void luapb_push_unknown(lua_State *L, int idx);
/* Keep the string at the top of the stack as the unknown fields of the table
 * at idx (nil forgets them); pops it. */
void luapb_set_unknown(lua_State *L, int idx);

/* ---- lua2pb.c ---- All of these raise a Lua error naming the path of the
 * bad value ("entries[2].vmas[7].prot: 4294967296 is out of range for uint32"),
 * prefixed with `what` when it is not NULL; nothing leaks when they raise. */

/* A message of type d from the (typed or plain) table at idx. The result is
 * freed with protobuf_c_message_free_unpacked. */
ProtobufCMessage *luapb_to_message(lua_State *L, int idx, const ProtobufCMessageDescriptor *d,
				   const char *what);
/* A whole image from the table at idx ({magic=, entries=, form=}) into *out
 * (img_free it). Required fields are checked; payload lengths are left to
 * img_write_entry. */
void luapb_to_image(lua_State *L, int idx, struct img *out, const char *what);
/* One entry of an image of type mi from the (typed or plain) table at idx:
 * message d and its payload (`extra`) into *out (img_entry_free it). */
void luapb_to_entry(lua_State *L, int idx, const struct magic_info *mi,
		    const ProtobufCMessageDescriptor *d, struct img_entry *out, const char *what);
/* A typed copy of the plain table at idx, typed all the way down (crit.new):
 * names and value types are checked, required fields are not. Pushes it. */
void luapb_new(lua_State *L, int idx, const ProtobufCMessageDescriptor *d);

/* The enum name of value v, or NULL. */
const char *luapb_enum_name(const ProtobufCEnumDescriptor *ed, int v);

#endif
