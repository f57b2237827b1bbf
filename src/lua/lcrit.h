/* lcrit.h: the Lua module `crit` as the program and crit.so open it, and the
 * Lua files embedded in the binary. */
#ifndef CRITLUA_LCRIT_H
#define CRITLUA_LCRIT_H

#include <stddef.h>

#include <lua.h>
#include <lauxlib.h>

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

/* Load the embedded module or script `name` as a chunk named after its path
 * ("@lua/cmd/x.lua"). Returns a luaL_loadbuffer status; LUA_ERRFILE (with a message) when absent. */
int lcrit_load_embedded(lua_State *L, const char *name);

#endif
