/* larchive.c: Lua bindings of ckarchive.c — crit.archive(path) and its
 * methods, used by lua/lib/crit.lua's checkpoint object. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>

#include "ckarchive.h"
#include "larchive.h"
#include "ltxn.h"
#include "laux.h"
#include "lparts.h"
#include "luapb.h"

static int larch_fail(lua_State *L, const char *msg)
{
	lua_pushstring(L, msg);
	return lua_error(L);
}

struct arch *larch_test(lua_State *L, int idx)
{
	struct arch *a = luaL_testudata(L, idx, LARCH_MT);
	return a && a->path ? a : NULL;
}

void larch_push_ckpt(lua_State *L, const struct arch *ar)
{
	lua_pushfstring(L, "%s:%s", ar->label ? ar->label : ar->path, "checkpoint");
	lua_pushfstring(L, "%s" ARCH_CKPT_DIR, ar->root ? ar->root : "");
}

static struct arch *larch_check(lua_State *L)
{
	struct arch *a = luaL_checkudata(L, 1, LARCH_MT);
	if (!a->path)
		luaL_error(L, "attempt to use a closed archive");
	return a;
}

/* crit.archive(path, [folder, label]) -> archive | raises "path: why"; with
 * folder, the view of one container of a pod checkpoint (arch_view): names
 * are then relative to that folder */
static int larch_open(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	const char *root = luaL_optstring(L, 2, NULL);
	const char *label = luaL_optstring(L, 3, path);
	struct arch *a = lua_newuserdatauv(L, sizeof *a, 0);
	memset(a, 0, sizeof *a);
	a->fd = a->tmpfd = -1;
	luaL_setmetatable(L, LARCH_MT);
	struct err e;
	if (arch_open(a, path, &e) < 0)
		return larch_fail(L, e.msg);
	if (root && arch_view(a, root, label, &e) < 0) {
		arch_close(a);
		return larch_fail(L, e.msg);
	}
	return 1;
}

static int larch_gc(lua_State *L)
{
	struct arch *a = luaL_checkudata(L, 1, LARCH_MT);
	if (a->path)
		arch_close(a);
	return 0;
}

const char *larch_type_name(enum arch_type t)
{
	switch (t) {
	case ARCH_FILE:
		return "file";
	case ARCH_DIR:
		return "dir";
	case ARCH_SYMLINK:
		return "symlink";
	case ARCH_HARDLINK:
		return "hardlink";
	default:
		return "other";
	}
}

/* ar:members() -> {{name=, size=, type=, in_place=, sparse=, stored=, link=}, ...}
 * in archive order */
static int larch_members(lua_State *L)
{
	struct arch *a = larch_check(L);
	size_t rl = a->root ? strlen(a->root) : 0;
	lua_Integer k = 0;
	lua_createtable(L, (int)a->n, 0);
	for (size_t i = 0; i < a->n; i++) {
		const struct arch_member *m = &a->m[i];
		/* a view: the container's members, named within its folder */
		if (rl && (strncmp(m->name, a->root, rl) != 0 || !m->name[rl]))
			continue;
		lua_createtable(L, 0, 4);
		lua_pushstring(L, m->name + rl);
		lua_setfield(L, -2, "name");
		lua_pushinteger(L, (lua_Integer)m->size);
		lua_setfield(L, -2, "size");
		lua_pushstring(L, larch_type_name(m->type));
		lua_setfield(L, -2, "type");
		if (m->type == ARCH_FILE) {
			lua_pushboolean(L, m->in_place);
			lua_setfield(L, -2, "in_place");
			lua_pushboolean(L, m->sparse);
			lua_setfield(L, -2, "sparse");
			lua_pushinteger(L, (lua_Integer)m->stored);
			lua_setfield(L, -2, "stored");
		}
		if (m->link) {
			lua_pushstring(L, m->link);
			lua_setfield(L, -2, "link");
		}
		lua_rawseti(L, -2, ++k);
	}
	return 1;
}

/* The name of member m within folder dir (of the view's root, rl bytes long)
 * when it is a regular member directly in it, else NULL */
static const char *larch_file_in(const struct arch *a, const struct arch_member *m, size_t rl, const char *dir,
				 size_t dl)
{
	if (m->type != ARCH_FILE || (rl && strncmp(m->name, a->root, rl) != 0))
		return NULL;
	const char *name = m->name + rl;
	if (strncmp(name, dir, dl) != 0 || !name[dl] || strchr(name + dl, '/'))
		return NULL;
	return name + dl;
}

/* ar:files(dir) -> names, sizes: the regular members directly in folder dir
 * ("checkpoint/"; within a view, in the container's), by name, a name given
 * twice once (the later member, as tar extracts it), and their sizes; the
 * listing of a checkpoint without a table a member */
static int larch_files(lua_State *L)
{
	struct arch *a = larch_check(L);
	size_t dl;
	const char *dir = luaL_checklstring(L, 2, &dl);
	size_t rl = a->root ? strlen(a->root) : 0;
	int n = 0;
	for (size_t i = 0; i < a->nsorted; i++)
		n += larch_file_in(a, a->sorted[i], rl, dir, dl) != NULL;
	lua_createtable(L, n, 0);
	lua_createtable(L, n, 0);
	lua_Integer k = 0;
	for (size_t i = 0; i < a->nsorted; i++) {
		const char *name = larch_file_in(a, a->sorted[i], rl, dir, dl);
		if (!name)
			continue;
		lua_pushstring(L, name);
		lua_rawseti(L, -3, ++k);
		lua_pushinteger(L, (lua_Integer)a->sorted[i]->size);
		lua_rawseti(L, -2, k);
	}
	return 2;
}

/* The regular member called name, or NULL when there is none; raises for a
 * link member: one named like a file critlua reads is not taken as absent. */
/* The name argument at idx with the links among its directories followed
 * inside the archive (arch_resolve), put in its place; raises for a link
 * that leaves it. */
static const char *larch_resolve(lua_State *L, struct arch *a, int idx, int follow_last)
{
	char *real;
	struct err e;
	const char *name = luaL_checkstring(L, idx);
	if (a->root)
		name = lua_pushfstring(L, "%s%s", a->root, name);
	if (arch_resolve(a, name, follow_last, &real, &e) < 0)
		larch_fail(L, e.msg);
	if (a->root)
		lua_pop(L, 1);
	lua_pushstring(L, real);
	free(real);
	lua_replace(L, idx);
	return lua_tostring(L, idx);
}

static const struct arch_member *larch_file(lua_State *L, struct arch *a, int idx)
{
	const struct arch_member *m = arch_find(a, larch_resolve(L, a, idx, 0));
	if (m && (m->type == ARCH_SYMLINK || m->type == ARCH_HARDLINK)) {
		struct err e;
		arch_pread(a, m, 0, NULL, 0, &e); /* the error naming it */
		larch_fail(L, e.msg);
	}
	return m && m->type == ARCH_FILE ? m : NULL;
}

/* ar:size(name) -> bytes of a regular member, or nil */
static int larch_size(lua_State *L)
{
	struct arch *a = larch_check(L);
	const struct arch_member *m = larch_file(L, a, 2);
	if (!m)
		return luaL_pushfail(L), 1;
	lua_pushinteger(L, (lua_Integer)m->size);
	return 1;
}

/* ar:has(prefix) -> whether a member is called so or lies under prefix/ */
static int larch_has(lua_State *L)
{
	struct arch *a = larch_check(L);
	const char *name = larch_resolve(L, a, 2, 1);
	int yes = arch_find(a, name) != NULL;
	if (!yes) {
		lua_pushfstring(L, "%s/", name);
		yes = arch_has_prefix(a, lua_tostring(L, -1));
	}
	lua_pushboolean(L, yes);
	return 1;
}

/* ar:read(name, [offset, length]) -> bytes, or nil when there is no such
 * regular member; raises when it cannot be read or is a link */
static int larch_read(lua_State *L)
{
	struct arch *a = larch_check(L);
	const struct arch_member *m = larch_file(L, a, 2);
	if (!m)
		return luaL_pushfail(L), 1;
	lua_Integer off = luaL_optinteger(L, 3, 0);
	lua_Integer len = luaL_optinteger(L, 4, (lua_Integer)m->size - off);
	luaL_argcheck(L, off >= 0 && (uint64_t)off <= m->size, 3, "offset out of the member");
	luaL_argcheck(L, len >= 0 && (uint64_t)len <= m->size - (uint64_t)off, 4, "length out of the member");
	luaL_argcheck(L, len <= (1 << 30), 4, "length above 1 GiB: read it in pieces");
	luaL_Buffer b;
	char *p = luaL_buffinitsize(L, &b, (size_t)len);
	struct err e;
	if (arch_pread(a, m, (uint64_t)off, p, (size_t)len, &e) < 0)
		return larch_fail(L, e.msg);
	luaL_pushresultsize(&b, (size_t)len);
	return 1;
}

/* ar:load(name, label) -> image table, as crit.load(label) would give */
static int larch_load(lua_State *L)
{
	struct arch *a = larch_check(L);
	const char *label = luaL_checkstring(L, 3);
	const char *name = larch_resolve(L, a, 2, 0);
	struct img *img = laux_imgbox(L);
	struct err e;
	if (arch_load_img(a, name, label, img, &e) < 0)
		return larch_fail(L, e.msg);
	luapb_push_loaded(L, img, label);
	return 1;
}

/* ar:rewrite({[member] = bytes, ...}, [backup_suffix], [txn]) -> true, [note]
 * (txn: the crit.txn holding the archive's lock; else one is taken here) */
static int larch_rewrite(lua_State *L)
{
	struct arch *a = larch_check(L);
	luaL_checktype(L, 2, LUA_TTABLE);
	const char *backup = luaL_optstring(L, 3, NULL);
	struct txn *txn = ltxn_opt(L, 4);
	size_t n = 0;
	lua_pushnil(L);
	while (lua_next(L, 2)) {
		if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
			return luaL_argerror(L, 2, "member names to strings expected");
		n++;
		lua_pop(L, 1);
	}
	/* a userdata, so that a Lua error cannot leak it */
	struct arch_put *puts = lua_newuserdatauv(L, (n ? n : 1) * sizeof *puts, 0);
	size_t i = 0;
	lua_pushnil(L);
	/* a view's names within the container's folder, kept alive in a table */
	lua_createtable(L, (int)n, 0);
	int names = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, 2)) {
		if (a->root) {
			lua_pushfstring(L, "%s%s", a->root, lua_tostring(L, -2));
			puts[i].name = lua_tostring(L, -1);
			lua_rawseti(L, names, (lua_Integer)i + 1);
		} else {
			puts[i].name = lua_tostring(L, -2);
		}
		puts[i].data = lua_tolstring(L, -1, &puts[i].len);
		puts[i].done = 0;
		i++;
		lua_pop(L, 1); /* the strings stay alive in the tables */
	}
	char *note;
	struct err e;
	if (arch_rewrite(a, puts, n, backup, txn, &note, &e) < 0)
		return larch_fail(L, e.msg);
	return laux_push_done(L, note);
}

/* ar:view(folder, label): this archive (a pod checkpoint) becomes the view of
 * the container in folder ("ID-NAME/"), named label in messages */
static int larch_view(lua_State *L)
{
	struct arch *a = larch_check(L);
	struct err e;
	if (arch_view(a, luaL_checkstring(L, 2), luaL_checkstring(L, 3), &e) < 0)
		return larch_fail(L, e.msg);
	return 0;
}

/* ar:info() -> {path=, compression=, format=, size=, tmp_used=, tmp_max=}: tmp_used
 * is what members read so far wrote to $TMPDIR, tmp_max its bound */
static int larch_info(lua_State *L)
{
	struct arch *a = larch_check(L);
	lua_createtable(L, 0, 4);
	lua_pushstring(L, a->path);
	lua_setfield(L, -2, "path");
	lua_pushstring(L, a->compression);
	lua_setfield(L, -2, "compression");
	lua_pushstring(L, a->format_name);
	lua_setfield(L, -2, "format");
	lua_pushinteger(L, (lua_Integer)a->file_size);
	lua_setfield(L, -2, "size");
	lua_pushinteger(L, (lua_Integer)a->tmp_used);
	lua_setfield(L, -2, "tmp_used");
	lua_pushinteger(L, a->tmp_max > (uint64_t)LUA_MAXINTEGER ? LUA_MAXINTEGER : (lua_Integer)a->tmp_max);
	lua_setfield(L, -2, "tmp_max");
	lua_pushboolean(L, a->pod);
	lua_setfield(L, -2, "pod");
	if (a->root) {
		lua_pushstring(L, a->root);
		lua_setfield(L, -2, "folder");
		lua_pushstring(L, a->label);
		lua_setfield(L, -2, "label");
	}
	return 1;
}

static int larch_tostring(lua_State *L)
{
	struct arch *a = luaL_checkudata(L, 1, LARCH_MT);
	lua_pushfstring(L, "crit.archive: %s", a->path ? a->path : "(closed)");
	return 1;
}

static const luaL_Reg larch_methods[] = {
	{ "members", larch_members }, { "files", larch_files }, { "size", larch_size },
	{ "has", larch_has },         { "read", larch_read },   { "load", larch_load },
	{ "rewrite", larch_rewrite }, { "info", larch_info },   { "close", larch_gc },
	{ "view", larch_view },
	{ NULL, NULL },
};

/* crit._lstat(path) -> kind ("file", "directory", "symlink", "other"), size,
 * mtime (seconds) | nil, message: the entry itself, a symbolic link not
 * followed — for `critlua list`, which must not walk out of the folders it
 * is given. */
static int larch_lstat(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct stat st;
	if (lstat(path, &st) < 0)
		return laux_fail(L, "%s: %s", path, strerror(errno));
	lua_pushstring(L, S_ISREG(st.st_mode)	 ? "file"
			  : S_ISDIR(st.st_mode) ? "directory"
			  : S_ISLNK(st.st_mode) ? "symlink"
						: "other");
	lua_pushinteger(L, (lua_Integer)st.st_size);
	lua_pushinteger(L, (lua_Integer)st.st_mtim.tv_sec);
	return 3;
}

static const luaL_Reg larch_funcs[] = {
	{ "archive", larch_open },
	{ "_lstat", larch_lstat },
	{ NULL, NULL },
};

void larchive_open(lua_State *L)
{
	if (luaL_newmetatable(L, LARCH_MT)) {
		luaL_newlib(L, larch_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, larch_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, larch_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	lua_pop(L, 1);
	luaL_setfuncs(L, larch_funcs, 0);
}
