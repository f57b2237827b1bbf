/* lcoredump.c: the Lua binding of coredump.c: crit.coredump(spec, path), the
 * process described by a table (lua/lib/corefile.lua fills it from the
 * images) written as an ELF core file. */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "coredump.h"
#include "lparts.h"

#define MEM_MT "crit.memory" /* lmem.c's memory objects */

static lua_Integer int_field(lua_State *L, int t, const char *name, lua_Integer dflt)
{
	lua_getfield(L, t, name);
	lua_Integer v = dflt;
	if (!lua_isnil(L, -1)) {
		int ok;
		v = lua_tointegerx(L, -1, &ok);
		if (!ok)
			luaL_error(L, "coredump: field '%s' must be an integer", name);
	}
	lua_pop(L, 1);
	return v;
}

/* t[name] as a list of n integers into out (of width w bytes each) */
static void int_list(lua_State *L, int t, const char *name, void *out, size_t n, size_t w)
{
	lua_getfield(L, t, name);
	if (lua_type(L, -1) != LUA_TTABLE)
		luaL_error(L, "coredump: field '%s' must be a list of %d integers", name, (int)n);
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		int ok;
		lua_Integer v = lua_tointegerx(L, -1, &ok);
		if (!ok)
			luaL_error(L, "coredump: field '%s' must be a list of %d integers", name, (int)n);
		if (w == 8)
			((uint64_t *)out)[i] = (uint64_t)v;
		else
			((uint32_t *)out)[i] = (uint32_t)v;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static void copy_str(lua_State *L, int t, const char *name, char *out, size_t size)
{
	lua_getfield(L, t, name);
	size_t len = 0;
	const char *s = lua_isstring(L, -1) ? lua_tolstring(L, -1, &len) : "";
	memset(out, 0, size);
	memcpy(out, s, len < size - 1 ? len : size - 1); /* NUL-terminated, as the kernel's */
	lua_pop(L, 1);
}

static void read_thread(lua_State *L, int t, struct cd_thread *th)
{
	th->tid = (uint32_t)int_field(L, t, "tid", 0);
	th->sigblocked = (uint64_t)int_field(L, t, "sigblocked", 0);
	int_list(L, t, "regs", th->regs, CD_NREGS, 8);
	lua_getfield(L, t, "fp");
	if (lua_istable(L, -1)) {
		int f = lua_gettop(L);
		struct cd_fpregs *fp = &th->fp;
		th->has_fp = 1;
		fp->cwd = (uint16_t)int_field(L, f, "cwd", 0);
		fp->swd = (uint16_t)int_field(L, f, "swd", 0);
		fp->twd = (uint16_t)int_field(L, f, "twd", 0);
		fp->fop = (uint16_t)int_field(L, f, "fop", 0);
		fp->rip = (uint64_t)int_field(L, f, "rip", 0);
		fp->rdp = (uint64_t)int_field(L, f, "rdp", 0);
		fp->mxcsr = (uint32_t)int_field(L, f, "mxcsr", 0);
		fp->mxcsr_mask = (uint32_t)int_field(L, f, "mxcsr_mask", 0);
		int_list(L, f, "st_space", fp->st_space, 32, 4);
		int_list(L, f, "xmm_space", fp->xmm_space, 64, 4);
		int_list(L, f, "padding", fp->padding, 24, 4);
	}
	lua_pop(L, 1);
}

static void read_vma(lua_State *L, int t, struct cd_vma *v)
{
	v->start = (uint64_t)int_field(L, t, "start", 0);
	v->end = (uint64_t)int_field(L, t, "end", 0);
	v->pgoff = (uint64_t)int_field(L, t, "pgoff", 0);
	v->prot = (uint32_t)int_field(L, t, "prot", 0);
	v->mem_base = (uint64_t)int_field(L, t, "base", (lua_Integer)v->start);
	lua_getfield(L, t, "zero_holes");
	v->zero_holes = lua_toboolean(L, -1);
	lua_pop(L, 1);
	lua_getfield(L, t, "path");
	v->path = lua_tostring(L, -1); /* kept alive by the spec table */
	lua_pop(L, 1);
	lua_getfield(L, t, "mem");
	if (!lua_isnil(L, -1)) {
		v->mem = luaL_checkudata(L, -1, MEM_MT);
		if (!v->mem->r && !v->mem->dir)
			luaL_error(L, "coredump: a VMA's memory object is closed");
	}
	lua_pop(L, 1);
}

/* crit.coredump(spec, path) -> true | nil, message. spec: {pid, ppid, pgid,
 * sid, uid, gid, state ("S"), comm, psargs, page_size, auxv = {...},
 * threads = {{tid, regs = {27}, sigblocked, fp = {...}}, ...},
 * vmas = {{start, end, prot, pgoff, path, mem, base, zero_holes}, ...}} */
static int l_coredump(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	const char *path = luaL_checkstring(L, 2);
	lua_settop(L, 2);
	struct cd_proc p = { 0 };
	p.pid = (uint32_t)int_field(L, 1, "pid", 0);
	p.ppid = (uint32_t)int_field(L, 1, "ppid", 0);
	p.pgid = (uint32_t)int_field(L, 1, "pgid", 0);
	p.sid = (uint32_t)int_field(L, 1, "sid", 0);
	p.uid = (uint32_t)int_field(L, 1, "uid", 0);
	p.gid = (uint32_t)int_field(L, 1, "gid", 0);
	p.page_size = (size_t)int_field(L, 1, "page_size", 4096);
	lua_getfield(L, 1, "state");
	p.sname = lua_isstring(L, -1) ? lua_tostring(L, -1)[0] : 0;
	lua_pop(L, 1);
	copy_str(L, 1, "comm", p.fname, sizeof p.fname);
	copy_str(L, 1, "psargs", p.psargs, sizeof p.psargs);

	/* the arrays live in userdata, so a Lua error (a bad field) frees them */
	lua_getfield(L, 1, "auxv");
	size_t nauxv = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
	lua_pop(L, 1);
	uint64_t *auxv = lua_newuserdatauv(L, (nauxv + 1) * sizeof *auxv, 0);
	if (nauxv)
		int_list(L, 1, "auxv", auxv, nauxv, 8);
	p.auxv = auxv;
	p.nauxv = nauxv;

	lua_getfield(L, 1, "threads");
	luaL_argcheck(L, lua_istable(L, -1), 1, "threads: a list expected");
	size_t nth = lua_rawlen(L, -1);
	struct cd_thread *th = lua_newuserdatauv(L, (nth + 1) * sizeof *th, 0);
	memset(th, 0, (nth + 1) * sizeof *th);
	for (size_t i = 0; i < nth; i++) {
		lua_rawgeti(L, -2, (lua_Integer)i + 1);
		luaL_argcheck(L, lua_istable(L, -1), 1, "threads: a list of tables expected");
		read_thread(L, lua_gettop(L), &th[i]);
		lua_pop(L, 1);
	}
	p.threads = th;
	p.nthreads = nth;

	lua_getfield(L, 1, "vmas");
	luaL_argcheck(L, lua_istable(L, -1), 1, "vmas: a list expected");
	size_t nv = lua_rawlen(L, -1);
	struct cd_vma *v = lua_newuserdatauv(L, (nv + 1) * sizeof *v, 0);
	memset(v, 0, (nv + 1) * sizeof *v);
	for (size_t i = 0; i < nv; i++) {
		lua_rawgeti(L, -2, (lua_Integer)i + 1);
		luaL_argcheck(L, lua_istable(L, -1), 1, "vmas: a list of tables expected");
		read_vma(L, lua_gettop(L), &v[i]);
		lua_pop(L, 1);
	}
	p.vmas = v;
	p.nvmas = nv;

	struct err e;
	if (coredump_write(&p, path, &e) < 0) {
		luaL_pushfail(L);
		lua_pushstring(L, e.msg);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static const luaL_Reg funcs[] = {
	{ "coredump", l_coredump },
	{ NULL, NULL },
};

void lcoredump_open(lua_State *L)
{
	luaL_setfuncs(L, funcs, 0);
}
