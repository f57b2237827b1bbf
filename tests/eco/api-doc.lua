-- api-doc.lua DOCDIR: run by lua5.4 with crit.so on LUA_CPATH. Every public
-- field of the crit module and every checkpoint method is named in the API
-- reference (DOCDIR/*.md: LUA-API.md and the pages it sends to), and every
-- crit.NAME / ck:NAME the reference names exists.
local crit = require "crit"
-- every stock module that adds checkpoint methods (explore, memory, ...)
for _, m in ipairs(crit.checkpoint_modules) do
	require(m)
end
local dir = arg[1]
local text = {}
for _, name in ipairs(crit.dir(dir)) do
	if name:match("%.md$") then
		local f = assert(io.open(dir .. "/" .. name, "rb"))
		text[#text + 1] = f:read("a")
		f:close()
	end
end
text = table.concat(text, "\n")
local bad = 0
local function fail(fmt, ...)
	io.stderr:write(string.format(fmt, ...), "\n")
	bad = bad + 1
end
for k, v in pairs(crit) do
	if not k:match("^_") and not text:find("crit." .. k, 1, true) then
		fail("crit.%s is not documented", k)
	end
	if type(v) == "table" and k == "progress" then
		for f in pairs(v) do
			if not text:find("crit.progress." .. f, 1, true) then
				fail("crit.progress.%s is not documented", f)
			end
		end
	end
end
for k in pairs(crit.Checkpoint) do
	if not k:match("^_") and not text:find("ck:" .. k, 1, true) and not text:find("ck." .. k, 1, true) then
		fail("ck:%s is not documented", k)
	end
end
for path in text:gmatch("%f[%w_]crit%.([%a_][%w_.]*)") do
	local v = crit
	for part in path:gmatch("[^.]+") do
		v = type(v) == "table" and v[part] or nil
	end
	-- crit.so, crit.lua, crit.h, crit.c (libcrit's, docs/C-API.md): files
	local file = path == "so" or path == "lua" or path == "h" or path == "c"
	if v == nil and not file and not path:match("%.$") then
		fail("the reference names crit.%s, which does not exist", path)
	end
end
for m in text:gmatch("%f[%w_]ck:([%a_][%w_]*)") do
	if crit.Checkpoint[m] == nil then
		fail("the reference names ck:%s, which does not exist", m)
	end
end
if bad > 0 then
	os.exit(1)
end
print("api-doc: the reference and the module agree")
