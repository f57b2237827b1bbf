/* lmemdiff.c: the Lua binding of memdiff.c: crit.memdiff(ma, mb, fn [, chunk])
 * over two memory objects of crit.memory. */
#include <lauxlib.h>
#include <lua.h>

#include "lparts.h"
#include "memdiff.h"

#define MEM_MT "crit.memory" /* lmem.c's memory objects */

static struct mem_map *check_open_mem(lua_State *L, int idx)
{
	struct mem_map *m = luaL_checkudata(L, idx, MEM_MT);
	if (!m->r && !m->dir)
		luaL_error(L, "attempt to use a closed memory object");
	return m;
}

/* lmem.c counts the walks running over a memory object in its first user
 * value, and refuses to close it meanwhile: the same here, for both. */
static void walking(lua_State *L, int idx, int delta)
{
	lua_getiuservalue(L, idx, 1);
	lua_Integer n = lua_tointeger(L, -1) + delta;
	lua_pop(L, 1);
	lua_pushinteger(L, n);
	lua_setiuservalue(L, idx, 1);
}

static const char *const CONTENT[] = { "same", "changed", "uncompared" };

struct ctx {
	lua_State *L;
	int status;
};

static int run_cb(const struct memdiff_run *r, void *vc)
{
	struct ctx *c = vc;
	lua_State *L = c->L;
	lua_pushvalue(L, 3);
	lua_createtable(L, 0, 6);
	lua_pushinteger(L, (lua_Integer)r->addr);
	lua_setfield(L, -2, "addr");
	lua_pushinteger(L, (lua_Integer)r->npages);
	lua_setfield(L, -2, "npages");
	lua_pushstring(L, memdiff_state_name(r->a));
	lua_setfield(L, -2, "a");
	lua_pushstring(L, memdiff_state_name(r->b));
	lua_setfield(L, -2, "b");
	lua_pushstring(L, CONTENT[r->content]);
	lua_setfield(L, -2, "content");
	lua_pushboolean(L, r->missing_parent);
	lua_setfield(L, -2, "missing_parent");
	if ((c->status = lua_pcall(L, 1, 1, 0)) != LUA_OK)
		return 1; /* the error stays on the stack */
	int stop = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return stop ? 2 : 0;
}

/* crit.memdiff(ma, mb, fn [, chunk]) -> {compared =, changed =} (pages) | nil, message.
 * fn(run) per run of pages that changed or moved; true stops. */
static int l_memdiff(lua_State *L)
{
	struct mem_map *a = check_open_mem(L, 1), *b = check_open_mem(L, 2);
	luaL_checktype(L, 3, LUA_TFUNCTION);
	lua_Integer chunk = luaL_optinteger(L, 4, 1 << 20);
	luaL_argcheck(L, chunk > 0 && chunk <= (256 << 20), 4, "chunk size must be between 1 and 256 MiB");
	lua_settop(L, 3);
	struct ctx c = { L, LUA_OK };
	struct memdiff_stats st;
	struct err e;
	walking(L, 1, 1);
	walking(L, 2, 1);
	int rc = memdiff(a, b, (size_t)chunk, run_cb, &c, &st, &e);
	walking(L, 1, -1);
	walking(L, 2, -1);
	if (c.status != LUA_OK)
		return lua_error(L);
	if (rc < 0) {
		luaL_pushfail(L);
		lua_pushstring(L, e.msg);
		return 2;
	}
	lua_createtable(L, 0, 3);
	lua_pushinteger(L, (lua_Integer)st.compared);
	lua_setfield(L, -2, "compared");
	lua_pushinteger(L, (lua_Integer)st.changed);
	lua_setfield(L, -2, "changed");
	lua_pushboolean(L, rc != 0);
	lua_setfield(L, -2, "stopped");
	return 1;
}

static const luaL_Reg funcs[] = {
	{ "memdiff", l_memdiff },
	{ NULL, NULL },
};

void lmemdiff_open(lua_State *L)
{
	luaL_setfuncs(L, funcs, 0);
}
