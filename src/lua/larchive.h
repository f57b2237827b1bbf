/* larchive.h: the archive userdata of larchive.c, for the other bindings
 * (lmem.c builds memory objects over an archive's members). */
#ifndef CRITLUA_LARCHIVE_H
#define CRITLUA_LARCHIVE_H

#include <lua.h>

#include "ckarchive.h"

#define LARCH_MT "crit.archive"

/* The open archive at idx, or NULL when it is something else. */
struct arch *larch_test(lua_State *L, int idx);

#endif
