/* ltxn.h: the transaction userdata of crit.txn, for the other bindings that
 * write through it (larchive.c: ar:rewrite). */
#ifndef CRITLUA_LTXN_H
#define CRITLUA_LTXN_H

#include <lua.h>

struct txn;
/* The open txn at idx, or NULL when idx is none or nil; raises when it is
 * something else or already closed. */
struct txn *ltxn_opt(lua_State *L, int idx);

#endif
