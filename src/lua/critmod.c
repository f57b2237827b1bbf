/* critmod.c: the `crit` Lua C module (crit.so) for the stock lua5.4
 * interpreter: the same luaopen_crit as inside critlua. This reference pulls
 * it, and through it the whole core, out of the static library; the module
 * does not link liblua, whose symbols the interpreter itself provides. */
#include <lua.h>

int luaopen_crit(lua_State *L);

int (*const critmod_entry)(lua_State *L) = luaopen_crit;
