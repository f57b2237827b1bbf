-- memdiff_test: `critlua diff A B --memory` and ck:memory_diff on real fixtures:
-- a copy with one page patched in its pages file names that page (found here
-- from the pagemap, independently of critlua's reader); two dumps of the same
-- program give VMA changes; an edited VMA is "changed"; incremental copies
-- (PE_PARENT, chains of two, parent/ missing) are followed; bad input fails.
-- usage: critlua -I tests/lua tests/memdiff/memdiff_test.lua FIXTURES_ROOT

local T = require "testlib"

local root = T.fixtures_root("memdiff_test.lua")
local q = T.sh_quote
local PS = 4096
local tmp = T.tmpdir()

local run = T.run_critlua

local function copy(src, name)
	return T.copy_dir(src, tmp .. "/" .. name)
end

local abs = T.abspath

-- The pagemap entries of dir/pagemap with their offsets in the pages file,
-- read here by SPEC §1.4's rules (flags absent: present; in_parent: parent).
local function entries_of(dir, pagemap)
	local img = crit.load(dir .. "/" .. pagemap)
	local out, off = {}, 0
	for i = 2, #img.entries do
		local e = img.entries[i]
		local flags = e.flags
		if e.in_parent then
			flags = (flags or 0) | 1
		elseif flags == nil then
			flags = 4
		end
		local r = { vaddr = e.vaddr, nr = e.nr_pages or e.compat_nr_pages, flags = flags, index = i }
		if flags & 4 ~= 0 then
			r.off = off
			off = off + r.nr * PS
		end
		out[#out + 1] = r
	end
	return out, img.entries[1].pages_id, off
end

-- Flip one byte at offset off of a file.
local function patch(path, off)
	local f = assert(io.open(path, "r+b"))
	f:seek("set", off)
	local b = f:read(1)
	f:seek("set", off)
	f:write(string.char(b:byte() ~ 0x5a))
	f:close()
end

local function fixtures()
	local out = {}
	local p = io.popen("ls " .. q(root))
	for name in p:lines() do
		if T.exists(root .. "/" .. name .. "/pstree.img") then
			out[#out + 1] = name
		end
	end
	p:close()
	return out
end

---------------------------------------------------------------------------
-- 1. Every fixture: equal to itself; a copy with one page patched names that page

local patched = 0
for _, name in ipairs(fixtures()) do
	local dir = root .. "/" .. name
	local ck = crit.open(dir)
	-- the first process with present pages: its last present page is patched
	local pid, page, pfile
	for _, p in ipairs(ck:pids()) do
		local pm = string.format("pagemap-%d.img", p)
		if ck:has(pm) then
			local es, id, size = entries_of(dir, pm)
			local f = io.open(string.format("%s/pages-%d.img", dir, id), "rb")
			local real = f and f:seek("end")
			if f then
				f:close()
			end
			if real == size then
				for _, e in ipairs(es) do
					if e.off and e.nr > 0 then
						page = { addr = e.vaddr + (e.nr - 1) * PS, off = e.off + (e.nr - 1) * PS }
						pid, pfile = p, string.format("pages-%d.img", id)
					end
				end
			end
		end
		if pid then
			break
		end
	end
	if pid then
		local out, err, code = run(string.format("diff --memory %s %s", q(dir), q(dir)))
		T.check(code == 0 and not out:find(": pages ", 1, true) and not out:find(": vma ", 1, true),
			"%s: equal to itself: %d %s %s", name, code, out, err)
		local d = copy(dir, name .. "-patched")
		patch(d .. "/" .. pfile, page.off + 123)
		out, err, code = run(string.format("diff --memory %s %s", q(dir), q(d)))
		local want = string.format("process %d (", pid)
		local lines = {}
		for l in out:gmatch("[^\n]+") do
			if l:find(": pages ", 1, true) or l:find(": vma ", 1, true) or l:find(": offsets ", 1, true) then
				lines[#lines + 1] = l
			end
		end
		T.check(code == 1 and #lines == 1 and lines[1]:find(want, 1, true)
			and lines[1]:find(string.format(": pages %x-%x: changed (1 page)", page.addr, page.addr + PS), 1, true),
			"%s: one patched page at 0x%x: %d %s %s", name, page.addr, code, out, err)
		T.check(out:find("1 page changed in 1 range", 1, true), "%s: the counts: %s", name, out)
		-- the same in JSON and through the Lua API
		out, err, code = run(string.format("diff --memory --json %s %s", q(dir), q(d)))
		local doc = T.json_decode(out)
		local rec
		for _, p in ipairs(doc.processes) do
			if tostring(p.pid) == tostring(pid) then
				rec = p
			end
		end
		T.check(code == 1 and doc.equal == false and rec and #rec.pages == 1 and rec.pages[1].what == "changed"
			and rec.pages[1].start == string.format("0x%x", page.addr) and tostring(rec.counts.changed) == "1",
			"%s: --json: %d %s %s", name, code, out, err)
		local res = crit.open(dir):memory_diff(crit.open(d), { pids = { pid } })
		local pr = res.processes[1]
		T.check(not res.equal and pr.counts.changed == 1 and #pr.pages == 1 and pr.pages[1].start == page.addr
			and pr.pages[1].pages == 1, "%s: ck:memory_diff", name)
		patched = patched + 1
	end
end
T.check(patched > 0, "no fixture with pages under %s", root)

-- Shared segments: a page patched in a pagemap-shmem-ID.img's pages file is
-- named by its offset in the segment
local shm_patched = 0
for _, name in ipairs(fixtures()) do
	local dir = root .. "/" .. name
	local ck = crit.open(dir)
	for _, f in ipairs(ck:list()) do
		local id = f:match("^pagemap%-shmem%-(%d+)%.img$")
		if id and shm_patched == 0 then
			local es, pid_, size = entries_of(dir, f)
			local pfile = string.format("pages-%d.img", pid_)
			if size > 0 and ck:size(pfile) == size then
				local page
				for _, e in ipairs(es) do
					if e.off and e.nr > 0 then
						page = { addr = e.vaddr, off = e.off }
					end
				end
				local d = copy(dir, name .. "-shm")
				patch(d .. "/" .. pfile, page.off + 5)
				local out, err, code = run(string.format("diff --memory %s %s", q(dir), q(d)))
				local lines = {}
				for l in out:gmatch("[^\n]+") do
					if l:find(": pages ", 1, true) or l:find(": vma ", 1, true) or l:find(": offsets ", 1, true) then
						lines[#lines + 1] = l
					end
				end
				T.check(code == 1 and #lines == 1 and lines[1] == string.format("shmem %s: offsets %x-%x: changed (1 page)",
					id, page.addr, page.addr + PS), "%s: shared segment %s patched at 0x%x: %d %s %s", name, id,
					page.addr, code, out, err)
				shm_patched = shm_patched + 1
			end
		end
	end
end
if shm_patched == 0 then
	T.skip("shared segments", "no fixture with a pagemap-shmem-*.img and its pages under " .. root)
end

---------------------------------------------------------------------------
-- 2. Two dumps of the same program; an edited VMA

local sleep, other = root .. "/sleep", root .. "/ns-cgroup"
if T.exists(sleep .. "/pages-1.img") and T.exists(other .. "/pstree.img") then
	-- sleep 23744 of one dump against sleep 27807 of another (other addresses: ASLR)
	local out, err, code = run(string.format("diff --memory --pid 23744:27807 %s %s", q(sleep), q(other)))
	T.check(code == 1 and out:find("process 23744:27807 (sleep): vma 558aa968a000-558aa96ab000 rw-p [heap]: removed", 1,
		true) and out:find("[heap]: added", 1, true) and out:find("/usr/bin/sleep: added", 1, true)
		and (out:find("pages 558aa968a000-558aa968e000: removed (4 pages, were present)", 1, true)
			-- tests/fixtures/ns-cgroup is kept without its pages files
			or out:find("pages not compared: " .. other .. "/pages-2.img is not there", 1, true)),
		"two dumps of sleep: %d %s %s", code, out, err)
	-- no pid given: 23744 is only in one, 27807 only in the other
	out, err, code = run(string.format("diff --memory %s %s", q(sleep), q(other)))
	T.check(code == 1 and out:find("process 23744 (sleep): only in " .. sleep, 1, true)
		and out:find("process 27807 (sleep): only in " .. other, 1, true), "pids by pid: %d %s %s", code, out, err)

	-- a VMA made writable and shrunk in a copy's mm image
	local d = copy(sleep, "vma-edit")
	local mm = crit.load(d .. "/mm-23744.img")
	local v
	for _, x in ipairs(mm.entries[1].vmas) do
		if x.start == 0x558a8bbbd000 then
			v = x
		end
	end
	v.prot = 3
	crit.save(mm)
	out, err, code = run(string.format("diff --memory %s %s", q(sleep), q(d)))
	T.check(code == 1 and out:find("vma 558a8bbbd000-558a8bbbf000 r--p /usr/bin/sleep: perms r--p -> rw-p, prot 1 -> 3",
		1, true), "edited VMA: %d %s %s", code, out, err)
else
	T.skip("two dumps of sleep", "sleep or ns-cgroup not under " .. root)
end

---------------------------------------------------------------------------
-- 3. Parent chains: copies of sleep whose heap entry is PE_PARENT

if T.exists(sleep .. "/pages-1.img") then
	local PID = 23744
	local HEAP = 0x558aa968a000
	local pm = "pagemap-" .. PID .. ".img"
	-- a copy whose heap entry is made PE_PARENT, its pages dropped from the
	-- pages file; parent/ -> parent_dir when given
	local function incremental(name, parent_dir, src)
		src = src or sleep
		local d = copy(src, name)
		local es = entries_of(src, pm)
		local img = crit.load(d .. "/" .. pm)
		local f = assert(io.open(src .. "/pages-1.img", "rb"))
		local parts = {}
		for _, e in ipairs(es) do
			local pe = img.entries[e.index]
			if e.vaddr == HEAP then
				pe.flags, pe.in_parent = 1, nil
			elseif e.off then
				f:seek("set", e.off)
				parts[#parts + 1] = f:read(e.nr * PS)
			end
		end
		f:close()
		crit.save(img)
		T.write(d .. "/pages-1.img", table.concat(parts))
		os.execute("rm -rf " .. q(d .. "/parent"))
		if parent_dir then
			os.execute("ln -s " .. q(abs(parent_dir)) .. " " .. q(d .. "/parent"))
		end
		return d
	end
	local heap_off
	for _, e in ipairs(entries_of(sleep, pm)) do
		if e.vaddr == HEAP then
			heap_off = e.off
		end
	end

	-- the heap now read from parent/: the same bytes, moved present -> parent
	local inc = incremental("inc", sleep)
	local out, err, code = run(string.format("diff --memory %s %s", q(sleep), q(inc)))
	T.check(code == 1 and out:find(string.format("pages %x-%x: moved present -> parent (4 pages, same bytes)", HEAP,
		HEAP + 4 * PS), 1, true) and out:find("31 pages compared, 0 pages changed", 1, true),
		"heap from parent/: %d %s %s", code, out, err)
	-- an archive of the same images against the incremental copy: the same answer
	local ar = tmp .. "/ar"
	os.execute("mkdir -p " .. q(ar .. "/checkpoint") .. " && cp " .. q(sleep) .. "/* " .. q(ar .. "/checkpoint")
		.. " && tar cf " .. q(tmp .. "/sleep.tar") .. " -C " .. q(ar) .. " checkpoint")
	local out2 = run(string.format("diff --memory %s %s", q(tmp .. "/sleep.tar"), q(inc)))
	T.eq(out2, out, "an archive against the incremental copy")
	-- a patched parent: the change is found through parent/
	local pp = copy(sleep, "patched-parent")
	patch(pp .. "/pages-1.img", heap_off + 2 * PS + 7)
	local inc2 = incremental("inc2", pp)
	out, err, code = run(string.format("diff --memory %s %s", q(sleep), q(inc2)))
	T.check(code == 1 and out:find(string.format("pages %x-%x: changed (1 page, present -> parent)", HEAP + 2 * PS,
		HEAP + 3 * PS), 1, true), "patched parent: %d %s %s", code, out, err)
	-- crit.memdiff itself: the run, a stop, an error in fn, no close under it
	do
		local ma, mb = assert(crit.memory(sleep, pm)), assert(crit.memory(pp, pm))
		local runs = {}
		local st = assert(crit.memdiff(ma, mb, function(r)
			runs[#runs + 1] = r
		end))
		T.check(#runs == 1 and runs[1].addr == HEAP + 2 * PS and runs[1].npages == 1 and runs[1].a == "present"
			and runs[1].content == "changed" and st.compared == 31 and st.changed == 1 and not st.stopped,
			"crit.memdiff: one run")
		T.check(crit.memdiff(ma, mb, function()
			return true
		end).stopped, "crit.memdiff: fn stops it")
		T.raises("boom", crit.memdiff, ma, mb, function()
			error("boom", 0)
		end)
		T.raises("cannot close", crit.memdiff, ma, mb, function()
			mb:close()
		end)
		ma:close()
		T.raises("closed memory object", crit.memdiff, ma, mb, function() end)
		mb:close()
	end
	-- a chain of two on one side (inc3 -> inc2 -> patched parent) and one on
	-- the other (inc -> sleep): parent -> parent, the patched page found
	local inc3 = incremental("inc3", inc2, inc2)
	out, err, code = run(string.format("diff --memory %s %s", q(inc), q(inc3)))
	local changed = {}
	for l in out:gmatch("[^\n]+") do
		if l:find(": pages ", 1, true) then
			changed[#changed + 1] = l
		end
	end
	T.check(code == 1 and #changed == 1 and changed[1]:find(string.format("pages %x-%x: changed (1 page)", HEAP + 2 * PS,
		HEAP + 3 * PS), 1, true), "chains on both sides: %d %s %s", code, out, err)
	out, err, code = run(string.format("diff --memory %s %s", q(inc2), q(inc3)))
	T.check(code == 0, "a chain against its parent's copy: equal: %d %s %s", code, out, err)
	-- parent/ missing: not compared, said so
	local orphan = incremental("orphan", nil)
	out, err, code = run(string.format("diff --memory %s %s", q(sleep), q(orphan)))
	T.check(code == 1 and out:find(string.format("pages %x-%x: not compared (4 pages, present -> parent; a parent/ of "
		.. "the chain is missing)", HEAP, HEAP + 4 * PS), 1, true), "parent/ missing: %d %s %s", code, out, err)

	-- 4. Bad input: a clear error, exit 2 (diff's error status), nothing on stdout
	local short = copy(sleep, "short")
	local data = T.read(short .. "/pages-1.img")
	T.write(short .. "/pages-1.img", data:sub(1, #data - PS - 10))
	out, err, code = run(string.format("diff --memory %s %s", q(sleep), q(short)))
	T.check(code == 2 and out == "" and err:find("pages-1.img: the file is shorter than its pagemap says", 1, true),
		"truncated pages: %d %s %s", code, out, err)
	local past = copy(sleep, "past")
	local img = crit.load(past .. "/" .. pm)
	img.entries[#img.entries].nr_pages = img.entries[#img.entries].nr_pages + 3
	crit.save(img)
	out, err, code = run(string.format("diff --memory %s %s", q(sleep), q(past)))
	T.check(code == 2 and out == "" and err:find("shorter than its pagemap says", 1, true),
		"pagemap past the pages file: %d %s %s", code, out, err)
	out, err, code = run(string.format("diff --memory --pid 4242 %s %s", q(sleep), q(sleep)))
	T.check(code == 2 and out == "" and err:find("pid 4242 is in neither", 1, true), "unknown pid: %d %s %s", code, out, err)
	out, err, code = run(string.format("diff --pid 1 %s %s", q(sleep), q(sleep)))
	T.check(code == 2 and err:find("--pid goes with --memory", 1, true), "--pid alone: %d %s", code, err)
else
	T.skip("parent chains", "no sleep fixture with pages under " .. root)
end

os.execute("rm -rf " .. q(tmp))
T.done("memdiff_test")
