-- critlua-0.1.0-1.rockspec: the crit Lua module (and the critlua program),
-- built with CMake. From a clone: luarocks make rockspec/critlua-0.1.0-1.rockspec
-- Needs Debian's liblua5.4-dev, libprotobuf-c-dev, protobuf-c-compiler,
-- libprotobuf-dev, protobuf-compiler, libjson-c-dev, libarchive-dev, cmake and pkg-config
-- (scripts/setup.sh installs them); libreadline-dev, when present, gives critlua -i
-- line editing (the program only, never crit.so).
rockspec_format = "3.0"
package = "critlua"
version = "0.1.0-1"
source = {
   -- luarocks make builds the clone it runs in and does not fetch this;
   -- for luarocks build/install, point url at the published repository.
   url = "git+file://.",
   tag = "v0.1.0",
}
description = {
   summary = "Read, change and write CRIU checkpoint images from Lua",
   detailed = [[
The crit module decodes every image of a criu dump directory into typed Lua
tables and writes them back byte for byte, atomically: crit.load, crit.save,
crit.open(dir) with ck:ps(), ck:fds(), ck:sockets(), process memory reading
and search, and CRIT's JSON. The critlua program and its commands come along.]],
   labels = { "criu", "checkpoint", "protobuf" },
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
external_dependencies = {
   PROTOBUFC = { header = "protobuf-c/protobuf-c.h", library = "protobuf-c" },
   JSONC = { header = "json-c/json.h", library = "json-c" },
   LIBARCHIVE = { header = "archive.h", library = "archive" },
}
build = {
   type = "cmake",
   variables = {
      CMAKE_INSTALL_PREFIX = "$(PREFIX)",
      CMAKE_BUILD_TYPE = "Release",
      -- crit.so where LuaRocks looks for C modules
      CRITLUA_CMOD_DIR = "$(LIBDIR)",
   },
}
