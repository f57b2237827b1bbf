-- errors_test: one way to fail. Every call LUA-API.md's table lists as returning
-- `nil, message` does so for a thing a healthy checkpoint may lack, and raises for a
-- broken or misused one; `check` names every file relative to the checkpoint (the
-- directory once, in its summary line); `show --raw` says a damaged image's damage on
-- stderr and exits 1, its wire form still on stdout.
-- usage: critlua -I tests/lua tests/consistent/errors_test.lua FIXTURES docs/LUA-API.md

local T = require "testlib"

local root = T.fixtures_root("errors_test.lua")
local doc = T.read(assert(arg[2], "give docs/LUA-API.md"))
local CRITLUA = T.critlua()
local q = T.sh_quote
local scratch = T.tmpdir()

-- The zombie fixture: 27235 is a live process whose pages files the repository's
-- copy lacks; a zombie has no memory at all.
local zdir = root .. "/zombie"
local ck = crit.open(zdir)
local live = 27235

local function absent(what, ok, v, msg)
	T.check(ok and v == nil and type(msg) == "string" and #msg > 0,
		"%s: want nil, message; got %s %s %s", what, tostring(ok), tostring(v), tostring(msg))
	T.check(doc:find(what:match("^[%w.:_]+"), 1, true), "%s: LUA-API.md's table does not list it", what)
end
absent("ck:image", pcall(ck.image, ck, "nosuch.img"))
absent("ck:select", pcall(ck.select, ck, "nosuch.img", {}))
absent("ck:cmdline", pcall(ck.cmdline, ck, live))
absent("ck:environ", pcall(ck.environ, ck, live))
absent("ck:read_memory", pcall(ck.read_memory, ck, live, 0, 4))
absent("ck:shmem", pcall(ck.shmem, ck, 12345))
absent("crit.memory", pcall(crit.memory, zdir, "pagemap-1.img"))
local ok, yes, msg = pcall(crit.is_dir, zdir .. "/nosuch")
T.check(ok and yes == false and type(msg) == "string", "crit.is_dir: false, message: %s %s", tostring(yes), tostring(msg))

-- misuse and broken things raise, naming what is wrong
local function raises(what, want, fn, ...)
	local rok, err = pcall(fn, ...)
	T.check(not rok and tostring(err):find(want, 1, true), "%s: want an error with '%s', got %s %s", what, want,
		tostring(rok), tostring(err))
end
for _, m in ipairs({ "cmdline", "environ", "regions", "memory_summary", "memory", "vmas" }) do
	raises("ck:" .. m .. "(unknown pid)", "pid 999999 is not in the checkpoint", ck[m], ck, 999999)
	-- the message starts with the checkpoint, not with a line of memory.lua
	local _, err = pcall(ck[m], ck, "x")
	T.check(not tostring(err):find("memory.lua", 1, true), "ck:%s('x'): the error names memory.lua: %s", m, err)
end
local broken = scratch .. "/tcp"
os.execute("cp -r " .. q(root .. "/tcp") .. " " .. q(broken) .. " && chmod -R u+w " .. q(broken))
local full = T.read(root .. "/tcp/files.img")
T.write(broken .. "/files.img", full:sub(1, 30))
local bck = crit.open(broken)
raises("ck:image(corrupt)", broken .. "/files.img: ", bck.image, bck, "files.img")
raises("crit.load(corrupt)", broken .. "/files.img: ", crit.load, broken .. "/files.img")
raises("crit.open(missing)", scratch .. "/nosuch", crit.open, scratch .. "/nosuch")

-- check: every problem names its file relative to the checkpoint
local out, err, code = T.run(q(CRITLUA) .. " check " .. q(broken) .. " --skip-pages")
T.check(code == 1, "check on a broken copy: exit %d", code)
local lines = {}
for l in out:gmatch("[^\n]+") do
	lines[#lines + 1] = l
end
T.eq(lines[#lines], broken .. ": 1 problem(s)", "check: the summary names the checkpoint, once")
T.check(#lines == 2 and lines[1]:match("^files%.img: entry 0 at offset 0x8: "),
	"check: the broken image named relative, and only it (not every file id it would hold):\n%s", out)
T.check(not (out .. err):find(broken .. "/", 1, true), "check: a file named with its directory:\n%s%s", out, err)

-- show --raw: the damage on stderr, exit 1, the wire form on stdout
out, err, code = T.run(q(CRITLUA) .. " show --raw " .. q(broken .. "/files.img"))
T.check(code == 1 and out:find("head IMG_COMMON, magic", 1, true)
	and err == "critlua: " .. broken .. "/files.img: offset 0x8: size word 84 runs past the end (18 bytes left): " ..
	"the rest is not size-framed\n", "show --raw damaged: exit %d\nstdout %s\nstderr %s", code, out, err)
out, err, code = T.run(q(CRITLUA) .. " show --raw " .. q(root .. "/tcp/files.img"))
T.check(code == 0 and err == "" and #out > 0, "show --raw whole: exit %d, stderr %s", code, err)

T.done("consistent-errors")
