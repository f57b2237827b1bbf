/* lfixup.c: the file operations lua/lib/fixup.lua needs for an all-or-nothing
 * rewrite of a checkpoint directory, which Lua's io and os cannot do:
 * crit._fs.stage / link / sync_dir. Failures return nil, message, errno. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

#include "laux.h"
#include "lparts.h"
#include "util.h"

static int lfx_result(lua_State *L, const char *what, const char *path, int saved)
{
	lua_pushnil(L);
	lua_pushfstring(L, "%s: %s: %s", path, what, strerror(saved));
	lua_pushinteger(L, saved);
	return 3;
}

static int lfx_write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* crit._fs.stage(path, data) -> temporary name: data in a new file beside
 * path, with path's mode and (where allowed) owner, on disk (fsync) before
 * it returns, so that renaming it over path later replaces the image with
 * nothing left to write. Nothing is left behind on failure. */
static int lfx_stage(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	size_t len;
	const char *data = luaL_checklstring(L, 2, &len);
	char *copy = xstrdup(path), *copy2 = xstrdup(path);
	/* .NAME.critlua-new-XXXXXX: hidden, and named after the image it will replace */
	lua_pushfstring(L, "%s/.%s.critlua-new-XXXXXX", dirname(copy), basename(copy2));
	free(copy);
	free(copy2);
	char *tmp = xstrdup(lua_tostring(L, -1));
	lua_pop(L, 1);
	struct stat st;
	int exists = stat(path, &st) == 0;
	int fd = mkstemp(tmp);
	if (fd < 0) {
		int saved = errno;
		free(tmp);
		return lfx_result(L, "cannot create a temporary file beside it", path, saved);
	}
	mode_t mode = exists ? st.st_mode & 07777 : 0600;
	if (exists && fchown(fd, st.st_uid, st.st_gid) < 0) {
		/* not fatal: an unprivileged user cannot give files away */
	}
	int saved = 0;
	if (fchmod(fd, mode) < 0 || lfx_write_all(fd, data, len) < 0 || fsync(fd) < 0)
		saved = errno;
	if (close(fd) < 0 && !saved)
		saved = errno;
	if (saved) {
		unlink(tmp);
		free(tmp);
		return lfx_result(L, "cannot write a temporary copy", path, saved);
	}
	lua_pushstring(L, tmp);
	free(tmp);
	return 1;
}

/* crit._fs.link(old, new) -> true: a second name for a file, so the original
 * of an image stays reachable while a new one is renamed over its name. */
static int lfx_link(lua_State *L)
{
	const char *from = luaL_checkstring(L, 1);
	const char *to = luaL_checkstring(L, 2);
	if (link(from, to) < 0) {
		int saved = errno;
		return lfx_result(L, lua_pushfstring(L, "cannot link it to %s", to), from, saved);
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* crit._fs.sync_dir(dir) -> true: renames are durable only once the
 * directory itself is on disk. */
static int lfx_sync_dir(lua_State *L)
{
	const char *dir = luaL_checkstring(L, 1);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return lfx_result(L, "cannot open", dir, errno);
	int saved = fsync(fd) < 0 ? errno : 0;
	close(fd);
	/* some file systems cannot sync a directory: nothing more can be done there */
	if (saved && saved != EINVAL && saved != EROFS)
		return lfx_result(L, "cannot sync", dir, saved);
	lua_pushboolean(L, 1);
	return 1;
}

static const luaL_Reg lfx_funcs[] = {
	{ "stage", lfx_stage },
	{ "link", lfx_link },
	{ "sync_dir", lfx_sync_dir },
	{ NULL, NULL },
};

void lfixup_open(lua_State *L)
{
	lua_createtable(L, 0, 3);
	luaL_setfuncs(L, lfx_funcs, 0);
	lua_setfield(L, -2, "_fs"); /* crit._fs: internal; lua/lib/fixup.lua is the interface */
}
