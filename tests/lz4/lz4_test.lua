-- lz4_test: checkpoints whose pages CRIU's development branch compressed (criu PR #2895)
-- are refused by every memory command, with an error naming the file, the entry and what
-- was seen, and nothing written; the other commands still read them, and decode/encode
-- keep the new fields byte for byte. critlua does not read compressed pages: their format
-- changed four times in 2026 (docs/MEMORY.md, "Compressed pages: not read yet"), so the
-- copies built here carry each of the four layouts public sources show.
-- usage: critlua -I tests/lua tests/lz4/lz4_test.lua FIXTURES_ROOT

local T = require "testlib"

local root = T.fixtures_root("lz4_test.lua")
local critlua = T.critlua()
local q = T.sh_quote
local PS = 4096
local tmp = T.tmpdir()

local function run(args)
	return T.run(q(critlua) .. " " .. args)
end

---------------------------------------------------------------------------
-- Protobuf wire bytes of the new fields (built here, not by critlua's encoder)

local function varint(v)
	local out = {}
	repeat
		local b = v & 0x7f
		v = v >> 7
		out[#out + 1] = string.char(v ~= 0 and b | 0x80 or b)
	until v == 0
	return table.concat(out)
end

local function vfield(n, v) -- a varint field
	return varint(n << 3) .. varint(v)
end

local function lfield(n, bytes) -- a length-delimited field
	return varint(n << 3 | 2) .. varint(#bytes) .. bytes
end

local function packed(list)
	local out = {}
	for i, v in ipairs(list) do
		out[i] = varint(v)
	end
	return table.concat(out)
end

-- The compression metadata of one pagemap entry, in each layout:
--   flat:    compressed_size = 6 (packed), total_compressed_size = 7, region_pages = 8
--            (go-criu PR #259's copy of criu-dev's proto, July 2026)
--   regions: regions = 6 {region_sizes = 1, total_payload_size = 2, pages_per_region = 3}
--   blocks:  blocks = 6 {block_sizes = 1, total_payload_size = 2, pages_per_block = 3}
--            (CRIT in criu PR #3115, August 2026)
--   padded:  blocks as above with payload_padded = 4
local LAYOUTS = {
	flat = function(sizes, total)
		return lfield(6, packed(sizes)) .. vfield(7, total)
	end,
	regions = function(sizes, total)
		return lfield(6, lfield(1, packed(sizes)) .. vfield(2, total) .. vfield(3, 1))
	end,
	blocks = function(sizes, total)
		return lfield(6, lfield(1, packed(sizes)) .. vfield(2, total) .. vfield(3, 1))
	end,
	padded = function(sizes, total)
		return lfield(6, lfield(1, packed(sizes)) .. vfield(2, total) .. vfield(3, 1) .. vfield(4, 1))
	end,
}

local function flags_of(e)
	if e.in_parent then
		return (e.flags or 0) | 1
	end
	return e.flags or 4
end

-- A copy of fixture dir as the compressing CRIT writes it, with no page the LZ4 of this
-- test gains on: per page, 0 for a zero page (no payload) and PS for a page stored raw;
-- the entry's payload starts page-aligned (PE_PAYLOAD_ALIGNED). what: "pagemap" (the
-- pagemaps only), "inventory" (compress = 1 only), "flag" (PE_PAYLOAD_ALIGNED only) or
-- "all".
local n = 0
local function compressed(dir, layout, what)
	n = n + 1
	local d = string.format("%s/%s-%s-%d", tmp, layout, what, n)
	assert(os.execute("cp -r " .. q(dir) .. " " .. q(d)))
	if what == "inventory" or what == "all" then
		local inv = crit.load(d .. "/inventory.img")
		inv.entries[1].img_version = 3 -- CRTOOLS_IMAGES_V1_2
		crit.unknown(inv.entries[1], vfield(15, 1) .. vfield(16, PS))
		crit.save(inv)
	end
	if what == "inventory" then
		return d
	end
	local p = io.popen("ls " .. q(d))
	for name in p:lines() do
		if name:match("^pagemap%-.*%.img$") then
			local img = crit.load(d .. "/" .. name)
			local pname = string.format("%s/pages-%d.img", d, img.entries[1].pages_id)
			-- (a fixture copied without a pages file keeps that pagemap as it is)
			local pages = T.exists(pname) and T.read(pname)
			local off, out = 0, {}
			for i = 2, #img.entries do
				local e = img.entries[i]
				if pages and flags_of(e) & 4 ~= 0 then
					local sizes, total = {}, 0
					for k = 0, (e.nr_pages or e.compat_nr_pages) - 1 do
						local page = pages:sub(off + k * PS + 1, off + (k + 1) * PS)
						if page == string.rep("\0", PS) then
							sizes[#sizes + 1] = 0
						else
							sizes[#sizes + 1] = PS
							total = total + PS
							out[#out + 1] = page
						end
					end
					off = off + #sizes * PS
					e.flags = flags_of(e) | 8
					if what ~= "flag" then
						crit.unknown(e, LAYOUTS[layout](sizes, total))
					end
				end
			end
			crit.save(img)
			if pages and what ~= "flag" then
				T.write(pname, table.concat(out))
			end
		end
	end
	p:close()
	return d
end

-- Every file of dir (names and contents), to see that nothing was written.
local function snapshot(dir)
	local p = io.popen("cd " .. q(dir) .. " && find . | sort")
	local out = {}
	for name in p:lines() do
		out[#out + 1] = name .. "\0" .. (T.read(dir .. "/" .. name) or "")
	end
	p:close()
	return table.concat(out, "\n")
end

-- The refusal names the file and the entry, says compressed pages, points at the docs.
local function refusal(err, file, what)
	T.check(err:find(file, 1, true) and err:find(": entry %d+") and err:find("compressed", 1, true) and
		err:find("docs/MEMORY.md", 1, true) and err:find("unknown to CRIU 4.2", 1, true),
		"%s: the refusal names %s: %s", what, file, err)
end

---------------------------------------------------------------------------
-- 1. sleep, every layout and every part: each memory command refuses, writes nothing

local sleep = root .. "/sleep"
local PID = 23744
local cmdline_addr = 0x7ffc93e38f99 -- argv[0], "sleep"

for _, layout in ipairs({ "flat", "regions", "blocks", "padded" }) do
	for _, what in ipairs({ "all", "pagemap", "inventory", "flag" }) do
		if what == "all" or what == "pagemap" or layout == "flat" then
			local label = layout .. "/" .. what
			local d = compressed(sleep, layout, what)
			local file = (what == "all" or what == "inventory") and d .. "/inventory.img"
				or d .. "/pagemap-" .. PID .. ".img"
			local before = snapshot(d)

			local _, err, code = run("mem " .. q(d) .. " " .. PID)
			T.check(code == 1, "%s: mem: status %d", label, code)
			refusal(err, file, label .. ": mem")
			if what == "inventory" or what == "all" then
				T.check(err:find("field 15 = 1", 1, true) and err:find("LZ4", 1, true), "%s: names compress: %s", label, err)
			elseif what == "flag" then
				T.check(err:find("PE_PAYLOAD_ALIGNED", 1, true), "%s: names the flag: %s", label, err)
			else
				T.check(err:find("field 6 (length-delimited", 1, true), "%s: names field 6: %s", label, err)
			end

			_, err, code = run("mem " .. q(d) .. " " .. PID .. " --addr " .. string.format("0x%x", cmdline_addr) ..
				" --len 16")
			T.check(code == 1, "%s: mem --addr: status %d", label, code)
			refusal(err, file, label .. ": mem --addr")

			_, err, code = run("grep " .. q(d) .. " sleep")
			T.check(code == 1, "%s: grep: status %d", label, code)
			refusal(err, file, label .. ": grep")

			_, err, code = run("diff " .. q(sleep) .. " " .. q(d) .. " --memory")
			T.check(code == 2, "%s: diff --memory: status %d (diff(1)'s trouble)", label, code)
			refusal(err, file, label .. ": diff --memory")

			_, err, code = run("coredump " .. q(d) .. " " .. PID .. " -o " .. q(tmp .. "/core"))
			T.check(code == 1 and not T.exists(tmp .. "/core"), "%s: coredump: status %d", label, code)
			refusal(err, file, label .. ": coredump")

			_, err, code = run("mem " .. q(d) .. " " .. PID .. " --addr " .. string.format("0x%x", cmdline_addr) ..
				" --write 41")
			T.check(code == 1, "%s: mem --write: status %d", label, code)
			refusal(err, file, label .. ": mem --write")

			_, err, code = run("rewrite-string " .. q(d) .. " sleep sleeq --pid " .. PID)
			T.check(code == 1, "%s: rewrite-string: status %d", label, code)
			refusal(err, file, label .. ": rewrite-string")

			local out
			out, err, code = run("check " .. q(d))
			T.check(code == 1 and out:find("1 problem", 1, true) and not out:find("bytes, but", 1, true),
				"%s: check: one problem, no pages-size one: %d %s", label, code, out)
			refusal(out, file, label .. ": check")

			-- x ps --cmdline notes it and goes on
			out, err, code = run("x " .. q(d) .. " ps --cmdline")
			T.check(code == 0 and out:find("sleep", 1, true), "%s: x ps --cmdline: %d %s", label, code, out)
			refusal(err, file, label .. ": x ps --cmdline")

			-- the Lua API: raises (a newer CRIU's images are broken input, not absence)
			local ck = crit.open(d)
			local ok, why = pcall(ck.read_memory, ck, PID, cmdline_addr, 5)
			T.check(not ok, "%s: ck:read_memory raises", label)
			refusal(tostring(why), file, label .. ": ck:read_memory")
			ck:close_memory()
			local m, why2 = crit.memory(d, "pagemap-" .. PID .. ".img")
			T.check(m == nil, "%s: crit.memory gives nil", label)
			refusal(tostring(why2), file, label .. ": crit.memory")

			T.eq(snapshot(d), before, label .. ": nothing written")
		end
	end
end

---------------------------------------------------------------------------
-- 2. What does not read pages still works; decode/encode keep the new fields exactly

do
	local d = compressed(sleep, "blocks", "all")
	for _, view in ipairs({ "ps", "rss", "mems", "fds" }) do
		local want = run("x " .. q(sleep) .. " " .. view)
		local got, err, code = run("x " .. q(d) .. " " .. view)
		T.check(code == 0 and got == want:gsub(sleep:gsub("%p", "%%%0"), d), "x %s on a compressed copy: %d %s", view,
			code, err)
	end
	for _, layout in ipairs({ "flat", "regions", "padded", "blocks" }) do
		local c = compressed(sleep, layout, "all")
		for _, name in ipairs({ "inventory.img", "pagemap-" .. PID .. ".img" }) do
			local f = c .. "/" .. name
			local json, err, code = run("decode -i " .. q(f))
			T.check(code == 0 and json:find('"(unknown)"', 1, true), "%s %s: decode keeps the new fields: %s", layout,
				name, err)
			T.write(tmp .. "/in.json", json)
			local _, err2, code2 = run("encode -i " .. q(tmp .. "/in.json") .. " -o " .. q(tmp .. "/out.img"))
			T.check(code2 == 0 and T.read(tmp .. "/out.img") == T.read(f), "%s %s: decode | encode is byte-exact: %s",
				layout, name, err2)
		end
		local _, err, code = run("show " .. q(c .. "/pagemap-" .. PID .. ".img"))
		T.check(code == 0, "%s: show: %d %s", layout, code, err)
	end
end

---------------------------------------------------------------------------
-- 3. Refused inside an archive, and through parent/

do
	local d = compressed(sleep, "blocks", "pagemap")
	local ar = tmp .. "/ar"
	os.execute("mkdir -p " .. q(ar) .. " && cp -r " .. q(d) .. " " .. q(ar .. "/checkpoint") .. " && tar -C " ..
		q(ar) .. " -cf " .. q(tmp .. "/c.tar") .. " checkpoint")
	local tar = tmp .. "/c.tar"
	local before = T.read(tar)
	local _, err, code = run("mem " .. q(tar) .. " " .. PID)
	T.check(code == 1, "archive: mem: status %d", code)
	refusal(err, "c.tar:checkpoint/pagemap-" .. PID .. ".img", "archive: mem")
	_, err, code = run("grep " .. q(tar) .. " sleep")
	T.check(code == 1, "archive: grep: status %d", code)
	refusal(err, "checkpoint/pagemap-" .. PID .. ".img", "archive: grep")
	_, err, code = run("mem " .. q(tar) .. " " .. PID .. " --addr " .. string.format("0x%x", cmdline_addr) ..
		" --write 41")
	T.check(code == 1 and T.read(tar) == before, "archive: mem --write refused, archive unchanged: %d %s", code, err)
end

do
	-- an uncompressed checkpoint whose pages are all in a compressed parent/
	n = n + 1
	local child = tmp .. "/child" .. n
	os.execute("cp -r " .. q(sleep) .. " " .. q(child))
	local img = crit.load(child .. "/pagemap-" .. PID .. ".img")
	for i = 2, #img.entries do
		img.entries[i].flags = 1 -- PE_PARENT
	end
	crit.save(img)
	T.write(child .. "/pages-1.img", "")
	local parent = compressed(sleep, "padded", "all")
	os.execute("ln -s " .. q(parent) .. " " .. q(child .. "/parent"))
	local _, err, code = run("grep " .. q(child) .. " sleep")
	T.check(code == 1, "parent: grep: status %d", code)
	refusal(err, child .. "/parent/inventory.img", "parent: grep")
	_, err, code = run("mem " .. q(child) .. " " .. PID .. " --addr " .. string.format("0x%x", cmdline_addr))
	T.check(code == 1, "parent: mem --addr: status %d", code)
	refusal(err, "parent/inventory.img", "parent: mem --addr")
end

---------------------------------------------------------------------------
-- 4. Every fixture: grep and check refuse its compressed copy

local p = io.popen("ls " .. q(root))
for name in p:lines() do
	local dir = root .. "/" .. name
	if T.exists(dir .. "/pstree.img") and T.exists(dir .. "/inventory.img") then
		local d = compressed(dir, "blocks", "all")
		local _, err, code = run("grep " .. q(d) .. " x")
		T.check(code == 1, "%s: grep: status %d", name, code)
		refusal(err, d .. "/inventory.img", name .. ": grep")
		local out
		out, _, code = run("check " .. q(d))
		T.check(code == 1 and not out:find("bytes, but", 1, true), "%s: check: %d %s", name, code, out)
		refusal(out, d .. "/inventory.img", name .. ": check")
	end
end
p:close()

os.execute("rm -rf " .. q(tmp))
T.done("lz4_test")
