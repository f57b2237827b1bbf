/* lreadline.h: the terminal binding of `critlua -i` (lreadline.c), linked
 * into the critlua program only: crit.so, loaded by other Lua hosts, does
 * not bring readline along. */
#ifndef CRITLUA_LREADLINE_H
#define CRITLUA_LREADLINE_H

#include <lua.h>

/* Push the table the REPL (lua/lib/repl.lua) drives: available (built with
 * readline), readline, add_history, history_load, history_append,
 * set_completer, isatty, catch_interrupt, interruptible. */
void lreadline_push(lua_State *L);

#endif
