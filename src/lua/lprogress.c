/* lprogress.c: crit.progress, the progress line for scripts (src/core/progress.h).
 * Inside critlua it is on when stderr is a terminal and --quiet is not
 * given; loaded by another interpreter, crit.progress.enable(true) turns it on. */
#include <lauxlib.h>

#include "laux.h"
#include "lparts.h"
#include "progress.h"

static uint64_t lprogress_count(lua_State *L, int idx)
{
	lua_Integer n = luaL_optinteger(L, idx, 0);
	luaL_argcheck(L, n >= 0, idx, "a count >= 0 expected");
	return (uint64_t)n;
}

/* crit.progress.start(label [, total [, unit]]): unit nil for bytes, else a
 * plural noun for a count ("images"). */
static int lprogress_start(lua_State *L)
{
	const char *label = luaL_checkstring(L, 1);
	uint64_t total = lprogress_count(L, 2);
	const char *unit = luaL_optstring(L, 3, NULL);
	progress_start(label, total, unit);
	return 0;
}

static int lprogress_label(lua_State *L)
{
	progress_label(luaL_checkstring(L, 1));
	return 0;
}

static int lprogress_add(lua_State *L)
{
	progress_add(lprogress_count(L, 1));
	return 0;
}

static int lprogress_set(lua_State *L)
{
	progress_set(lprogress_count(L, 1));
	return 0;
}

static int lprogress_stop(lua_State *L)
{
	(void)L;
	progress_stop();
	return 0;
}

static int lprogress_clear(lua_State *L)
{
	(void)L;
	progress_clear();
	return 0;
}

static int lprogress_enabled(lua_State *L)
{
	lua_pushboolean(L, progress_enabled());
	return 1;
}

static int lprogress_enable(lua_State *L)
{
	progress_enable(lua_toboolean(L, 1));
	return 0;
}

static const luaL_Reg lprogress_funcs[] = {
	{ "start", lprogress_start }, { "label", lprogress_label },     { "add", lprogress_add },
	{ "set", lprogress_set },     { "stop", lprogress_stop },       { "clear", lprogress_clear },
	{ "enabled", lprogress_enabled }, { "enable", lprogress_enable }, { NULL, NULL },
};

void lprogress_open(lua_State *L)
{
	lua_newtable(L);
	luaL_setfuncs(L, lprogress_funcs, 0);
	lua_setfield(L, -2, "progress");
}
