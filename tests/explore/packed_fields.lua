-- packed_fields: the selective reader behind the x views (crit._select, used by
-- ck:ps() and the others) reads a repeated scalar sent packed, as protobuf
-- allows for any repeated scalar, the same as the full decoder. CRIU writes
-- none packed, so no dump has one: the image is made here, byte by byte.
-- usage: critlua -I tests/lua tests/explore/packed_fields.lua FIXTURES_DIR

local T = require "testlib"

local root = T.fixtures_root("packed_fields.lua")
local dir = T.tmpdir()

local function varint(v)
	local out = {}
	repeat
		local b = v & 0x7f
		v = v >> 7
		out[#out + 1] = string.char(v > 0 and (b | 0x80) or b)
	until v == 0
	return table.concat(out)
end

-- pstree_entry: pid 1, ppid 0, pgid 1, sid 1 (fields 1-4, varints), then
-- threads (field 5) as one length-delimited run of varints of 1, 2 and 5 bytes.
local threads = { 1, 300, 4294967295 }
local run = {}
for i, t in ipairs(threads) do
	run[i] = varint(t)
end
run = table.concat(run)
local msg = "\8\1\16\0\24\1\32\1" .. "\42" .. varint(#run) .. run
-- the image's head (its two magics) from a real pstree.img, then one entry
local head = T.read(root .. "/pipes/pstree.img"):sub(1, 8)
T.write(dir .. "/pstree.img", head .. string.pack("<I4", #msg) .. msg)

local full = crit.load(dir .. "/pstree.img").entries[1].threads
T.eq(table.concat(full, ","), "1,300,4294967295", "the full decoder reads the packed threads")
local sel = crit._select(dir .. "/pstree.img", { threads = true })
T.eq(table.concat(sel.entries[1].threads, ","), "1,300,4294967295", "crit._select reads the packed threads")
T.eq(#sel.entries[1].threads, 3, "crit._select: three threads, from index 1")
local ps = crit.open(dir):ps()
T.eq(#ps, 1, "ck:ps(): one process")
T.eq(table.concat(ps[1].threads, ","), "1,300,4294967295", "ck:ps(): the packed threads")

os.execute("rm -rf " .. T.sh_quote(dir))
T.done("packed_fields")
