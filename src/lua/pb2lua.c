/* pb2lua.c: protobuf messages and decoded images -> typed Lua tables.
 * One walker reads the wire format into tables, every field or only those a
 * compiled selection names; the metatable of each type (cached by descriptor)
 * makes misspelt field names raise. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "luapb.h"
#include "pbwire.h"

#define PB2LUA_MAX_DEPTH 100

/* Registry keys: the type table maps descriptor (light userdata) -> metatable
 * and metatable -> descriptor; the unknown-field table maps a typed table to
 * the wire bytes of the fields the schema does not know (weak keys, so the
 * bytes go when the table goes, and pairs() over a message never shows them);
 * the keys table maps descriptor -> its field names as Lua strings; the
 * selections table (weak keys) a selection table of crit._select -> its
 * compiled form per message type; the flat table maps descriptor -> its
 * pbw_flat (a userdata), or false when it has none, for whole messages. */
static const char pb2lua_types_key[] = "crit.types";
static const char pb2lua_unknown_key[] = "crit.unknown";
static const char pb2lua_keys_key[] = "crit.keys";
static const char pb2lua_sels_key[] = "crit.selections";
static const char pb2lua_flats_key[] = "crit.flat";

static void pb2lua_registry_table(lua_State *L, const char *key, const char *mode)
{
	if (lua_getfield(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE)
		return;
	lua_pop(L, 1);
	lua_newtable(L);
	if (mode) {
		lua_createtable(L, 0, 1);
		lua_pushstring(L, mode);
		lua_setfield(L, -2, "__mode");
		lua_setmetatable(L, -2);
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, LUA_REGISTRYINDEX, key);
}

/* Raise "no field 'x' in vma_entry (did you mean 'y'?)". */
static int pb2lua_no_field(lua_State *L, const ProtobufCMessageDescriptor *d, int key)
{
	if (lua_type(L, key) != LUA_TSTRING)
		return luaL_error(L, "no field [%s] in %s: its fields have names",
				  luaL_tolstring(L, key, NULL), d->name);
	const char *k = lua_tostring(L, key);
	const char *best = pb_nearest_field(d, k);
	if (best)
		return luaL_error(L, "no field '%s' in %s (did you mean '%s'?)", k, d->name, best);
	return luaL_error(L, "no field '%s' in %s", k, d->name);
}

static int pb2lua_known(const ProtobufCMessageDescriptor *d, lua_State *L, int key)
{
	if (lua_type(L, key) != LUA_TSTRING)
		return 0;
	const char *k = lua_tostring(L, key);
	return strcmp(k, "extra") == 0 || protobuf_c_message_descriptor_get_field_by_name(d, k);
}

/* __index runs only for keys the table does not hold: an absent field is
 * nil, a name the type does not have is a mistake worth stopping for. */
static int pb2lua_index(lua_State *L)
{
	const ProtobufCMessageDescriptor *d = lua_touserdata(L, lua_upvalueindex(1));
	if (lua_type(L, 2) != LUA_TSTRING || pb2lua_known(d, L, 2))
		return 0; /* nil; non-string keys too, so ipairs() over a message is harmless */
	return pb2lua_no_field(L, d, 2);
}

static int pb2lua_newindex(lua_State *L)
{
	const ProtobufCMessageDescriptor *d = lua_touserdata(L, lua_upvalueindex(1));
	if (!pb2lua_known(d, L, 2))
		return pb2lua_no_field(L, d, 2);
	lua_settop(L, 3);
	lua_rawset(L, 1);
	return 0;
}

void luapb_push_metatable(lua_State *L, const ProtobufCMessageDescriptor *d)
{
	pb2lua_registry_table(L, pb2lua_types_key, NULL); /* types */
	if (lua_rawgetp(L, -1, d) == LUA_TTABLE) {
		lua_remove(L, -2);
		return;
	}
	lua_pop(L, 1);
	lua_createtable(L, 0, 4); /* types mt */
	lua_pushstring(L, d->name);
	lua_setfield(L, -2, "__name");
	lua_pushlightuserdata(L, (void *)d);
	lua_pushcclosure(L, pb2lua_index, 1);
	lua_setfield(L, -2, "__index");
	lua_pushlightuserdata(L, (void *)d);
	lua_pushcclosure(L, pb2lua_newindex, 1);
	lua_setfield(L, -2, "__newindex");
	lua_pushvalue(L, -1);
	lua_rawsetp(L, -3, d); /* types[d] = mt */
	lua_pushvalue(L, -1);
	lua_pushlightuserdata(L, (void *)d);
	lua_rawset(L, -4); /* types[mt] = d */
	lua_remove(L, -2);
}

const ProtobufCMessageDescriptor *luapb_typeof(lua_State *L, int idx)
{
	if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
		return NULL;
	pb2lua_registry_table(L, pb2lua_types_key, NULL); /* mt types */
	lua_rotate(L, -2, 1);                              /* types mt */
	lua_rawget(L, -2);                                 /* types d? */
	const ProtobufCMessageDescriptor *d = lua_touserdata(L, -1);
	lua_pop(L, 2);
	return d;
}

const char *luapb_enum_name(const ProtobufCEnumDescriptor *ed, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);
	return ev ? ev->name : NULL;
}

/* What pushing messages needs again and again, held at fixed stack slots for
 * a whole image: the metatables by descriptor, and each descriptor's field
 * names as Lua strings — setting a field by its C name would look the name
 * up and intern it anew for every field of every message. */
struct pb2lua_ctx {
	lua_State *L;
	int types; /* registry "crit.types": descriptor -> metatable */
	int keys;  /* registry "crit.keys": descriptor -> {field names by index} */
	int flats; /* registry "crit.flat": descriptor -> pbw_flat | false */
	int scratch; /* a userdata of cap bytes: a decoded message packed again */
	size_t cap;
	int plain; /* leave the tables without metatables */
	int spare; /* hash slots to leave free in each selected message's table */
};

static void pb2lua_ctx_open(lua_State *L, struct pb2lua_ctx *c)
{
	c->L = L;
	c->plain = 0;
	c->spare = 0;
	c->cap = 0;
	luaL_checkstack(L, 6, NULL);
	pb2lua_registry_table(L, pb2lua_types_key, NULL);
	c->types = lua_gettop(L);
	pb2lua_registry_table(L, pb2lua_keys_key, NULL);
	c->keys = lua_gettop(L);
	pb2lua_registry_table(L, pb2lua_flats_key, NULL);
	c->flats = lua_gettop(L);
	lua_pushnil(L);
	c->scratch = lua_gettop(L);
}

/* Drop the context's slots from under the value at the top. */
static void pb2lua_ctx_close(struct pb2lua_ctx *c)
{
	lua_remove(c->L, c->scratch);
	lua_remove(c->L, c->flats);
	lua_remove(c->L, c->keys);
	lua_remove(c->L, c->types);
}

static void pb2lua_push_keys(struct pb2lua_ctx *c, const ProtobufCMessageDescriptor *d)
{
	lua_State *L = c->L;
	if (lua_rawgetp(L, c->keys, d) == LUA_TTABLE)
		return;
	lua_pop(L, 1);
	lua_createtable(L, (int)d->n_fields, 0);
	for (unsigned i = 0; i < d->n_fields; i++) {
		lua_pushstring(L, d->fields[i].name);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_pushvalue(L, -1);
	lua_rawsetp(L, c->keys, d);
}

/* Give the table at the top the metatable of d. */
static void pb2lua_set_mt(struct pb2lua_ctx *c, const ProtobufCMessageDescriptor *d)
{
	if (c->plain)
		return;
	if (lua_rawgetp(c->L, c->types, d) != LUA_TTABLE) {
		lua_pop(c->L, 1);
		luapb_push_metatable(c->L, d);
	}
	lua_setmetatable(c->L, -2);
}

static void pb2lua_push_msg(struct pb2lua_ctx *c, const ProtobufCMessage *m);

void luapb_push_message(lua_State *L, const ProtobufCMessage *m)
{
	struct pb2lua_ctx c;
	pb2lua_ctx_open(L, &c);
	pb2lua_push_msg(&c, m);
	pb2lua_ctx_close(&c);
}

void luapb_push_unknown(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	pb2lua_registry_table(L, pb2lua_unknown_key, "k");
	lua_pushvalue(L, idx);
	lua_rawget(L, -2);
	lua_remove(L, -2);
}

void luapb_set_unknown(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	pb2lua_registry_table(L, pb2lua_unknown_key, "k"); /* bytes unk */
	lua_pushvalue(L, idx);
	lua_pushvalue(L, -3);
	lua_rawset(L, -3);
	lua_pop(L, 2);
}

/* Is an optional field set? protobuf-c fills defaults into absent fields, so
 * presence is read from has_ flags, or for pointers from NULL/default. */
static int pb2lua_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	if (f->label != PROTOBUF_C_LABEL_OPTIONAL)
		return 1;
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
		const void *p = *(const void *const *)(base + f->offset);
		return p && p != f->default_value;
	}
	return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
}

static lua_Integer pb2lua_uint_field(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	if (!f || f->label == PROTOBUF_C_LABEL_REPEATED || !pb2lua_present(m, f))
		return 0;
	const void *p = (const char *)m + f->offset;
	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return *(const uint32_t *)p;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return (lua_Integer) * (const uint64_t *)p;
	default:
		return 0;
	}
}

static void pb2lua_push_entry(struct pb2lua_ctx *c, const struct magic_info *mi,
			      const struct img_entry *en)
{
	lua_State *L = c->L;
	pb2lua_push_msg(c, en->msg);
	switch (mi->payload) {
	case PL_IPC_MSG:
		/* Always a sequence, empty when qnum is 0, as CRIT's JSON has it. */
		lua_createtable(L, (int)(en->n_items > INT32_MAX ? INT32_MAX : en->n_items), 0);
		for (size_t i = 0; i < en->n_items; i++) {
			lua_createtable(L, 0, 2);
			pb2lua_push_msg(c, en->items[i].msg);
			lua_setfield(L, -2, "msg");
			lua_pushlstring(L, (const char *)en->items[i].data, en->items[i].len);
			lua_setfield(L, -2, "data");
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	case PL_TCP_STREAM: {
		if (!en->has_extra)
			return;
		size_t inq = (size_t)pb2lua_uint_field(en->msg, "inq_len");
		if (inq > en->extra_len)
			inq = en->extra_len;
		lua_createtable(L, 0, 2);
		lua_pushlstring(L, (const char *)en->extra, inq);
		lua_setfield(L, -2, "inq");
		lua_pushlstring(L, (const char *)en->extra + inq, en->extra_len - inq);
		lua_setfield(L, -2, "outq");
		break;
	}
	case PL_IPC_SEM:
		if (!en->has_extra)
			return;
		lua_createtable(L, (int)(en->extra_len / 2), 0);
		for (size_t i = 0; i + 1 < en->extra_len; i += 2) {
			lua_pushinteger(L, en->extra[i] | en->extra[i + 1] << 8);
			lua_rawseti(L, -2, (lua_Integer)(i / 2) + 1);
		}
		break;
	default:
		if (!en->has_extra)
			return;
		lua_pushlstring(L, (const char *)en->extra, en->extra_len);
		break;
	}
	lua_setfield(L, -2, "extra"); /* __newindex allows "extra" */
}

void luapb_push_entry(lua_State *L, const struct magic_info *mi, const struct img_entry *en)
{
	struct pb2lua_ctx c;
	pb2lua_ctx_open(L, &c);
	pb2lua_push_entry(&c, mi, en);
	pb2lua_ctx_close(&c);
}

static const char *pb2lua_form_name(enum img_form form)
{
	switch (form) {
	case FORM_COMMON:
		return "common";
	case FORM_SERVICE:
		return "service";
	case FORM_BARE:
		return "bare";
	}
	return "common";
}

void luapb_push_loaded(lua_State *L, struct img *img, const char *label)
{
	luapb_push_image(L, img);
	lua_pushstring(L, label);
	lua_setfield(L, -2, "path");
	img_free(img);
}

void luapb_push_image(lua_State *L, const struct img *img)
{
	struct pb2lua_ctx c;
	pb2lua_ctx_open(L, &c);
	lua_createtable(L, 0, 3);
	lua_pushstring(L, img->mi->name);
	lua_setfield(L, -2, "magic");
	/* Only a form other than the one CRIU writes for this type is worth
	 * keeping: a v1 image (no head) then saves back as it was read. */
	if (img->form != img->mi->head) {
		lua_pushstring(L, pb2lua_form_name(img->form));
		lua_setfield(L, -2, "form");
	}
	lua_createtable(L, img->n > INT32_MAX ? INT32_MAX : (int)img->n, 0);
	for (size_t i = 0; i < img->n; i++) {
		pb2lua_push_entry(&c, img->mi, &img->entries[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "entries");
	luaL_setmetatable(L, LUAPB_IMAGE_MT);
	pb2lua_ctx_close(&c);
}

/* ---- The walker: wire format -> tables ----
 * Every message becomes a table by one walk over its wire format, which
 * builds either every field (crit.load, crit.decode: the message protobuf-c
 * decoded and checked, packed again) or only the fields a compiled selection
 * names (crit._select, for the explore views, which read a few fields of
 * thousands of images: a core's comm, not its registers; protobuf-c would
 * unpack every field into malloc'd memory first). A selective walk passes over
 * fields unknown to the schema, and whatever it is unsure of in what it reads
 * (malformed data, a wire type that does not fit the field, a missing
 * required field, a singular message given twice, which protobuf merges)
 * makes it give up, so that the caller decodes in full and reports any error
 * exactly as crit.load does. What it skips is only framed, not checked: an
 * image damaged inside the registers still gives the comm a view asks for
 * (crit.load refuses it). */

/* PB2LUA_COLS: a repeated message read as columns ({columns = {names}}):
 * one array per selected field, indexed by element, and n the count, rather
 * than one table per element (tens of thousands of VMAs). */
enum { PB2LUA_SKIP, PB2LUA_ALL, PB2LUA_SUB, PB2LUA_COLS };

/* A compiled selection for one message type: per field index what to read. */
struct pb2lua_sel {
	const ProtobufCMessageDescriptor *d;
	int n; /* fields selected */
	unsigned char *mode;
	struct pb2lua_sel **sub; /* PB2LUA_SUB: the selection inside */
	/* Messages of small varint fields only (a VMA) are read in one pass
	 * (pbw_flat_read); flat_ok: d allows it. */
	int flat_ok;
	struct pbw_flat flat;
};

/* Whether the selection at the top for field f asks for columns
 * ({columns = {"start", "end", ...}}, f a repeated message without a field
 * named columns): then the top is replaced by {name = true, ...} (the
 * selection inside) above the original. */
static int pb2lua_sel_columns(lua_State *L, const ProtobufCFieldDescriptor *f)
{
	if (f->label != PROTOBUF_C_LABEL_REPEATED ||
	    protobuf_c_message_descriptor_get_field_by_name((const ProtobufCMessageDescriptor *)f->descriptor,
							    "columns"))
		return 0;
	if (lua_getfield(L, -1, "columns") != LUA_TTABLE) {
		lua_pop(L, 1);
		return 0;
	}
	const ProtobufCMessageDescriptor *d = f->descriptor;
	lua_newtable(L);
	for (lua_Integer k = 1; lua_rawgeti(L, -2, k) == LUA_TSTRING; k++) {
		const char *name = lua_tostring(L, -1);
		const ProtobufCFieldDescriptor *cf = protobuf_c_message_descriptor_get_field_by_name(d, name);
		if (!strcmp(name, "n") || !cf || cf->label == PROTOBUF_C_LABEL_REPEATED ||
		    cf->type == PROTOBUF_C_TYPE_MESSAGE || cf->type == PROTOBUF_C_TYPE_STRING ||
		    cf->type == PROTOBUF_C_TYPE_BYTES)
			luaL_error(L, "field selection: %s.columns: '%s' is no column (a singular number of %s)",
				   f->name, name, d->name);
		lua_pushboolean(L, 1);
		lua_rawset(L, -3);
	}
	lua_pop(L, 1);
	lua_remove(L, -2); /* the columns list */
	return 1;
}

/* Compile the selection table at idx ({name = true | {...}}) for d. Nodes
 * are userdata kept alive by the table at `anchor`; bad names raise. */
static struct pb2lua_sel *pb2lua_sel_compile(lua_State *L, int idx, const ProtobufCMessageDescriptor *d,
					     int anchor, int depth)
{
	if (depth > PB2LUA_MAX_DEPTH)
		luaL_error(L, "field selection nested deeper than %d levels", PB2LUA_MAX_DEPTH);
	luaL_checkstack(L, 6, "field selection nested too deep");
	idx = lua_absindex(L, idx);
	size_t nf = d->n_fields;
	struct pb2lua_sel *s = lua_newuserdatauv(L, sizeof *s + nf * (sizeof *s->sub + 1), 0);
	lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
	s->d = d;
	s->n = 0;
	s->flat_ok = pbw_flat_init(&s->flat, d) == 0;
	s->sub = (struct pb2lua_sel **)(s + 1);
	s->mode = (unsigned char *)(s->sub + nf);
	memset(s->sub, 0, nf * sizeof *s->sub);
	memset(s->mode, PB2LUA_SKIP, nf);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		int key = lua_gettop(L) - 1;
		const ProtobufCFieldDescriptor *f = NULL;
		if (lua_type(L, key) == LUA_TSTRING)
			f = protobuf_c_message_descriptor_get_field_by_name(d, lua_tostring(L, key));
		if (!f)
			pb2lua_no_field(L, d, key);
		size_t i = (size_t)(f - d->fields);
		if (lua_type(L, -1) == LUA_TTABLE) {
			if (f->type != PROTOBUF_C_TYPE_MESSAGE)
				luaL_error(L, "field selection: %s.%s is not a message (select it with true)",
					   d->name, f->name);
			if (pb2lua_sel_columns(L, f)) {
				s->sub[i] = pb2lua_sel_compile(L, -1, f->descriptor, anchor, depth + 1);
				s->mode[i] = PB2LUA_COLS;
				lua_pop(L, 1); /* the names' table */
			} else {
				s->sub[i] = pb2lua_sel_compile(L, -1, f->descriptor, anchor, depth + 1);
				s->mode[i] = PB2LUA_SUB;
			}
			s->n++;
		} else if (lua_toboolean(L, -1)) {
			s->mode[i] = PB2LUA_ALL;
			s->n++;
		}
		lua_pop(L, 1);
	}
	return s;
}

/* The compiled selection of the table at spec for d, pushed (a userdata;
 * the pointer is returned). Compiled once per table and type and kept while
 * the table lives: a view passes the same table for thousands of images. The
 * table must not change afterwards. */
static const struct pb2lua_sel *pb2lua_sel_get(lua_State *L, int spec,
					       const ProtobufCMessageDescriptor *d)
{
	pb2lua_registry_table(L, pb2lua_sels_key, "k"); /* sels */
	lua_pushvalue(L, spec);
	if (lua_rawget(L, -2) != LUA_TTABLE) { /* sels byd: descriptor -> root, [i] anchors */
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, spec);
		lua_pushvalue(L, -2);
		lua_rawset(L, -4);
	}
	int byd = lua_gettop(L);
	if (lua_rawgetp(L, byd, d) != LUA_TUSERDATA) {
		lua_pop(L, 1);
		lua_Integer root = (lua_Integer)lua_rawlen(L, byd) + 1;
		pb2lua_sel_compile(L, spec, d, byd, 0);
		lua_rawgeti(L, byd, root);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, byd, d);
	}
	const struct pb2lua_sel *sel = lua_touserdata(L, -1);
	lua_replace(L, byd - 1);
	lua_settop(L, byd - 1);
	return sel;
}

static int pb2lua_wire_msg(struct pb2lua_ctx *c, const ProtobufCMessageDescriptor *d,
			   const struct pb2lua_sel *sel, const uint8_t *p, size_t len, int depth);

/* Push one scalar read as `raw` (varint or fixed), with the conversions
 * protobuf-c makes (32-bit types keep the low 32 bits). */
static void pb2lua_wire_scalar(lua_State *L, const ProtobufCFieldDescriptor *f, uint64_t raw)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		lua_pushinteger(L, (lua_Integer)pbw_int(f, raw));
		break;
	case PROTOBUF_C_TYPE_FLOAT: {
		uint32_t u = (uint32_t)raw;
		float x;
		memcpy(&x, &u, sizeof x);
		lua_pushnumber(L, x);
		break;
	}
	case PROTOBUF_C_TYPE_DOUBLE: {
		double x;
		memcpy(&x, &raw, sizeof x);
		lua_pushnumber(L, x);
		break;
	}
	case PROTOBUF_C_TYPE_BOOL:
		lua_pushboolean(L, raw != 0);
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		int v = (int32_t)(uint32_t)raw;
		const char *name = luapb_enum_name(f->descriptor, v);
		if (name)
			lua_pushstring(L, name);
		else
			lua_pushinteger(L, v);
		break;
	}
	default:
		lua_pushnil(L);
	}
}

/* Push one length-delimited value (v, n) of f. */
static int pb2lua_wire_delimited(struct pb2lua_ctx *c, const ProtobufCFieldDescriptor *f,
				 const struct pb2lua_sel *sub, const uint8_t *v, size_t n, int depth)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		/* protobuf-c ends a string at its first NUL, as the full path reads it */
		const uint8_t *nul = memchr(v, 0, n);
		lua_pushlstring(c->L, (const char *)v, nul ? (size_t)(nul - v) : n);
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES:
		lua_pushlstring(c->L, (const char *)v, n);
		return 0;
	default:
		return pb2lua_wire_msg(c, f->descriptor, sub, v, n, depth + 1);
	}
}

/* Append the packed values v[0..n) of repeated scalar f to the table at arr. */
static int pb2lua_wire_packed(lua_State *L, const ProtobufCFieldDescriptor *f, int arr,
			      const uint8_t *v, size_t n)
{
	const uint8_t *end = v + n;
	unsigned wt = schema_wire_type(f->type), width = wt == 5 ? 4 : 8;
	lua_Integer k = (lua_Integer)lua_rawlen(L, arr);
	while (v < end) {
		uint64_t raw;
		if (wt == 0) {
			if (pbw_varint(&v, end, &raw) < 0)
				return -1;
		} else {
			if ((size_t)(end - v) < width)
				return -1;
			raw = pbw_le(v, width);
			v += width;
		}
		pb2lua_wire_scalar(L, f, raw);
		lua_rawseti(L, arr, ++k);
	}
	return 0;
}

/* Add the bytes p[0..n) of fields the schema does not know to the string
 * (or nil) at slot acc. */
static void pb2lua_add_unknown(lua_State *L, int acc, const uint8_t *p, size_t n)
{
	lua_pushlstring(L, (const char *)p, n);
	if (!lua_isnil(L, acc)) {
		lua_pushvalue(L, acc);
		lua_rotate(L, -2, 1);
		lua_concat(L, 2);
	}
	lua_replace(L, acc);
}

/* The table size for a message read whole: its distinct fields. */
static int pb2lua_count_fields(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len)
{
	struct pbw w;
	struct pbw_field fl;
	int n = 0;
	if (pbw_start(&w, d, p, len) < 0)
		return 0;
	while (pbw_next(&w, &fl) > 0)
		n += !fl.again;
	return n;
}

/* The one-pass table of d for whole messages, or NULL when d has none. */
static const struct pbw_flat *pb2lua_flat_of(struct pb2lua_ctx *c, const ProtobufCMessageDescriptor *d)
{
	lua_State *L = c->L;
	int type = lua_rawgetp(L, c->flats, d);
	const struct pbw_flat *fl = type == LUA_TUSERDATA ? lua_touserdata(L, -1) : NULL;
	lua_pop(L, 1);
	if (type != LUA_TNIL)
		return fl;
	struct pbw_flat *nf = lua_newuserdatauv(L, sizeof *nf, 0);
	if (pbw_flat_init(nf, d) < 0) {
		lua_pop(L, 1);
		lua_pushboolean(L, 0);
		nf = NULL;
	}
	lua_rawsetp(L, c->flats, d); /* the registry keeps it */
	return nf;
}

/* A message of small varint fields in one pass (the fields sel selects, or
 * all), when the message has nothing else: 0 with its table pushed, or -1
 * with nothing. */
static int pb2lua_walk_flat(struct pb2lua_ctx *c, const ProtobufCMessageDescriptor *d,
			    const struct pbw_flat *flat, const struct pb2lua_sel *sel, const uint8_t *p,
			    size_t len)
{
	lua_State *L = c->L;
	uint64_t raw[64], seen;
	if (pbw_flat_read(flat, p, len, raw, &seen) < 0)
		return -1;
	lua_createtable(L, 0, sel ? sel->n + c->spare : __builtin_popcountll(seen));
	int t = lua_gettop(L);
	pb2lua_push_keys(c, d); /* t + 1 */
	for (; seen; seen &= seen - 1) {
		unsigned i = (unsigned)__builtin_ctzll(seen);
		if (sel && sel->mode[i] == PB2LUA_SKIP)
			continue;
		lua_rawgeti(L, t + 1, (lua_Integer)i + 1);
		pb2lua_wire_scalar(L, &d->fields[i], raw[i]);
		lua_rawset(L, t);
	}
	lua_settop(L, t);
	pb2lua_set_mt(c, d);
	return 0;
}

/* Add the element fl of the repeated message fl->f, and those that follow
 * it at once in the walk w, as columns to the columns' table under the key at
 * the top in the table at t (made at the first element; each array sized for
 * the elements found together). Only messages the one-pass reader takes: -1
 * otherwise. */
static int pb2lua_wire_columns(struct pb2lua_ctx *c, const struct pb2lua_sel *sub, int t, struct pbw *w,
			       const struct pbw_field *fl)
{
	lua_State *L = c->L;
	const ProtobufCMessageDescriptor *d = sub->d;
	if (!sub->flat_ok || !lua_checkstack(L, sub->n + 8))
		return -1;
	/* The elements that come together (up to a batch), found in a copy of
	 * the walk, which then goes on after the last one taken. */
	struct {
		const uint8_t *v;
		size_t n;
	} el[256];
	int count = 1;
	el[0].v = fl->v;
	el[0].n = fl->n;
	for (struct pbw ahead = *w; count < (int)(sizeof el / sizeof el[0]); count++) {
		struct pbw_field nx;
		if (pbw_next(&ahead, &nx) <= 0 || nx.i != fl->i || nx.wt != 2)
			break;
		el[count].v = nx.v;
		el[count].n = nx.n;
		*w = ahead;
	}
	int key = lua_gettop(L);
	lua_pushvalue(L, key);
	int fresh = lua_rawget(L, t) != LUA_TTABLE;
	if (fresh) {
		lua_pop(L, 1);
		lua_createtable(L, 0, sub->n + 1);
		lua_pushvalue(L, key);
		lua_pushvalue(L, -2);
		lua_rawset(L, t);
	}
	int cols = lua_gettop(L);
	lua_getfield(L, cols, "n");
	lua_Integer k = lua_tointeger(L, -1);
	lua_pop(L, 1);
	pb2lua_push_keys(c, d); /* cols + 1 */
	int slot[64];           /* by field index: where its array is on the stack */
	for (unsigned i = 0; i < d->n_fields; i++) {
		if (sub->mode[i] == PB2LUA_SKIP)
			continue;
		lua_rawgeti(L, cols + 1, (lua_Integer)i + 1);
		lua_pushvalue(L, -1);
		if (lua_rawget(L, cols) != LUA_TTABLE) {
			lua_pop(L, 1);
			lua_createtable(L, fresh ? count : 0, 0);
			lua_pushvalue(L, -2);
			lua_pushvalue(L, -2);
			lua_rawset(L, cols);
		}
		lua_remove(L, -2);
		slot[i] = lua_gettop(L);
	}
	for (int e = 0; e < count; e++) {
		uint64_t raw[64], seen;
		if (pbw_flat_read(&sub->flat, el[e].v, el[e].n, raw, &seen) < 0)
			goto fail;
		k++;
		for (; seen; seen &= seen - 1) {
			unsigned i = (unsigned)__builtin_ctzll(seen);
			if (sub->mode[i] == PB2LUA_SKIP)
				continue;
			pb2lua_wire_scalar(L, &d->fields[i], raw[i]);
			lua_rawseti(L, slot[i], k);
		}
	}
	lua_pushinteger(L, k);
	lua_setfield(L, cols, "n");
	lua_settop(L, key - 1);
	return 0;
fail:
	lua_settop(L, key - 1);
	return -1;
}

/* Push the message of type d in p[0..len) with the fields sel selects, or
 * (sel NULL) every field, with the bytes of those the schema does not know
 * kept aside (luapb_set_unknown). Returns 0, or -1 with nothing pushed when
 * the full decoder must tell. */
static int pb2lua_wire_msg(struct pb2lua_ctx *c, const ProtobufCMessageDescriptor *d,
			   const struct pb2lua_sel *sel, const uint8_t *p, size_t len, int depth)
{
	lua_State *L = c->L;
	struct pbw w;
	static const uint8_t none[1];
	if (!p)
		p = none; /* an empty message may come as NULL: the walks add offsets to p */
	if (depth > PB2LUA_MAX_DEPTH || pbw_start(&w, d, p, len) < 0 || !lua_checkstack(L, 8))
		return -1;
	const struct pbw_flat *flat = sel ? (sel->flat_ok ? &sel->flat : NULL) : pb2lua_flat_of(c, d);
	if (flat && pb2lua_walk_flat(c, d, flat, sel, p, len) == 0)
		return 0;
	lua_createtable(L, 0, sel ? sel->n + c->spare : pb2lua_count_fields(d, p, len));
	int t = lua_gettop(L);
	pb2lua_push_keys(c, d); /* t + 1 */
	lua_pushnil(L);         /* t + 2: the unknown fields' bytes (whole messages) */
	const uint8_t *from = p; /* the end of the last field read */
	struct pbw_field fl;
	int more;
	while ((more = pbw_next(&w, &fl)) > 0) {
		const ProtobufCFieldDescriptor *f = fl.f;
		if (!sel && fl.at > from)
			pb2lua_add_unknown(L, t + 2, from, (size_t)(fl.at - from));
		from = w.p;
		int mode = sel ? sel->mode[fl.i] : PB2LUA_ALL;
		if (mode == PB2LUA_SKIP)
			continue;
		int typed = pbw_typed(&fl), packed = typed == 2;
		if (!typed)
			goto fail;
		if (packed && fl.n == 0)
			continue; /* no values: the field stays absent, as protobuf-c has it */
		if (mode == PB2LUA_COLS) {
			lua_rawgeti(L, t + 1, (lua_Integer)fl.i + 1); /* the key */
			if (fl.wt != 2 || pb2lua_wire_columns(c, sel->sub[fl.i], t, &w, &fl) < 0)
				goto fail;
			lua_settop(L, t + 2);
			continue;
		}
		const struct pb2lua_sel *sub = mode == PB2LUA_SUB ? sel->sub[fl.i] : NULL;
		lua_rawgeti(L, t + 1, (lua_Integer)fl.i + 1); /* the key */
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			lua_pushvalue(L, -1);
			if (lua_rawget(L, t) == LUA_TNIL) {
				lua_pop(L, 1);
				lua_newtable(L);
				lua_pushvalue(L, -2);
				lua_pushvalue(L, -2);
				lua_rawset(L, t);
			}
			int arr = lua_gettop(L);
			if (packed) {
				if (pb2lua_wire_packed(L, f, arr, fl.v, fl.n) < 0)
					goto fail;
			} else {
				if (fl.wt == 2) {
					if (pb2lua_wire_delimited(c, f, sub, fl.v, fl.n, depth) < 0)
						goto fail;
				} else {
					pb2lua_wire_scalar(L, f, fl.raw);
				}
				lua_rawseti(L, arr, (lua_Integer)lua_rawlen(L, arr) + 1);
			}
			lua_settop(L, t + 2);
		} else {
			if (f->type == PROTOBUF_C_TYPE_MESSAGE && fl.again)
				goto fail; /* protobuf merges the two: leave that to it */
			if (fl.wt == 2) {
				if (pb2lua_wire_delimited(c, f, sub, fl.v, fl.n, depth) < 0)
					goto fail;
			} else {
				pb2lua_wire_scalar(L, f, fl.raw);
			}
			lua_rawset(L, t);
		}
	}
	if (more < 0)
		goto fail;
	if (!sel && w.end > from)
		pb2lua_add_unknown(L, t + 2, from, (size_t)(w.end - from));
	lua_settop(L, t + 2);
	if (!sel && !lua_isnil(L, t + 2))
		luapb_set_unknown(L, t); /* pops the bytes */
	lua_settop(L, t);
	pb2lua_set_mt(c, d);
	return 0;
fail:
	lua_settop(L, t - 1);
	return -1;
}

/* Push a message protobuf-c decoded (and so checked): packed again, which
 * also merges what protobuf merges, and walked whole. */
static void pb2lua_push_msg(struct pb2lua_ctx *c, const ProtobufCMessage *m)
{
	lua_State *L = c->L;
	size_t n = protobuf_c_message_get_packed_size(m);
	if (n > c->cap) {
		c->cap = n < 4096 ? 4096 : n;
		lua_newuserdatauv(L, c->cap, 0);
		lua_replace(L, c->scratch);
	}
	uint8_t *buf = lua_touserdata(L, c->scratch);
	protobuf_c_message_pack(m, buf);
	if (pb2lua_wire_msg(c, m->descriptor, NULL, buf, n, 0) < 0)
		luaL_error(L, "%s: messages nested deeper than %d levels, or not read back", m->descriptor->name,
			   PB2LUA_MAX_DEPTH);
}

int luapb_push_image_select(lua_State *L, const uint8_t *buf, size_t len, int spec, int plain,
			    int spare)
{
	struct img_reader r;
	struct err e;
	/* Payload images need their messages to find the payloads (a pagemap's
	 * pages are in another file: it has none here): left to the full path.
	 * So is a selection of fields in an image of two types (a pagemap: its
	 * head, then its entries), which names the fields of one; every field
	 * (spec true) is read here, each entry with its own type. */
	if (img_reader_init(&r, buf, len, &e) < 0 || (r.mi->payload != PL_NONE && r.mi->payload != PL_PAGEMAP) ||
	    (r.mi->desc2 && lua_type(L, spec) == LUA_TTABLE))
		return -1;
	/* Count the entries first: a framing error goes to the full path too. */
	size_t count = 0;
	for (size_t off = r.off; off < len; count++) {
		if (len - off < 4 || pbw_le(buf + off, 4) > len - off - 4)
			return -1;
		off += 4 + (size_t)pbw_le(buf + off, 4);
	}
	spec = lua_absindex(L, spec);
	int base = lua_gettop(L);
	luaL_checkstack(L, 8, NULL);
	lua_pushnil(L); /* base + 1: keeps the compiled selection alive */
	const struct pb2lua_sel *sel = NULL;
	if (lua_type(L, spec) == LUA_TTABLE) {
		sel = pb2lua_sel_get(L, spec, r.mi->desc);
		lua_replace(L, base + 1);
	}
	struct pb2lua_ctx c;
	pb2lua_ctx_open(L, &c);
	c.plain = plain;
	c.spare = spare;
	lua_createtable(L, 0, 3);
	lua_pushstring(L, r.mi->name);
	lua_setfield(L, -2, "magic");
	if (r.form != r.mi->head) {
		lua_pushstring(L, pb2lua_form_name(r.form));
		lua_setfield(L, -2, "form");
	}
	lua_createtable(L, count > INT32_MAX ? INT32_MAX : (int)count, 0);
	size_t off = r.off;
	for (size_t i = 0; i < count; i++) {
		size_t size = (size_t)pbw_le(buf + off, 4);
		if (pb2lua_wire_msg(&c, img_entry_desc(r.mi, i, NULL), sel, buf + off + 4, size, 0) < 0) {
			lua_settop(L, base);
			return -1;
		}
		lua_rawseti(L, -2, (lua_Integer)i + 1);
		off += 4 + size;
	}
	lua_setfield(L, -2, "entries");
	luaL_setmetatable(L, LUAPB_IMAGE_MT);
	lua_replace(L, base + 1);
	lua_settop(L, base + 1);
	return 0;
}
