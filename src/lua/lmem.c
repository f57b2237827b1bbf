/* lmem.c: Lua bindings of the memory reader (mem.c): crit.memory(dir,
 * pagemap [, page_size]) -> a memory object with read, regions, chunks and
 * find. Misuse raises; failures of the world return nil, message. */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "larchive.h"
#include "laux.h"
#include "lparts.h"
#include "mem.h"

#define MEM_MT "crit.memory"

static struct mem_map *check_mem(lua_State *L)
{
	struct mem_map *m = luaL_checkudata(L, 1, MEM_MT);
	if (!m->r && !m->dir)
		luaL_error(L, "attempt to use a closed memory object");
	return m;
}

/* crit.memory(dir, pagemap_name [, page_size]), or
 * crit.memory(archive, pagemap_name [, page_size]) over the images of a
 * container archive (crit.archive), which the object keeps alive */
static int l_memory(lua_State *L)
{
	struct arch *ar = larch_test(L, 1);
	const char *dir = ar ? NULL : luaL_checkstring(L, 1);
	const char *name = luaL_checkstring(L, 2);
	lua_Integer ps = luaL_optinteger(L, 3, 4096);
	luaL_argcheck(L, ps > 0 && (ps & (ps - 1)) == 0, 3, "page size must be a power of two");
	/* Created closed (dir NULL), so a failure below leaves a safe object for __gc.
	 * Its user value counts the walks running over it (see l_close). */
	struct mem_map *m = lua_newuserdatauv(L, sizeof *m, 2);
	memset(m, 0, sizeof *m);
	m->fd = -1;
	luaL_setmetatable(L, MEM_MT);
	struct err e;
	int rc;
	if (ar) {
		lua_pushvalue(L, 1);
		lua_setiuservalue(L, -2, 2); /* the archive outlives the object */
		larch_push_ckpt(L, ar);
		rc = mem_map_open_archive(m, ar, lua_tostring(L, -1), lua_tostring(L, -2), name, (size_t)ps, &e);
		lua_pop(L, 2);
	} else {
		rc = mem_map_open(m, dir, name, (size_t)ps, &e);
	}
	if (rc < 0) {
		luaL_pushfail(L);
		lua_pushstring(L, e.msg);
		return 2;
	}
	return 1;
}

static int l_gc(lua_State *L)
{
	struct mem_map *m = luaL_checkudata(L, 1, MEM_MT);
	if (m->dir || m->r)
		mem_map_close(m);
	return 0;
}

/* m:close(): not from inside its own chunks/find callback, whose walk would
 * go on over freed memory. */
static int l_close(lua_State *L)
{
	luaL_checkudata(L, 1, MEM_MT);
	lua_getiuservalue(L, 1, 1);
	if (lua_tointeger(L, -1) > 0)
		return luaL_error(L, "cannot close a memory object while chunks() or find() runs over it");
	lua_pop(L, 1);
	return l_gc(L);
}

/* Count a walk starting (+1) or ending (-1) over the object at index 1
 * (walks nest when a callback walks the same object). */
static void set_walking(lua_State *L, int delta)
{
	lua_getiuservalue(L, 1, 1);
	lua_Integer n = lua_tointeger(L, -1) + delta;
	lua_pop(L, 1);
	lua_pushinteger(L, n);
	lua_setiuservalue(L, 1, 1);
}

/* m:read(addr, len) -> string | nil, message */
static int l_read(lua_State *L)
{
	struct mem_map *m = check_mem(L);
	lua_Integer addr = luaL_checkinteger(L, 2), len = luaL_checkinteger(L, 3);
	luaL_argcheck(L, len >= 0 && len <= (1 << 30), 3, "length must be between 0 and 1 GiB");
	luaL_Buffer b;
	uint8_t *p = (uint8_t *)luaL_buffinitsize(L, &b, (size_t)len);
	struct err e;
	if (mem_read(m, (uint64_t)addr, (size_t)len, p, &e) < 0) {
		luaL_pushfail(L);
		lua_pushstring(L, e.msg);
		return 2;
	}
	luaL_pushresultsize(&b, (size_t)len);
	return 1;
}

/* m:locate(addr, len) -> { {addr=, offset=, len=}, ... } | nil, message:
 * where those bytes lie in the pages file (pages-<pages_id>.img), every one
 * stored there (mem_locate) */
static int l_locate(lua_State *L)
{
	struct mem_map *m = check_mem(L);
	lua_Integer addr = luaL_checkinteger(L, 2), len = luaL_checkinteger(L, 3);
	luaL_argcheck(L, len >= 0 && len <= (1 << 30), 3, "length must be between 0 and 1 GiB");
	struct mem_span *s;
	size_t n;
	struct err e;
	if (mem_locate(m, (uint64_t)addr, (size_t)len, &s, &n, &e) < 0) {
		luaL_pushfail(L);
		lua_pushstring(L, e.msg);
		return 2;
	}
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_createtable(L, 0, 3);
		lua_pushinteger(L, (lua_Integer)s[i].addr);
		lua_setfield(L, -2, "addr");
		lua_pushinteger(L, (lua_Integer)s[i].file_off);
		lua_setfield(L, -2, "offset");
		lua_pushinteger(L, (lua_Integer)s[i].len);
		lua_setfield(L, -2, "len");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	free(s);
	return 1;
}

/* m:regions() -> { {vaddr=, nr_pages=, size=, flags=, present=, parent=, lazy=}, ... } */
static int l_regions(lua_State *L)
{
	struct mem_map *m = check_mem(L);
	lua_createtable(L, (int)m->n, 0);
	for (size_t i = 0; i < m->n; i++) {
		const struct mem_region *r = &m->r[i];
		lua_createtable(L, 0, 7);
		lua_pushinteger(L, (lua_Integer)r->vaddr);
		lua_setfield(L, -2, "vaddr");
		lua_pushinteger(L, (lua_Integer)r->nr_pages);
		lua_setfield(L, -2, "nr_pages");
		lua_pushinteger(L, (lua_Integer)(r->nr_pages * m->page_size));
		lua_setfield(L, -2, "size");
		lua_pushinteger(L, r->flags);
		lua_setfield(L, -2, "flags");
		lua_pushboolean(L, (r->flags & PE_PRESENT) != 0);
		lua_setfield(L, -2, "present");
		lua_pushboolean(L, !(r->flags & PE_PRESENT) && (r->flags & PE_PARENT));
		lua_setfield(L, -2, "parent");
		lua_pushboolean(L, !(r->flags & (PE_PRESENT | PE_PARENT)));
		lua_setfield(L, -2, "lazy");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* The callbacks call back into Lua: the function is at stack index 3 (find)
 * or 3 (chunks); a true result stops the walk. Errors propagate as Lua errors
 * after the walk has freed its buffers (mem_walk frees before returning). */
struct lua_cb {
	lua_State *L;
	int fn;
	int status; /* a lua_pcall status when the callback raised */
};

static int call_cb(struct lua_cb *c, int nargs)
{
	if ((c->status = lua_pcall(c->L, nargs, 1, 0)) != LUA_OK)
		return 1; /* the error message stays on the stack */
	int stop = lua_toboolean(c->L, -1);
	lua_pop(c->L, 1);
	return stop ? 2 : 0;
}

static int chunk_cb(uint64_t addr, const uint8_t *data, size_t len, void *ctx)
{
	struct lua_cb *c = ctx;
	lua_pushvalue(c->L, c->fn);
	lua_pushinteger(c->L, (lua_Integer)addr);
	lua_pushlstring(c->L, (const char *)data, len);
	return call_cb(c, 2);
}

static int match_cb(uint64_t addr, void *ctx)
{
	struct lua_cb *c = ctx;
	lua_pushvalue(c->L, c->fn);
	lua_pushinteger(c->L, (lua_Integer)addr);
	return call_cb(c, 1);
}

static int finish_walk(lua_State *L, struct lua_cb *c, int rc, struct err *e)
{
	set_walking(L, -1);
	if (c->status != LUA_OK)
		return lua_error(L); /* re-raise the callback's error */
	if (rc < 0) {
		luaL_pushfail(L);
		lua_pushstring(L, e->msg);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* m:chunks(fn [, size]): fn(addr, bytes) over the present memory in address
 * order, pieces of at most size bytes (default 4 MiB); fn returns true to stop. */
static int l_chunks(lua_State *L)
{
	struct mem_map *m = check_mem(L);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_Integer size = luaL_optinteger(L, 3, 4 << 20);
	luaL_argcheck(L, size > 0 && size <= (1 << 30), 3, "chunk size must be between 1 and 1 GiB");
	lua_settop(L, 2);
	struct lua_cb c = { L, 2, LUA_OK };
	struct err e;
	set_walking(L, 1);
	int rc = mem_walk(m, (size_t)size, chunk_cb, &c, &e);
	return finish_walk(L, &c, rc, &e);
}

/* m:find(needle, fn): fn(addr) for each match; fn returns true to stop. */
static int l_find(lua_State *L)
{
	struct mem_map *m = check_mem(L);
	size_t nlen;
	const char *needle = luaL_checklstring(L, 2, &nlen);
	luaL_argcheck(L, nlen > 0, 2, "empty search string");
	luaL_argcheck(L, nlen <= (1 << 20), 2, "search string longer than 1 MiB");
	luaL_checktype(L, 3, LUA_TFUNCTION);
	lua_settop(L, 3);
	lua_pushvalue(L, 2); /* keep needle alive and in place while searching */
	struct lua_cb c = { L, 3, LUA_OK };
	struct err e;
	set_walking(L, 1);
	int rc = mem_search(m, (const uint8_t *)needle, nlen, match_cb, &c, &e);
	return finish_walk(L, &c, rc, &e);
}

/* m:page_size(), m:pages_id() */
static int l_page_size(lua_State *L)
{
	struct mem_map *m = check_mem(L);
	lua_pushinteger(L, (lua_Integer)m->page_size);
	return 1;
}

static int l_pages_id(lua_State *L)
{
	struct mem_map *m = check_mem(L);
	lua_pushinteger(L, m->pages_id);
	return 1;
}

static const luaL_Reg mem_methods[] = {
	{ "read", l_read },   { "regions", l_regions },	    { "chunks", l_chunks },
	{ "find", l_find },   { "page_size", l_page_size }, { "pages_id", l_pages_id },
	{ "close", l_close }, { "locate", l_locate }, { NULL, NULL },
};

static const luaL_Reg mem_funcs[] = {
	{ "memory", l_memory },
	{ NULL, NULL },
};

void lmem_open(lua_State *L)
{
	if (luaL_newmetatable(L, MEM_MT)) {
		luaL_newlib(L, mem_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, l_close);
		lua_setfield(L, -2, "__close");
	}
	lua_pop(L, 1);
	luaL_setfuncs(L, mem_funcs, 0);
}
