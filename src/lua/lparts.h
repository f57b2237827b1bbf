/* lparts.h: the parts of the `crit` module. Each adds its functions to the
 * table at the top of the stack and leaves the stack as it found it; the hub
 * (lcrit.c) calls them in turn. */
#ifndef CRITLUA_LPARTS_H
#define CRITLUA_LPARTS_H

#include <lua.h>

void limage_open(lua_State *L);    /* limage.c: load, save, decode, encode, new, schema, ... */
void lmem_open(lua_State *L);      /* lmem.c: crit.memory */
void ltxn_open(lua_State *L);      /* ltxn.c: crit.txn (the one write path), crit._read/_stat/_recover */
void lprogress_open(lua_State *L); /* lprogress.c: crit.progress */
void larchive_open(lua_State *L);  /* larchive.c: crit.archive */
void ljson_out_open(lua_State *L); /* ljson_out.c: crit.json.encode, the decode and info halves */
void ljson_in_open(lua_State *L);  /* ljson_in.c: crit.json.decode, encode's C path */
void lmemdiff_open(lua_State *L);  /* lmemdiff.c: crit.memdiff */
void lcoredump_open(lua_State *L); /* lcoredump.c: crit.coredump */
void ldatasrc_open(lua_State *L);  /* ldatasrc.c: crit.datafile, crit.searcher */
/* Not a part: lreadline.c (lreadline.h), the terminal of `critlua -i`, which
 * only the program links (main.c hands it to lua/lib/repl.lua), so that crit.so
 * never brings readline into another Lua host. */

#endif
