-- memwrite_test: writing a process's memory (ck:write_memory, mem --write,
-- rewrite-string) and the --prot/--kind/--range filters of mem and grep, on the
-- real fixtures: what is written reads back (mem), is found (grep) at its
-- address, passes check, and is the only difference (diff, and the bytes of
-- every file); what cannot be written (a parent-only page, lazy pages, a hole,
-- no VMA, a truncated pages file, an unknown pid) fails with its reason and
-- changes nothing; --dry-run changes nothing.
-- usage: critlua -I tests/lua tests/memwrite/memwrite_test.lua FIXTURES_ROOT

local T = require "testlib"

local root = T.fixtures_root("memwrite_test.lua")
local q = T.sh_quote
local tmp = T.tmpdir()
local PS = 4096

local run = T.run_critlua

local hex = T.hex

local function copy(src, name)
	return T.copy_dir(src, tmp .. "/" .. name)
end

-- name -> bytes of every regular file of a checkpoint directory (not parent/)
local function snapshot(dir)
	local s = {}
	for _, name in ipairs(crit.dir(dir)) do
		if name ~= "parent" then
			local f = io.open(dir .. "/" .. name, "rb")
			local data = f and f:read("a")
			if f then
				f:close()
			end
			if data then
				s[name] = data
			end
		end
	end
	return s
end

-- The files that differ between two snapshots (names, sorted).
local function changed(a, b)
	local out = {}
	for name, data in pairs(a) do
		if b[name] ~= data then
			out[#out + 1] = name
		end
	end
	for name in pairs(b) do
		if a[name] == nil then
			out[#out + 1] = name
		end
	end
	table.sort(out)
	return table.concat(out, " ")
end

local function unchanged(dir, before, what)
	T.eq(changed(before, snapshot(dir)), "", what .. ": files changed")
	local p = io.popen("ls -A " .. q(tmp) .. " | grep critlua-; ls -A " .. q(dir) .. " | grep critlua")
	local left = p:read("a")
	p:close()
	T.eq(left, "", what .. ": leftovers")
end

---------------------------------------------------------------------------
-- 1. Every fixture with memory: a string written into the first process's
-- environment (a stored page of its stack)

local function fixtures()
	local out = {}
	for _, name in ipairs(crit.dir(root)) do
		local d = root .. "/" .. name
		if T.exists(d .. "/pstree.img") and T.exists(d .. "/pages-1.img") then
			out[#out + 1] = name
		end
	end
	return out
end

local tried = 0
for _, name in ipairs(fixtures()) do
	local orig = root .. "/" .. name
	local ck = crit.open(orig)
	local pid, addr, old
	for _, p in ipairs(ck:pids()) do
		local mm = ck:has("pagemap-" .. p .. ".img") and ck:image("mm-" .. p .. ".img")
		local e = mm and mm.entries[1]
		if e and e.mm_env_end - e.mm_env_start >= 12 then
			old = ck:read_memory(p, e.mm_env_start, 12)
			if old then
				pid, addr = p, e.mm_env_start
				break
			end
		end
	end
	if not pid then
		print(string.format("note: %s: no process with a stored environment: not written", name))
	else
		tried = tried + 1
		local where = assert(ck:memory_location(pid, addr, 12))
		T.eq(#where, 1, name .. ": the environment's first bytes are in one piece")
		local file, off = where[1].file, where[1].offset
		local d = copy(orig, "w-" .. name)
		local before = snapshot(d)
		local S = "CRITLUA-MW:)"
		-- --dry-run: says where, changes nothing
		local out, err, code = run("mem " .. q(d) .. " " .. pid .. " --addr " .. hex(addr) .. " --write-string "
			.. q(S) .. " --dry-run")
		T.eq(code, 0, name .. ": dry run: " .. err)
		T.check(out:find(hex(addr) .. ": 12 bytes in VMA", 1, true) and out:find(file .. " at offset " .. hex(off), 1, true)
			and out:find("dry run: nothing written", 1, true), "%s: dry run output: %s", name, out)
		unchanged(d, before, name .. ": dry run")
		-- the write
		out, err, code = run("mem " .. q(d) .. " " .. pid .. " --addr " .. hex(addr) .. " --write-string " .. q(S))
		T.eq(code, 0, name .. ": write: " .. err)
		T.check(out:find("wrote 12 bytes at " .. hex(addr) .. " of process " .. pid .. " into " .. file, 1, true),
			"%s: write output: %s", name, out)
		-- only that file, only those bytes
		local after = snapshot(d)
		T.eq(changed(before, after), file, name .. ": the files changed")
		local a, b = before[file], after[file]
		T.eq(#b, #a, name .. ": size of " .. file)
		T.check(b:sub(1, off) == a:sub(1, off) and b:sub(off + 13) == a:sub(off + 13), "%s: %s changed outside the 12 bytes",
			name, file)
		T.eq(b:sub(off + 1, off + 12), S, name .. ": the bytes in " .. file)
		-- mem reads it back
		out, err, code = run("mem " .. q(d) .. " " .. pid .. " --addr " .. hex(addr) .. " --len 12 --raw")
		T.eq(code, 0, name .. ": mem --raw: " .. err)
		T.eq(out, S, name .. ": mem reads back")
		-- grep finds it there
		out, err, code = run("grep " .. q(d) .. " " .. q(S) .. " --pid " .. pid)
		T.eq(code, 0, name .. ": grep: " .. err)
		T.check(out:find(pid .. "\t" .. hex(addr) .. "\t", 1, true), "%s: grep finds it at %s: %s", name, hex(addr), out)
		-- check says what it said of the original
		local _, _, c0 = run("check " .. q(orig))
		local cout, cerr, c1 = run("check " .. q(d))
		T.eq(c1, c0, name .. ": check of the copy (as of the original): " .. cout .. cerr)
		-- diff names that file, at the first byte that differs
		local first = 1
		while S:byte(first) == old:byte(first) do
			first = first + 1
		end
		out, err, code = run("diff " .. q(orig) .. " " .. q(d))
		T.eq(code, 1, name .. ": diff status: " .. err)
		T.eq(out, string.format("%s: contents differ: %d bytes -> %d bytes, first difference at offset %s\n", file, #a,
			#a, hex(off + first - 1)), name .. ": diff output")
		T.eq((off + first - 1) // PS, off // PS, name .. ": the page diff names is the one written")
		-- the Lua API: the same checkpoint object reads the new bytes after its save
		local ck2 = crit.open(d)
		T.eq(ck2:read_memory(pid, addr, 12), S, name .. ": read before the write")
		assert(ck2:write_memory(pid, addr, old))
		T.eq(ck2:read_memory(pid, addr, 12), S, name .. ": a write is not read before the save")
		local written = ck2:save()
		T.eq(table.concat(written, " "), file, name .. ": ck:save() names the pages file")
		T.eq(ck2:read_memory(pid, addr, 12), old, name .. ": read after the save")
		T.eq(changed(before, snapshot(d)), "", name .. ": the old bytes written back: the original again")
	end
end
T.check(tried > 0, "no fixture of %s has memory to write", root)

---------------------------------------------------------------------------
-- 2. sleep: the errors, several pages, the filters, rewrite-string

local sleep = root .. "/sleep"
if not T.exists(sleep .. "/pages-1.img") then
	T.skip("sleep", sleep .. " not found")
else
	local ck = crit.open(sleep)
	local PID = ck:pids()[1]
	local vmas = ck:vmas(PID)
	local function vma(pred)
		for _, v in ipairs(vmas) do
			if pred(v) then
				return v
			end
		end
	end
	local heap = assert(vma(function(v)
		return v.kind == "heap"
	end))
	local stack = assert(vma(function(v)
		return v.name == "[stack]"
	end))
	local textv = assert(vma(function(v)
		return v.kind == "file" and v.perms == "r--p"
	end))
	-- the first stored pagemap entry in the heap
	local hp
	for _, r in ipairs(ck:memory(PID):regions()) do
		if r.present and r.vaddr >= heap.start and r.vaddr < heap["end"] then
			hp = r.vaddr
			break
		end
	end
	assert(hp, "no stored heap page")
	local d = copy(sleep, "sleep")
	local before = snapshot(d)

	-- a write that fails changes nothing, exit 1, the message names the address and why
	local function refused(dir, addr, want, what)
		local snap = snapshot(dir)
		local out, err, code = run("mem " .. q(dir) .. " " .. PID .. " --addr " .. hex(addr) .. " --write 41424344")
		T.eq(code, 1, what .. ": exit status")
		T.check(err:find(hex(addr), 1, true) and err:find(want, 1, true), "%s: message %q wants %q and %s", what, err,
			want, hex(addr))
		T.eq(out, "", what .. ": nothing on stdout")
		unchanged(dir, snap, what)
	end
	refused(d, textv.start + 16, "not in the dump", "a file-backed page CRIU left out")
	refused(d, 0x1000, "outside any VMA", "no VMA")
	local gap = vmas[1]["end"]
	if vmas[2].start ~= gap then
		refused(d, gap, "outside any VMA", "between two VMAs")
	end
	-- an address at the end of the address space: no wrap-around
	local out, err, code = run("mem " .. q(d) .. " " .. PID .. " --addr 0xfffffffffffffffe --write 41424344")
	T.eq(code, 1, "past the end of the address space: " .. err)
	-- an unknown pid
	out, err, code = run("mem " .. q(d) .. " 4242 --addr " .. hex(heap.start) .. " --write 41")
	T.eq(code, 1, "unknown pid")
	T.check(err:find("pid 4242 is not in the checkpoint", 1, true), "unknown pid: %s", err)
	unchanged(d, before, "unknown pid")
	-- usage errors (exit 2)
	for _, a in ipairs({ "--addr 0x10 --write 414", "--addr 0x10 --write zz", "--write 41",
		"--addr 0x10 --write 41 --write-string A", "--addr 0x10 --write 41 --len 3", "--dry-run",
		"--kind heapx", "--prot rwz", "--range 0x20-0x10", "--addr 0x10 --kind heap" }) do
		local _, e2, c2 = run("mem " .. q(d) .. " " .. PID .. " " .. a)
		T.eq(c2, 2, "usage error " .. a .. ": " .. e2)
	end
	unchanged(d, before, "usage errors")

	-- pagemap variants: the heap's entry made parent-only or lazy (its pages taken
	-- out of the pages file), a truncated pages file
	local pm_name = "pagemap-" .. PID .. ".img"
	local function variant(name, flags, with_parent)
		local v = copy(sleep, name)
		local img = crit.load(v .. "/" .. pm_name)
		local pages = T.read(sleep .. "/pages-1.img")
		local kept, off = {}, 0
		for i = 2, #img.entries do
			local e = img.entries[i]
			local size = e.nr_pages * PS
			local present = (e.flags or 4) & 4 ~= 0
			if e.vaddr == hp then
				e.flags = flags
			elseif present then
				kept[#kept + 1] = pages:sub(off + 1, off + size)
			end
			if present then
				off = off + size
			end
		end
		crit.save(img)
		T.write(v .. "/pages-1.img", table.concat(kept))
		if with_parent then
			local p = io.popen("cd " .. q(sleep) .. " && pwd")
			os.execute("ln -s " .. q(p:read("l")) .. " " .. q(v .. "/parent"))
			p:close()
		end
		return v
	end
	local par = variant("parent-only", 1, true)
	local from_parent = crit.open(par):read_memory(PID, hp, 64)
	T.check(from_parent and from_parent == ck:read_memory(PID, hp, 64), "the parent chain is read")
	refused(par, hp + 8, "held only by the parent checkpoint", "a page held only by the parent")
	local lazy = variant("lazy", 2, false)
	refused(lazy, hp, "lazy pages", "a lazy page")
	local trunc = copy(sleep, "truncated")
	local size = #T.read(sleep .. "/pages-1.img")
	os.execute("truncate -s " .. (size - 2 * PS) .. " " .. q(trunc .. "/pages-1.img"))
	-- the stack is the last entry: its last pages are now past the end of the file
	refused(trunc, stack["end"] - 16, "shorter than its pagemap says", "a truncated pages file")
	local short = variant("past-end", 4, false) -- heap entry kept, its pages gone: the file ends early
	refused(short, stack["end"] - 16, "shorter than its pagemap says", "a pagemap past the pages file")

	-- a write across several pages and pagemap entries
	local m = ck:memory(PID)
	local a, b
	local regs = m:regions()
	for i = 1, #regs - 1 do
		if regs[i].present and regs[i + 1].present and regs[i].vaddr + regs[i].size == regs[i + 1].vaddr then
			a, b = regs[i], regs[i + 1]
			break
		end
	end
	if a then
		local at = b.vaddr - PS - 8
		local len = PS + 16 -- the last 8 bytes of a's page before, a page, 8 of b
		local old = assert(ck:read_memory(PID, at, len))
		local new = string.rep("\xa5", len)
		local d2 = copy(sleep, "span")
		local ck2 = crit.open(d2)
		local where = assert(ck2:write_memory(PID, at, new))
		T.check(#where >= 2, "a write across two pagemap entries is two pieces (%d)", #where)
		ck2:save()
		T.eq(crit.open(d2):read_memory(PID, at, len), new, "the write across entries reads back")
		T.check(old ~= new, "the span changed")
	else
		T.skip("span", "no two adjacent stored entries in " .. sleep)
	end

	-- filters
	local function rows(args)
		local o, e, c = run("mem " .. q(sleep) .. " " .. PID .. " " .. args)
		T.eq(c, 0, "mem " .. args .. ": " .. e)
		local n = 0
		for l in o:gmatch("\n%x+%-%x+ ") do
			n = n + 1
		end
		return o, n
	end
	local o, n = rows("--kind heap")
	T.eq(n, 1, "--kind heap: one row")
	T.check(o:find(string.format("%08x-%08x", heap.start, heap["end"]), 1, true) and o:find("total (selected): 1 VMAs", 1, true),
		"--kind heap: %s", o)
	o, n = rows("--kind stack")
	T.check(n == 1 and o:find("[stack]", 1, true), "--kind stack: %s", o)
	local want = 0
	for _, v in ipairs(vmas) do
		if v.perms:sub(1, 3) == "r-x" then
			want = want + 1
		end
	end
	o, n = rows("--prot r-x")
	T.eq(n, want, "--prot r-x: rows")
	for perms in o:gmatch("\n%x+%-%x+%s+(%S+)") do
		T.eq(perms:sub(1, 3), "r-x", "--prot r-x: a row")
	end
	o, n = rows("--prot rw")
	for perms in o:gmatch("\n%x+%-%x+%s+(%S+)") do
		T.eq(perms:sub(1, 2), "rw", "--prot rw: a row")
	end
	T.check(n > 0, "--prot rw: rows")
	o, n = rows("--range " .. hex(heap.start + 1) .. "-" .. hex(heap.start + 2))
	T.eq(n, 1, "--range inside the heap: one row")
	o, n = rows("--range " .. hex(heap.start) .. "-" .. hex(stack["end"]) .. " --kind file --prot r--p")
	for l in o:gmatch("\n(%x+%-%x+[^\n]*)") do
		T.check(l:find(" r%-%-p ") and l:find("/"), "--range --kind file --prot r--p: %s", l)
	end
	-- grep with the filters: the environment is on the stack, not in the heap
	local env = assert(ck:environ(PID))[1]
	local o1, _, c1 = run("grep " .. q(sleep) .. " " .. q(env) .. " --kind stack --prot rw-p")
	T.eq(c1, 0, "grep --kind stack finds the environment")
	local first = o1:match("^%d+\t(0x%x+)\t")
	T.check(first ~= nil, "grep output: %s", o1)
	local _, _, c2 = run("grep " .. q(sleep) .. " " .. q(env) .. " --kind heap")
	T.eq(c2, 1, "grep --kind heap does not")
	local _, _, c3 = run("grep " .. q(sleep) .. " " .. q(env) .. " --prot r-x")
	T.eq(c3, 1, "grep --prot r-x does not")
	if first then
		local fa = tonumber(first)
		local o4, _, c4 = run("grep " .. q(sleep) .. " " .. q(env) .. " --range " .. hex(fa) .. "-" .. hex(fa + 1))
		T.check(c4 == 0 and select(2, o4:gsub("\n", "")) == 1, "grep --range of one address: one match: %s", o4)
		local _, _, c5 = run("grep " .. q(sleep) .. " " .. q(env) .. " --range " .. hex(fa + 1) .. "-" .. hex(fa + 2))
		T.eq(c5, 1, "grep --range past the match")
	end

	-- rewrite-string
	local rs = copy(sleep, "rewrite-string")
	local rbefore = snapshot(rs)
	local orig_hits = select(2, ({ run("grep " .. q(sleep) .. " /usr/local --pid " .. PID .. " --context 0") })[1]:gsub("\n", ""))
	T.check(orig_hits > 0, "the fixture holds /usr/local")
	o, err, code = run("rewrite-string " .. q(rs) .. " /usr/local /opt/xyzzz --pid " .. PID .. " --dry-run")
	T.eq(code, 0, "rewrite-string --dry-run: " .. err)
	local lines = 0
	for l in o:gmatch("pages%-1%.img: pid [^\n]*\n") do
		lines = lines + 1
		T.check(l:find("0x%x+ in %x+%-%x+ [rwxps%-]+") and l:find("offset 0x", 1, true) and l:find("/opt/xyzzz", 1, true),
			"rewrite-string --dry-run line: %s", l)
	end
	T.eq(lines, orig_hits, "rewrite-string --dry-run lists every occurrence")
	T.check(o:find("dry run: " .. orig_hits .. " change(s)", 1, true), "rewrite-string dry run summary: %s", o)
	unchanged(rs, rbefore, "rewrite-string --dry-run")
	for _, a in ipairs({ "/usr/local /opt/xyzz --pid " .. PID, "/usr/local /opt/xyzzz", "/usr/local /usr/local --pid " .. PID,
		"'' '' --pid " .. PID }) do
		local _, e2, c2 = run("rewrite-string " .. q(rs) .. " " .. a)
		T.eq(c2, 2, "rewrite-string usage error " .. a .. ": " .. e2)
	end
	local _, lenmsg = run("rewrite-string " .. q(rs) .. " /usr/local /opt/xyzz --pid " .. PID)
	T.check(lenmsg:find("10 bytes", 1, true) and lenmsg:find("keeps its length", 1, true), "length refusal: %s", lenmsg)
	_, err, code = run("rewrite-string " .. q(rs) .. " /usr/local /opt/xyzzz --pid 4242")
	T.eq(code, 1, "rewrite-string unknown pid: " .. err)
	unchanged(rs, rbefore, "rewrite-string refusals")
	o, err, code = run("rewrite-string " .. q(rs) .. " /usr/local /opt/xyzzz --pid " .. PID)
	T.eq(code, 0, "rewrite-string: " .. err)
	T.eq(changed(rbefore, snapshot(rs)), "pages-1.img", "rewrite-string changes the pages file only")
	local _, _, g1 = run("grep " .. q(rs) .. " /usr/local --pid " .. PID)
	T.eq(g1, 1, "no /usr/local left")
	local go = run("grep " .. q(rs) .. " /opt/xyzzz --pid " .. PID .. " --context 0")
	T.eq(select(2, go:gsub("\n", "")), orig_hits, "every occurrence replaced")
	_, err, code = run("rewrite-string " .. q(rs) .. " /usr/local /opt/xyzzz --pid " .. PID)
	T.check(code == 1 and err:find("nothing to change", 1, true), "rewrite-string again: nothing to change, exit 1: %s", err)
	_, err, code = run("rewrite-string " .. q(rs) .. " /usr/local /opt/xyzzz --allow-none --pid " .. PID)
	T.check(code == 0 and err:find("nothing to change", 1, true), "rewrite-string --allow-none again: exit 0: %s", err)
	-- in a parent-only page: refused, nothing changed
	-- a word of the parent-only entry, made unique enough by its length
	local heap_bytes = assert(ck:read_memory(PID, hp, PS))
	local word = heap_bytes:match("[%w/_%.%-][%w/_%.%-][%w/_%.%-][%w/_%.%-]+")
	if word then
		local pb = snapshot(par)
		local alt = string.rep("Z", #word)
		local _, e3, c3 = run("rewrite-string " .. q(par) .. " " .. q(word) .. " " .. q(alt) .. " --pid " .. PID ..
			" --range " .. hex(hp) .. "-" .. hex(hp + PS))
		T.eq(c3, 1, "rewrite-string in a parent-only page: " .. e3)
		T.check(e3:find("held only by the parent", 1, true) and e3:find("nothing was changed", 1, true),
			"rewrite-string parent message: %s", e3)
		unchanged(par, pb, "rewrite-string in a parent-only page")
	else
		T.skip("rewrite-string parent", "no word in the heap's first bytes")
	end
end

---------------------------------------------------------------------------
-- 3. a container checkpoint archive: rewritten whole, through the same path

if T.exists(sleep .. "/pages-1.img") and os.execute("command -v tar >/dev/null") then
	local ck = crit.open(sleep)
	local PID = ck:pids()[1]
	local env = ck:image("mm-" .. PID .. ".img").entries[1].mm_env_start
	local a = tmp .. "/arch"
	os.execute("mkdir -p " .. q(a .. "/checkpoint") .. " && cp -a " .. q(sleep) .. "/. " .. q(a .. "/checkpoint/")
		.. " && tar -cf " .. q(tmp .. "/ck.tar") .. " -C " .. q(a) .. " checkpoint")
	local tar = tmp .. "/ck.tar"
	local orig = T.read(tar)
	local _, err, code = run("mem " .. q(tar) .. " " .. PID .. " --addr 0x1000 --write 41")
	T.eq(code, 1, "archive: a refused write: " .. err)
	T.eq(T.read(tar), orig, "archive: a refused write changes nothing")
	_, err, code = run("mem " .. q(tar) .. " " .. PID .. " --addr " .. hex(env) .. " --write-string ARCHIVE!")
	T.eq(code, 0, "archive: write: " .. err)
	local out = run("mem " .. q(tar) .. " " .. PID .. " --addr " .. hex(env) .. " --len 8 --raw")
	T.eq(out, "ARCHIVE!", "archive: the write reads back")
	T.eq(crit.open(tar):read_memory(PID, env + 8, 32), ck:read_memory(PID, env + 8, 32), "archive: the bytes after it")
else
	T.skip("archive", "no " .. sleep .. " or no tar")
end

---------------------------------------------------------------------------
-- 4. shared memory: a write into a SysV segment goes to its own pages file and
-- is seen by every process that maps it

local shm = root .. "/shm-ipc"
if not T.exists(shm .. "/pagemap-shmem-0.img") then
	T.skip("shm-ipc", shm .. " not found")
else
	local ck = crit.open(shm)
	local pids = ck:pids()
	local seg
	for _, v in ipairs(ck:vmas(pids[1])) do
		if v.kind == "sysvipc" and ck:read_memory(pids[1], v.start, 8) then
			seg = v
		end
	end
	if not seg then
		T.skip("shm-ipc write", "no stored SysV segment")
	else
		local d = copy(shm, "shm")
		local before = snapshot(d)
		local where = assert(crit.open(d):memory_location(pids[1], seg.start, 8))
		T.eq(where[1].shmid, seg.shmid, "the piece names its segment")
		local own = crit.open(d):memory(pids[1]):pages_id()
		T.check(where[1].file ~= string.format("pages-%d.img", own), "the segment's pages file is not the process's")
		local _, err, code = run("mem " .. q(d) .. " " .. pids[1] .. " --addr " .. hex(seg.start) .. " --write-string SEGMENT!")
		T.eq(code, 0, "write into a SysV segment: " .. err)
		T.eq(changed(before, snapshot(d)), where[1].file, "the segment's pages file changed")
		for _, p in ipairs(pids) do
			for _, v in ipairs(crit.open(d):vmas(p)) do
				if v.shmid == seg.shmid and v.pgoff == seg.pgoff then
					T.eq(crit.open(d):read_memory(p, v.start, 8), "SEGMENT!", "process " .. p .. " sees the write")
				end
			end
		end
	end
end

---------------------------------------------------------------------------
-- 5. the txn layer: a patch past the end is refused; a pages file that is a
-- symbolic link is replaced by a regular file, the file it names untouched

if T.exists(sleep .. "/pages-1.img") then
	local d = copy(sleep, "txn")
	local before = snapshot(d)
	local size = #before["pages-1.img"]
	local t = crit.txn(d)
	T.raises("past its end", t.stage_patched, t, "pages-1.img", { { size - 1, "xy" } })
	T.raises("bad patch 1", t.stage_patched, t, "pages-1.img", { { -1, "x" } })
	t:close()
	unchanged(d, before, "txn: refused patches")
	t = crit.txn(d)
	t:stage_patched("pages-1.img", { { 0, "AB" }, { 1, "C" }, { size - 1, "Z" } })
	t:commit()
	t:close()
	local got = T.read(d .. "/pages-1.img")
	T.check(got:sub(1, 2) == "AC" and got:sub(-1) == "Z" and got:sub(3, -2) == before["pages-1.img"]:sub(3, -2),
		"txn: patches applied in order, the rest copied")
	local outside = tmp .. "/outside-pages.img"
	os.execute("cp " .. q(sleep .. "/pages-1.img") .. " " .. q(outside) .. " && rm " .. q(d .. "/pages-1.img")
		.. " && ln -s " .. q(outside) .. " " .. q(d .. "/pages-1.img"))
	local ck = crit.open(sleep)
	local PID = ck:pids()[1]
	local env = ck:image("mm-" .. PID .. ".img").entries[1].mm_env_start
	local _, err, code = run("mem " .. q(d) .. " " .. PID .. " --addr " .. hex(env) .. " --write-string LINKED")
	T.eq(code, 0, "a linked pages file: " .. err)
	T.eq(T.read(outside), T.read(sleep .. "/pages-1.img"), "the file a link names is never written")
	local p = io.popen("test -L " .. q(d .. "/pages-1.img") .. " && echo link || echo file")
	T.eq(p:read("l"), "file", "the link is replaced by a regular file")
	p:close()
	T.eq(crit.open(d):read_memory(PID, env, 6), "LINKED", "the write is in the new file")
end

os.execute("rm -rf " .. q(tmp))
T.done("memwrite_test")
