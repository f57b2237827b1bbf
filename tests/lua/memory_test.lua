-- memory_test: process memory (crit.memory, ck:read_memory, ck:search, ck:cmdline, ...)
-- against an independent reading of the pagemap and pages files done here, against
-- what ps showed at dump time, and on pagemaps edited into the PE_PARENT, lazy, hole
-- and newer-CRIU cases; the mem, grep and x ps --cmdline/--env commands.
-- usage: critlua -I tests/lua tests/lua/memory_test.lua FIXTURES_ROOT

local T = require "testlib"
local explore = require "explore"
local memory = require "memory"

local root = T.fixtures_root("memory_test.lua")
local q = T.sh_quote
local PS = 4096
local tmp = T.tmpdir()

local run = T.run_critlua

local hex = T.hex

local function is_dir(path)
	return (pcall(crit.dir, path))
end

---------------------------------------------------------------------------
-- The independent reading: pagemap entries with SPEC §1.4's rules, present
-- pages read straight from the pages file, contiguous ones joined in runs.

local function brute(dir, pagemap)
	local img = crit.load(dir .. "/" .. pagemap)
	local f = io.open(string.format("%s/pages-%d.img", dir, img.entries[1].pages_id), "rb")
	local entries, runs, off = {}, {}, 0
	for i = 2, #img.entries do
		local e = img.entries[i]
		local nr = e.nr_pages or e.compat_nr_pages
		local flags = e.flags
		if e.in_parent then
			flags = (flags or 0) | 1
		elseif flags == nil then
			flags = 4
		end
		local r = { vaddr = e.vaddr, nr = nr, flags = flags }
		entries[#entries + 1] = r
		if flags & 4 ~= 0 then
			r.off = off
			off = off + nr * PS
			if f then
				f:seek("set", r.off)
				local data = f:read(nr * PS) or ""
				local last = runs[#runs]
				if last and last.start + last.len == r.vaddr then
					last.parts[#last.parts + 1] = data
					last.len = last.len + #data
				else
					runs[#runs + 1] = { start = r.vaddr, len = #data, parts = { data } }
				end
			end
		end
	end
	if f then
		f:close()
	end
	for _, r in ipairs(runs) do
		r.data = table.concat(r.parts)
		r.parts = nil
	end
	return { entries = entries, runs = runs, has_pages = f ~= nil, pages_id = img.entries[1].pages_id }
end

local function brute_find(b, needle, plain)
	local out = {}
	for _, r in ipairs(b.runs) do
		local init = 1
		while true do
			local s, e = r.data:find(needle, init, plain)
			if not s then
				break
			end
			out[#out + 1] = r.start + s - 1
			init = plain and s + 1 or math.max(e + 1, s + 1)
		end
	end
	table.sort(out, math.ult)
	return out
end

local function brute_read(b, addr, len)
	for _, r in ipairs(b.runs) do
		if not math.ult(addr, r.start) and not math.ult(r.start + r.len, addr + len) then
			return r.data:sub(addr - r.start + 1, addr - r.start + len)
		end
	end
end

-- The private matches of ck:search (those not in a shared VMA), as addresses.
local function search_private(ck, pid, needle, opts)
	local list, notes = ck:search(pid, needle, opts)
	local out = {}
	for _, m in ipairs(list) do
		if not (m.vma and m.vma.shmid) then
			out[#out + 1] = m.addr
		end
	end
	return out, list, notes
end

local function same_list(got, want, what)
	local ok = #got == #want
	for i = 1, math.max(#got, #want) do
		if got[i] ~= want[i] then
			ok = false
			break
		end
	end
	local function show(l)
		local s = {}
		for i = 1, math.min(#l, 8) do
			s[i] = hex(l[i])
		end
		return "{" .. table.concat(s, " ") .. (#l > 8 and " ..." or "") .. "} (" .. #l .. ")"
	end
	return T.check(ok, "%s: got %s, want %s", what, show(got), show(want))
end

---------------------------------------------------------------------------
-- What ps showed at dump time: the dumped tree's command lines in ps --forest
-- order (depth first), from the process criu dump -t named.

local function ps_at_dump(scen)
	local base = root .. "/expected/" .. scen .. "/at-dump/"
	if not T.exists(base .. "ps") or not T.exists(base .. "cmd") then
		return nil
	end
	local top = tonumber(T.read(base .. "cmd"):match("%-t (%d+)"))
	local procs, kids, order = {}, {}, {}
	for line in io.lines(base .. "ps") do
		local pid, ppid, rest = line:match("^%s*(%d+)%s+(%d+)%s+%d+%s+%d+%s+%d+%s+%d+ (.*)$")
		if pid then
			pid, ppid = tonumber(pid), tonumber(ppid)
			procs[pid] = rest:gsub("^[ |]*\\_ ", "")
			kids[ppid] = kids[ppid] or {}
			table.insert(kids[ppid], pid)
			order[#order + 1] = pid
		end
	end
	if not top or not procs[top] then
		return nil
	end
	local out = {}
	local function walk(pid)
		out[#out + 1] = { pid = pid, cmd = procs[pid] }
		for _, k in ipairs(kids[pid] or {}) do
			walk(k)
		end
	end
	walk(top)
	return out
end

---------------------------------------------------------------------------
-- 1. Command lines, known strings, page boundaries: every scenario with pages

local scenarios = 0
for _, scen in ipairs(crit.dir(root)) do
	local dir = root .. "/" .. scen
	local names = is_dir(dir) and crit.dir(dir) or {}
	local has_pages = false
	for _, n in ipairs(names) do
		has_pages = has_pages or n:match("^pages%-%d+%.img$") ~= nil
	end
	local want = has_pages and T.exists(dir .. "/pstree.img") and ps_at_dump(scen)
	if want then
		scenarios = scenarios + 1
		local ck = crit.open(dir)
		local tree = explore.ps(ck)
		T.eq(#tree, #want, scen .. ": processes in the dump and in ps")
		-- pids match directly, except in a pid namespace (the dump has the inner pids)
		for i, p in ipairs(tree) do
			local w = want[i]
			local argv, err = ck:cmdline(p.pid)
			if not argv then
				T.check(p.state == "zombie" or p.state == "dead", "%s: %d: no command line: %s", scen, p.pid,
					tostring(err))
			elseif w then
				local got = table.concat(argv, " "):gsub("%c", " ")
				T.eq(got, w.cmd, string.format("%s: command line of %d (ps: %d)", scen, p.pid, w.pid))
				local env = ck:environ(p.pid)
				local path
				for _, e in ipairs(env or {}) do
					path = path or e:match("^PATH=(.*)$")
				end
				T.eq(path, "/usr/local/bin:/usr/bin:/bin", scen .. ": PATH in the environment of " .. p.pid)

				-- argv[0] is found where mm_arg_start says, and everywhere a reading
				-- of the pages file of our own finds it
				local b = brute(dir, "pagemap-" .. p.pid .. ".img")
				local mm = ck:image("mm-" .. p.pid .. ".img").entries[1]
				local got_addrs = search_private(ck, p.pid, argv[1])
				same_list(got_addrs, brute_find(b, argv[1], true), scen .. ": " .. p.pid .. ": matches of " .. argv[1])
				local at_start = false
				for _, a in ipairs(got_addrs) do
					at_start = at_start or a == mm.mm_arg_start
				end
				T.check(at_start, "%s: %d: %q not found at mm_arg_start %s", scen, p.pid, argv[1], hex(mm.mm_arg_start))

				-- reading agrees with the pages file, for every run
				for _, r in ipairs(b.runs) do
					local data = ck:read_memory(p.pid, r.start, r.len)
					T.check(data == r.data, "%s: %d: read of %s..+%d differs from the pages file", scen, p.pid,
						hex(r.start), r.len)
				end

				-- a needle across the boundary of two pagemap entries that touch,
				-- and one across two pages of one entry
				local done_adj, done_in = false, false
				for k, e in ipairs(b.entries) do
					local n = b.entries[k + 1]
					if not done_adj and n and e.flags & 4 ~= 0 and n.flags & 4 ~= 0 and e.vaddr + e.nr * PS == n.vaddr then
						local needle = brute_read(b, n.vaddr - 5, 11)
						if needle and needle:find("[^%z]") then
							local a = search_private(ck, p.pid, needle)
							same_list(a, brute_find(b, needle, true), scen .. ": needle across entries at " .. hex(n.vaddr))
							T.check(#a > 0, "%s: nothing found across entries", scen)
							done_adj = true
						end
					end
					if not done_in and e.flags & 4 ~= 0 and e.nr >= 2 then
						for pg = 1, e.nr - 1 do
							local needle = brute_read(b, e.vaddr + pg * PS - 3, 7)
							if needle and needle:find("[^%z][^%z]") then
								local a = search_private(ck, p.pid, needle)
								same_list(a, brute_find(b, needle, true), scen .. ": needle across a page at " ..
									hex(e.vaddr + pg * PS))
								done_in = true
								break
							end
						end
					end
				end
				T.check(done_in, "%s: %d: no page boundary to test", scen, p.pid)
			end
		end
		ck:close_memory()
	end
end
T.check(scenarios > 0, "no scenario with pages files and at-dump/ps under %s", root)

---------------------------------------------------------------------------
-- 2. Lua patterns against string.find on the pages file (sleep)

local sleep = root .. "/sleep"
if T.exists(sleep .. "/pages-1.img") then
	local ck = crit.open(sleep)
	local b = brute(sleep, "pagemap-23744.img")
	-- (patterns with literal text first are tried where the core's search finds
	-- it, overlapping places too: "\0\0\0[^%z]" starts at the third of three)
	local found = 0
	local pats = { "PATH=[^%z]+", "%d%d%d%d", "[A-Z][A-Z_]+=", "GLIBC_%d%.%d+", "\0\0\0[^%z]+", "ld%-[%w.-]+" }
	for _, pat in ipairs(pats) do
		for _, window in ipairs({ 64, 4096 }) do
			local got = search_private(ck, 23744, pat, { pattern = true, window = window })
			same_list(got, brute_find(b, pat, false), "pattern " .. pat .. " window " .. window)
			-- the same matches, text and all, as the piece-by-piece scanner that
			-- a search over opts.only spans uses
			local all = ck:search(23744, pat, { pattern = true, window = window })
			local scanned = ck:search(23744, pat, { pattern = true, window = window, only = { { start = 0, ["end"] = -1 } } })
			local a, c = {}, {}
			for i, m in ipairs(all) do a[i] = string.format("%x %q", m.addr, m.match) end
			for i, m in ipairs(scanned) do c[i] = string.format("%x %q", m.addr, m.match) end
			found = found + #a
			T.check(table.concat(a, "\n") == table.concat(c, "\n"),
				"pattern %q window %d: %d matches, %d by the scanner", pat, window, #a, #c)
		end
	end
	T.check(found > 100, "the patterns found only %d matches", found)
	local list = ck:search(23744, "PATH=[^%z]+", { pattern = true, context = 3 })
	T.eq(list[1] and list[1].match, "PATH=/usr/local/bin:/usr/bin:/bin", "pattern match text")
	T.eq(list[1] and list[1].before, "00\0", "context before")
	T.eq(list[1] and list[1].after, "\0HO", "context after")
	T.eq(list[1] and list[1].name, "[stack]", "VMA name of a match")
	-- fn form: stops when told
	local seen = 0
	local n = ck:search(23744, "%d", { pattern = true }, function()
		seen = seen + 1
		return seen == 3
	end)
	T.eq(n, 3, "search stops when fn returns true")
	T.raises("cannot start with '^'", ck.search, ck, 23744, "^x", { pattern = true })
	T.raises("cannot end with '$'", ck.search, ck, 23744, "x$", { pattern = true })
	T.eq(#ck:search(23744, "%$", { pattern = true }) >= 0, true, "an escaped $ is fine")
	T.raises("bad pattern", ck.search, ck, 23744, "[a", { pattern = true })
	T.raises("not in the checkpoint", ck.read_memory, ck, 4242, 0, 1)

	local d, err = ck:read_memory(23744, 0x1000, 16)
	T.check(d == nil and err:find("not in the dump", 1, true), "hole: %s", tostring(err))
	local v = ck:vmas(23744)
	T.eq(v[1].name, "/usr/bin/sleep", "first VMA name")
	local heap
	for _, x in ipairs(v) do
		heap = heap or (x.name == "[heap]" and x)
	end
	T.check(heap ~= nil, "a [heap] VMA")
	local libc_ro
	for _, x in ipairs(v) do
		if not libc_ro and x.name:find("libc.so", 1, true) and x.perms == "r-xp" then
			libc_ro = x
		end
	end
	d, err = ck:read_memory(23744, libc_ro.start, 4)
	T.check(d == nil and err:find("file-backed", 1, true), "unchanged file pages say so: %s", tostring(err))
	ck:close_memory()
end

---------------------------------------------------------------------------
-- 3. Shared memory (shm-ipc): SysV shm and a memfd read from pagemap-shmem-*

local shm = root .. "/shm-ipc"
if T.exists(shm .. "/pages-1.img") then
	local ck = crit.open(shm)
	local vmas = ck:vmas(28272)
	local function vma_where(pred)
		for _, v in ipairs(vmas) do
			if pred(v) then
				return v
			end
		end
	end
	local sysv = vma_where(function(v)
		return v.kind == "sysvipc"
	end)
	local memfd = vma_where(function(v)
		return v.name == "memfd:/dev/zero"
	end)
	T.check(sysv and sysv.shmid == 0, "the SysV shm VMA maps segment 0")
	T.check(memfd and memfd.shmid == 1882, "the memfd VMA maps segment 1882")
	for _, c in ipairs({ { sysv, "pagemap-shmem-0.img" }, { memfd, "pagemap-shmem-1882.img" } }) do
		local v, b = c[1], brute(shm, c[2])
		for _, r in ipairs(b.runs) do
			local addr = v.start + (r.start - v.pgoff)
			T.eq(ck:read_memory(28272, addr, r.len), r.data, c[2] .. ": read at " .. hex(addr))
		end
	end
	for _, s in ipairs({ "middle of anon shared", "sysv shm segment 1 contents", "child wrote into sysv shm" }) do
		local list = ck:search(28272, s)
		T.eq(#list, 1, "shared memory: matches of " .. s)
		local m = list[1]
		if m then
			local v = m.vma
			local b = brute(shm, string.format("pagemap-shmem-%d.img", v.shmid))
			local off = brute_find(b, s, true)[1]
			T.eq(m.addr, v.start + (off - v.pgoff), "shared memory: address of " .. s)
			T.eq(ck:read_memory(28272, m.addr, #s), s, "shared memory: read back " .. s)
		end
	end
	local list = ck:search(28276, "sysv shm segment %d", { pattern = true })
	T.eq(#list, 1, "pattern in shared memory")
	local rows = ck:memory_summary(28272)
	local shared_pages = 0
	for _, r in ipairs(rows) do
		if r.shmid then
			shared_pages = shared_pages + r.present_pages
		end
	end
	T.eq(shared_pages, 4, "shared pages in the summary (2 SysV + 2 memfd)")
	ck:close_memory()
end

---------------------------------------------------------------------------
-- 4. A made-up checkpoint: a region longer than the 4 MiB chunk, regions that
-- touch and regions that do not, lazy pages

local function save(dir, name, magic, entries)
	crit.save({ magic = magic, entries = entries }, dir .. "/" .. name)
end

do
	local d = tmp .. "/synthetic"
	os.execute("mkdir -p " .. q(d))
	save(d, "pstree.img", "PSTREE", { { pid = 1, ppid = 0, pgid = 1, sid = 1 } })
	local A, NA = 0x10000000, 1100 -- 4.3 MiB: two chunks
	local B, C, L = A + NA * PS, 0x20000000, 0x30000000
	save(d, "pagemap-1.img", "PAGEMAP", {
		{ pages_id = 1 },
		{ vaddr = A, compat_nr_pages = 0, flags = 4, nr_pages = NA },
		{ vaddr = B, compat_nr_pages = 0, flags = 6, nr_pages = 2 },
		{ vaddr = L, compat_nr_pages = 0, flags = 2, nr_pages = 1 }, -- lazy: not in the file
		{ vaddr = C, compat_nr_pages = 0, flags = 4, nr_pages = 1 },
	})
	local N = "NEEDLE-xyz"
	local a = {}
	for i = 1, NA do
		a[i] = string.rep(string.char(48 + i % 40), PS)
	end
	local da = table.concat(a)
	local function plant(s, at, what) -- at: 0-based
		return s:sub(1, at) .. what .. s:sub(at + #what + 1)
	end
	local chunk = 4 << 20
	da = plant(da, chunk - 3, N)                    -- across the chunk boundary
	da = plant(da, #da - 4, N:sub(1, 4))           -- across A | B (they touch)
	local db = plant(string.rep("b", 2 * PS), 0, N:sub(5))
	db = plant(db, #db - 5, N:sub(1, 5))            -- B's end + C's start: they do not touch
	local dc = plant(string.rep("c", PS), 0, N:sub(6))
	dc = plant(dc, 100, N)                          -- inside C
	dc = plant(dc, 200, "aaaa")
	T.write(d .. "/pages-1.img", da .. db .. dc)
	local want = { A + chunk - 3, B - 4, C + 100 }

	local m = assert(crit.memory(d, "pagemap-1.img"))
	local got = {}
	assert(m:find(N, function(x)
		got[#got + 1] = x
	end))
	same_list(got, want, "synthetic: crit.memory find")
	local ck = crit.open(d)
	same_list(search_private(ck, 1, N), want, "synthetic: ck:search")
	same_list(search_private(ck, 1, "NEEDLE%-%a+", { pattern = true, window = 16 }), want, "synthetic: pattern")
	same_list(search_private(ck, 1, "aaa"), { C + 200, C + 201 }, "synthetic: overlapping matches")
	same_list(search_private(ck, 1, "a+", { pattern = true }), { C + 200 }, "synthetic: pattern matches do not overlap")
	local list, notes = ck:search(1, N, { context = 4 })
	T.eq(list[1] and list[1].before .. list[1].match .. list[1].after, da:sub(chunk - 6, chunk + #N + 1),
		"synthetic: context across the chunk boundary")
	T.check(list[2] and list[2].after == "bbbb", "synthetic: context runs on into the touching region")
	T.check(list[3] and list[3].before == "cccc", "synthetic: context stops at the region's start")
	T.check(#notes == 1 and notes[1]:find("lazy", 1, true), "synthetic: lazy pages noted: %s", notes[1])
	local x, err = ck:read_memory(1, L, 8)
	T.check(x == nil and err:find("lazy", 1, true), "synthetic: lazy read: %s", tostring(err))
	T.eq(ck:read_memory(1, B - 4, 10), N, "synthetic: read across touching regions")
	x, err = ck:read_memory(1, B + 2 * PS - 5, 10)
	T.check(x == nil and err:find("not in the dump", 1, true), "synthetic: read into a hole: %s", tostring(err))
	-- chunk sizes do not change what is read
	for _, size in ipairs({ 4095, 4096, 65537, 1 << 20 }) do
		local parts, last = {}, nil
		assert(m:chunks(function(addr, bytes)
			if addr == B then
				parts[#parts + 1] = "|"
			end
			if addr >= A and addr < B then
				parts[#parts + 1] = bytes
			end
			last = addr + #bytes
		end, size))
		T.check(table.concat(parts) == da .. "|" and last == C + PS, "synthetic: chunks of %d", size)
	end
	m:close()
	ck:close_memory()
end

---------------------------------------------------------------------------
-- 5. Edited pagemaps: PE_PARENT (and in_parent), lazy, holes, flags 0, the
-- pre-4.2 form, fields and flags from a newer CRIU

if T.exists(sleep .. "/pages-1.img") then
	local PID = 23744
	local orig = brute(sleep, "pagemap-" .. PID .. ".img")
	local heap -- the heap's pagemap entry: 4 pages
	for i, e in ipairs(orig.entries) do
		if e.vaddr == 0x558aa968a000 then
			heap = i
		end
	end
	assert(heap, "the sleep fixture's heap entry")
	local he = orig.entries[heap]
	local heap_data = brute_read(orig, he.vaddr, he.nr * PS)
	local argv0 = crit.open(sleep):image("mm-" .. PID .. ".img").entries[1].mm_arg_start

	-- a memory object cannot be closed under its own walk (which would go on over freed memory)
	do
		local m = assert(crit.memory(sleep, "pagemap-" .. PID .. ".img"))
		T.raises("cannot close", m.find, m, "sleep", function()
			m:close()
		end)
		T.raises("cannot close", m.chunks, m, function()
			m:find("x", function() end)
			m:close()
		end)
		T.eq(m:read(argv0, 5), "sleep", "a memory object after a refused close")
		T.eq(m:pages_id(), 1, "pages_id")
		T.eq(m:page_size(), 4096, "page_size")
		m:close()
		T.raises("closed memory object", m.read, m, argv0, 1)
		-- with 8 KiB pages this pagemap's entries would overlap: the page size is not 8 KiB
		local m8, err = crit.memory(sleep, "pagemap-" .. PID .. ".img", 8192)
		T.check(m8 == nil and err:find("overlap", 1, true), "page size 8192: %s", tostring(err))
	end

	-- A copy of the dump whose pagemap entry `heap` is changed by edit(e) (nil:
	-- removed) and whose pages file keeps only the pages of entries with PE_PRESENT.
	local n = 0
	local function variant(edit, with_parent)
		n = n + 1
		local d = tmp .. "/v" .. n
		os.execute("cp -r " .. q(sleep) .. " " .. q(d))
		local img = crit.load(d .. "/pagemap-" .. PID .. ".img")
		local pages, entries = {}, { img.entries[1] }
		local f = assert(io.open(sleep .. "/pages-1.img", "rb"))
		for i, e in ipairs(orig.entries) do
			local pe = img.entries[i + 1]
			local keep = true
			if i == heap then
				keep = edit(pe)
			end
			if keep then
				entries[#entries + 1] = pe
				local flags = pe.flags or (pe.in_parent and 1) or 4
				if pe.in_parent then
					flags = flags | 1
				end
				if flags & 4 ~= 0 then
					f:seek("set", e.off)
					pages[#pages + 1] = f:read(e.nr * PS)
				end
			end
		end
		f:close()
		img.entries = entries
		crit.save(img)
		T.write(d .. "/pages-1.img", table.concat(pages))
		if with_parent then
			local p = io.popen("cd " .. q(sleep) .. " && pwd")
			local abs = p:read("l")
			p:close()
			os.execute("ln -s " .. q(abs) .. " " .. q(d .. "/parent"))
		end
		return d
	end

	-- PE_PARENT with the parent there: the heap comes from the parent
	for _, form in ipairs({ "flags", "in_parent" }) do
		local d = variant(function(e)
			if form == "flags" then
				e.flags = 1
			else
				e.flags, e.in_parent = nil, true
			end
			return true
		end, true)
		local ck = crit.open(d)
		local got, why = ck:read_memory(PID, he.vaddr, #heap_data)
		T.check(got == heap_data, "%s: parent pages read from parent/: %s", form, tostring(why))
		T.eq(table.concat(ck:cmdline(PID), " "), "sleep 1000", form .. ": the other pages still line up")
		local r
		for _, x in ipairs(ck:regions(PID)) do
			r = r or (x.start == he.vaddr and x)
		end
		T.check(r and r.parent and not r.present, "%s: region marked parent", form)
		local rows, total = ck:memory_summary(PID)
		T.eq(total.parent_pages, 4, form .. ": parent pages in the summary")
		-- the search goes through the parent as well
		local needle = heap_data:match("[%w_]+[%w_][%w_][%w_]") or heap_data:sub(9, 12)
		same_list(search_private(ck, PID, needle), brute_find(orig, needle, true), form .. ": search through parent/")
		local out, err, code = run("mem " .. q(d) .. " " .. PID)
		T.eq(code, 0, form .. ": mem with parent pages")
		T.check(out:find("PARENT", 1, true) and out:find("4 in the parent checkpoint", 1, true),
			"%s: mem shows parent pages: %s", form, out)
		ck:close_memory()

		-- the same without parent/
		os.execute("rm " .. q(d .. "/parent"))
		ck = crit.open(d)
		local x, why = ck:read_memory(PID, he.vaddr, 8)
		T.check(x == nil and why:find("parent checkpoint", 1, true) and why:find("is not there", 1, true),
			"%s: no parent/: %s", form, tostring(why))
		local list, notes = ck:search(PID, "sleep")
		T.check(#list > 0, "%s: no parent/: the rest is searched", form)
		T.check(notes[1] and notes[1]:find("not searched", 1, true), "%s: no parent/: noted: %s", form,
			tostring(notes[1]))
		T.eq(table.concat(ck:cmdline(PID), " "), "sleep 1000", form .. ": no parent/: cmdline")
		out, err, code = run("mem " .. q(d) .. " " .. PID .. " --addr " .. hex(he.vaddr) .. " --len 16")
		T.check(code == 1 and err:find("is not there", 1, true), "%s: mem --addr without parent/: %d %s", form,
			code, err)
		out, err, code = run("grep " .. q(d) .. " 'sleep'")
		T.check(code == 0 and err:find("not searched", 1, true), "%s: grep without parent/: %d %s", form, code, err)
		ck:close_memory()
	end

	-- a parent that is there but written by a newer CRIU is an error, not skipped
	do
		local d = variant(function(e)
			e.flags = 1
			return true
		end)
		local p = tmp .. "/newer-parent"
		os.execute("cp -r " .. q(sleep) .. " " .. q(p) .. " && ln -s " .. q(p) .. " " .. q(d .. "/parent"))
		local img = crit.load(p .. "/pagemap-" .. PID .. ".img")
		crit.unknown(img.entries[2], "\x30\x05")
		crit.save(img)
		local ck = crit.open(d)
		T.raises("unknown to CRIU 4.2", ck.search, ck, PID, "sleep")
		local _, err, code = run("grep " .. q(d) .. " sleep")
		T.check(code == 1 and err:find("unknown to CRIU 4.2", 1, true), "grep with a refused parent: %d %s", code, err)
		ck:close_memory()
	end

	-- lazy, flags 0, hole
	local cases = {
		{ "lazy", function(e)
			e.flags = 2
			return true
		end, "lazy" },
		{ "flags 0", function(e)
			e.flags = 0
			return true
		end, "nowhere in the checkpoint" },
		{ "hole", function()
			return false
		end, "not in the dump" },
	}
	for _, c in ipairs(cases) do
		local d = variant(c[2])
		local ck = crit.open(d)
		local x, why = ck:read_memory(PID, he.vaddr + 8, 8)
		T.check(x == nil and why:find(c[3], 1, true), "%s: read: %s", c[1], tostring(why))
		T.eq(table.concat(ck:cmdline(PID), " "), "sleep 1000", c[1] .. ": the other pages still line up")
		for _, r in ipairs(orig.runs) do
			if math.ult(r.start, he.vaddr) or r.start > he.vaddr then
				-- runs other than the heap's read as before
				if not (r.start <= he.vaddr and he.vaddr < r.start + r.len) then
					T.check(ck:read_memory(PID, r.start, r.len) == r.data, "%s: run at %s", c[1], hex(r.start))
				end
			end
		end
		local _, err, code = run("mem " .. q(d) .. " " .. PID .. " --addr " .. hex(he.vaddr + 8) .. " --len 4")
		T.check(code == 1 and err:find(c[3], 1, true), "%s: mem --addr: %d %s", c[1], code, err)
		if c[1] == "lazy" then
			local out = run("mem " .. q(d) .. " " .. PID)
			T.check(out:find("LAZY", 1, true) and out:find("4 lazy", 1, true), "lazy: mem shows it: %s", out)
		end
		ck:close_memory()
	end

	-- the pre-4.2 form: compat_nr_pages only, no flags
	do
		n = n + 1
		local d = tmp .. "/v" .. n
		os.execute("cp -r " .. q(sleep) .. " " .. q(d))
		local img = crit.load(d .. "/pagemap-" .. PID .. ".img")
		for i = 2, #img.entries do
			local e = img.entries[i]
			e.compat_nr_pages, e.nr_pages, e.flags = e.nr_pages, nil, nil
		end
		crit.save(img)
		local ck = crit.open(d)
		T.eq(ck:read_memory(PID, he.vaddr, #heap_data), heap_data, "pre-4.2 pagemap: heap")
		T.eq(table.concat(ck:cmdline(PID), " "), "sleep 1000", "pre-4.2 pagemap: cmdline")
		ck:close_memory()
	end

	-- refused: an unknown field in a pagemap entry, the head, the inventory; an unknown flag
	local refusals = {
		{ "pagemap entry", "pagemap-" .. PID .. ".img", 2, "\x30\x05", "unknown to CRIU 4.2" },
		{ "pagemap head", "pagemap-" .. PID .. ".img", 1, "\x10\x01", "unknown to CRIU 4.2" },
		{ "inventory", "inventory.img", 1, "\xf8\x01\x01", "unknown to CRIU 4.2" },
		{ "flag 8", "pagemap-" .. PID .. ".img", 2, nil, "bits unknown" },
	}
	for _, c in ipairs(refusals) do
		n = n + 1
		local d = tmp .. "/v" .. n
		os.execute("cp -r " .. q(sleep) .. " " .. q(d))
		local img = crit.load(d .. "/" .. c[2])
		if c[4] then
			crit.unknown(img.entries[c[3]], c[4])
		else
			img.entries[c[3]].flags = 4 | 8
		end
		crit.save(img)
		local m, err = crit.memory(d, "pagemap-" .. PID .. ".img")
		T.check(m == nil and err:find(c[5], 1, true) and err:find(c[2], 1, true),
			"%s: crit.memory refuses: %s", c[1], tostring(err))
		local ck = crit.open(d)
		T.raises(c[5], ck.read_memory, ck, PID, argv0, 4)
		local _, e2, code = run("mem " .. q(d) .. " " .. PID)
		T.check(code == 1 and e2:find(c[5], 1, true), "%s: mem: %d %s", c[1], code, e2)
		_, e2, code = run("x " .. q(d) .. " ps --cmdline")
		T.check(code == 0 and e2:find(c[5], 1, true), "%s: x ps --cmdline notes it: %d %s", c[1], code, e2)
	end

	-- a pages file shorter than its pagemap
	do
		n = n + 1
		local d = tmp .. "/v" .. n
		os.execute("cp -r " .. q(sleep) .. " " .. q(d))
		T.write(d .. "/pages-1.img", T.read(sleep .. "/pages-1.img"):sub(1, 5 * PS))
		local ck = crit.open(d)
		local x, err = ck:cmdline(PID)
		T.check(x == nil and err:find("shorter than its pagemap", 1, true), "short pages file: %s", tostring(err))
		local _, e2, code = run("mem " .. q(d) .. " " .. PID)
		T.check(code == 0 and e2:find("holds 20480 bytes", 1, true), "mem notes a short pages file: %s", e2)
		_, e2, code = run("grep " .. q(d) .. " sleep")
		T.check(code == 1 and e2:find("shorter than its pagemap", 1, true), "grep on a short pages file: %d %s", code, e2)
		ck:close_memory()
	end

	---------------------------------------------------------------------------
	-- 6. The commands

	local out, err, code = run("mem " .. q(sleep) .. " " .. PID)
	T.eq(code, 0, "mem: status")
	T.check(out:find("^process 23744 %(sleep%): pagemap%-23744%.img, pages%-1%.img, page size 4096\n"), "mem: title: %s", out)
	T.check(out:find("\n7ffc93e18000%-7ffc93e39000 +rw%-p +132%.0 KiB +4 +16%.0 KiB  %[stack%]\n"), "mem: stack row")
	T.check(out:find("\ntotal: 36 VMAs, 2.9 MiB mapped; 31 pages (124.0 KiB) in the checkpoint\n", 1, true), "mem: total")
	T.eq(err, "", "mem: nothing on stderr")

	out, err, code = run("mem " .. q(sleep) .. " " .. PID .. " --addr " .. hex(argv0) .. " --len 48")
	T.eq(code, 0, "mem --addr: status")
	T.eq(out, "7ffc93e38f99  73 6c 65 65 70 00 31 30  30 30 00 50 41 54 48 3d  |sleep.1000.PATH=|\n" ..
		"7ffc93e38fa9  2f 75 73 72 2f 6c 6f 63  61 6c 2f 62 69 6e 3a 2f  |/usr/local/bin:/|\n" ..
		"7ffc93e38fb9  75 73 72 2f 62 69 6e 3a  2f 62 69 6e 00 48 4f 4d  |usr/bin:/bin.HOM|\n" ..
		"7ffc93e38fc9\n", "mem --addr: hexdump")
	-- the layout and the collapsing of hexdump -C, when it is installed
	local raw = run("mem " .. q(sleep) .. " " .. PID .. " --addr 0x558aa968a000 --len 5000 --raw")
	T.eq(raw, heap_data:sub(1, 5000), "mem --raw")
	if os.execute("command -v hexdump >/dev/null 2>&1") then
		T.write(tmp .. "/raw", raw)
		local hd = T.run("hexdump -C " .. q(tmp .. "/raw"))
		local ours = run("mem " .. q(sleep) .. " " .. PID .. " --addr 0x558aa968a000 --len 5000")
		ours = ours:gsub("(%x+)", function(a)
			if #a == 12 then
				return string.format("%08x", tonumber(a, 16) - 0x558aa968a000)
			end
		end)
		T.eq(ours, hd, "mem --addr: the layout of hexdump -C")
	end
	for _, c in ipairs({
		{ "mem", 2 }, { "mem " .. q(sleep), 2 }, { "mem " .. q(sleep) .. " abc", 2 },
		{ "mem " .. q(sleep) .. " 23744 --len 5", 2 }, { "mem " .. q(sleep) .. " 23744 --addr zz", 2 },
		{ "mem " .. q(sleep) .. " 4242", 1, "pid 4242 is not in the checkpoint" },
		{ "mem " .. q(tmp .. "/nope") .. " 1", 1 },
		{ "mem --help", 0, "usage: critlua mem DIR PID" },
		{ "grep", 2 }, { "grep " .. q(sleep) .. " ''", 2 }, { "grep " .. q(sleep) .. " x --pid abc", 2 },
		{ "grep " .. q(sleep) .. " x --window 5", 2 }, { "grep " .. q(sleep) .. " '^x' --pattern", 2 },
		{ "grep " .. q(sleep) .. " x --pid 4242", 1, "pid 4242 is not in the checkpoint" },
		{ "grep --help", 0, "usage: critlua grep DIR STRING" },
		{ "grep " .. q(sleep) .. " no-such-string-here", 1 },
		{ "x " .. q(sleep) .. " fds --cmdline", 2 },
	}) do
		local o, e, status = run(c[1])
		T.eq(status, c[2], c[1] .. ": status")
		if c[3] then
			T.check((o .. e):find(c[3], 1, true), "%s: says %q: %s%s", c[1], c[3], o, e)
		end
	end

	out, err, code = run("grep " .. q(sleep) .. " 'sleep' --context 4")
	T.eq(code, 0, "grep: status")
	T.eq(out, "23744\t0x7ffc93e38f99\t[stack]\t\"\\x00\\x00\\x00\\x00sleep\\x00100\"\n" ..
		"23744\t0x7ffc93e38ff2\t[stack]\t\"bin/sleep\\x00\\x00\\x00\\x00\"\n", "grep: output")
	out, err, code = run("grep " .. q(sleep) .. " 'LANG=[^%z]*' --pattern --context 0 --pid 23744")
	T.eq(out, "23744\t0x7ffc93e38fd1\t[stack]\t\"LANG=C.UTF-8\"\n", "grep --pattern")

	out, err, code = run("x " .. q(sleep) .. " ps --cmdline --env")
	T.eq(out, "    PID   PGID    SID   COMMAND\n  23744  23744  23744   sleep 1000\n" ..
		"                        PATH=/usr/local/bin:/usr/bin:/bin\n                        HOME=/root\n" ..
		"                        LANG=C.UTF-8\n                        TERM=xterm\n", "x ps --cmdline --env")
	out = run("x " .. q(sleep) .. " ps --cmdline --json")
	T.check(out:find('"cmdline": ["sleep", "1000"]', 1, true), "x ps --cmdline --json: %s", out)
	out = run("x " .. q(sleep) .. " ps")
	T.eq(out, T.read(root .. "/expected/sleep/x-ps.txt"), "x ps stays CRIT's")
end

-- zombies have no memory: said, not an error
if T.exists(root .. "/zombie/pstree.img") then
	local ck = crit.open(root .. "/zombie")
	local x, err = ck:cmdline(27234)
	T.check(x == nil and err:find("zombie", 1, true), "zombie cmdline: %s", tostring(err))
	local out, e, code = run("x " .. q(root .. "/zombie") .. " ps --cmdline")
	T.check(code == 0 and out:find("[zombie] <defunct>", 1, true), "x ps --cmdline on a zombie: %s", out)
	out, e, code = run("mem " .. q(root .. "/zombie") .. " 27234")
	T.check(code == 1 and e:find("zombie", 1, true), "mem on a zombie: %d %s", code, e)
end

os.execute("rm -rf " .. q(tmp))
T.done("memory_test")
