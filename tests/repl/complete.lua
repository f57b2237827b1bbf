-- complete.lua FIXTURES: the REPL's completer (repl.complete) called as
-- readline calls it — what it offers, and that a TAB runs nothing that changes
-- anything (a call other than a reading checkpoint method is never made).
local repl = require "repl"
local fixtures = arg[1]
ck = crit.open(fixtures .. "/sleep")
local fails = 0
local function check(word, before, want)
	local got = table.concat(repl.complete(word, before), " ")
	if got ~= want then
		fails = fails + 1
		print(string.format("FAIL: [%s|%s]: got '%s', want '%s'", before, word, got, want))
	end
end
local function has(word, before, names)
	local got = " " .. table.concat(repl.complete(word, before), " ") .. " "
	for name in names:gmatch("%S+") do
		if not got:find(" " .. name .. " ", 1, true) then
			fails = fails + 1
			print(string.format("FAIL: [%s|%s]: no %s in '%s'", before, word, name, got))
		end
	end
end

-- message fields, set or not, through indexes and reading methods
check("pg", 'ck:image("pstree.img").entries[1].', "pgid")
check("", "ck.images['pstree.img'].entries[1].", "pgid pid ppid sid threads")
check("", 'ck:image("pstree.img")["entries"][1].', "pgid pid ppid sid threads")
has("", 'x = ck:image("core-23744.img").entries[1].tc.', "comm task_state exit_code loginuid")
has("", "print(ck:ps()[1].", "pid comm children")
-- globals and keywords; commands; methods; a string's methods
check("cri", "", "crit")
check("whi", "x = 1 ", "while")
check("h", ":", "help")
has("", "ck:", "image list ps fds mems rss sockets stats memory cmdline save lock")
check("_wr", "ck:", "_write_archive")
check("", "crit.json.", "array array_mt decode encode null")
s = "text"
check("re", "s:", "rep reverse")
-- the checkpoint's file names in ck:image("..." and ck.images["...": the end
-- of the name after the last "." or "-" (where readline's word starts)
check("pst", 'ck:image("', "pstree.img")
check("img", 'ck:image("pstree.', "img")
check("23744", "x = ck:image('core-", "23744.img")
check("1", 'ck:read( "pages-', "1.img")
check("mm", 'x:y(), ck:size("', "mm-23744.img")
has("", 'ck.images["', "core-23744.img pstree.img stats-dump")
check("", 'ck:image("nope', "")
-- nothing else inside a string or a comment
check("i", 'ck:list("', "")
check("", 'crit.load("', "")
check("cr", 'print("a\\"b") -- ', "")
check("pg", 'print("a", ck:image("pstree.img").entries[1].', "pgid")
-- nothing for what cannot be evaluated without running code
check("", 'ck:image("nope").', "")
check("", "(1 + 2).", "")
check("", 'crit.open("' .. fixtures .. '/sleep"):', "")
check("", "1.", "")
check("", "))).", "")
check("", "::", "")

-- a TAB never calls a function that is not a reading checkpoint method
local victim = os.tmpname()
assert(io.open(victim, "w")):close()
check("", 'os.remove("' .. victim .. '").', "")
check("", 'ck:image(os.remove("' .. victim .. '")).', "")
check("", 'ck.images[os.remove("' .. victim .. '")].', "")
local still = io.open(victim)
if not still then
	fails = fails + 1
	print("FAIL: completion removed " .. victim)
else
	still:close()
	os.remove(victim)
end
-- on a copy of the checkpoint, should it be written after all
local copy = os.tmpname()
os.remove(copy)
assert(os.execute("mkdir " .. copy))
for _, name in ipairs(crit.dir(fixtures .. "/sleep")) do
	crit.write_file(copy .. "/" .. name, ck:read(name))
end
ck = crit.open(copy)
ck:image("pstree.img").entries[1].pid = 1 -- a change ck:save() would write
check("", "ck:save().", "")
check("", "ck:save():", "")
local fresh = crit.open(copy):image("pstree.img").entries[1].pid
if fresh ~= 23744 then
	fails = fails + 1
	print("FAIL: completion saved the checkpoint")
end
for _, name in ipairs(crit.dir(copy)) do
	os.remove(copy .. "/" .. name)
end
os.remove(copy)

if fails > 0 then
	print(fails .. " failure(s)")
	os.exit(1)
end
print("repl completion: all checks passed")
