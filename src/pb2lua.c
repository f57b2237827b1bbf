/* pb2lua.c: protobuf-c messages and decoded images -> typed Lua tables.
 * One walk over the descriptors serves every message type; the metatable of
 * each type (cached by descriptor) makes misspelt field names raise. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "luapb.h"

#define PB2LUA_MAX_DEPTH 100

/* Registry keys: the type table maps descriptor (light userdata) -> metatable
 * and metatable -> descriptor; the unknown-field table maps a typed table to
 * the wire bytes of the fields the schema does not know (weak keys, so the
 * bytes go when the table goes, and pairs() over a message never shows them). */
static const char pb2lua_types_key[] = "crit.types";
static const char pb2lua_unknown_key[] = "crit.unknown";

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

/* Edit distance, for "did you mean" (names are short; a row buffer suffices). */
static size_t pb2lua_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return (size_t)-1;
	size_t row[64];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			if (up + 1 < best)
				best = up + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* Raise "no field 'x' in vma_entry (did you mean 'y'?)". */
static int pb2lua_no_field(lua_State *L, const ProtobufCMessageDescriptor *d, int key)
{
	if (lua_type(L, key) != LUA_TSTRING)
		return luaL_error(L, "no field [%s] in %s: its fields have names",
				  luaL_tolstring(L, key, NULL), d->name);
	const char *k = lua_tostring(L, key);
	const char *best = NULL;
	size_t bestd = strlen(k) / 3 + 1; /* suggest only close names */
	for (unsigned i = 0; i < d->n_fields; i++) {
		size_t dist = pb2lua_distance(k, d->fields[i].name);
		if (dist <= bestd && (!best || dist < bestd)) {
			best = d->fields[i].name;
			bestd = dist;
		}
	}
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

static void pb2lua_push_msg(lua_State *L, const ProtobufCMessage *m, int depth);

static void pb2lua_push_value(lua_State *L, const ProtobufCFieldDescriptor *f, const void *p,
			      int depth)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		lua_pushinteger(L, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		lua_pushinteger(L, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		lua_pushinteger(L, *(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		/* Above 2^63 this wraps to a negative integer; lua2pb takes it back. */
		lua_pushinteger(L, (lua_Integer) * (const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		lua_pushnumber(L, *(const float *)p);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		lua_pushnumber(L, *(const double *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		lua_pushboolean(L, *(const protobuf_c_boolean *)p);
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		const char *name = luapb_enum_name(f->descriptor, v);
		if (name)
			lua_pushstring(L, name);
		else
			lua_pushinteger(L, v); /* a value from a newer CRIU */
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		lua_pushstring(L, s ? s : "");
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		lua_pushlstring(L, (const char *)b->data, b->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
		if (sub)
			pb2lua_push_msg(L, sub, depth + 1);
		else
			lua_pushnil(L);
		break;
	}
	}
}

static size_t pb2lua_elt_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	}
	return 0;
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

/* The unknown fields as the wire bytes they were read from: key varint, then
 * the value as protobuf-c kept it (length prefix included). */
static void pb2lua_keep_unknown(lua_State *L, const ProtobufCMessage *m)
{
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (unsigned i = 0; i < m->n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *u = &m->unknown_fields[i];
		uint64_t key = (uint64_t)u->tag << 3 | (unsigned)u->wire_type;
		do {
			luaL_addchar(&b, (char)((key & 0x7f) | (key > 0x7f ? 0x80 : 0)));
			key >>= 7;
		} while (key);
		luaL_addlstring(&b, (const char *)u->data, u->len);
	}
	luaL_pushresult(&b);
	luapb_set_unknown(L, -2);
}

static void pb2lua_push_msg(lua_State *L, const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	if (depth > PB2LUA_MAX_DEPTH)
		luaL_error(L, "%s: messages nested deeper than %d levels", d->name, PB2LUA_MAX_DEPTH);
	luaL_checkstack(L, 6, "messages nested too deep");
	lua_createtable(L, 0, (int)d->n_fields);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			if (n == 0)
				continue; /* like an absent optional field: nil */
			const char *arr = *(const char *const *)(base + f->offset);
			size_t sz = pb2lua_elt_size(f);
			lua_createtable(L, n > INT32_MAX ? INT32_MAX : (int)n, 0);
			for (size_t k = 0; k < n; k++) {
				pb2lua_push_value(L, f, arr + k * sz, depth);
				lua_rawseti(L, -2, (lua_Integer)k + 1);
			}
		} else {
			if (!pb2lua_present(m, f))
				continue;
			pb2lua_push_value(L, f, base + f->offset, depth);
		}
		lua_setfield(L, -2, f->name); /* raw: no metatable yet */
	}
	luapb_push_metatable(L, d);
	lua_setmetatable(L, -2);
	if (m->n_unknown_fields)
		pb2lua_keep_unknown(L, m);
}

void luapb_push_message(lua_State *L, const ProtobufCMessage *m)
{
	pb2lua_push_msg(L, m, 0);
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

void luapb_push_entry(lua_State *L, const struct magic_info *mi, const struct img_entry *en)
{
	luapb_push_message(L, en->msg);
	switch (mi->payload) {
	case PL_IPC_MSG:
		/* Always a sequence, empty when qnum is 0, as CRIT's JSON has it. */
		lua_createtable(L, (int)(en->n_items > INT32_MAX ? INT32_MAX : en->n_items), 0);
		for (size_t i = 0; i < en->n_items; i++) {
			lua_createtable(L, 0, 2);
			luapb_push_message(L, en->items[i].msg);
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

void luapb_push_image(lua_State *L, const struct img *img)
{
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
		luapb_push_entry(L, img->mi, &img->entries[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "entries");
	luaL_setmetatable(L, LUAPB_IMAGE_MT);
}
