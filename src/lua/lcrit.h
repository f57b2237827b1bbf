/* lcrit.h: the Lua module `crit` — how its C parts register themselves, and
 * the Lua sources embedded in the binary. */
#ifndef CRITLUA_LCRIT_H
#define CRITLUA_LCRIT_H

#include <stddef.h>

#include <lua.h>
#include <lauxlib.h>

/* Add the functions of l to the table at the top of the stack (no upvalues). */
void lcrit_setfuncs(lua_State *L, const luaL_Reg *l);

/* Each Lua-facing C file adds its part of `crit` to the table at the top of
 * the stack, leaving the stack as it found it. */
void lcrit_open_image(lua_State *L);    /* lcrit.c: load, save, decode, encode, new, ... */
void lcrit_open_json_out(lua_State *L); /* ljson_out.c */
void lcrit_open_json_in(lua_State *L);  /* ljson_in.c */
void lcrit_open_mem(lua_State *L);      /* lmem.c: crit.memory */
void lcrit_open_fixup(lua_State *L);    /* lfixup.c: crit._fs, for lua/lib/fixup.lua */
void lcrit_open_progress(lua_State *L); /* lprogress.c: crit.progress */
void lcrit_open_archive(lua_State *L);  /* larchive.c: crit.archive */

/* luaopen_crit: the `crit` table with every part, and the Lua prelude
 * (lua/lib/crit.lua: crit.open and the checkpoint object) run over it. */
int luaopen_crit(lua_State *L);

/* The files of lua/lib/ and lua/cmd/, compiled in by src/gen/embed.c
 * (build/gen/embedded-lua.c): name is the file name without ".lua", path the
 * file's path in the tree (lua/cmd/x.lua, the chunk's name), is_command true
 * for lua/cmd/; code is the chunk the build's Lua compiled the source to.
 * Ends with name NULL. */
struct embedded_lua {
	const char *name;
	const char *path;
	int is_command;
	const char *source;
	size_t len;
	const char *code;
	size_t code_len;
};
extern const struct embedded_lua embedded_lua[];
const struct embedded_lua *lcrit_embedded_find(const char *name);
/* A zeroed img in a new userdata on the stack, freed (img_free) when it is
 * collected: safe across a Lua error. */
struct img;
struct img *lcrit_imgbox(lua_State *L);

/* Load the embedded module or script `name` as a chunk named "@lua/lib/<name>.lua" or "@lua/cmd/<name>.lua".
 * Returns a luaL_loadbuffer status; LUA_ERRFILE (with a message) when absent. */
int lcrit_load_embedded(lua_State *L, const char *name);

#endif
