-- cli: the critlua command line as a user meets it: scripts and commands,
-- arguments, user script directories, help from headers, and the messages
-- and exit statuses of errors (1) and usage errors (2).
-- usage: critlua -I tests/lua tests/lua/cli.lua FIXTURES (tests/fixtures)

local T = require "testlib"

local fx = arg[1] or error("usage: cli.lua FIXTURES", 0)
if fx:sub(1, 1) ~= "/" then
	local p = io.popen("pwd")
	fx = p:read("l") .. "/" .. fx
	p:close()
end
local bin = T.sh_quote(T.critlua())
local tmp = T.tmpdir()
local q = T.sh_quote

local function critlua(args)
	return T.run("cd " .. q(tmp) .. " && CRITLUA_PATH= " .. bin .. " " .. args)
end

local function expect(args, want_rc, want_out, want_err, what)
	local out, err, rc = critlua(args)
	what = what or args
	T.eq(rc, want_rc, what .. ": exit status (stderr: " .. err .. ")")
	if want_out then
		T.check(out:find(want_out, 1, true), "%s: stdout %q lacks %q", what, out, want_out)
	end
	if want_err then
		T.check(err:find(want_err, 1, true), "%s: stderr %q lacks %q", what, err, want_err)
	end
	return out, err
end

-- scripts used below
T.write(tmp .. "/args.lua", 'print(arg[0], #arg, select("#", ...), ...)\n')
T.write(tmp .. "/boom.lua", 'local t = nil\nreturn t.x\n')
T.write(tmp .. "/syntax.lua", 'if then\n')
T.write(tmp .. "/throw.lua", 'error({})\n')
T.write(tmp .. "/onlyfile", 'print("a file with no .lua")\n')
T.write(tmp .. "/help", 'print("a file named help")\n')
os.execute("mkdir " .. q(tmp .. "/cmds") .. " " .. q(tmp .. "/more"))
T.write(tmp .. "/cmds/greet.lua", [[
-- greet: say hello to someone
-- usage: critlua greet [-l|--loud] [--times=N] NAME
-- Prints a greeting, N times.

local cli = require "cli"
local o = cli.parse(arg, { "-l, --loud", "--times=N" })
if #o ~= 1 then
	cli.usage_error("give one NAME")
end
for _ = 1, tonumber(o.times or 1) do
	print((o.loud and "HELLO " or "hello ") .. o[1])
end
]])
T.write(tmp .. "/cmds/helper.lua", "-- helper: a module, not a command\nreturn { answer = 42 }\n")
T.write(tmp .. "/more/help.lua", "-- help: mine\n-- usage: critlua help\nprint('user help')\n")

-- running scripts: arg and ... as lua does
expect("args.lua x y", 0, "args.lua\t2\t2\tx\ty", nil, "script NAME.lua in the current dir")
expect("./args.lua", 0, "./args.lua\t0\t0", nil, "script by path")
expect("-e 'print(arg[1], select(\"#\", ...), ...)' a b", 0, "a\t2\ta\tb", nil, "-e with arguments")
expect("-e 'io.write(1)' -e 'io.write(2)'", 0, "12", nil, "two -e chunks")
expect("-e 'print(crit == require(\"crit\"), require(\"cli\").parse ~= nil)'", 0, "true\ttrue", nil,
	"crit global and embedded modules with require")

-- errors: exit 1, "critlua: " and a message naming the file
expect("boom.lua", 1, nil, "critlua: boom.lua:2: attempt to index a nil value (local 't')")
local _, err = expect("-d boom.lua", 1, nil, "stack traceback:")
T.check(err:find("boom.lua:2: in main chunk", 1, true), "-d traceback names the line: %s", err)
expect("syntax.lua", 1, nil, "critlua: syntax.lua:1: unexpected symbol near 'then'")
expect("throw.lua", 1, nil, "critlua: (error object is a table value)")
expect("./missing.lua", 1, nil, "critlua: cannot open ./missing.lua")
expect("-e 'crit.load(\"nope.img\")'", 1, nil, "critlua: nope.img: cannot open: No such file or directory")
expect("-e 'crit.load(arg[1])' " .. q(fx .. "/sleep/pages-1.img"), 1, nil, "pages-1.img: raw memory pages")
local _, full_err, full_rc = T.run("(" .. bin .. " -e 'print(1)' >/dev/full)")
T.eq(full_rc, 1, "output to a full disk: exit status")
T.check(full_err:find("critlua: cannot write the output: No space left on device", 1, true),
	"output to a full disk: %s", full_err)
expect("-e 'os.exit(3)'", 3, nil, nil, "os.exit status passes through")

-- usage errors: exit 2
expect("", 2, nil, "critlua: no command, script or -e given")
expect("--bogus", 2, nil, "critlua: unknown option '--bogus'")
expect("-e", 2, nil, "critlua: option -e needs Lua code")
expect("nosuch", 2, nil, "critlua: unknown command or script 'nosuch'; 'critlua help' lists the commands")
expect("hepl", 2, nil, "(did you mean 'help'?)")
expect("-e 'require(\"cli\").usage_error(\"no good\")'", 2, nil, "critlua: no good")
expect("help --hlep", 2, nil, "critlua: help: unknown option '--hlep' (did you mean '--help'?)")
expect("help a b", 2, nil, "Try 'critlua help --help'.")

-- commands from script directories: -I, --scripts, CRITLUA_PATH; with or without .lua
expect("-I cmds greet bob", 0, "hello bob")
expect("--scripts cmds greet.lua -l --times 2 bob", 0, "HELLO bob\nHELLO bob\n")
expect("--scripts=cmds greet --times=3 ann", 0, "hello ann\nhello ann\nhello ann\n")
local out = T.run("cd " .. q(tmp) .. " && CRITLUA_PATH=/nonexistent:cmds " .. bin .. " greet eve")
T.eq(out, "hello eve\n", "CRITLUA_PATH")
expect("-I cmds greet", 2, nil, "critlua: greet: give one NAME\nTry 'critlua greet --help'.")
expect("-I cmds greet --lout x", 2, nil, "unknown option '--lout' (did you mean '--loud'?)")
expect("-I cmds greet --times", 2, nil, "option --times needs a value")
expect("-I cmds greet --loud=yes x", 2, nil, "option --loud takes no value")
expect("-I cmds greet --help", 0, "usage: critlua greet [-l|--loud] [--times=N] NAME\n\nSay hello to someone.\n\nPrints a greeting, N times.\n")
expect("-I cmds help greet", 0, "usage: critlua greet [-l|--loud] [--times=N] NAME")
expect("-I cmds -e 'print(require(\"helper\").answer)'", 0, "42", nil, "modules from -I dirs")
expect("-I cmds helper", 0, nil, nil, "any script in a script directory runs, header or not")
expect("cli", 2, nil, "unknown command or script 'cli'", "a built-in module is not a command")
local list = expect("-I cmds help", 0, "greet")
T.check(list:find("say hello to someone", 1, true) and list:find("cmds/greet.lua", 1, true),
	"help lists user commands with their summary and place: %s", list)
T.check(not list:find("helper", 1, true) and not list:find("testlib", 1, true), "help lists no modules: %s", list)
expect("--help", 0, "Commands:\n", nil, "--help lists the commands")
expect("-I more help", 0, "user help", nil, "a user script hides the built-in one")
expect("onlyfile", 0, "a file with no .lua", nil, "a bare word that is only a file runs it")
out = expect("help", 0, "Commands:", nil, "a file in the current dir does not hide a command")
T.check(not out:find("a file named help", 1, true), "the command ran, not ./help")
local v = expect("--version", 0, "critlua " .. crit.version)
T.check(v:find("Lua 5.4", 1, true) and v:find("protobuf-c", 1, true), "--version: %s", v)

os.execute("rm -rf " .. q(tmp))
T.done("cli")
