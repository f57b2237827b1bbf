/* laux.c: the helpers every part of the `crit` module shares (as lauxlib.c
 * is to Lua's own libraries). See laux.h. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "image.h"
#include "laux.h"

/* Errors of the world raise too (see docs/LUA-API.md): a fixup script that
 * forgot to check a nil would go on to write a wrong checkpoint. Messages
 * start with the file name; critlua prints them after "critlua: ". */

/* Raise a failure of the world: the message alone, without the position of
 * the calling script line that luaL_error would put first — the message
 * names the file, and -d shows the traceback. */
int laux_fail(lua_State *L, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	return lua_error(L);
}

/* An img in a userdata, so that it is freed if a Lua error cuts in. */
#define LAUX_IMGBOX_MT "crit.imgbox"

static int laux_imgbox_gc(lua_State *L)
{
	img_free(luaL_checkudata(L, 1, LAUX_IMGBOX_MT));
	return 0;
}

void *laux_box(lua_State *L, size_t size, const char *mt, lua_CFunction gc)
{
	void *p = lua_newuserdatauv(L, size, 0);
	memset(p, 0, size);
	if (luaL_newmetatable(L, mt)) {
		lua_pushcfunction(L, gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	return p;
}

struct img *laux_imgbox(lua_State *L)
{
	return laux_box(L, sizeof(struct img), LAUX_IMGBOX_MT, laux_imgbox_gc);
}

int laux_flag(lua_State *L, int idx, const char *name)
{
	if (lua_isnoneornil(L, idx))
		return 0;
	lua_getfield(L, idx, name);
	int v = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return v;
}

int laux_push_done(lua_State *L, char *note)
{
	lua_pushboolean(L, 1);
	if (!note)
		return 1;
	lua_pushstring(L, note);
	free(note);
	return 2;
}
