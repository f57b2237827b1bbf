-- memdump_test: `mem DIR PID --dump`, all the memory a checkpoint holds for a
-- process in one call: every run of pages is there once, each block is what
-- `mem --addr` dumps of its range, the pages add up to the table's, parent
-- pages are read from parent/, lazy ones left out, filters select VMAs, and
-- --dump refuses what it does not go with.
-- usage: critlua -I tests/lua tests/memdump/memdump_test.lua FIXTURES_ROOT

local T = require "testlib"

local root = T.fixtures_root("memdump_test.lua")
local critlua = T.critlua()
local q = T.sh_quote
local tmp = T.tmpdir()
local PS = 4096

local function run(args)
	return T.run(q(critlua) .. " " .. args)
end

-- The blocks of a --dump: {start, stop, head (the line), body (the hexdump)}.
local function blocks(out)
	local list = {}
	for block in (out .. "\n"):gmatch("(.-\n)\n") do
		local head, body = block:match("^([^\n]*)\n(.*)$")
		local a, b = head:match("^(%x+)%-(%x+) ")
		list[#list + 1] = { start = tonumber(a, 16), stop = tonumber(b, 16), head = head, body = body }
	end
	return list
end

-- Every fixture whose pages files are there (some keep only their images): up
-- to three processes each, and up to 4 blocks (2 MiB) of each compared with
-- mem --addr (the rest are counted and ordered).
local checked = 0
for _, name in ipairs(crit.dir(root)) do
	local dir = root .. "/" .. name
	if T.exists(dir .. "/pstree.img") then
		local ck = crit.open(dir)
		local done = 0
		for _, pid in ipairs(ck:pids()) do
			local rows, total = ck:memory_summary(pid)
			local m = rows and ck:memory(pid)
			if m and total.present_pages + total.parent_pages > 0 and done < 3 and
				T.exists(dir .. "/pages-" .. m:pages_id() .. ".img") then
				done = done + 1
				local compared, ncompared = 0, 0
				local out, err, code = run("mem " .. q(dir) .. " " .. pid .. " --dump")
				T.eq(code, 0, name .. " " .. pid .. ": --dump status (" .. err .. ")")
				local list = blocks(out)
				local pages, last = 0, nil
				for _, b in ipairs(list) do
					T.check(b.start and b.stop and math.ult(b.start, b.stop), "%s %d: a block's line: %s", name, pid,
						b.head)
					if b.start then
						-- in address order, never overlapping
						T.check(not last or not math.ult(b.start, last), "%s %d: %x after %x", name, pid, b.start,
							last or 0)
						last = b.stop
						local n = tonumber(b.head:match(": (%d+) pages?$"))
						T.eq(n, (b.stop - b.start) // PS, name .. " " .. pid .. ": page count of " .. b.head)
						pages = pages + (n or 0)
						if ncompared < 4 and compared + (b.stop - b.start) <= 2 << 20 then
							compared, ncompared = compared + (b.stop - b.start), ncompared + 1
							local want = run(string.format("mem %s %d --addr 0x%x --len %d", q(dir), pid, b.start,
								b.stop - b.start))
							T.eq(b.body, want, name .. " " .. pid .. ": block " .. b.head .. " is mem --addr's dump")
						end
					end
				end
				T.eq(pages, total.present_pages + total.parent_pages, name .. " " .. pid .. ": pages in all blocks")
				checked = checked + 1
			end
		end
	end
end
T.check(checked > 0, "no process with memory in %s", root)

-- The sleep fixture: filters, parent pages, lazy pages, usage.
local sleep = root .. "/sleep"
if T.exists(sleep .. "/pages-1.img") then
	local PID = 23744
	local full = run("mem " .. q(sleep) .. " " .. PID .. " --dump")
	local heap_out, _, code = run("mem " .. q(sleep) .. " " .. PID .. " --dump --kind heap")
	T.eq(code, 0, "--dump --kind heap: status")
	local hb = blocks(heap_out)
	T.check(#hb == 1 and hb[1].head:find(" rw%-p %[heap%]: 4 pages$"), "--dump --kind heap: the heap alone: %s",
		heap_out:sub(1, 200))
	local none, _, ncode = run("mem " .. q(sleep) .. " " .. PID .. " --dump --kind vsyscall")
	T.check(ncode == 0 and none == "", "--dump of no VMA: nothing, status 0: %d %q", ncode, none)

	-- A copy whose heap pagemap entry gets flags (its pages leave pages-1.img).
	local pm = crit.load(sleep .. "/pagemap-" .. PID .. ".img")
	local n = 0
	local function variant(flags, with_parent)
		n = n + 1
		local d = tmp .. "/v" .. n
		os.execute("cp -r " .. q(sleep) .. " " .. q(d))
		local img = crit.load(d .. "/pagemap-" .. PID .. ".img")
		local pages, off = {}, 0
		local data = T.read(sleep .. "/pages-1.img")
		for i = 2, #img.entries do
			local e = img.entries[i]
			local bytes = data:sub(off + 1, off + e.nr_pages * PS)
			off = off + e.nr_pages * PS
			if e.vaddr == 0x558aa968a000 then
				e.flags = flags
			else
				pages[#pages + 1] = bytes
			end
		end
		crit.save(img)
		T.write(d .. "/pages-1.img", table.concat(pages))
		if with_parent then
			local p = io.popen("cd " .. q(sleep) .. " && pwd")
			os.execute("ln -s " .. q(p:read("l")) .. " " .. q(d .. "/parent"))
			p:close()
		end
		return d
	end
	assert(#pm.entries > 2, "the sleep fixture's pagemap")

	-- PE_PARENT with parent/ there: the same dump as the original
	local d = variant(1, true)
	local out, err, pcode = run("mem " .. q(d) .. " " .. PID .. " --dump")
	T.eq(pcode, 0, "--dump with parent pages: status (" .. err .. ")")
	T.eq(out, full, "--dump with parent pages: the heap read from parent/")
	-- and without it: an error that says so
	os.execute("rm " .. q(d .. "/parent"))
	out, err, pcode = run("mem " .. q(d) .. " " .. PID .. " --dump")
	T.check(pcode == 1 and err:find("is not there", 1, true), "--dump without parent/: %d %s", pcode, err)

	-- lazy pages are not in the checkpoint: the heap's block is left out
	d = variant(2, false)
	out, err, pcode = run("mem " .. q(d) .. " " .. PID .. " --dump")
	T.eq(pcode, 0, "--dump with lazy pages: status (" .. err .. ")")
	local without = {}
	for _, b in ipairs(blocks(full)) do
		if b.start ~= 0x558aa968a000 then
			without[#without + 1] = b.head .. "\n" .. b.body
		end
	end
	T.eq(out, table.concat(without, "\n"), "--dump with lazy pages: all but the heap")

	for _, c in ipairs({
		{ "--dump --addr 0x558aa968a000", "does not go with --addr" },
		{ "--dump --write-string x --addr 0x558aa968a000", "does not go with --addr" },
		{ "--dump --len 16", "--len goes with --addr" },
		{ "--dump --raw", "--raw goes with --addr" },
	}) do
		local _, uerr, ucode = run("mem " .. q(sleep) .. " " .. PID .. " " .. c[1])
		T.check(ucode == 2 and uerr:find(c[2], 1, true), "mem %s: %d %s", c[1], ucode, uerr)
	end
else
	T.skip("sleep", "no " .. sleep .. "/pages-1.img")
end

os.execute("rm -rf " .. q(tmp))
T.done("memdump_test")
