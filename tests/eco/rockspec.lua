-- rockspec.lua ROCKSPEC CMAKELISTS: the rockspec loads as Lua (as LuaRocks
-- loads it: a chunk of assignments), says what LuaRocks's cmake backend needs,
-- and agrees with the project's version and CMake variables.
local path, cmakelists = arg[1], arg[2]
local function fail(fmt, ...)
	io.stderr:write("FAIL: ", string.format(fmt, ...), "\n")
	os.exit(1)
end
local env = {}
local chunk, err = loadfile(path, "t", env)
if not chunk then
	fail("%s", err)
end
local ok, rerr = pcall(chunk)
if not ok then
	fail("%s: %s", path, rerr)
end
local f = assert(io.open(cmakelists, "rb"))
local cm = f:read("a")
f:close()
local version = cm:match("project%(critlua VERSION ([%d.]+)")
if not version then
	fail("no project version in %s", cmakelists)
end
if env.package ~= "critlua" then
	fail("package is %s", tostring(env.package))
end
if type(env.version) ~= "string" or env.version ~= version .. "-1" then
	fail("version %s, CMakeLists.txt says %s", tostring(env.version), version)
end
local base = path:match("([^/]+)$")
if base ~= env.package .. "-" .. env.version .. ".rockspec" then
	fail("file name %s does not match %s-%s", base, env.package, env.version)
end
if type(env.source) ~= "table" or type(env.source.url) ~= "string" then
	fail("no source.url")
end
if type(env.description) ~= "table" or type(env.description.summary) ~= "string" then
	fail("no description.summary")
end
local lua_dep = false
for _, d in ipairs(env.dependencies or {}) do
	lua_dep = lua_dep or d:match("^lua >= 5%.4") ~= nil
end
if not lua_dep then
	fail("no dependency on lua >= 5.4")
end
local b = env.build
if type(b) ~= "table" or b.type ~= "cmake" then
	fail("build.type is not cmake")
end
local v = b.variables or {}
if v.CMAKE_INSTALL_PREFIX ~= "$(PREFIX)" then
	fail("CMAKE_INSTALL_PREFIX is not $(PREFIX)")
end
if v.CRITLUA_CMOD_DIR ~= "$(LIBDIR)" then
	fail("CRITLUA_CMOD_DIR is not $(LIBDIR)")
end
for name in pairs(v) do
	if not name:match("^CMAKE_") and not cm:find(name, 1, true) then
		fail("variable %s is not used by %s", name, cmakelists)
	end
end
print("rockspec: " .. base .. " is valid")
