/* main.c: the critlua command line — parse its own options, set up a Lua
 * state with `crit`, find the script or command, run it protected, and turn
 * errors into "critlua: ..." and exit statuses (1 error, 2 usage). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <protobuf-c/protobuf-c.h>

#include "lcrit.h"
#include "lreadline.h"
#include "progress.h"

#define MAIN_EXIT_ERROR 1
#define MAIN_EXIT_USAGE 2

struct main_opts {
	const char **dirs; /* script directories: -I in order, then CRITLUA_PATH */
	int ndirs;
	const char **exprs; /* -e chunks, in order */
	int nexprs;
	int debug;
	int quiet; /* -q: no progress line */
	int interactive; /* -i: the REPL (lua/lib/repl.lua) */
};

static struct main_opts opts;

static void main_usage_hint(void)
{
	fputs("usage: critlua [OPTIONS] COMMAND|SCRIPT [ARGS...]\n"
	      "       critlua [OPTIONS] -e CODE [ARGS...]\n"
	      "       critlua [OPTIONS] -i [DIR|ARCHIVE]\n"
	      "'critlua --help' tells more; 'critlua help' lists the commands.\n",
	      stderr);
}

static int main_is_regular_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int main_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* ---- the Lua side of the host ---- */

/* Error objects pass through unchanged when they are usage errors (main
 * reads them); other errors become strings, with a traceback under -d. */
static int main_msghandler(lua_State *L)
{
	if (luaL_getmetafield(L, 1, "__name") == LUA_TSTRING &&
	    strcmp(lua_tostring(L, -1), "critlua.usage_error") == 0) {
		lua_settop(L, 1);
		return 1;
	}
	lua_settop(L, 1);
	const char *msg = lua_tostring(L, 1);
	if (!msg) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			msg = lua_tostring(L, -1);
		else
			msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	}
	if (opts.debug)
		luaL_traceback(L, L, msg, 1);
	else
		lua_pushstring(L, msg);
	return 1;
}

/* The name scripts see usage errors under: the command, or the script path. */
static const char *main_script_label = "critlua";

/* Report the error at the top of the stack; returns the exit status. */
static int main_report(lua_State *L)
{
	progress_clear();
	if (luaL_getmetafield(L, -1, "__name") == LUA_TSTRING &&
	    strcmp(lua_tostring(L, -1), "critlua.usage_error") == 0) {
		lua_pop(L, 1);
		lua_getfield(L, -1, "msg");
		const char *msg = lua_tostring(L, -1);
		fflush(stdout);
		if (strcmp(main_script_label, "critlua") == 0) { /* -e */
			fprintf(stderr, "critlua: %s\n", msg ? msg : "usage error");
		} else {
			fprintf(stderr, "critlua: %s: %s\n", main_script_label, msg ? msg : "usage error");
			fprintf(stderr, "Try 'critlua %s --help'.\n", main_script_label);
		}
		return MAIN_EXIT_USAGE;
	}
	const char *msg = lua_tostring(L, -1);
	fflush(stdout);
	fprintf(stderr, "critlua: %s\n", msg ? msg : "(error object is not a string)");
	return MAIN_EXIT_ERROR;
}

/* package.searchers entry: script directories first, then lua/ files built
 * into the binary, ahead of package.path, so a stray cli.lua in the current
 * directory cannot replace the one critlua relies on. */
static int main_searcher(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (int i = 0; i < opts.ndirs; i++) {
		lua_pushfstring(L, "%s/%s.lua", opts.dirs[i], luaL_gsub(L, name, ".", "/"));
		lua_remove(L, -2); /* the gsub result */
		const char *path = lua_tostring(L, -1);
		if (main_is_regular_file(path)) {
			if (luaL_loadfile(L, path) != LUA_OK)
				return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s",
						  name, path, lua_tostring(L, -1));
			lua_pushvalue(L, -2);
			return 2;
		}
		lua_pop(L, 1);
	}
	if (lcrit_embedded_find(name)) {
		if (lcrit_load_embedded(L, name) != LUA_OK)
			return lua_error(L);
		lua_pushfstring(L, "lua/%s.lua", name);
		return 2;
	}
	lua_pushfstring(L, "no critlua script '%s' (neither in -I/CRITLUA_PATH nor built in)", name);
	return 1;
}

/* package.loaded.critlua: what cli.lua and help.lua need of the host. */
static void main_push_host(lua_State *L)
{
	lua_createtable(L, 0, 6);
	lua_pushliteral(L, CRITLUA_VERSION);
	lua_setfield(L, -2, "version");
	lua_createtable(L, opts.ndirs, 0);
	for (int i = 0; i < opts.ndirs; i++) {
		lua_pushstring(L, opts.dirs[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "script_dirs");
	lua_newtable(L);
	for (const struct embedded_lua *e = embedded_lua; e->name; e++) {
		lua_pushlstring(L, e->source, e->len);
		lua_setfield(L, -2, e->name);
	}
	lua_setfield(L, -2, "embedded");
	lua_pushboolean(L, opts.debug);
	lua_setfield(L, -2, "debug");
	lreadline_push(L); /* the terminal, for the REPL */
	lua_setfield(L, -2, "readline");
}

/* Runs unprotected inside main_setup's pcall: libraries, crit, searchers. */
static int main_setup(lua_State *L)
{
	luaL_openlibs(L);
	luaL_requiref(L, "crit", luaopen_crit, 1);
	lua_pop(L, 1);
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "loaded");
	main_push_host(L);
	lua_setfield(L, -2, "critlua");
	lua_pop(L, 1);
	lua_getfield(L, -1, "searchers"); /* package searchers */
	lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
	for (lua_Integer i = n; i >= 2; i--) { /* make room at 2, after preload */
		lua_rawgeti(L, -1, i);
		lua_rawseti(L, -2, i + 1);
	}
	lua_pushcfunction(L, main_searcher);
	lua_rawseti(L, -2, 2);
	lua_pop(L, 2);
	return 0;
}

/* arg: arg[0] the script, arg[1..] its arguments, arg[-k] what came before,
 * as lua.c sets it; the arguments are also pushed for `...`. */
static int main_push_args(lua_State *L, char **argv, int argc, int script)
{
	lua_createtable(L, argc - script - 1, script + 1);
	for (int i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i - script);
	}
	lua_setglobal(L, "arg");
	int nargs = argc - script - 1;
	luaL_checkstack(L, nargs + 3, "too many arguments");
	for (int i = script + 1; i < argc; i++)
		lua_pushstring(L, argv[i]);
	return nargs;
}

/* Run the chunk at the top of the stack, with nargs arguments above it. */
static int main_call(lua_State *L, int nargs)
{
	int base = lua_gettop(L) - nargs;
	lua_pushcfunction(L, main_msghandler);
	lua_insert(L, base);
	int rc = lua_pcall(L, nargs, 0, base);
	lua_remove(L, base);
	return rc == LUA_OK ? 0 : main_report(L);
}

/* -i: the REPL over the checkpoint, if one is given; its result is the exit
 * status (1 when input that was not a terminal had an error). */
static int main_repl(lua_State *L, const char *target)
{
	if (luaL_loadstring(L, "return require('repl').main(...)") != LUA_OK)
		return main_report(L);
	lua_pushcfunction(L, main_msghandler);
	lua_insert(L, -2);
	if (target)
		lua_pushstring(L, target);
	else
		lua_pushnil(L);
	int rc = lua_pcall(L, 1, 1, -3);
	lua_remove(L, -2);
	if (rc != LUA_OK)
		return main_report(L);
	int status = (int)lua_tointeger(L, -1);
	lua_pop(L, 1);
	return status;
}

static void main_set_host_script(lua_State *L, const char *name, const char *path)
{
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "loaded");
	lua_getfield(L, -1, "critlua");
	lua_pushstring(L, name);
	lua_setfield(L, -2, "script_name");
	if (path) {
		lua_pushstring(L, path);
		lua_setfield(L, -2, "script_path");
	}
	lua_pop(L, 3);
}

/* Find and load SCRIPT. Pushes the chunk and returns 0, or reports and
 * returns an exit status. */
static int main_load_script(lua_State *L, const char *script)
{
	/* A path (or a NAME.lua in the current directory) is a file to run. A
	 * bare word names a command first: a file called "decode" lying in the
	 * current directory must not shadow the decode command. */
	int is_path = strchr(script, '/') || strcmp(script, "-") == 0 ||
		      (main_has_suffix(script, ".lua") && main_is_regular_file(script));
	const char *file = is_path ? script : NULL;
	static char name[256]; /* main_script_label may point here */
	if (!file) {
		snprintf(name, sizeof name, "%s", script);
		if (main_has_suffix(name, ".lua"))
			name[strlen(name) - 4] = 0;
		main_script_label = script;
		for (int i = 0; i < opts.ndirs && !file; i++) {
			lua_pushfstring(L, "%s/%s.lua", opts.dirs[i], name);
			if (main_is_regular_file(lua_tostring(L, -1)))
				file = lua_tostring(L, -1); /* stays on the stack below the chunk */
			else
				lua_pop(L, 1);
		}
		if (!file) {
			const struct embedded_lua *e = lcrit_embedded_find(name);
			if (e && e->is_command) {
				main_set_host_script(L, name, NULL);
				main_script_label = e->name;
				if (lcrit_load_embedded(L, name) != LUA_OK)
					return main_report(L);
				return 0;
			}
		}
		if (!file && main_is_regular_file(script))
			file = script;
		if (!file) {
			/* cli.unknown_command suggests the nearest name */
			fflush(stdout);
			int ok = luaL_loadstring(L, "return require('cli').unknown_command(...)") == LUA_OK;
			if (ok) {
				lua_pushstring(L, name);
				ok = lua_pcall(L, 1, 1, 0) == LUA_OK && lua_isstring(L, -1);
			}
			if (!ok)
				lua_pushfstring(L, "unknown command or script '%s'", name);
			fprintf(stderr, "critlua: %s\n", lua_tostring(L, -1));
			return MAIN_EXIT_USAGE;
		}
	}
	if (file != script) /* found in a script directory: known by its name */
		main_script_label = name;
	else
		main_script_label = file;
	main_set_host_script(L, main_script_label, strcmp(file, "-") == 0 ? NULL : file);
	if (luaL_loadfile(L, strcmp(file, "-") == 0 ? NULL : file) != LUA_OK) {
		/* "cannot open x.lua" or a syntax error: both name the file */
		return main_report(L);
	}
	return 0;
}

static void main_version(void)
{
	printf("critlua %s (%s, protobuf-c %s)\n", CRITLUA_VERSION, LUA_RELEASE, protobuf_c_version());
}

static int main_add(const char ***list, int *n, const char *item)
{
	*list = realloc(*list, (size_t)(*n + 1) * sizeof **list);
	if (!*list) {
		fputs("critlua: out of memory\n", stderr);
		exit(MAIN_EXIT_ERROR);
	}
	(*list)[(*n)++] = item;
	return 0;
}

static int main_bad_usage(const char *fmt, const char *what)
{
	fputs("critlua: ", stderr);
	fprintf(stderr, fmt, what);
	fputc('\n', stderr);
	main_usage_hint();
	return MAIN_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	int i = 1, help = 0;
	/* Past a file-size limit (ulimit -f), let write() fail with EFBIG and the
	 * write be reported and undone, instead of the signal killing critlua
	 * midway. */
	signal(SIGXFSZ, SIG_IGN);
	/* critlua's own options come before the script; everything after the
	 * script is the script's. */
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "-e") == 0) {
			if (++i == argc)
				return main_bad_usage("option %s needs Lua code", a);
			main_add(&opts.exprs, &opts.nexprs, argv[i]);
		} else if (strncmp(a, "-e", 2) == 0) {
			main_add(&opts.exprs, &opts.nexprs, a + 2);
		} else if (strcmp(a, "-I") == 0 || strcmp(a, "--scripts") == 0) {
			if (++i == argc)
				return main_bad_usage("option %s needs a directory", a);
			main_add(&opts.dirs, &opts.ndirs, argv[i]);
		} else if (strncmp(a, "--scripts=", 10) == 0) {
			main_add(&opts.dirs, &opts.ndirs, a + 10);
		} else if (strncmp(a, "-I", 2) == 0) {
			main_add(&opts.dirs, &opts.ndirs, a + 2);
		} else if (strcmp(a, "-i") == 0 || strcmp(a, "--interactive") == 0) {
			opts.interactive = 1;
		} else if (strcmp(a, "-d") == 0 || strcmp(a, "--debug") == 0) {
			opts.debug = 1;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			opts.quiet = 1;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			help = 1;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
			main_version();
			return 0;
		} else {
			return main_bad_usage("unknown option '%s'", a);
		}
	}
	/* CRITLUA_PATH after -I: the command line is the more specific. */
	const char *env = getenv("CRITLUA_PATH");
	char *envcopy = env ? strdup(env) : NULL;
	for (char *save = NULL, *d = envcopy ? strtok_r(envcopy, ":", &save) : NULL; d;
	     d = strtok_r(NULL, ":", &save))
		main_add(&opts.dirs, &opts.ndirs, d);

	if (opts.interactive && argc - i > 1)
		return main_bad_usage("-i takes one checkpoint (a directory or an archive), not '%s'",
				      argv[i + 1]);
	if (!help && !opts.nexprs && !opts.interactive && i == argc) {
		fputs("critlua: no command, script or -e given\n", stderr);
		main_usage_hint();
		return MAIN_EXIT_USAGE;
	}

	/* Long runs show progress on a terminal (src/core/progress.h). */
	progress_enable(!opts.quiet && isatty(STDERR_FILENO));

	lua_State *L = luaL_newstate();
	if (!L) {
		fputs("critlua: cannot create a Lua state: out of memory\n", stderr);
		return MAIN_EXIT_ERROR;
	}
	int status = 0;
	lua_pushcfunction(L, main_setup);
	if (main_call(L, 0) != 0) {
		status = MAIN_EXIT_ERROR;
	} else if (help) {
		/* --help is `critlua help` */
		status = main_load_script(L, "help");
		if (status == 0)
			status = main_call(L, main_push_args(L, argv, i, i - 1));
	} else if (opts.nexprs || opts.interactive) {
		int script = i - 1; /* arg[0] is the last critlua option; ARGS from 1 */
		for (int k = 0; k < opts.nexprs && status == 0; k++) {
			if (luaL_loadbuffer(L, opts.exprs[k], strlen(opts.exprs[k]), "=(command line)") !=
			    LUA_OK)
				status = main_report(L);
			else
				status = main_call(L, main_push_args(L, argv, argc, script));
		}
		/* -e chunks first, in the same state, as lua -e CODE -i does */
		if (status == 0 && opts.interactive)
			status = main_repl(L, i < argc ? argv[i] : NULL);
	} else {
		status = main_load_script(L, argv[i]);
		if (status == 0)
			status = main_call(L, main_push_args(L, argv, argc, i));
	}
	/* Output that could not be written is an error, not a silent success. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (status == 0)
			fprintf(stderr, "critlua: cannot write the output: %s\n", strerror(errno));
		status = status ? status : MAIN_EXIT_ERROR;
	}
	lua_close(L);
	free(envcopy);
	free(opts.dirs);
	free(opts.exprs);
	return status;
}
