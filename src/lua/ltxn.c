/* ltxn.c: crit.txn, the binding of the core's one write path (txn.c), and
 * the non-blocking reads of checkpoint files crit.lua needs (crit._read,
 * crit._stat, crit._recover). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>

#include "laux.h"
#include "lparts.h"
#include "ltxn.h"
#include "txn.h"

#define LTXN_MT "crit.txn"

/* Critlua reports what it did about a killed writer's leftovers on stderr. */
static void ltxn_report(char *report)
{
	if (report) {
		fflush(stdout);
		fprintf(stderr, "critlua: %s\n", report);
		free(report);
	}
}

static struct txn **ltxn_box(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, LTXN_MT);
}

static struct txn *ltxn_check(lua_State *L, int idx)
{
	struct txn **box = ltxn_box(L, idx);
	if (!*box)
		luaL_error(L, "the transaction is closed");
	return *box;
}

struct txn *ltxn_opt(lua_State *L, int idx)
{
	if (lua_isnoneornil(L, idx))
		return NULL;
	return ltxn_check(L, idx);
}

/* crit.txn(path, [{wait = seconds}]) -> txn: the checkpoint's lock, taken
 * now (default: wait up to 10 s for another writer; wait = -1: no limit;
 * 0: fail at once), with a killed writer's leftovers finished or undone. */
static int ltxn_new(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	double wait = 10;
	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "wait");
		if (!lua_isnil(L, -1))
			wait = luaL_checknumber(L, -1);
		lua_pop(L, 1);
	}
	struct txn **box = lua_newuserdatauv(L, sizeof *box, 0);
	*box = NULL;
	luaL_setmetatable(L, LTXN_MT);
	char *report;
	struct err e;
	if (txn_begin(box, path, wait, &report, &e) < 0)
		return laux_fail(L, "%s", e.msg);
	ltxn_report(report);
	return 1;
}

/* txn:stage(name, bytes): the file `name` of the checkpoint will hold bytes */
static int ltxn_stage(lua_State *L)
{
	struct txn *t = ltxn_check(L, 1);
	const char *name = luaL_checkstring(L, 2);
	size_t len;
	const char *data = luaL_checklstring(L, 3, &len);
	struct err e;
	if (txn_stage(t, name, data, len, &e) < 0)
		return laux_fail(L, "%s", e.msg);
	return 0;
}

/* txn:stage_patched(name, { {offset, bytes}, ... }): the file `name` will
 * hold a copy of itself with those bytes written at those offsets, in order
 * (txn_stage_patched: never read whole, never changed in place) */
static int ltxn_stage_patched(lua_State *L)
{
	struct txn *t = ltxn_check(L, 1);
	const char *name = luaL_checkstring(L, 2);
	luaL_checktype(L, 3, LUA_TTABLE);
	lua_settop(L, 3);
	size_t np = (size_t)lua_rawlen(L, 3);
	/* a userdata, so that an error below frees it with the Lua state */
	struct txn_patch *p = lua_newuserdatauv(L, (np ? np : 1) * sizeof *p, 0);
	for (size_t i = 0; i < np; i++) {
		lua_rawgeti(L, 3, (lua_Integer)i + 1);
		if (!lua_istable(L, -1))
			return luaL_error(L, "bad patch %d: a table {offset, bytes} expected", (int)i + 1);
		lua_rawgeti(L, -1, 1);
		lua_rawgeti(L, -2, 2);
		int isnum;
		lua_Integer off = lua_tointegerx(L, -2, &isnum);
		if (!isnum || off < 0 || lua_type(L, -1) != LUA_TSTRING)
			return luaL_error(L, "bad patch %d: {offset >= 0, bytes} expected", (int)i + 1);
		p[i].off = (uint64_t)off;
		p[i].data = lua_tolstring(L, -1, &p[i].len); /* kept alive by the table at 3 */
		lua_pop(L, 3);
	}
	struct err e;
	if (txn_stage_patched(t, name, p, np, &e) < 0)
		return laux_fail(L, "%s", e.msg);
	return 0;
}

/* txn:keep(name, as): the file `name` as it is now is kept as `as` too */
static int ltxn_keep(lua_State *L)
{
	struct txn *t = ltxn_check(L, 1);
	const char *name = luaL_checkstring(L, 2);
	const char *as = luaL_checkstring(L, 3);
	struct err e;
	if (txn_keep(t, name, as, &e) < 0)
		return laux_fail(L, "%s", e.msg);
	return 0;
}

/* txn:commit() -> true, [note] */
static int ltxn_commit(lua_State *L)
{
	struct txn *t = ltxn_check(L, 1);
	char *note;
	struct err e;
	if (txn_commit(t, &note, &e) < 0)
		return laux_fail(L, "%s", e.msg);
	return laux_push_done(L, note);
}

static int ltxn_abort(lua_State *L)
{
	txn_abort(ltxn_check(L, 1));
	return 0;
}

/* txn:close(): what is staged is dropped and the lock released (also when
 * the txn is collected, or closed as a to-be-closed variable) */
static int ltxn_close(lua_State *L)
{
	struct txn **box = ltxn_box(L, 1);
	txn_end(*box);
	*box = NULL;
	return 0;
}

static int ltxn_path(lua_State *L)
{
	lua_pushstring(L, txn_path(ltxn_check(L, 1)));
	return 1;
}

static int ltxn_tostring(lua_State *L)
{
	struct txn **box = ltxn_box(L, 1);
	lua_pushfstring(L, "crit.txn: %s", *box ? txn_path(*box) : "(closed)");
	return 1;
}

/* crit._recover(path): a killed writer's leftovers finished or undone,
 * unless a writer holds the lock (readers never wait) */
static int ltxn_recover(lua_State *L)
{
	char *report;
	txn_recover_quick(luaL_checkstring(L, 1), &report);
	ltxn_report(report);
	return 0;
}

/* crit._read(path) -> bytes | nil, message, absent: a checkpoint file read
 * without blocking (a FIFO named like an image is an error, not a hang);
 * absent is true when the file does not exist. */
static int ltxn_read(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	uint8_t *p;
	size_t len;
	struct err e;
	int rc = txn_read_regular(path, &p, &len, &e);
	if (rc != 0) {
		luaL_pushfail(L);
		lua_pushfstring(L, "%s: %s", path, e.msg);
		lua_pushboolean(L, rc == 1);
		return 3;
	}
	lua_pushlstring(L, (const char *)p, len);
	free(p);
	return 1;
}

/* crit._stat(path) -> kind ("file", "directory", "fifo", ...), size, stamp |
 * nil, message: without opening it (following a symbolic link). stamp names
 * this very file as it is now (device, inode, size, change time): another
 * writer's commit gives a changed image a new one. */
static int ltxn_stat(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct stat st;
	if (stat(path, &st) < 0) {
		luaL_pushfail(L);
		lua_pushfstring(L, "%s: %s", path, strerror(errno));
		return 2;
	}
	const char *kind = S_ISREG(st.st_mode)	  ? "file"
			   : S_ISDIR(st.st_mode)  ? "directory"
			   : S_ISFIFO(st.st_mode) ? "fifo"
			   : S_ISCHR(st.st_mode)  ? "character device"
			   : S_ISBLK(st.st_mode)  ? "block device"
			   : S_ISSOCK(st.st_mode) ? "socket"
						  : "other";
	lua_pushstring(L, kind);
	lua_pushinteger(L, (lua_Integer)st.st_size);
	lua_pushfstring(L, "%I:%I:%I:%I.%I", (lua_Integer)st.st_dev, (lua_Integer)st.st_ino,
			(lua_Integer)st.st_size, (lua_Integer)st.st_ctim.tv_sec, (lua_Integer)st.st_ctim.tv_nsec);
	return 3;
}

static const luaL_Reg ltxn_methods[] = {
	{ "stage", ltxn_stage }, { "stage_patched", ltxn_stage_patched }, { "keep", ltxn_keep }, { "commit", ltxn_commit }, { "abort", ltxn_abort },
	{ "close", ltxn_close }, { "path", ltxn_path }, { NULL, NULL },
};

static const luaL_Reg ltxn_funcs[] = {
	{ "txn", ltxn_new },   { "_recover", ltxn_recover }, { "_read", ltxn_read },
	{ "_stat", ltxn_stat }, { NULL, NULL },
};

void ltxn_open(lua_State *L)
{
	if (luaL_newmetatable(L, LTXN_MT)) {
		luaL_newlib(L, ltxn_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, ltxn_close);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, ltxn_close);
		lua_setfield(L, -2, "__close");
		lua_pushcfunction(L, ltxn_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	lua_pop(L, 1);
	luaL_setfuncs(L, ltxn_funcs, 0);
}
