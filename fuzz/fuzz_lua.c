/* fuzz_lua.c: libFuzzer target for the Lua bindings' image readers.
 *
 * Any input is taken as an image file and read the two ways scripts read
 * images: crit.decode (typed tables, src/lua/pb2lua.c), which must give back the
 * bytes the C codec writes when crit.encode packs the tables again; and the
 * views' selective wire reader (crit._select's luapb_push_image_select), with
 * every selection lua/lib/explore.lua makes, which must not crash, and with
 * everything selected must not accept what the codec refuses. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "image.h"
#include "luapb.h"

int luaopen_crit(lua_State *L);

static lua_State *L;

/* The selections of lua/lib/explore.lua's READS, by the magic of the images they
 * are made for (a selection names fields of its image's type). */
static const char selections[] =
	"return {"
	" CORE = { tc = { comm = true, task_state = true, exit_code = true } },"
	" IDS = { files_id = true, net_ns_id = true },"
	" FS = { cwd_id = true, root_id = true },"
	" MM = { exe_file_id = true, vmas = { start = true, ['end'] = true, pgoff = true, shmid = true,"
	"   prot = true, flags = true, status = true, fd = true } },"
	" FILES = { type = true, id = true, reg = { name = true }, pipe = { pipe_id = true },"
	"   usk = { ino = true, peer = true, name = true } } }";

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_lua: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

struct input {
	const uint8_t *data;
	size_t size;
	const struct buf *want; /* the C codec's encoding, or NULL when it refuses the image */
	const char *magic;      /* the image's magic name, when its head reads */
};

/* Run under lua_pcall: the Lua side of one input. */
static int run(lua_State *L)
{
	const struct input *in = lua_touserdata(L, 1);
	/* crit.decode, then crit.encode */
	lua_getglobal(L, "crit");
	lua_getfield(L, -1, "decode");
	lua_pushlstring(L, (const char *)in->data, in->size);
	int ok = lua_pcall(L, 1, 1, 0) == LUA_OK;
	if (ok != (in->want != NULL))
		fail(ok ? "crit.decode accepts what the codec refuses" : "crit.decode refuses what the codec reads",
		     ok ? NULL : lua_tostring(L, -1));
	if (ok) {
		lua_getglobal(L, "crit");
		lua_getfield(L, -1, "encode");
		lua_pushvalue(L, -3);
		if (lua_pcall(L, 1, 1, 0) != LUA_OK)
			fail("crit.encode refuses the tables of crit.decode", lua_tostring(L, -1));
		size_t n;
		const char *s = lua_tolstring(L, -1, &n);
		if (n != in->want->len || memcmp(s, in->want->p, n) != 0)
			fail("crit.decode then crit.encode changed the image", NULL);
	}
	lua_settop(L, 1);
	/* the selective reader, with everything selected and with the view's own
	 * selection for this kind of image, as plain tables with spare room and typed */
	lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.selections");
	int sels = lua_gettop(L);
	for (int which = 0; which < 2; which++) {
		if (which == 0)
			lua_pushboolean(L, 1);
		else if (!in->magic || lua_getfield(L, sels, in->magic) != LUA_TTABLE)
			break;
		int spec = lua_gettop(L);
		for (int plain = 0; plain < 2; plain++) {
			/* With everything selected, it reads every byte, so it must refuse what the
			 * codec refuses (or leave it to the codec: -1). A narrower selection skips
			 * what it does not select, damaged or not (lua/lib/explore.lua's views trade
			 * that for speed; crit.load and check read everything). */
			if (luapb_push_image_select(L, in->data, in->size, spec, plain, plain ? 8 : 0) == 0 &&
			    !in->want && which == 0)
				fail("the selective reader, selecting everything, accepts what the codec refuses",
				     NULL);
			lua_settop(L, spec);
		}
		lua_settop(L, sels);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!L) {
		L = luaL_newstate();
		luaL_openlibs(L);
		luaL_requiref(L, "crit", luaopen_crit, 1);
		lua_pop(L, 1);
		if (luaL_dostring(L, selections) != LUA_OK)
			fail("selections", lua_tostring(L, -1));
		lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.selections");
	}
	struct img img;
	struct err e;
	struct buf want = { 0 };
	int decoded = img_decode(data, size, &img, &e) == 0;
	if (decoded) {
		if (img_encode(&img, &want, &e) < 0) {
			/* the codec reads it but cannot write it back: nothing to compare */
			img_free(&img);
			buf_free(&want);
			return 0;
		}
		img_free(&img);
	}
	struct img_reader r;
	struct input in = { data, size, decoded ? &want : NULL, NULL };
	if (img_reader_init(&r, data, size, &e) == 0)
		in.magic = r.mi->name;
	lua_pushcfunction(L, run);
	lua_pushlightuserdata(L, &in);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK)
		fail("error", lua_tostring(L, -1));
	lua_settop(L, 0);
	lua_gc(L, LUA_GCSTEP, 0);
	buf_free(&want);
	return 0;
}
