/* ljson_in.c: the reading half of crit.json — crit.json.decode(text) turns
 * any JSON into Lua values — and crit._encode_file, the C path of `encode`. */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include <crit/crit.h>

#include "json_in.h"
#include "jread.h"
#include "laux.h"
#include "lparts.h"

/* Generic JSON nests deeper than images do; the walk below recurses once per level. */
#define LJI_MAX_DEPTH 200
/* The registry name of crit.json.array_mt (ljson_out.c): decoded arrays carry
 * it, so that an empty one is written back as [] and not {}. */
#define LJI_ARRAY_MT "crit.json.array"

/* json-c's values being converted, boxed so that a Lua error mid-way (out of
 * memory) still frees them, when the box is collected. */
struct lji_box {
	struct json_object *root;
};

static int lji_box_gc(lua_State *L)
{
	struct lji_box *b = lua_touserdata(L, 1);
	json_object_put(b->root);
	b->root = NULL;
	return 0;
}

/* Push o; the null value is upvalue 1 of the running function. */
static void lji_push(lua_State *L, struct json_object *o)
{
	luaL_checkstack(L, 4, "JSON nested too deep");
	switch (json_object_get_type(o)) {
	case json_type_null:
		lua_pushvalue(L, lua_upvalueindex(1));
		break;
	case json_type_boolean:
		lua_pushboolean(L, json_object_get_boolean(o));
		break;
	case json_type_int: {
		/* Exact: above 2^63-1 wraps to a negative integer, as uint64 fields
		 * do everywhere in critlua's Lua API; json_parse_text refused
		 * anything outside [-2^63, 2^64-1]. */
		int neg;
		unsigned long long mag;
		jread_int(o, &neg, &mag);
		lua_pushinteger(L, (lua_Integer)(neg ? 0 - mag : mag));
		break;
	}
	case json_type_double:
		lua_pushnumber(L, (lua_Number)json_object_get_double(o));
		break;
	case json_type_string:
		lua_pushlstring(L, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	case json_type_array: {
		size_t n = json_object_array_length(o);
		lua_createtable(L, n > INT32_MAX ? INT32_MAX : (int)n, 0);
		for (size_t i = 0; i < n; i++) {
			lji_push(L, json_object_array_get_idx(o, i));
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		luaL_setmetatable(L, LJI_ARRAY_MT);
		break;
	}
	case json_type_object:
		lua_createtable(L, 0, json_object_object_length(o));
		for (struct lh_entry *me = json_object_get_object(o)->head; me; me = me->next) {
			lua_pushstring(L, (const char *)lh_entry_k(me));
			lji_push(L, (struct json_object *)lh_entry_v(me));
			lua_rawset(L, -3);
		}
		break;
	}
}

/* crit.json.decode(text) -> value. Raises on bad JSON: the message gives the
 * line, column and path ("JSON line 3, column 17 (at entries[0]): ..."). */
static int lji_decode(lua_State *L)
{
	size_t len;
	const char *text = luaL_checklstring(L, 1, &len);
	struct err e;
	struct lji_box *b = lua_newuserdatauv(L, sizeof *b, 0);
	b->root = NULL;
	if (luaL_newmetatable(L, "crit.json.values")) {
		lua_pushcfunction(L, lji_box_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	if (json_parse_text(text, len, LJI_MAX_DEPTH, &b->root, &e) < 0) {
		lua_pushstring(L, e.msg);
		return lua_error(L);
	}
	lji_push(L, b->root);
	json_object_put(b->root);
	b->root = NULL;
	return 1;
}

/* crit._encode_file(in, out): `encode` in C, streaming; in/out nil or "-"
 * for stdin/stdout. Returns true; raises with the message on failure
 * (nothing is written then). */
static int lji_encode_file(lua_State *L)
{
	const char *in = luaL_optstring(L, 1, "-");
	const char *out = luaL_optstring(L, 2, "-");
	crit_error e; /* through libcrit's public API, as any C program would */
	if (crit_json_encode_file(in, out, &e) < 0) {
		lua_pushstring(L, e.message);
		return lua_error(L);
	}
	lua_pushboolean(L, 1);
	return 1;
}

void ljson_in_open(lua_State *L)
{
	static const luaL_Reg crit_fns[] = {
		{ "_encode_file", lji_encode_file },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, crit_fns, 0);

	/* crit.json, made here when the writer half has not made it yet */
	if (lua_getfield(L, -1, "json") != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, "json");
	}
	if (lua_getfield(L, -1, "null") == LUA_TNIL) {
		lua_pop(L, 1);
		/* JSON null: a value tables can hold (nil would end a sequence or
		 * drop a key); the writer half takes NULL light userdata as null */
		lua_pushlightuserdata(L, NULL);
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, "null");
	}
	luaL_newmetatable(L, LJI_ARRAY_MT); /* the same table when the writer made it */
	lua_setfield(L, -3, "array_mt");
	/* decode returns exactly the value crit.json.null holds */
	lua_pushcclosure(L, lji_decode, 1);
	lua_setfield(L, -2, "decode");
	lua_pop(L, 1);
}
