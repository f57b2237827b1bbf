/* ljson_out.c: crit.json.encode — messages (typed and image tables) through
 * json_out.c's one walk, other Lua values through the writer of plain values
 * every view shares — and the C halves of the decode and info commands. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include <crit/crit.h>

#include "json_out.h"
#include "laux.h"
#include "xalloc.h"
#include "lparts.h"
#include "luapb.h"
#include "textcodec.h"

#define LJO_MAX_DEPTH 200
/* Registry key of the metatable that makes a table an array, even empty. */
#define LJO_ARRAY_MT "crit.json.array"
/* Metatable of an encode's state: a userdata on the stack, so that an error
 * raised anywhere (a bad message, a view function) frees the buffers. */
#define LJO_STATE_MT "crit.json.encoder"

/* A key of an object being written: its text is the string itself, or (other
 * types) at offset text of the key text buffer. */
struct ljo_key {
	const char *s; /* string keys; for the others valid only while sorting */
	size_t n, text;
	int type; /* LUA_TSTRING, LUA_TNUMBER, LUA_TBOOLEAN */
	int isfloat;
	lua_Integer i, rank; /* rank: place in the shape's order, 0 for none */
	lua_Number f;
};

/* One encode. Keys and key texts are stacks shared by the nested objects
 * (each one pops its part when done); the options are stack slots (0: not
 * given). */
struct ljo {
	lua_State *L;
	struct jw w;
	struct buf out, path, ktext;
	struct ljo_key *keys;
	size_t nkeys, capkeys;
	int pretty;
	int lists;    /* a table with a [1], or no key at all, is an array */
	int unsig;    /* integers are written unsigned, but under the keys of signd */
	int shapes;   /* table -> its shape's name */
	int order;    /* shape -> the keys that come first, in order */
	int children; /* shape -> {key -> the shape of the value (of each element)} */
	int views;    /* shape -> {key -> function(value) -> what to write instead} */
	int signd;    /* keys whose integers are signed */
	int ranks;    /* shape -> {key -> rank}, made from order on first use */
};

static int ljo_state_gc(lua_State *L)
{
	struct ljo *c = luaL_checkudata(L, 1, LJO_STATE_MT);
	jw_fini(&c->w);
	buf_free(&c->out);
	buf_free(&c->path);
	buf_free(&c->ktext);
	free(c->keys);
	c->keys = NULL;
	return 0;
}

/* Raise "json.encode: PATH: what". */
__attribute__((format(printf, 2, 3), noreturn)) static void ljo_fail(struct ljo *c, const char *fmt,
								     ...)
{
	char what[512], msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	const char *p = (const char *)c->path.p;
	if (c->path.len > 200) /* a cycle's path says nothing more after a while */
		snprintf(msg, sizeof msg, "json.encode: %.100s...: %s", p, what);
	else if (c->path.len)
		snprintf(msg, sizeof msg, "json.encode: %.*s: %s", (int)c->path.len, p, what);
	else
		snprintf(msg, sizeof msg, "json.encode: %s", what);
	luaL_error(c->L, "%s", msg);
	abort(); /* not reached: luaL_error does not return */
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

/* ---- messages: to protobuf-c, then json_out.c's walk ---- */

/* The prefix of lua2pb's errors: "json.encode" and where the table sits. */
static const char *ljo_what(struct ljo *c, char *t, size_t n)
{
	if (!c->path.len)
		return "json.encode";
	snprintf(t, n, "json.encode: %.*s", c->path.len > 200 ? 200 : (int)c->path.len,
		 (const char *)c->path.p);
	return t;
}

/* The image type whose entries are d and carry a payload, or NULL. */
static const struct magic_info *ljo_payload_magic(const ProtobufCMessageDescriptor *d)
{
	for (const struct magic_info *m = magic_table; m->name; m++) {
		const struct magic_info *mi = magic_by_name(m->name); /* resolves desc */
		if (mi && (mi->desc == d || mi->desc2 == d) && mi->payload != PL_NONE &&
		    mi->payload != PL_PAGEMAP)
			return mi;
	}
	return NULL;
}

/* A typed table at idx: a message, or an entry with its payload (`extra`). */
static void ljo_typed(struct ljo *c, int idx, const ProtobufCMessageDescriptor *d)
{
	lua_State *L = c->L;
	char what[256];
	lua_pushliteral(L, "extra");
	int extra = lua_rawget(L, idx) != LUA_TNIL;
	lua_pop(L, 1);
	const struct magic_info *mi = extra ? ljo_payload_magic(d) : NULL;
	if (mi) {
		struct img_entry en;
		luapb_to_entry(L, idx, mi, d, &en, ljo_what(c, what, sizeof what));
		jw_entry(&c->w, mi, &en, c->pretty, 0);
		img_entry_free(&en);
		return;
	}
	ProtobufCMessage *m = luapb_to_message(L, idx, d, ljo_what(c, what, sizeof what));
	jw_message(&c->w, m, c->pretty);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* An image table ({magic=, entries=}) at idx, as decode writes it. Returns 0
 * when idx is not one (no known image type in magic, or no entries). */
static int ljo_image(struct ljo *c, int idx)
{
	lua_State *L = c->L;
	if (lua_getfield(L, idx, "magic") != LUA_TSTRING) {
		lua_pop(L, 1);
		return 0;
	}
	const struct magic_info *mi = magic_by_name(lua_tostring(L, -1));
	int entries = lua_getfield(L, idx, "entries") == LUA_TTABLE;
	lua_pop(L, 2);
	if (!mi || !mi->desc || !entries)
		return 0;
	char what[256];
	struct img img;
	luapb_to_image(L, idx, &img, ljo_what(c, what, sizeof what));
	jw_img(&c->w, &img, c->pretty);
	img_free(&img);
	return 1;
}

/* ---- plain values ---- */

static void ljo_value(struct ljo *c, int idx, int depth, int shape, int sgn);

static int ljo_cmp_key(const void *a, const void *b)
{
	const struct ljo_key *x = a, *y = b;
	if (x->rank || y->rank) {
		if (x->rank && y->rank)
			return (x->rank > y->rank) - (x->rank < y->rank);
		return x->rank ? -1 : 1;
	}
	size_t n = x->n < y->n ? x->n : y->n;
	int r = memcmp(x->s, y->s, n);
	return r ? r : (x->n > y->n) - (x->n < y->n);
}

/* Push the value of table slot t (0: none) at key k, nil when absent. */
static int ljo_lookup(lua_State *L, int t, int k)
{
	if (!t) {
		lua_pushnil(L);
		return LUA_TNIL;
	}
	lua_pushvalue(L, k);
	return lua_rawget(L, t);
}

/* Push the ranks of shape (a stack slot, or 0): {key -> place}, or nil. */
static void ljo_push_ranks(struct ljo *c, int shape)
{
	lua_State *L = c->L;
	if (!shape || !c->order) {
		lua_pushnil(L);
		return;
	}
	lua_pushvalue(L, shape);
	if (lua_rawget(L, c->ranks) != LUA_TNIL)
		return;
	lua_pop(L, 1);
	lua_newtable(L);
	if (ljo_lookup(L, c->order, shape) == LUA_TTABLE) {
		lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
		for (lua_Integer i = 1; i <= n; i++) {
			lua_rawgeti(L, -1, i);
			lua_pushinteger(L, i);
			lua_rawset(L, -4);
		}
	}
	lua_pop(L, 1);
	lua_pushvalue(L, shape);
	lua_pushvalue(L, -2);
	lua_rawset(L, c->ranks);
}

/* The elements 1..n of the table at idx as an array (n: until the first nil
 * when negative). */
static void ljo_array_items(struct ljo *c, int idx, lua_Integer n, int depth, int shape, int sgn)
{
	lua_State *L = c->L;
	jw_begin_array(&c->w);
	for (lua_Integer k = 1; n < 0 || k <= n; k++) {
		if (lua_rawgeti(L, idx, k) == LUA_TNIL && n < 0) {
			lua_pop(L, 1);
			break;
		}
		size_t mark = ljo_push_index(c, k);
		ljo_value(c, lua_gettop(L), depth + 1, shape, sgn);
		c->path.len = mark;
		lua_pop(L, 1);
	}
	jw_end_array(&c->w);
}

/* A table that is neither a message nor an image: an array (its elements
 * take shape and sgn), or an object with its keys in the shape's order and
 * then sorted (Lua keeps no insertion order); integer, float and boolean keys
 * become their text, as Python's json does. */
static void ljo_table(struct ljo *c, int idx, int depth, int shape, int sgn)
{
	lua_State *L = c->L;
	if (c->lists) {
		/* explore's rule: a table with a [1], or no key at all, is a list */
		int first = lua_rawgeti(L, idx, 1) != LUA_TNIL;
		lua_pop(L, 1);
		if (!first) {
			lua_pushnil(L);
			first = !lua_next(L, idx);
			if (!first)
				lua_pop(L, 2);
		}
		if (first) {
			ljo_array_items(c, idx, -1, depth, shape, sgn);
			return;
		}
	} else {
		size_t count = 0, len = (size_t)lua_rawlen(L, idx);
		lua_pushnil(L);
		while (lua_next(L, idx)) {
			count++;
			lua_pop(L, 1);
		}
		int marked = ljo_is_array_mt(L, idx);
		if ((count == len && len > 0) || (count == 0 && marked)) {
			ljo_array_items(c, idx, (lua_Integer)len, depth, shape, sgn);
			return;
		}
		if (marked)
			ljo_fail(c, "a table marked as an array has keys other than 1..n");
	}

	/* an object: its own shape, else the one its place gives it */
	int top = lua_gettop(L);
	if (ljo_lookup(L, c->shapes, idx) != LUA_TNIL)
		shape = top + 1;
	ljo_push_ranks(c, shape);
	int ranks = lua_istable(L, top + 2) ? top + 2 : 0;
	int children = 0, views = 0;
	if (shape) {
		if (ljo_lookup(L, c->children, shape) == LUA_TTABLE)
			children = lua_gettop(L);
		if (ljo_lookup(L, c->views, shape) == LUA_TTABLE)
			views = lua_gettop(L);
	}

	size_t base = c->nkeys, text_base = c->ktext.len;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (c->nkeys == c->capkeys) {
			c->capkeys = c->capkeys ? 2 * c->capkeys : 64;
			c->keys = xrealloc(c->keys, c->capkeys * sizeof *c->keys);
		}
		struct ljo_key *k = &c->keys[c->nkeys];
		memset(k, 0, sizeof *k);
		k->type = lua_type(L, -1);
		char t[48];
		size_t tn = 0;
		if (k->type == LUA_TSTRING) {
			k->s = lua_tolstring(L, -1, &k->n); /* the table keeps the string alive */
		} else if (k->type == LUA_TNUMBER && lua_isinteger(L, -1)) {
			k->i = lua_tointeger(L, -1);
			tn = tc_i64(t, (int64_t)k->i);
		} else if (k->type == LUA_TNUMBER) {
			k->f = lua_tonumber(L, -1);
			k->isfloat = 1;
			tn = tc_double(t, (double)k->f);
		} else if (k->type == LUA_TBOOLEAN) {
			k->i = lua_toboolean(L, -1);
			tn = (size_t)snprintf(t, sizeof t, "%s", k->i ? "true" : "false");
		} else {
			ljo_fail(c, "cannot encode a table key of type %s", luaL_typename(L, -1));
		}
		if (k->type != LUA_TSTRING) {
			k->text = c->ktext.len;
			k->n = tn;
			buf_add(&c->ktext, t, tn);
		}
		if (ranks) {
			lua_pushvalue(L, -1);
			k->rank = lua_rawget(L, ranks) == LUA_TNUMBER ? lua_tointeger(L, -1) : 0;
			lua_pop(L, 1);
		}
		c->nkeys++;
	}
	size_t n = c->nkeys - base;
	for (size_t i = base; i < c->nkeys; i++)
		if (c->keys[i].type != LUA_TSTRING)
			c->keys[i].s = (const char *)c->ktext.p + c->keys[i].text;
	qsort(c->keys + base, n, sizeof *c->keys, ljo_cmp_key);

	jw_begin_object(&c->w);
	int kslot = lua_gettop(L) + 1;
	for (size_t i = 0; i < n; i++) {
		/* nested objects grow (and may move) the key stacks: copy */
		struct ljo_key k = c->keys[base + i];
		if (k.type == LUA_TSTRING)
			lua_pushlstring(L, k.s, k.n);
		else if (k.type == LUA_TBOOLEAN)
			lua_pushboolean(L, (int)k.i);
		else if (k.isfloat)
			lua_pushnumber(L, k.f);
		else
			lua_pushinteger(L, k.i);
		if (k.type != LUA_TSTRING)
			k.s = (const char *)c->ktext.p + k.text;
		lua_pushvalue(L, kslot);
		lua_rawget(L, idx); /* kslot + 1: the value */
		int child = 0;
		if (children && ljo_lookup(L, children, kslot) != LUA_TNIL)
			child = kslot + 2;
		if (views && ljo_lookup(L, views, kslot) != LUA_TNIL) {
			lua_pushvalue(L, kslot + 1);
			lua_call(L, 1, 1);
			lua_replace(L, kslot + 1);
		}
		int ksgn = !c->unsig || (c->signd && ljo_lookup(L, c->signd, kslot) != LUA_TNIL);
		size_t mark = ljo_push_key(c, k.s, k.n);
		jw_key(&c->w, k.s, k.n);
		ljo_value(c, kslot + 1, depth + 1, child, ksgn);
		c->path.len = mark;
		lua_settop(L, kslot - 1);
	}
	jw_end_object(&c->w);
	c->nkeys = base;
	c->ktext.len = text_base;
	lua_settop(L, top);
}

/* The value at idx. shape: a stack slot with the shape its place gives it
 * (0: none); sgn: integers are written signed. */
static void ljo_value(struct ljo *c, int idx, int depth, int shape, int sgn)
{
	lua_State *L = c->L;
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		jw_null(&c->w);
		return;
	case LUA_TBOOLEAN:
		jw_bool(&c->w, lua_toboolean(L, idx));
		return;
	case LUA_TNUMBER:
		if (!lua_isinteger(L, idx))
			jw_double(&c->w, (double)lua_tonumber(L, idx));
		else if (sgn)
			jw_int(&c->w, (int64_t)lua_tointeger(L, idx));
		else
			jw_uint(&c->w, (uint64_t)lua_tointeger(L, idx));
		return;
	case LUA_TSTRING: {
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);
		jw_string(&c->w, s, n);
		return;
	}
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(L, idx) == NULL) { /* crit.json.null */
			jw_null(&c->w);
			return;
		}
		break;
	case LUA_TTABLE: {
		if (depth > LJO_MAX_DEPTH)
			ljo_fail(c, "nested deeper than %d levels (a table that contains itself?)",
				 LJO_MAX_DEPTH);
		if (!lua_checkstack(L, 16))
			ljo_fail(c, "out of Lua stack space");
		const ProtobufCMessageDescriptor *d = luapb_typeof(L, idx);
		if (d)
			ljo_typed(c, idx, d);
		else if (!ljo_image(c, idx))
			ljo_table(c, idx, depth, shape, sgn);
		return;
	}
	default:
		break;
	}
	ljo_fail(c, "cannot encode a %s value in JSON", luaL_typename(L, idx));
}

/* The option `name` of the table at 2 into the next stack slot; its slot, or
 * 0 when it is not given. */
static int ljo_opt(lua_State *L, const char *name, int type)
{
	int t = lua_getfield(L, 2, name);
	if (t == LUA_TNIL) {
		lua_pop(L, 1);
		return 0;
	}
	if (t != type)
		luaL_error(L, "json.encode: option %s: expected a %s, got %s", name,
			   lua_typename(L, type), luaL_typename(L, -1));
	return lua_gettop(L);
}

/* crit.json.encode(value [, opts]) -> string. Typed tables and image tables
 * come out as decode writes them (--pretty's forms with pretty); other values
 * by the rules of Python's json.dumps(v, sort_keys=True), which opts may
 * change for plain tables: lists (a table with a [1], or empty, is an array),
 * unsigned and signed (integers unsigned but under the keys in signed),
 * shapes/order/children/views (key orders by record shape, see LUA-API.md). */
static int ljo_encode(lua_State *L)
{
	luaL_checkany(L, 1);
	lua_settop(L, 2);
	struct ljo *c = lua_newuserdatauv(L, sizeof *c, 0);
	memset(c, 0, sizeof *c);
	luaL_setmetatable(L, LJO_STATE_MT);
	c->L = L;
	if (!lua_isnil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		c->pretty = laux_flag(L, 2, "pretty");
		c->lists = laux_flag(L, 2, "lists");
		c->unsig = laux_flag(L, 2, "unsigned");
		c->shapes = ljo_opt(L, "shapes", LUA_TTABLE);
		c->order = ljo_opt(L, "order", LUA_TTABLE);
		c->children = ljo_opt(L, "children", LUA_TTABLE);
		c->views = ljo_opt(L, "views", LUA_TTABLE);
		c->signd = ljo_opt(L, "signed", LUA_TTABLE);
	}
	lua_newtable(L);
	c->ranks = lua_gettop(L);
	jw_init(&c->w, &c->out, c->pretty);
	ljo_value(c, 1, 0, 0, !c->unsig);
	if (buf_oom(&c->out) || buf_oom(&c->path) || buf_oom(&c->ktext))
		return luaL_error(L, "crit.json.encode: out of memory"); /* the guard frees the buffers */
	lua_pushlstring(L, c->out.p ? (const char *)c->out.p : "", c->out.len);
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
	if (!lua_isnoneornil(L, 3))
		luaL_checktype(L, 3, LUA_TTABLE);
	int pretty = laux_flag(L, 3, "pretty"), nopl = laux_flag(L, 3, "nopl");
	crit_error e; /* through libcrit's public API, as any C program would */
	if (crit_json_decode_file(in, out, pretty, nopl, &e) < 0) {
		lua_pushnil(L);
		lua_pushstring(L, e.message);
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

/* crit.qp(bytes) -> text: Python's binascii.b2a_qp(data, istext=True), the
 * form CRIT's x fds gives unix socket names. */
static int ljo_qp(lua_State *L)
{
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	struct buf out = { 0 };
	tc_b2a_qp(&out, (const uint8_t *)s, n);
	if (buf_oom(&out)) {
		buf_free(&out);
		return luaL_error(L, "crit.qp: out of memory");
	}
	lua_pushlstring(L, out.p ? (const char *)out.p : "", out.len);
	buf_free(&out);
	return 1;
}

static const luaL_Reg ljo_crit_funcs[] = {
	{ "_decode_file", ljo_decode_file },
	{ "qp", ljo_qp },
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
	luaL_newmetatable(L, LJO_STATE_MT);
	lua_pushcfunction(L, ljo_state_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	lua_pop(L, 1); /* json */
	luaL_setfuncs(L, ljo_crit_funcs, 0);
}
