/* laux.h: the helpers the parts of the `crit` module share. They call
 * nothing of the other parts: every binding file may include this one. */
#ifndef CRITLUA_LAUX_H
#define CRITLUA_LAUX_H

#include <lua.h>

/* Raise a failure of the world (a file that cannot be read, a bad image): the
 * message alone, without the script position luaL_error would put first — the
 * message names the file, and -d shows the traceback. See docs/LUA-API.md. */
int laux_fail(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A zeroed userdata of size bytes on the stack whose metatable `mt` (made at
 * the first call) has gc as __gc: C state that a Lua error cannot leak. */
void *laux_box(lua_State *L, size_t size, const char *mt, lua_CFunction gc);

/* A zeroed img in a new userdata on the stack, freed (img_free) when it is
 * collected: safe across a Lua error. */
struct img;
struct img *laux_imgbox(lua_State *L);

/* Whether the options table at idx (nil or none: no options) sets `name`
 * to a true value. */
int laux_flag(lua_State *L, int idx, const char *name);

/* A change's result: true, and the note (malloc'd, freed here) when there
 * is one. Returns the number of values pushed. */
int laux_push_done(lua_State *L, char *note);

#endif
