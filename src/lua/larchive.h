/* larchive.h: the archive userdata of larchive.c, for the other bindings
 * (lmem.c builds memory objects over an archive's members). */
#ifndef CRITLUA_LARCHIVE_H
#define CRITLUA_LARCHIVE_H

#include <lua.h>

#include "ckarchive.h"

#define LARCH_MT "crit.archive"

/* The open archive at idx, or NULL when it is something else. */
struct arch *larch_test(lua_State *L, int idx);

/* A member's type as Lua sees it: "file", "dir", "symlink", "hardlink", "other". */
const char *larch_type_name(enum arch_type t);

/* Push the two names the core's readers take for the checkpoint in ar: the
 * label messages use ("ARCHIVE:checkpoint", or "POD//NAME:checkpoint" for a
 * pod container's view) and the members' prefix (the view's folder, then
 * checkpoint/). */
void larch_push_ckpt(lua_State *L, const struct arch *ar);

#endif
