-- coredump_test: `critlua coredump` on real fixtures, opened by gdb: every
-- thread's rip is the ip of its core-TID.img, `x/s` at the command line's
-- address prints the string ck:read_memory reads there, `info proc mappings`
-- lists every file mapping, a file's unstored page is left out; a parent
-- chain gives the same core as the full dump; bad input fails, writing nothing.
-- usage: critlua -I tests/lua tests/coredump/coredump_test.lua FIXTURES_ROOT

local T = require "testlib"

local root = T.fixtures_root("coredump_test.lua")
local q = T.sh_quote
local PS = 4096
local tmp = T.tmpdir()

local run = T.run_critlua

local function have_gdb()
	local _, _, code = T.run("gdb --version")
	return code == 0
end

local function gdb(core, ...)
	local cmds = {}
	for _, c in ipairs({ ... }) do
		cmds[#cmds + 1] = "-ex " .. q(c)
	end
	return T.run("gdb -nx -batch -c " .. q(core) .. " " .. table.concat(cmds, " "))
end

local function copy(src, name)
	return T.copy_dir(src, tmp .. "/" .. name)
end

local abs = T.abspath

local function size_of(path)
	local f = io.open(path, "rb")
	if not f then
		return nil
	end
	local n = f:seek("end")
	f:close()
	return n
end

-- The PT_LOAD of an ELF64 core holding addr: {offset, vaddr, filesz, memsz},
-- read here from the program headers.
local function load_at(core, addr)
	local d = T.read(core)
	local phoff, phentsize, phnum = string.unpack("<I8", d, 33), string.unpack("<I2", d, 55), string.unpack("<I2", d, 57)
	for i = 0, phnum - 1 do
		local at = phoff + i * phentsize + 1
		local ptype, _, off, vaddr, _, filesz, memsz = string.unpack("<I4I4I8I8I8I8I8", d, at)
		if ptype == 1 and not math.ult(addr, vaddr) and math.ult(addr - vaddr, memsz) then
			return { offset = off, vaddr = vaddr, filesz = filesz, memsz = memsz }
		end
	end
end

-- The files of dir (none left behind by a failed write).
local function listing(dir)
	local p = io.popen("ls -A " .. q(dir))
	local s = p:read("a")
	p:close()
	return s
end

if not have_gdb() then
	T.skip("coredump", "gdb is not installed (scripts/setup.sh installs it)")
	T.done("coredump_test")
end

---------------------------------------------------------------------------
-- 1. Every process with its pages in every fixture, through gdb

local cores = 0
local p = io.popen("ls " .. q(root))
local names = {}
for name in p:lines() do
	names[#names + 1] = name
end
p:close()
for _, name in ipairs(names) do
	local dir = root .. "/" .. name
	if T.exists(dir .. "/pstree.img") then
		local ck = crit.open(dir)
		local done_here = 0
		for _, e in ipairs(ck:image("pstree.img").entries) do
			local pid = e.pid
			-- four processes of a fixture are enough (many-procs has 200: gdb takes a while)
			if done_here == 4 then
				break
			end
			local pm = string.format("pagemap-%d.img", pid)
			local pages_ok = ck:has(pm) and ck:has(string.format("pages-%d.img", crit.load(ck:path(pm)).entries[1].pages_id))
			local argv_at = pages_ok and ck:image(string.format("mm-%d.img", pid)).entries[1].mm_arg_start
			local argv0 = argv_at and ck:read_memory(pid, argv_at, 64)
			if argv0 then
				argv0 = argv0:match("^[^%z]*")
				local core = string.format("%s/%s-%d.core", tmp, name, pid)
				local out, err, code = run(string.format("coredump %s %d -o %s", q(dir), pid, q(core)))
				T.check(code == 0 and out == "" and size_of(core), "%s %d: coredump: %d %s", name, pid, code, err)
				-- every thread's rip, and the string at the command line's address
				local want_ips = {}
				for _, tid in ipairs(e.threads) do
					local c = ck:image(string.format("core-%d.img", tid)).entries[1]
					want_ips[tid] = c.thread_info.gpregs.ip
				end
				local gout, gerr = gdb(core, "info registers rip", string.format("x/s 0x%x", argv_at),
					"thread apply all info registers rip", "info proc mappings")
				local rip = gout:match("rip%s+(0x%x+)")
				T.check(rip and tonumber(rip) == want_ips[pid], "%s %d: gdb's rip %s, core-%d.img's ip 0x%x: %s", name,
					pid, tostring(rip), pid, want_ips[pid], gerr)
				T.check(gout:find(string.format('0x%x:%s"%s"', argv_at, "%s", argv0:gsub("%p", "%%%0"))),
					"%s %d: x/s at 0x%x: want %q: %s", name, pid, argv_at, argv0, gout)
				for tid, ip in pairs(want_ips) do
					T.check(gout:find(string.format("LWP %d", tid), 1, true)
						and gout:find(string.format("rip%%s+0x%x%%s", ip)),
						"%s %d: thread %d's rip 0x%x: %s", name, pid, tid, ip, gout)
				end
				for _, v in ipairs(ck:vmas(pid)) do
					if v.kind == "file" and v.path then
						T.check(gout:find(string.format("0x%x%%s+0x%x%%s+0x%x%%s+0x%x%%s+%s", v.start, v["end"],
							v["end"] - v.start, v.pgoff, v.path:gsub("%p", "%%%0"))),
							"%s %d: mapping %x-%x %s in info proc mappings", name, pid, v.start, v["end"], v.path)
					end
				end
				cores = cores + 1
				done_here = done_here + 1
				os.remove(core)
			end
		end
		ck:close_memory()
	end
end
T.check(cores > 0, "no process with its pages under %s", root)

---------------------------------------------------------------------------
-- 2. sleep: pages left out, a parent chain, bad input

local sleep = root .. "/sleep"
if T.exists(sleep .. "/pages-1.img") then
	local PID = 23744
	local core = tmp .. "/sleep.core"
	local out, err, code = run(string.format("coredump %s %d -o %s", q(sleep), PID, q(core)))
	T.eq(code, 0, "sleep: coredump " .. err)
	-- /usr/bin/sleep's first pages are not in the dump: left out (p_filesz
	-- 0: gdb takes them from the file NT_FILE names, when it is there); the
	-- stack's pages are in the file
	local l = load_at(core, 0x558a8bbbd000)
	T.check(l and l.filesz == 0 and l.vaddr == 0x558a8bbbd000 and l.memsz == 2 * PS,
		"sleep: a file's unstored pages left out")
	l = load_at(core, 0x7ffc93e38fa4)
	T.check(l and l.filesz == l.memsz and l.filesz > 0, "sleep: the stack in the file")
	local gout = gdb(core, "x/s 0x7ffc93e38fa4")
	T.check(gout:find('0x7ffc93e38fa4:%s"PATH=/usr/local/bin:/usr/bin:/bin"'), "sleep: the stack through gdb: %s", gout)
	-- an untouched page of the heap (in no pagemap entry) reads as zeros
	gout = gdb(core, "x/2xg 0x558aa96aa000")
	T.check(gout:find("0x558aa96aa000:%s+0x0000000000000000%s+0x0000000000000000"), "sleep: zeros in the heap: %s", gout)

	-- from a container archive of the same images: the same core
	local ar = tmp .. "/ar"
	os.execute("mkdir -p " .. q(ar .. "/checkpoint") .. " && cp " .. q(sleep) .. "/* " .. q(ar .. "/checkpoint")
		.. " && tar cf " .. q(tmp .. "/sleep.tar") .. " -C " .. q(ar) .. " checkpoint")
	local core3 = tmp .. "/ar.core"
	out, err, code = run(string.format("coredump %s %d -o %s", q(tmp .. "/sleep.tar"), PID, q(core3)))
	T.check(code == 0 and T.read(core3) == T.read(core), "an archive: the same core: %d %s", code, err)

	-- the heap in parent/: the same core; parent/ missing: the heap left out
	local pm = "pagemap-" .. PID .. ".img"
	local function incremental(name, parent)
		local d = copy(sleep, name)
		local img = crit.load(d .. "/" .. pm)
		local f = assert(io.open(sleep .. "/pages-1.img", "rb"))
		local parts, off = {}, 0
		for i = 2, #img.entries do
			local e = img.entries[i]
			local n = e.nr_pages * PS
			if e.vaddr == 0x558aa968a000 then
				e.flags = 1
			else
				f:seek("set", off)
				parts[#parts + 1] = f:read(n)
			end
			off = off + n
		end
		f:close()
		crit.save(img)
		T.write(d .. "/pages-1.img", table.concat(parts))
		if parent then
			os.execute("ln -s " .. q(abs(parent)) .. " " .. q(d .. "/parent"))
		end
		return d
	end
	local inc = incremental("inc", sleep)
	local core2 = tmp .. "/inc.core"
	out, err, code = run(string.format("coredump %s %d -o %s", q(inc), PID, q(core2)))
	T.check(code == 0 and T.read(core2) == T.read(core), "parent chain: the same core as the full dump: %d %s", code, err)
	local orphan = incremental("orphan", nil)
	out, err, code = run(string.format("coredump %s %d -o %s", q(orphan), PID, q(core2)))
	gout = gdb(core2, "x/s 0x7ffc93e38f99")
	l = load_at(core2, 0x558aa968a000)
	T.check(code == 0 and l and l.filesz == 0 and l.memsz == 4 * PS and gout:find('"sleep"', 1, true),
		"parent/ missing: the heap's 4 pages left out: %d %s %s", code, err, gout)

	-- bad input: exit 1, a message, nothing written (an existing FILE kept, no temporary left)
	local outdir = tmp .. "/out"
	os.execute("mkdir " .. q(outdir))
	local target = outdir .. "/core"
	T.write(target, "keep")
	local function refused(what, dir, pid, want)
		local o, e, c = run(string.format("coredump %s %s -o %s", q(dir), tostring(pid), q(target)))
		T.check(c == 1 and o == "" and e:find(want, 1, true), "%s: exit 1 and %q: %d %s", what, want, c, e)
		T.check(T.read(target) == "keep" and listing(outdir) == "core\n", "%s: nothing written: %s", what,
			listing(outdir))
	end
	refused("unknown pid", sleep, 4242, "pid 4242 is not in the checkpoint")
	local short = copy(sleep, "short")
	local data = T.read(short .. "/pages-1.img")
	T.write(short .. "/pages-1.img", data:sub(1, #data - PS - 100))
	refused("truncated pages", short, PID, "pages-1.img: the file is shorter than its pagemap says")
	local past = copy(sleep, "past")
	local img = crit.load(past .. "/" .. pm)
	img.entries[#img.entries].nr_pages = img.entries[#img.entries].nr_pages + 2
	crit.save(img)
	refused("pagemap past the pages file", past, PID, "shorter than its pagemap says")
	local ia32 = copy(sleep, "ia32")
	local c = crit.load(ia32 .. "/core-" .. PID .. ".img")
	c.entries[1].thread_info.gpregs.mode = "COMPAT"
	crit.save(c)
	refused("ia32", ia32, PID, "is an ia32 (32-bit compat mode) process")
	local arm = copy(sleep, "arm")
	c = crit.load(arm .. "/core-" .. PID .. ".img")
	c.entries[1].mtype = "AARCH64"
	crit.save(c)
	refused("aarch64", arm, PID, "is an AARCH64 process")
	-- a device is never replaced; a symbolic link's target is
	out, err, code = run(string.format("coredump %s %d -o /dev/null", q(sleep), PID))
	local _, _, is_chr = T.run("test -c /dev/null")
	T.check(code == 1 and err:find("/dev/null: is a character device, not a regular file", 1, true) and is_chr == 0,
		"-o /dev/null refused: %d %s", code, err)
	out, err, code = run(string.format("coredump %s %d -o %s", q(sleep), PID, q(tmp .. "/no/such/dir/core")))
	T.check(code == 1 and err:find("cannot create a temporary file beside it", 1, true), "no such directory: %d %s",
		code, err)
	T.write(tmp .. "/linked.core", "old")
	os.execute("ln -s linked.core " .. q(tmp .. "/link.core"))
	out, err, code = run(string.format("coredump %s %d -o %s", q(sleep), PID, q(tmp .. "/link.core")))
	local _, _, still_link = T.run("test -L " .. q(tmp .. "/link.core"))
	T.check(code == 0 and still_link == 0 and T.read(tmp .. "/linked.core") == T.read(core),
		"a symbolic link: its target written: %d %s", code, err)
	out, err, code = run(string.format("coredump %s %d", q(sleep), PID))
	T.check(code == 2 and err:find("-o FILE", 1, true), "no -o: %d %s", code, err)
else
	T.skip("sleep cases", "no sleep fixture with pages under " .. root)
end
-- 3. More than 65534 segments: e_phnum PN_XNUM, the count in section 0's sh_info
do
	local vmas = {}
	for i = 1, 70000 do
		vmas[i] = { start = 0x10000000 + (i - 1) * 2 * PS, ["end"] = 0x10000000 + (i - 1) * 2 * PS + PS, prot = 1 }
	end
	local regs = {}
	for i = 1, 27 do
		regs[i] = i
	end
	local core = tmp .. "/xnum.core"
	local ok, err = crit.coredump({ pid = 7, comm = "x", threads = { { tid = 7, regs = regs } }, vmas = vmas }, core)
	local d = ok and T.read(core) or ""
	local phnum = #d > 64 and string.unpack("<I2", d, 57)
	local shoff = #d > 64 and string.unpack("<I8", d, 41)
	local shnum = #d > 64 and string.unpack("<I2", d, 61)
	local info = shoff and #d >= shoff + 64 and string.unpack("<I4", d, shoff + 45)
	T.check(ok and phnum == 0xffff and shnum == 1 and info == 70001, "PN_XNUM: %s %s %s %s", tostring(err),
		tostring(phnum), tostring(shnum), tostring(info))
	local gout = gdb(core, "info registers rip")
	T.check(gout:find("rip%s+0x11%s"), "PN_XNUM: gdb reads the registers: %s", gout)
	os.remove(core)
end

local zombie = root .. "/zombie"
if T.exists(zombie .. "/core-27234.img") then
	local out, err, code = run(string.format("coredump %s 27234 -o %s", q(zombie), q(tmp .. "/z.core")))
	T.check(code == 1 and out == "" and err:find("it is a zombie", 1, true) and not T.exists(tmp .. "/z.core"),
		"zombie: %d %s", code, err)
end

os.execute("rm -rf " .. q(tmp))
T.done("coredump_test")
