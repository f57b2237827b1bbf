/* lreadline.c: the terminal side of `critlua -i` (lua/lib/repl.lua) — GNU
 * readline's line editing, history file and completion, and Ctrl-C, as a
 * small table the REPL drives. The only C that touches readline; linked into
 * the critlua program, not into crit.so. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "lreadline.h"

#ifdef CRITLUA_HAVE_READLINE
#include <stdio.h> /* readline.h needs FILE first */
#include <readline/history.h>
#include <readline/readline.h>
#endif

/* Set by SIGINT: while reading a line, the line is cancelled; while Lua code
 * runs under rl.interruptible(true), it stops with "interrupted!". */
static volatile sig_atomic_t lrl_sigint;
static lua_State *volatile lrl_running; /* the state running user code, or NULL */

static void lrl_stop(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	lua_sethook(L, NULL, 0, 0);
	luaL_error(L, "interrupted!");
}

/* lua_sethook is safe in a signal handler (the Lua manual says so; lua.c
 * stops a running chunk the same way). */
static void lrl_on_sigint(int sig)
{
	(void)sig;
	lrl_sigint = 1;
	lua_State *L = lrl_running;
	if (L)
		lua_sethook(L, lrl_stop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* rl.catch_interrupt(): from now on Ctrl-C cancels the line being typed or
 * stops the code running, instead of ending critlua. No SA_RESTART: a read
 * waiting for a key must return, so that the line can be cancelled. */
static int lrl_catch_interrupt(lua_State *L)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = lrl_on_sigint;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) != 0)
		return luaL_error(L, "cannot catch SIGINT: %s", strerror(errno));
	return 0;
}

/* rl.interruptible(on): whether Ctrl-C stops the Lua code of this state
 * (set around each evaluation). */
static int lrl_interruptible(lua_State *L)
{
	if (lua_toboolean(L, 1)) {
		lrl_sigint = 0;
		lrl_running = L;
	} else {
		lrl_running = NULL;
		lua_sethook(L, NULL, 0, 0);
	}
	return 0;
}

/* rl.isatty(fd) -> boolean */
static int lrl_isatty(lua_State *L)
{
	lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
	return 1;
}

#ifdef CRITLUA_HAVE_READLINE

static lua_State *lrl_L; /* the state the completer runs in */
static int lrl_completer = LUA_NOREF;
static int lrl_cancelled; /* the line ended by Ctrl-C */

/* Keys come through here so that Ctrl-C can end the line: readline itself
 * would retry the read after the signal and wait for the next key. The line
 * is accepted (readline moves to a fresh line) with "^C" shown at its end,
 * and then discarded. */
static int lrl_getc(FILE *f)
{
	for (;;) {
		if (lrl_sigint) {
			lrl_sigint = 0;
			/* a "Display all N possibilities?" question or its pager:
			 * answered no, the line kept */
			if (RL_ISSTATE(RL_STATE_COMPLETING))
				return 'n';
			lrl_cancelled = 1;
			rl_point = rl_end;
			rl_insert_text("^C");
			rl_redisplay();
			return '\n';
		}
		unsigned char c;
		ssize_t n = read(fileno(f), &c, 1);
		if (n == 1) {
			lrl_cancelled = 0; /* the newline went elsewhere: the line goes on */
			return c;
		}
		if (n == 0 || errno != EINTR)
			return EOF;
	}
}

/* rl.readline(prompt) -> line | nil at end of input | false on Ctrl-C */
static int lrl_readline(lua_State *L)
{
	const char *prompt = luaL_optstring(L, 1, "");
	lrl_sigint = 0;
	lrl_cancelled = 0;
	lrl_L = L;
	char *line = readline(prompt);
	if (lrl_cancelled) {
		free(line);
		lua_pushboolean(L, 0);
	} else if (line) {
		lua_pushstring(L, line);
		free(line);
	} else {
		lua_pushnil(L);
	}
	return 1;
}

/* The candidates of the last completion, handed out one by one. */
static char **lrl_cands;
static size_t lrl_ncands, lrl_next;

static void lrl_free_cands(void)
{
	for (size_t i = 0; i < lrl_ncands; i++)
		free(lrl_cands[i]);
	free(lrl_cands);
	lrl_cands = NULL;
	lrl_ncands = lrl_next = 0;
}

static char *lrl_generator(const char *text, int state)
{
	(void)text; /* the completer chose them for it already */
	if (state == 0)
		lrl_next = 0;
	if (lrl_next < lrl_ncands) {
		char *s = lrl_cands[lrl_next];
		lrl_cands[lrl_next++] = NULL; /* readline frees it */
		return s;
	}
	return NULL;
}

/* Runs completer(word, line before the word) in Lua; a list of strings back. */
static int lrl_call_completer(lua_State *L)
{
	const char *text = lua_touserdata(L, 1);
	int start = (int)lua_tointeger(L, 2);
	lua_rawgeti(L, LUA_REGISTRYINDEX, lrl_completer);
	lua_pushstring(L, text);
	lua_pushlstring(L, rl_line_buffer, (size_t)start);
	lua_call(L, 2, 1);
	if (!lua_istable(L, -1))
		return 0;
	lua_Integer n = luaL_len(L, -1);
	lrl_cands = calloc((size_t)n + 1, sizeof *lrl_cands);
	if (!lrl_cands)
		return 0;
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, -1, i);
		const char *s = lua_tostring(L, -1);
		if (s && (lrl_cands[lrl_ncands] = strdup(s)) != NULL)
			lrl_ncands++;
		lua_pop(L, 1);
	}
	return 0;
}

static char **lrl_complete(const char *text, int start, int end)
{
	(void)end;
	rl_attempted_completion_over = 1; /* never file names */
	rl_completion_append_character = '\0';
	lua_State *L = lrl_L;
	if (!L || lrl_completer == LUA_NOREF)
		return NULL;
	lrl_free_cands();
	/* A completer that fails offers nothing; the line stays as typed. */
	lua_pushcfunction(L, lrl_call_completer);
	lua_pushlightuserdata(L, (void *)text);
	lua_pushinteger(L, start);
	if (lua_pcall(L, 2, 0, 0) != LUA_OK)
		lua_pop(L, 1);
	char **m = lrl_ncands ? rl_completion_matches(text, lrl_generator) : NULL;
	lrl_free_cands();
	return m;
}

/* rl.set_completer(fn): fn(word, before) -> list of words that may replace
 * word (the identifier under the cursor; before: the line up to it). */
static int lrl_set_completer(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	luaL_unref(L, LUA_REGISTRYINDEX, lrl_completer);
	lua_settop(L, 1);
	lrl_completer = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

/* rl.add_history(line) */
static int lrl_add_history(lua_State *L)
{
	add_history(luaL_checkstring(L, 1));
	return 0;
}

/* rl.history_load(path, max) -> true | nil, message. A missing file is an
 * empty history. Entries keep their newlines (a function typed over several
 * lines comes back whole), through the timestamps written with them. */
static int lrl_history_load(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int max = (int)luaL_checkinteger(L, 2);
	history_comment_char = '#'; /* without it, timestamps are not told from entries */
	history_write_timestamps = 1;
	history_multiline_entries = 1;
	stifle_history(max);
	int rc = read_history(path);
	if (rc != 0 && rc != ENOENT) {
		lua_pushnil(L);
		lua_pushfstring(L, "%s: %s", path, strerror(rc));
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* rl.history_append(path, max) -> true | nil, message: the last entry added
 * to the file (created, mode 0600, if absent), which keeps its last max. */
static int lrl_history_append(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int max = (int)luaL_checkinteger(L, 2);
	struct stat st;
	/* append_history does not create the file; write_history does */
	int rc = stat(path, &st) == 0 ? append_history(1, path) : write_history(path);
	if (rc == 0)
		rc = history_truncate_file(path, max);
	if (rc != 0) {
		lua_pushnil(L);
		lua_pushfstring(L, "%s: %s", path, strerror(rc));
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static void lrl_setup(void)
{
	rl_readline_name = "critlua"; /* $if critlua in ~/.inputrc */
	rl_getc_function = lrl_getc;
	rl_catch_signals = 0; /* SIGINT is ours (lrl_on_sigint) */
	rl_attempted_completion_function = lrl_complete;
	/* The word completed is the identifier under the cursor: what comes
	 * before it (a path such as ck:image("x").entries[1].) is the
	 * completer's to read. */
	rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(+-*/%^~#,[]).:";
	rl_completer_word_break_characters = rl_basic_word_break_characters;
	using_history();
}
#endif /* CRITLUA_HAVE_READLINE */

void lreadline_push(lua_State *L)
{
	static const luaL_Reg common[] = {
		{ "isatty", lrl_isatty },
		{ "catch_interrupt", lrl_catch_interrupt },
		{ "interruptible", lrl_interruptible },
		{ NULL, NULL },
	};
	luaL_newlib(L, common);
#ifdef CRITLUA_HAVE_READLINE
	static const luaL_Reg funcs[] = {
		{ "readline", lrl_readline },
		{ "set_completer", lrl_set_completer },
		{ "add_history", lrl_add_history },
		{ "history_load", lrl_history_load },
		{ "history_append", lrl_history_append },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, funcs, 0);
	lrl_setup();
	lua_pushboolean(L, 1);
#else
	lua_pushboolean(L, 0);
#endif
	lua_setfield(L, -2, "available");
}
