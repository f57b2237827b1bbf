/* lcrit.c: the hub of the `crit` module — luaopen_crit opens every part
 * (lparts.h) into one table and runs the Lua prelude over it; and the Lua
 * files built into the binary, found and loaded by name. */
#include <string.h>

#include <lauxlib.h>

#include "lcrit.h"
#include "lparts.h"

static void (*const lcrit_parts[])(lua_State *L) = {
	limage_open, lmem_open, ltxn_open, lprogress_open, larchive_open, ljson_out_open, ljson_in_open,
	lmemdiff_open, lcoredump_open, ldatasrc_open,
};

/* The stock modules (lua/lib/) that add methods to every checkpoint, loaded
 * the first time a checkpoint misses a method: ck:ps() needs no require. */
static const char *const lcrit_checkpoint_modules[] = { "explore", "memory", "memwrite", "memdiff", "corefile",
								"datasrc" };

const struct embedded_lua *lcrit_embedded_find(const char *name)
{
	for (const struct embedded_lua *e = embedded_lua; e->name; e++)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

int lcrit_load_embedded(lua_State *L, const char *name)
{
	const struct embedded_lua *e = lcrit_embedded_find(name);
	if (!e) {
		lua_pushfstring(L, "no embedded script '%s'", name);
		return LUA_ERRFILE;
	}
	lua_pushfstring(L, "@%s", e->path);
	/* The compiled chunk; the source when this Lua reads chunks differently
	 * from the one of the build. */
	int rc = luaL_loadbufferx(L, e->code, e->code_len, lua_tostring(L, -1), "b");
	if (rc != LUA_OK) {
		lua_pop(L, 1);
		rc = luaL_loadbufferx(L, e->source, e->len, lua_tostring(L, -1), "t");
	}
	lua_remove(L, -2);
	return rc;
}

/* package.searchers entry for the Lua modules built in (explore, memory,
 * fixup...): what lets crit.open(dir):ps() work when crit.so is loaded by a
 * stock lua5.4. critlua puts its own searcher ahead of this one. */
static int lcrit_searcher(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const struct embedded_lua *e = lcrit_embedded_find(name);
	if (!e || e->is_command) {
		lua_pushfstring(L, "no module '%s' built into crit", name);
		return 1;
	}
	if (lcrit_load_embedded(L, name) != LUA_OK)
		return luaL_error(L, "error loading module '%s' built into crit:\n\t%s", name,
				  lua_tostring(L, -1));
	lua_pushstring(L, e->path);
	return 2;
}

/* Put lcrit_searcher second in package.searchers (after preload), once. */
static void lcrit_add_searcher(lua_State *L)
{
	int top = lua_gettop(L);
	if (lua_getglobal(L, "package") != LUA_TTABLE ||
	    lua_getfield(L, -1, "searchers") != LUA_TTABLE) {
		lua_settop(L, top); /* no package library: nothing to extend */
		return;
	}
	lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, -1, i);
		int found = lua_tocfunction(L, -1) == lcrit_searcher;
		lua_pop(L, 1);
		if (found) {
			lua_settop(L, top);
			return;
		}
	}
	for (lua_Integer i = n; i >= 2; i--) {
		lua_rawgeti(L, -1, i);
		lua_rawseti(L, -2, i + 1);
	}
	lua_pushcfunction(L, lcrit_searcher);
	lua_rawseti(L, -2, n >= 1 ? 2 : 1);
	lua_settop(L, top);
}

int luaopen_crit(lua_State *L)
{
	lcrit_add_searcher(L);
	lua_newtable(L);
	/* Each part adds its functions to the table on top, as linit.c opens
	 * Lua's own libraries one by one. */
	for (size_t i = 0; i < sizeof lcrit_parts / sizeof *lcrit_parts; i++)
		lcrit_parts[i](L);
	/* The prelude (lua/lib/crit.lua) gets the table and adds the Lua parts,
	 * and the names of the stock modules that add checkpoint methods. */
	if (lcrit_load_embedded(L, "crit") != LUA_OK)
		return lua_error(L);
	lua_pushvalue(L, -2);
	lua_createtable(L, (int)(sizeof lcrit_checkpoint_modules / sizeof *lcrit_checkpoint_modules), 0);
	for (size_t i = 0; i < sizeof lcrit_checkpoint_modules / sizeof *lcrit_checkpoint_modules; i++) {
		lua_pushstring(L, lcrit_checkpoint_modules[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_call(L, 2, 0);
	return 1;
}
