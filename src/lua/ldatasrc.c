/* ldatasrc.c: Lua bindings of datasrc.c — crit.datafile(dir | archive, name),
 * a checkpoint file read in bounded pieces (entries with located payloads,
 * runs of bytes, a tar stream), and crit.searcher(needle, fn), mem.c's
 * streaming search over pieces fed from Lua. Misuse raises; failures of the
 * world return nil, message. */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "datasrc.h"
#include "larchive.h"
#include "laux.h"
#include "lparts.h"
#include "luapb.h"
#include "mem.h"

#define DF_MT "crit.datafile"
#define SEARCHER_MT "crit.searcher"
#define DF_READ_MAX ((lua_Integer)64 << 20)

struct df {
	struct ds_file f;
	int open;
	int walking;
};

static struct df *check_df(lua_State *L)
{
	struct df *d = luaL_checkudata(L, 1, DF_MT);
	if (!d->open)
		luaL_error(L, "attempt to use a closed data file");
	return d;
}

static int df_gc(lua_State *L)
{
	struct df *d = luaL_checkudata(L, 1, DF_MT);
	if (d->open)
		ds_close(&d->f);
	d->open = 0;
	return 0;
}

static int df_close(lua_State *L)
{
	struct df *d = luaL_checkudata(L, 1, DF_MT);
	if (d->walking)
		return luaL_error(L, "cannot close a data file while a walk runs over it");
	return df_gc(L);
}

/* crit.datafile(dir | archive, name) -> object | nil, message */
static int l_datafile(lua_State *L)
{
	struct arch *ar = larch_test(L, 1);
	const char *dir = ar ? NULL : luaL_checkstring(L, 1);
	const char *name = luaL_checkstring(L, 2);
	struct df *d = lua_newuserdatauv(L, sizeof *d, 1);
	memset(d, 0, sizeof *d);
	d->f.fd = -1;
	luaL_setmetatable(L, DF_MT);
	struct err e;
	int rc;
	if (ar) {
		lua_pushvalue(L, 1);
		lua_setiuservalue(L, -2, 1); /* the archive outlives the object */
		larch_push_ckpt(L, ar);
		rc = ds_open(&d->f, NULL, ar, lua_tostring(L, -1), lua_tostring(L, -2), name, &e);
		lua_pop(L, 2);
	} else {
		rc = ds_open(&d->f, dir, NULL, NULL, NULL, name, &e);
	}
	if (rc < 0) {
		luaL_pushfail(L);
		lua_pushstring(L, e.msg);
		return 2;
	}
	d->open = 1;
	return 1;
}

static int l_size(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)check_df(L)->f.size);
	return 1;
}

static int l_label(lua_State *L)
{
	lua_pushstring(L, check_df(L)->f.label);
	return 1;
}

static int push_fail(lua_State *L, struct err *e)
{
	luaL_pushfail(L);
	lua_pushstring(L, e->msg);
	return 2;
}

/* One entry as {index, offset, msg, payload_off, payload_len, items}: into
 * the list at the top of the stack, or given to the function at fn. */
struct entries_cb {
	lua_State *L;
	int fn; /* 0: make a list */
	int status;
};

static int entry_cb(size_t index, uint64_t entry_off, const struct magic_info *mi, const struct img_entry *en,
		    void *ctx)
{
	struct entries_cb *c = ctx;
	lua_State *L = c->L;
	if (c->fn)
		lua_pushvalue(L, c->fn);
	lua_createtable(L, 0, 6);
	lua_pushinteger(L, (lua_Integer)index);
	lua_setfield(L, -2, "index");
	lua_pushinteger(L, (lua_Integer)entry_off);
	lua_setfield(L, -2, "offset");
	luapb_push_message(L, en->msg);
	lua_setfield(L, -2, "msg");
	if (en->has_extra) {
		lua_pushinteger(L, (lua_Integer)en->extra_off);
		lua_setfield(L, -2, "payload_off");
		lua_pushinteger(L, (lua_Integer)en->extra_len);
		lua_setfield(L, -2, "payload_len");
	}
	if (en->items) {
		lua_createtable(L, (int)en->n_items, 0);
		for (size_t i = 0; i < en->n_items; i++) {
			lua_createtable(L, 0, 2);
			luapb_push_message(L, en->items[i].msg);
			lua_setfield(L, -2, "msg");
			lua_pushlstring(L, (const char *)en->items[i].data, en->items[i].len);
			lua_setfield(L, -2, "data");
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		lua_setfield(L, -2, "items");
	}
	(void)mi;
	if (!c->fn) {
		lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
		return 0;
	}
	if ((c->status = lua_pcall(L, 1, 1, 0)) != LUA_OK)
		return 1; /* the error stays on the stack */
	int stop = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return stop ? 2 : 0;
}

/* df:entries([fn]) -> { {index, offset, msg, payload_off, payload_len [, items]}, ... }
 * | nil, message: the image's entries, payloads located, not read. With fn,
 * fn(entry) per entry instead (true stops: memory does not grow with the
 * number of entries) -> true (done), false (stopped) | nil, message */
static int l_entries(lua_State *L)
{
	struct df *d = check_df(L);
	int with_fn = !lua_isnoneornil(L, 2);
	if (with_fn)
		luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_settop(L, 2);
	if (!with_fn)
		lua_newtable(L);
	struct entries_cb c = { L, with_fn ? 2 : 0, LUA_OK };
	struct err e;
	d->walking++;
	int rc = ds_entries(&d->f, entry_cb, &c, &e);
	d->walking--;
	if (c.status != LUA_OK)
		return lua_error(L);
	if (rc < 0)
		return push_fail(L, &e);
	if (with_fn)
		lua_pushboolean(L, rc == 0);
	return 1;
}

/* df:read(off, len) -> string | nil, message */
static int l_read(lua_State *L)
{
	struct df *d = check_df(L);
	lua_Integer off = luaL_checkinteger(L, 2), len = luaL_checkinteger(L, 3);
	luaL_argcheck(L, off >= 0, 2, "offset must be >= 0");
	luaL_argcheck(L, len >= 0 && len <= DF_READ_MAX, 3, "length must be between 0 and 64 MiB");
	luaL_Buffer b;
	uint8_t *p = (uint8_t *)luaL_buffinitsize(L, &b, (size_t)len);
	struct err e;
	if (ds_pread(&d->f, (uint64_t)off, p, (size_t)len, &e) < 0)
		return push_fail(L, &e);
	luaL_pushresultsize(&b, (size_t)len);
	return 1;
}

/* Callbacks into Lua: a true result stops the walk; an error is re-raised
 * after the walk has freed its buffers. */
struct lua_cb {
	lua_State *L;
	int fn, fn2;
	int status;
};

static int call_cb(struct lua_cb *c, int nargs)
{
	if ((c->status = lua_pcall(c->L, nargs, 1, 0)) != LUA_OK)
		return 1;
	int stop = lua_toboolean(c->L, -1);
	lua_pop(c->L, 1);
	return stop ? 2 : 0;
}

static int chunk_cb(uint64_t pos, const uint8_t *data, size_t len, void *ctx)
{
	struct lua_cb *c = ctx;
	lua_pushvalue(c->L, c->fn);
	lua_pushinteger(c->L, (lua_Integer)pos);
	lua_pushlstring(c->L, (const char *)data, len);
	return call_cb(c, 2);
}

static int finish_walk(lua_State *L, struct df *d, struct lua_cb *c, int rc, struct err *e)
{
	d->walking--;
	if (c->status != LUA_OK)
		return lua_error(L);
	if (rc < 0)
		return push_fail(L, e);
	lua_pushboolean(L, rc == 0);
	return 1;
}

static lua_Integer field_int(lua_State *L, int t, const char *k, int i)
{
	lua_getfield(L, t, k);
	int ok;
	lua_Integer v = lua_tointegerx(L, -1, &ok);
	if (!ok || v < 0)
		luaL_error(L, "bad run #%d: field '%s' must be an integer >= 0", i, k);
	lua_pop(L, 1);
	return v;
}

/* df:chunks(runs, fn [, size]): runs = { {off=, len=, pos=}, ... }: the bytes
 * of each run, in pieces of at most size (1 MiB) bytes, fn(pos, bytes) with
 * pos counted from the run's pos; fn returns true to stop. -> true (done),
 * false (stopped) | nil, message */
static int l_chunks(lua_State *L)
{
	struct df *d = check_df(L);
	luaL_checktype(L, 2, LUA_TTABLE);
	luaL_checktype(L, 3, LUA_TFUNCTION);
	lua_Integer size = luaL_optinteger(L, 4, 1 << 20);
	luaL_argcheck(L, size > 0 && size <= (64 << 20), 4, "chunk size must be between 1 and 64 MiB");
	lua_settop(L, 3);
	struct lua_cb c = { L, 3, 0, LUA_OK };
	struct err e;
	int rc = 0;
	d->walking++;
	for (int i = 1; rc == 0; i++) {
		if (lua_rawgeti(L, 2, i) == LUA_TNIL) {
			lua_pop(L, 1);
			break;
		}
		int t = lua_gettop(L);
		lua_Integer off = field_int(L, t, "off", i), len = field_int(L, t, "len", i),
			    pos = field_int(L, t, "pos", i);
		lua_pop(L, 1);
		rc = ds_chunks(&d->f, (uint64_t)off, (uint64_t)len, (uint64_t)pos, (size_t)size, chunk_cb, &c, &e);
	}
	return finish_walk(L, d, &c, rc, &e);
}

static int member_cb(const char *name, enum arch_type type, uint64_t size, void *ctx)
{
	struct lua_cb *c = ctx;
	lua_pushvalue(c->L, c->fn);
	lua_pushstring(c->L, name);
	lua_pushstring(c->L, larch_type_name(type));
	lua_pushinteger(c->L, (lua_Integer)size);
	if ((c->status = lua_pcall(c->L, 3, 1, 0)) != LUA_OK)
		return -1;
	int want = lua_toboolean(c->L, -1);
	lua_pop(c->L, 1);
	return want;
}

static int tar_data_cb(uint64_t off, const void *p, size_t len, void *ctx)
{
	struct lua_cb *c = ctx;
	lua_pushvalue(c->L, c->fn2);
	lua_pushinteger(c->L, (lua_Integer)off);
	lua_pushlstring(c->L, p, len);
	return call_cb(c, 2);
}

/* df:tar(member_fn, data_fn): the file as a tar stream (gzip or other
 * compression), read once: member_fn(name, type, size) returns true to have
 * that member's data, data_fn(offset, bytes) gets it in order (true stops).
 * -> true | false (stopped) | nil, message (a damaged archive: the member and
 * how far the stream was read) */
static int l_tar(lua_State *L)
{
	struct df *d = check_df(L);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	luaL_checktype(L, 3, LUA_TFUNCTION);
	lua_settop(L, 3);
	struct lua_cb c = { L, 2, 3, LUA_OK };
	struct err e;
	d->walking++;
	int rc = ds_tar(&d->f, member_cb, tar_data_cb, &c, &e);
	return finish_walk(L, d, &c, rc, &e);
}

/* ---- crit.searcher(needle, fn): s:feed(pos, bytes), fn(pos) per match ---- */

struct searcher {
	struct mem_searcher *ms;
	lua_State *L;
	int status;
};

static int searcher_gc(lua_State *L)
{
	struct searcher *s = luaL_checkudata(L, 1, SEARCHER_MT);
	mem_searcher_free(s->ms);
	s->ms = NULL;
	return 0;
}

static int searcher_match(uint64_t pos, void *ctx)
{
	struct searcher *s = ctx;
	lua_State *L = s->L;
	lua_getiuservalue(L, 1, 1);
	lua_pushinteger(L, (lua_Integer)pos);
	if ((s->status = lua_pcall(L, 1, 1, 0)) != LUA_OK)
		return 1;
	int stop = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return stop ? 2 : 0;
}

static int l_searcher(lua_State *L)
{
	size_t nlen;
	const char *needle = luaL_checklstring(L, 1, &nlen);
	luaL_argcheck(L, nlen > 0, 1, "empty search string");
	luaL_argcheck(L, nlen <= (1 << 20), 1, "search string longer than 1 MiB");
	luaL_checktype(L, 2, LUA_TFUNCTION);
	struct searcher *s = lua_newuserdatauv(L, sizeof *s, 1);
	memset(s, 0, sizeof *s);
	luaL_setmetatable(L, SEARCHER_MT);
	lua_pushvalue(L, 2);
	lua_setiuservalue(L, -2, 1);
	s->ms = mem_searcher_new((const uint8_t *)needle, nlen, searcher_match, s);
	if (!s->ms)
		return luaL_error(L, "out of memory");
	return 1;
}

/* s:feed(pos, bytes) -> true, or false when fn asked to stop */
static int l_feed(lua_State *L)
{
	struct searcher *s = luaL_checkudata(L, 1, SEARCHER_MT);
	if (!s->ms)
		return luaL_error(L, "attempt to use a freed searcher");
	lua_Integer pos = luaL_checkinteger(L, 2);
	size_t len;
	const char *data = luaL_checklstring(L, 3, &len);
	lua_settop(L, 3);
	s->L = L;
	s->status = LUA_OK;
	int rc = mem_searcher_feed(s->ms, (uint64_t)pos, (const uint8_t *)data, len);
	if (s->status != LUA_OK)
		return lua_error(L);
	lua_pushboolean(L, rc == 0);
	return 1;
}

static const luaL_Reg df_methods[] = {
	{ "size", l_size },   { "label", l_label }, { "entries", l_entries }, { "read", l_read },
	{ "chunks", l_chunks }, { "tar", l_tar },   { "close", df_close },    { NULL, NULL },
};

static const luaL_Reg funcs[] = {
	{ "datafile", l_datafile },
	{ "searcher", l_searcher },
	{ NULL, NULL },
};

void ldatasrc_open(lua_State *L)
{
	if (luaL_newmetatable(L, DF_MT)) {
		luaL_newlib(L, df_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, df_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, df_close);
		lua_setfield(L, -2, "__close");
	}
	lua_pop(L, 1);
	if (luaL_newmetatable(L, SEARCHER_MT)) {
		lua_newtable(L);
		lua_pushcfunction(L, l_feed);
		lua_setfield(L, -2, "feed");
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, searcher_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	luaL_setfuncs(L, funcs, 0);
}
