-- help: list the commands, or show one command's help
-- usage: critlua help [COMMAND]
-- Commands are Lua scripts: the ones built into critlua, and any NAME.lua
-- in a directory given with -I DIR (or --scripts DIR) or listed in the
-- CRITLUA_PATH environment variable (colon-separated); those come first.
-- A script describes itself in the comment lines it opens with: the first
-- says "-- NAME: what it does", another "-- usage: critlua NAME ...".
-- Exit status: 0; 2 when NAME is no command or script, or a usage mistake.

local cli = require "cli"

local args = cli.parse(arg, {})

if #args > 1 then
	cli.usage_error("too many arguments: give one command name")
end

local commands = cli.commands()

if args[1] then
	local want = args[1]:gsub("%.lua$", "")
	for _, c in ipairs(commands) do
		if c.name == want then
			io.stdout:write(cli.format_help(c))
			if c.path then
				io.stdout:write("\n(" .. c.path .. ")\n")
			end
			return
		end
	end
	cli.usage_error(cli.unknown_command(want))
end

local width = 0
for _, c in ipairs(commands) do
	width = math.max(width, #c.name)
end

io.stdout:write([[
usage: critlua [OPTIONS] COMMAND|SCRIPT [ARGS...]
       critlua [OPTIONS] -e CODE [ARGS...]
       critlua [OPTIONS] -i [DIR|ARCHIVE]

Read, change and write CRIU checkpoint images from Lua.

Options:
  -e CODE           run CODE (arguments in arg[1], ... and in ...)
  -i, --interactive an interactive Lua session, the checkpoint DIR|ARCHIVE opened as
                    ck: line editing, history, TAB completion; :help there (after -e)
  -I, --scripts DIR look for commands and modules in DIR first (repeatable)
  -d, --debug       show a Lua traceback with errors
  -q, --quiet       no progress line on the terminal during long runs
  -h, --help        this help
  -v, --version     the version of critlua and its libraries

Commands:
]])
for _, c in ipairs(commands) do
	io.stdout:write(string.format("  %-" .. width .. "s  %s%s\n", c.name, c.summary or "",
		c.path and "  [" .. c.path .. "]" or ""))
end
io.stdout:write([[

'critlua help COMMAND' or 'critlua COMMAND --help' shows a command's help.
A SCRIPT is a Lua file run with the crit module loaded (see docs/LUA-API.md).
]])
