/* ljson_out.c: crit.json.encode (Lua values and typed tables to CRIT's JSON)
 * and the C halves of the decode and info commands. */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "json_out.h"
#include "laux.h"
#include "lparts.h"
#include "luapb.h"
#include "textcodec.h"

#define LJO_MAX_DEPTH 200
/* Registry key of the metatable that makes a table an array, even empty. */
#define LJO_ARRAY_MT "crit.json.array"

/* One encode: the writer, and the path to the value being written, for
 * errors ("entries[3].vmas[2].prot: ..."). Errors travel back as -1 so the
 * buffers are freed before Lua raises. */
struct ljo {
	lua_State *L;
	struct jw w;
	int pretty;
	struct buf path;
	struct err e;
};

static int ljo_fail(struct ljo *c, const char *fmt, const char *arg)
{
	char what[512];
	snprintf(what, sizeof what, fmt, arg);
	if (c->path.len > 200) /* a cycle's path says nothing more after a while */
		err_set(&c->e, "%.100s...: %s", (const char *)c->path.p, what);
	else if (c->path.len)
		err_set(&c->e, "%.*s: %s", (int)c->path.len, (const char *)c->path.p, what);
	else
		err_set(&c->e, "%s", what);
	return -1;
}

static size_t ljo_push_key(struct ljo *c, const char *k, size_t n)
{
	size_t mark = c->path.len;
	if (c->path.len)
		buf_addc(&c->path, '.');
	buf_add(&c->path, k, n);
	return mark;
}

static size_t ljo_push_index(struct ljo *c, lua_Integer i)
{
	size_t mark = c->path.len;
	char t[32];
	buf_add(&c->path, t, (size_t)snprintf(t, sizeof t, "[%lld]", (long long)i));
	return mark;
}

static int ljo_is_array_mt(lua_State *L, int idx)
{
	if (!lua_getmetatable(L, idx))
		return 0;
	luaL_getmetatable(L, LJO_ARRAY_MT);
	int r = lua_rawequal(L, -1, -2);
	lua_pop(L, 2);
	return r;
}

static int ljo_value(struct ljo *c, int idx, int depth);
static int ljo_message(struct ljo *c, int idx, const ProtobufCMessageDescriptor *d, int hex,
		       int depth, int opts);

/* ---- typed values ---- */

static int ljo_is_unsigned(ProtobufCType t)
{
	return t == PROTOBUF_C_TYPE_UINT32 || t == PROTOBUF_C_TYPE_FIXED32 ||
	       t == PROTOBUF_C_TYPE_UINT64 || t == PROTOBUF_C_TYPE_FIXED64;
}

/* One value of field i of d, at idx. opts: apply the pretty options. */
static int ljo_field_value(struct ljo *c, int idx, const ProtobufCMessageDescriptor *d, unsigned i,
			   int hex, int depth, int opts)
{
	lua_State *L = c->L;
	const ProtobufCFieldDescriptor *f = &d->fields[i];
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		if (!lua_isboolean(L, idx))
			return ljo_fail(c, "expected a boolean, got %s", luaL_typename(L, idx));
		jw_bool(&c->w, lua_toboolean(L, idx));
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		if (lua_type(L, idx) != LUA_TNUMBER)
			return ljo_fail(c, "expected a number, got %s", luaL_typename(L, idx));
		jw_double(&c->w, (double)lua_tonumber(L, idx));
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		/* a name, or the number of a value the schema does not know */
		if (lua_type(L, idx) == LUA_TSTRING) {
			size_t n;
			const char *s = lua_tolstring(L, idx, &n);
			jw_string(&c->w, s, n);
			return 0;
		}
		if (!lua_isinteger(L, idx))
			return ljo_fail(c, "expected an enum name, got %s", luaL_typename(L, idx));
		jw_int(&c->w, (int64_t)lua_tointeger(L, idx));
		return 0;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES: {
		if (lua_type(L, idx) != LUA_TSTRING)
			return ljo_fail(c, "expected a string, got %s", luaL_typename(L, idx));
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);
		if (f->type == PROTOBUF_C_TYPE_STRING)
			jw_string(&c->w, s, n);
		else
			jw_field_bytes(&c->w, d, i, (const uint8_t *)s, n);
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		if (lua_type(L, idx) != LUA_TTABLE)
			return ljo_fail(c, "expected a table (a message), got %s", luaL_typename(L, idx));
		return ljo_message(c, idx, f->descriptor, hex, depth + 1, opts);
	default: {
		int isint;
		lua_Integer v = lua_tointegerx(L, idx, &isint);
		if (!isint || lua_type(L, idx) != LUA_TNUMBER)
			return ljo_fail(c, "expected an integer, got %s", luaL_typename(L, idx));
		/* uint64 above 2^63 lives in Lua as a negative integer */
		int is_signed = !ljo_is_unsigned(f->type) ||
				(v < 0 && f->type != PROTOBUF_C_TYPE_UINT64 &&
				 f->type != PROTOBUF_C_TYPE_FIXED64);
		jw_field_int(&c->w, d, i, (int64_t)v, (uint64_t)v, is_signed, c->pretty && opts, hex);
		return 0;
	}
	}
}

/* The ipadd form of a sequence of integers at idx (n of them), when it has one. */
static int ljo_ipadd(struct ljo *c, int idx, size_t n)
{
	if (n != 1 && n != 4)
		return 0;
	uint32_t words[4];
	for (size_t k = 0; k < n; k++) {
		int isint;
		lua_rawgeti(c->L, idx, (lua_Integer)k + 1);
		lua_Integer v = lua_tointegerx(c->L, -1, &isint);
		lua_pop(c->L, 1);
		if (!isint || v < 0 || v > UINT32_MAX)
			return 0; /* the element loop reports it */
		words[k] = (uint32_t)v;
	}
	return jw_ipadd(&c->w, words, n);
}

/* The fields of the (typed or plain) table at idx as message d, written into
 * an open object. */
static int ljo_fields(struct ljo *c, int idx, const ProtobufCMessageDescriptor *d, int hex,
		      int depth, int opts, int entry)
{
	lua_State *L = c->L;
	/* A key that names no field would be lost without a word. */
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1); /* the value */
		if (lua_type(L, -1) == LUA_TSTRING) {
			const char *k = lua_tostring(L, -1);
			if (protobuf_c_message_descriptor_get_field_by_name(d, k) ||
			    (entry && strcmp(k, "extra") == 0))
				continue;
		}
		char what[256];
		snprintf(what, sizeof what, "%s has no field %.100s", d->name,
			 luaL_tolstring(L, -1, NULL));
		lua_pop(L, 2);
		return ljo_fail(c, "%s", what);
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const struct field_opts *o = c->pretty && opts ? schema_field_opts(d, i) : NULL;
		int fhex = hex || (o && o->hex);
		lua_pushstring(L, f->name);
		lua_rawget(L, idx);
		int top = lua_gettop(L);
		if (lua_isnil(L, top)) {
			lua_pop(L, 1);
			continue;
		}
		size_t mark = ljo_push_key(c, f->name, strlen(f->name));
		int rc = 0;
		if (f->label != PROTOBUF_C_LABEL_REPEATED) {
			jw_key(&c->w, f->name, strlen(f->name));
			rc = ljo_field_value(c, top, d, i, fhex, depth, opts);
		} else if (lua_type(L, top) != LUA_TTABLE) {
			rc = ljo_fail(c, "expected a sequence, got %s", luaL_typename(L, top));
		} else {
			size_t n = (size_t)lua_rawlen(L, top);
			if (n) {
				jw_key(&c->w, f->name, strlen(f->name));
				if (!(o && o->ipadd && ljo_ipadd(c, top, n))) {
					jw_begin_array(&c->w);
					for (size_t k = 0; k < n && rc == 0; k++) {
						lua_rawgeti(L, top, (lua_Integer)k + 1);
						size_t m2 = ljo_push_index(c, (lua_Integer)k + 1);
						rc = ljo_field_value(c, top + 1, d, i, fhex, depth, opts);
						c->path.len = m2;
						lua_pop(L, 1);
					}
					jw_end_array(&c->w);
				}
			}
		}
		lua_settop(L, top - 1);
		if (rc < 0)
			return -1;
		c->path.len = mark;
	}
	/* fields a newer CRIU wrote, kept aside by the decoder */
	if (luapb_typeof(L, idx)) {
		luapb_push_unknown(L, idx);
		if (lua_type(L, -1) == LUA_TSTRING) {
			size_t n;
			const char *s = lua_tolstring(L, -1, &n);
			jw_key(&c->w, JW_UNKNOWN_KEY, strlen(JW_UNKNOWN_KEY));
			jw_base64(&c->w, (const uint8_t *)s, n);
		}
		lua_pop(L, 1);
	}
	return 0;
}

static int ljo_message(struct ljo *c, int idx, const ProtobufCMessageDescriptor *d, int hex,
		       int depth, int opts)
{
	if (depth > LJO_MAX_DEPTH)
		return ljo_fail(c, "nested deeper than %s levels", "200");
	if (!lua_checkstack(c->L, 8))
		return ljo_fail(c, "%s", "out of Lua stack space");
	jw_begin_object(&c->w);
	int rc = ljo_fields(c, idx, d, hex, depth, opts, 0);
	jw_end_object(&c->w);
	return rc;
}

/* An entry's payload (its "extra"), by the shape pb2lua gives it: bytes as a
 * string; a tcp stream {inq=, outq=}; semaphores a sequence of integers; a
 * message queue a sequence of {msg=, data=}. */
static int ljo_extra(struct ljo *c, int idx, int depth)
{
	lua_State *L = c->L;
	if (lua_type(L, idx) == LUA_TSTRING) {
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);
		if (n >= 5 && memcmp(s, "... <", 5) == 0 && s[n - 1] == '>')
			jw_string(&c->w, s, n); /* a --nopl placeholder stays one */
		else
			jw_base64(&c->w, (const uint8_t *)s, n);
		return 0;
	}
	if (lua_type(L, idx) != LUA_TTABLE)
		return ljo_fail(c, "expected a string or a table, got %s", luaL_typename(L, idx));
	lua_getfield(L, idx, "inq");
	lua_getfield(L, idx, "outq");
	int tcp = !lua_isnil(L, -1) || !lua_isnil(L, -2);
	lua_pop(L, 2);
	if (tcp) {
		static const char *const q[] = { "inq", "outq" };
		jw_begin_object(&c->w);
		for (int k = 0; k < 2; k++) {
			size_t n = 0;
			lua_getfield(L, idx, q[k]);
			const char *s = lua_tolstring(L, -1, &n);
			if (lua_type(L, -1) != LUA_TSTRING) {
				ljo_push_key(c, q[k], strlen(q[k]));
				int rc = ljo_fail(c, "expected a string, got %s", luaL_typename(L, -1));
				lua_pop(L, 1);
				return rc;
			}
			jw_key(&c->w, q[k], strlen(q[k]));
			jw_base64(&c->w, (const uint8_t *)s, n);
			lua_pop(L, 1);
		}
		jw_end_object(&c->w);
		return 0;
	}
	const ProtobufCMessageDescriptor *ipc_msg = schema_message("ipc_msg");
	size_t n = (size_t)lua_rawlen(L, idx);
	jw_begin_array(&c->w);
	for (size_t k = 0; k < n; k++) {
		lua_rawgeti(L, idx, (lua_Integer)k + 1);
		int top = lua_gettop(L);
		size_t mark = ljo_push_index(c, (lua_Integer)k + 1);
		int rc = 0;
		if (lua_type(L, top) == LUA_TTABLE && ipc_msg) {
			lua_getfield(L, top, "msg");
			lua_getfield(L, top, "data");
			if (lua_type(L, top + 1) != LUA_TTABLE || lua_type(L, top + 2) != LUA_TSTRING) {
				rc = ljo_fail(c, "expected {msg = <ipc_msg>, data = <string>}, got %s",
					      "another table");
			} else {
				/* CRIT writes these without the pretty options */
				rc = ljo_message(c, top + 1, ipc_msg, 0, depth + 1, 0);
				size_t dn;
				const char *s = lua_tolstring(L, top + 2, &dn);
				if (rc == 0)
					jw_base64(&c->w, (const uint8_t *)s, dn);
			}
		} else {
			rc = ljo_value(c, top, depth + 1);
		}
		lua_settop(L, top - 1);
		if (rc < 0)
			return -1;
		c->path.len = mark;
	}
	jw_end_array(&c->w);
	return 0;
}

/* An entry table at idx: message fields of type d, then its payload. */
static int ljo_entry(struct ljo *c, int idx, const ProtobufCMessageDescriptor *d, int depth)
{
	if (!lua_checkstack(c->L, 8))
		return ljo_fail(c, "%s", "out of Lua stack space");
	jw_begin_object(&c->w);
	int rc = ljo_fields(c, idx, d, 0, depth, 1, 1);
	if (rc == 0) {
		lua_getfield(c->L, idx, "extra");
		if (!lua_isnil(c->L, -1)) {
			size_t mark = ljo_push_key(c, "extra", 5);
			jw_key(&c->w, "extra", 5);
			rc = ljo_extra(c, lua_gettop(c->L), depth + 1);
			if (rc == 0)
				c->path.len = mark;
		}
		lua_pop(c->L, 1);
	}
	jw_end_object(&c->w);
	return rc;
}

/* An image table ({magic=, entries=}): CRIT's top level, entries typed by
 * the magic (or by their own type). Returns 1 when idx is not one. */
static int ljo_image(struct ljo *c, int idx, int depth)
{
	lua_State *L = c->L;
	lua_getfield(L, idx, "magic");
	lua_getfield(L, idx, "entries");
	const struct magic_info *mi =
		lua_type(L, -2) == LUA_TSTRING ? magic_by_name(lua_tostring(L, -2)) : NULL;
	if (!mi || !mi->desc || lua_type(L, -1) != LUA_TTABLE) {
		lua_pop(L, 2);
		return 1;
	}
	int entries = lua_gettop(L);
	jw_begin_object(&c->w);
	jw_key(&c->w, "magic", 5);
	jw_string(&c->w, mi->name, strlen(mi->name));
	jw_key(&c->w, "entries", 7);
	jw_begin_array(&c->w);
	size_t n = (size_t)lua_rawlen(L, entries);
	int rc = 0;
	size_t top_mark = ljo_push_key(c, "entries", 7);
	for (size_t k = 0; k < n && rc == 0; k++) {
		lua_rawgeti(L, entries, (lua_Integer)k + 1);
		size_t mark = ljo_push_index(c, (lua_Integer)k + 1);
		if (lua_type(L, -1) != LUA_TTABLE) {
			rc = ljo_fail(c, "expected an entry table, got %s", luaL_typename(L, -1));
		} else {
			const ProtobufCMessageDescriptor *d = luapb_typeof(L, -1);
			rc = ljo_entry(c, lua_gettop(L), d ? d : img_entry_desc(mi, k, NULL), depth + 1);
		}
		lua_pop(L, 1);
		if (rc == 0)
			c->path.len = mark;
	}
	if (rc == 0)
		c->path.len = top_mark;
	jw_end_array(&c->w);
	jw_end_object(&c->w);
	lua_pop(L, 2);
	return rc;
}

/* ---- plain Lua values ---- */

struct ljo_key {
	const char *s; /* the key's text */
	size_t n;
	int type; /* LUA_TSTRING, LUA_TNUMBER, LUA_TBOOLEAN: how to fetch the value back */
	int isfloat;
	lua_Integer i;
	lua_Number f;
	size_t text_off; /* for non-string keys: where in the text buffer */
};

static int ljo_cmp_key(const void *a, const void *b)
{
	const struct ljo_key *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int r = memcmp(x->s, y->s, n);
	return r ? r : (x->n > y->n) - (x->n < y->n);
}

/* A table with no type: an array when its keys are 1..n (or it carries the
 * array metatable), else an object with its keys sorted (Lua keeps no
 * insertion order); integer, float and boolean keys become their text, as
 * Python's json does. */
static int ljo_table(struct ljo *c, int idx, int depth)
{
	lua_State *L = c->L;
	size_t count = 0, len = (size_t)lua_rawlen(L, idx);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		count++;
		lua_pop(L, 1);
	}
	if ((count == len && len > 0) || (count == 0 && ljo_is_array_mt(L, idx))) {
		jw_begin_array(&c->w);
		for (size_t k = 0; k < len; k++) {
			lua_rawgeti(L, idx, (lua_Integer)k + 1);
			size_t mark = ljo_push_index(c, (lua_Integer)k + 1);
			int rc = ljo_value(c, lua_gettop(L), depth + 1);
			lua_pop(L, 1);
			if (rc < 0)
				return -1;
			c->path.len = mark;
		}
		jw_end_array(&c->w);
		return 0;
	}
	if (ljo_is_array_mt(L, idx))
		return ljo_fail(c, "%s", "a table marked as an array has keys other than 1..n");

	struct ljo_key *keys = xcalloc(count ? count : 1, sizeof *keys);
	struct buf text = { 0 };
	size_t nk = 0;
	int rc = 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		struct ljo_key *k = &keys[nk];
		k->type = lua_type(L, -2);
		char t[48];
		size_t tn = 0;
		if (k->type == LUA_TSTRING) {
			k->s = lua_tolstring(L, -2, &k->n); /* the table keeps the string alive */
		} else if (k->type == LUA_TNUMBER && lua_isinteger(L, -2)) {
			k->i = lua_tointeger(L, -2);
			tn = tc_i64(t, (int64_t)k->i);
		} else if (k->type == LUA_TNUMBER) {
			k->f = lua_tonumber(L, -2);
			k->isfloat = 1;
			tn = tc_double(t, (double)k->f);
		} else if (k->type == LUA_TBOOLEAN) {
			k->i = lua_toboolean(L, -2);
			tn = (size_t)snprintf(t, sizeof t, "%s", k->i ? "true" : "false");
		} else {
			rc = ljo_fail(c, "cannot encode a table key of type %s", luaL_typename(L, -2));
			lua_pop(L, 2);
			break;
		}
		if (k->type != LUA_TSTRING) {
			k->text_off = text.len;
			k->n = tn;
			buf_add(&text, t, tn);
		}
		nk++;
		lua_pop(L, 1);
	}
	if (rc == 0) {
		for (size_t i = 0; i < nk; i++)
			if (keys[i].type != LUA_TSTRING)
				keys[i].s = (const char *)text.p + keys[i].text_off;
		qsort(keys, nk, sizeof *keys, ljo_cmp_key);
		jw_begin_object(&c->w);
		for (size_t i = 0; i < nk && rc == 0; i++) {
			struct ljo_key *k = &keys[i];
			if (k->type == LUA_TSTRING)
				lua_pushlstring(L, k->s, k->n);
			else if (k->type == LUA_TBOOLEAN)
				lua_pushboolean(L, (int)k->i);
			else if (k->isfloat)
				lua_pushnumber(L, k->f);
			else
				lua_pushinteger(L, k->i);
			lua_rawget(L, idx);
			size_t mark = ljo_push_key(c, k->s, k->n);
			jw_key(&c->w, k->s, k->n);
			rc = ljo_value(c, lua_gettop(L), depth + 1);
			lua_pop(L, 1);
			if (rc == 0)
				c->path.len = mark;
		}
		jw_end_object(&c->w);
	}
	free(keys);
	buf_free(&text);
	return rc;
}

static int ljo_value(struct ljo *c, int idx, int depth)
{
	lua_State *L = c->L;
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		jw_null(&c->w);
		return 0;
	case LUA_TBOOLEAN:
		jw_bool(&c->w, lua_toboolean(L, idx));
		return 0;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			jw_int(&c->w, (int64_t)lua_tointeger(L, idx));
		else
			jw_double(&c->w, (double)lua_tonumber(L, idx));
		return 0;
	case LUA_TSTRING: {
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);
		jw_string(&c->w, s, n);
		return 0;
	}
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(L, idx) == NULL) { /* crit.json.null */
			jw_null(&c->w);
			return 0;
		}
		break;
	case LUA_TTABLE: {
		if (depth > LJO_MAX_DEPTH)
			return ljo_fail(c, "nested deeper than %s levels (a table that contains itself?)",
					"200");
		if (!lua_checkstack(L, 8))
			return ljo_fail(c, "%s", "out of Lua stack space");
		const ProtobufCMessageDescriptor *d = luapb_typeof(L, idx);
		if (d)
			return ljo_entry(c, idx, d, depth); /* a typed table may carry "extra" */
		int rc = ljo_image(c, idx, depth);
		return rc <= 0 ? rc : ljo_table(c, idx, depth);
	}
	default:
		break;
	}
	return ljo_fail(c, "cannot encode a %s value in JSON", luaL_typename(L, idx));
}

/* crit.json.encode(value [, {pretty = true}]) -> string. Typed tables and
 * image tables come out as decode writes them; --pretty's options apply to
 * their fields with pretty. */
static int ljo_encode(lua_State *L)
{
	luaL_checkany(L, 1);
	int pretty = 0;
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		lua_getfield(L, 2, "pretty");
		pretty = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	lua_settop(L, 1);
	struct buf out = { 0 };
	struct ljo c;
	memset(&c, 0, sizeof c);
	c.L = L;
	c.pretty = pretty;
	jw_init(&c.w, &out, pretty);
	int rc = ljo_value(&c, 1, 0);
	jw_fini(&c.w);
	buf_free(&c.path);
	if (rc < 0) {
		buf_free(&out);
		return luaL_error(L, "json.encode: %s", c.e.msg);
	}
	lua_pushlstring(L, out.p ? (const char *)out.p : "", out.len);
	buf_free(&out);
	return 1;
}

/* crit.json.array(t) -> t, marked to encode as an array even when empty. */
static int ljo_array(lua_State *L)
{
	if (lua_isnoneornil(L, 1)) {
		lua_settop(L, 0);
		lua_newtable(L);
	}
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	luaL_setmetatable(L, LJO_ARRAY_MT);
	return 1;
}

static const char *ljo_opt_path(lua_State *L, int idx)
{
	return lua_isnoneornil(L, idx) ? NULL : luaL_checkstring(L, idx);
}

/* crit._decode_file(in, out, {pretty=, nopl=}) -> true | nil, message.
 * nil or "-" for stdin / stdout. */
static int ljo_decode_file(lua_State *L)
{
	const char *in = ljo_opt_path(L, 1), *out = ljo_opt_path(L, 2);
	int pretty = 0, nopl = 0;
	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		lua_getfield(L, 3, "pretty");
		pretty = lua_toboolean(L, -1);
		lua_getfield(L, 3, "nopl");
		nopl = lua_toboolean(L, -1);
		lua_pop(L, 2);
	}
	struct err e;
	if (jw_image_file(in, out, pretty, nopl, &e) < 0) {
		lua_pushnil(L);
		lua_pushstring(L, e.msg);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* crit._info(path) -> text, magic, count | nil, message. The text is CRIT's
 * {"magic": ..., "count": ...} without the final newline. */
static int ljo_info(lua_State *L)
{
	const char *path = ljo_opt_path(L, 1);
	struct buf out = { 0 };
	struct err e;
	const char *magic;
	size_t count;
	if (jw_info_file(path, &out, &magic, &count, &e) < 0) {
		buf_free(&out);
		lua_pushnil(L);
		lua_pushstring(L, e.msg);
		return 2;
	}
	lua_pushlstring(L, (const char *)out.p, out.len);
	buf_free(&out);
	lua_pushstring(L, magic);
	lua_pushinteger(L, (lua_Integer)count);
	return 3;
}

static const luaL_Reg ljo_json_funcs[] = {
	{ "encode", ljo_encode },
	{ "array", ljo_array },
	{ NULL, NULL },
};

static const luaL_Reg ljo_crit_funcs[] = {
	{ "_decode_file", ljo_decode_file },
	{ "_info", ljo_info },
	{ NULL, NULL },
};

void ljson_out_open(lua_State *L)
{
	/* crit.json is shared with the reader (ljson_in.c): made by whichever
	 * part comes first. */
	if (lua_getfield(L, -1, "json") != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, "json");
	}
	luaL_setfuncs(L, ljo_json_funcs, 0);
	if (lua_getfield(L, -1, "null") == LUA_TNIL) {
		lua_pop(L, 1);
		lua_pushlightuserdata(L, NULL); /* JSON null, as a value a table can hold */
		lua_setfield(L, -2, "null");
	} else {
		lua_pop(L, 1);
	}
	luaL_newmetatable(L, LJO_ARRAY_MT);
	lua_setfield(L, -2, "array_mt");
	lua_pop(L, 1); /* json */
	luaL_setfuncs(L, ljo_crit_funcs, 0);
}
