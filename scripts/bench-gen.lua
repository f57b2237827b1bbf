-- bench-gen: make large checkpoint inputs for scripts/bench.sh out of real fixtures
-- usage: critlua scripts/bench-gen.lua --fixtures DIR --out DIR [options]
-- Everything is derived from real criu dumps under DIR (one sub-directory per
-- scenario, as ../shared/fixtures or tests/fixtures), written with critlua itself:
--   OUT/images/files.img  a files.img of N entries (cycled from the scenarios'
--                         files.img entries, ids made unique, paths and pipe/socket
--                         numbers varied so no two entries are alike)
--   OUT/images/mm-1.img   one mm_entry with M VMAs (real VMAs laid out in a row)
--   OUT/ck/               a complete checkpoint of P processes: the process tree of
--                         a real dump copied side by side (pstree, core, ids, fdinfo,
--                         fs, mm, pagemap, files.img, the rest as it was; pages-*.img
--                         are symlinks to the originals)
--   OUT/mem/, OUT/mem-small/  a one-process checkpoint whose pages-1.img holds real
--                         pages repeated to at least S MiB (and S/16 MiB), with
--                         NEEDLE planted a few times, across the seams a streaming
--                         search must see across too
--   OUT/manifest          key=value lines describing what was made
-- --files=N (100000)  --vmas=M (50000)  --procs=P (1000)  --pages-mib=S (1024)
-- --only=LIST  comma-separated subset of files,mm,ck,mem

local cli = require "cli"

local o = cli.parse(arg, { "--fixtures=DIR", "--out=DIR", "--files=N", "--vmas=N", "--procs=N",
	"--pages-mib=N", "--only=LIST" })
if not o.fixtures or not o.out then
	cli.usage_error("give --fixtures DIR and --out DIR")
end
local function count(name, default, min)
	local v = tonumber(o[name] or default)
	if not v or v ~= math.floor(v) or v < min then
		cli.usage_error("--" .. name .. " must be an integer of at least " .. min)
	end
	return math.tointeger(v)
end
local N_FILES = count("files", 100000, 1)
local N_VMAS = count("vmas", 50000, 2)
local N_PROCS = count("procs", 1000, 1)
local PAGES_MIB = count("pages_mib", 1024, 1)
local ONLY = {}
for w in (o.only or "files,mm,ck,mem"):gmatch("[^,]+") do
	if not ({ files = 1, mm = 1, ck = 1, mem = 1 })[w] then
		cli.usage_error("--only: unknown part '" .. w .. "' (files, mm, ck, mem)")
	end
	ONLY[w] = true
end

local FIX, OUT = o.fixtures, o.out
local PAGE = 4096
local NEEDLE = "critlua-bench-needle:7f3a9c"
local manifest = {}

local function exists(path)
	local f = io.open(path, "rb")
	if f then
		f:close()
	end
	return f ~= nil
end

local function read(path)
	local f = assert(io.open(path, "rb"))
	local s = f:read("a")
	f:close()
	return s
end

-- Plain writes: crit.save's fsync per file would make the thousands of small
-- images of the checkpoint slow to write, and nothing here needs to survive a crash.
local function write(path, data)
	local f = assert(io.open(path, "wb"))
	assert(f:write(data))
	assert(f:close())
end

local function save(path, img)
	write(path, crit.encode(img, path))
end

local function mkdir(path)
	assert(os.execute("mkdir -p '" .. path:gsub("'", "'\\''") .. "'"))
end

-- The first scenario of `names` that the fixtures hold (with file `need`).
local function scenario(names, need)
	for _, n in ipairs(names) do
		if exists(FIX .. "/" .. n .. "/" .. need) then
			return n, FIX .. "/" .. n
		end
	end
	error(FIX .. ": none of the scenarios " .. table.concat(names, ", ") .. " has " .. need, 0)
end

-- A deep copy of a typed table (metatables kept, so it stays typed).
local function copy(v)
	if type(v) ~= "table" then
		return v
	end
	local t = {}
	for k, x in pairs(v) do
		t[k] = copy(x)
	end
	return setmetatable(t, getmetatable(v))
end

local function images_of(dir, pattern)
	local out = {}
	for _, name in ipairs(crit.dir(dir)) do
		if name:match(pattern) then
			out[#out + 1] = name
		end
	end
	return out
end

---------------------------------------------------------------------------
-- File entries, made distinct: `salt` varies names and kernel object numbers,
-- `id` is the new file id.

-- Entry types CRIT 3.17 prints like CRIU 4.2 does (its INETSK lacks fields
-- 4.2 has), so that the two tools' outputs can be compared byte for byte.
local SAME_IN_CRIT317 = { REG = true, PIPE = true, FIFO = true, UNIXSK = true, EVENTFD = true,
	EVENTPOLL = true, SIGNALFD = true, TIMERFD = true, INOTIFY = true, MEMFD = true, TTY = true }

local function set_file_id(e, id)
	e.id = id
	for _, sub in pairs(e) do
		if type(sub) == "table" and crit.typeof(sub) and rawget(sub, "id") then
			sub.id = id
		end
	end
end

-- Long-running services keep their files under versioned release trees; the
-- prefix makes each cycle over the real entries a different tree.
local function vary_file(e, salt)
	local reg = rawget(e, "reg")
	if reg and salt > 0 then
		reg.name = string.format("/srv/svc%02d/releases/%08x/rootfs", salt % 97, (salt * 2654435761) & 0xffffffff)
			.. reg.name
		reg.size = reg.size and (reg.size + salt * 4096)
	end
	for _, f in ipairs({ "pipe", "fifo" }) do
		local p = rawget(e, f)
		if p and p.pipe_id then
			p.pipe_id = (p.pipe_id + salt * 7919) & 0xffffffff
		end
	end
	local usk = rawget(e, "usk")
	if usk then
		usk.ino = (usk.ino + salt * 7919) & 0xffffffff
		if usk.peer and usk.peer ~= 0 then
			usk.peer = (usk.peer + salt * 7919) & 0xffffffff
		end
	end
end

---------------------------------------------------------------------------
-- (1) files.img of N_FILES entries

local function gen_files()
	local pool, used = {}, {}
	for _, sc in ipairs({ "many-procs", "shell-tree", "pipes", "unix-sockets", "unix-scm", "files",
		"pty", "file-locks", "sleep" }) do
		local path = FIX .. "/" .. sc .. "/files.img"
		if exists(path) then
			used[#used + 1] = sc
			for _, e in ipairs(crit.load(path).entries) do
				if SAME_IN_CRIT317[e.type] then
					pool[#pool + 1] = e
				end
			end
		end
	end
	if #pool == 0 then
		error(FIX .. ": no scenario with a files.img", 0)
	end
	local entries = {}
	for i = 1, N_FILES do
		local e = copy(pool[(i - 1) % #pool + 1])
		set_file_id(e, i)
		vary_file(e, (i - 1) // #pool)
		entries[i] = e
	end
	mkdir(OUT .. "/images")
	local path = OUT .. "/images/files.img"
	local bytes = crit.encode({ magic = "FILES", entries = entries }, path)
	write(path, bytes)
	manifest.files_entries = N_FILES
	manifest.files_bytes = #bytes
	manifest.files_from = table.concat(used, "+")
end

---------------------------------------------------------------------------
-- (2) mm-1.img with N_VMAS VMAs

local VMA_VSYSCALL = 1 << 2

local function gen_mm()
	local sc, dir = scenario({ "many-procs", "shell-tree", "sleep" }, "pstree.img")
	local pool, mm, vsyscall = {}, nil, nil
	for _, name in ipairs(images_of(dir, "^mm%-%d+%.img$")) do
		local e = crit.load(dir .. "/" .. name).entries[1]
		mm = mm or e
		for _, v in ipairs(e.vmas or {}) do
			if v.status & VMA_VSYSCALL ~= 0 or v.start < 0 then
				vsyscall = vsyscall or v -- kept for the end: it sits above every other VMA
			else
				pool[#pool + 1] = v
			end
		end
		if #pool >= 2000 then
			break
		end
	end
	if not mm or #pool == 0 then
		error(dir .. ": no mm image with VMAs", 0)
	end
	-- Real VMAs, in a row from 4 MiB up, each as long as it was, one guard page apart.
	local vmas, at = {}, 0x400000
	local n = vsyscall and N_VMAS - 1 or N_VMAS
	for i = 1, n do
		local v = copy(pool[(i - 1) % #pool + 1])
		local len = v["end"] - v.start
		v.start, v["end"] = at, at + len
		at = at + len + PAGE
		vmas[i] = v
	end
	if vsyscall then
		vmas[#vmas + 1] = copy(vsyscall)
	end
	local e = copy(mm)
	e.vmas = vmas
	mkdir(OUT .. "/images")
	local path = OUT .. "/images/mm-1.img"
	local bytes = crit.encode({ magic = "MM", entries = { e } }, path)
	write(path, bytes)
	manifest.mm_vmas = #vmas
	manifest.mm_bytes = #bytes
	manifest.mm_from = sc
end

---------------------------------------------------------------------------
-- (3) a checkpoint of N_PROCS processes: the source dump's tree, copied side by
-- side. Copy k adds k * stride to pids, file ids, fd-table ids and pages ids;
-- copy 0 is the dump itself, and the roots of the copies hang under its root.

local function stride_above(n)
	local s = 10
	while s <= n do
		s = s * 10
	end
	return s
end

local function gen_ck()
	local sc, dir = scenario({ "many-procs", "shell-tree", "sleep" }, "pstree.img")
	local src = crit.open(dir)
	local tree = src:image("pstree.img").entries
	local files = src:image("files.img")
	local maxpid, maxfid, maxtab, maxpg = 0, 0, 0, 0
	for _, p in ipairs(tree) do
		for _, t in ipairs(p.threads or { p.pid }) do
			maxpid = math.max(maxpid, t, p.pid)
		end
		local ids = src:image("ids-" .. p.pid .. ".img")
		if ids then
			local i = ids.entries[1]
			maxtab = math.max(maxtab, i.files_id or 0, i.vm_id or 0, i.fs_id or 0, i.sighand_id or 0)
		end
		local pm = src:image("pagemap-" .. p.pid .. ".img")
		if pm then
			maxpg = math.max(maxpg, pm.entries[1].pages_id)
		end
	end
	for _, e in ipairs(files.entries) do
		maxfid = math.max(maxfid, e.id)
	end
	local PID, FID, TAB, PG = stride_above(maxpid), stride_above(maxfid), stride_above(maxtab),
		stride_above(maxpg)
	local root
	for _, p in ipairs(tree) do
		if p.ppid == 0 then
			root = p.pid
		end
	end
	if not root then
		error(dir .. "/pstree.img: no root process (ppid 0)", 0)
	end
	local inpid = {}
	for _, p in ipairs(tree) do
		inpid[p.pid] = true
	end

	local ck = OUT .. "/ck"
	mkdir(ck)
	local copies = (N_PROCS + #tree - 1) // #tree
	-- Images that are not per process or per file: as they were.
	for _, name in ipairs(src:list()) do
		if not (name:match("^core%-") or name:match("^ids%-") or name:match("^fdinfo%-")
			or name:match("^fs%-") or name:match("^mm%-") or name:match("^pagemap%-%d")
			or name:match("^pages%-%d") or name == "files.img" or name == "pstree.img") then
			write(ck .. "/" .. name, read(dir .. "/" .. name))
		end
	end

	local out_tree, out_files, tables_done, pages_done = {}, {}, {}, {}
	for k = 0, copies - 1 do
		if #out_tree >= N_PROCS then
			break
		end
		local dp, df, dt, dg = k * PID, k * FID, k * TAB, k * PG
		for _, e in ipairs(files.entries) do
			local c = copy(e)
			set_file_id(c, e.id + df)
			vary_file(c, k)
			out_files[#out_files + 1] = c
		end
		local included = {}
		for _, p in ipairs(tree) do
			if #out_tree >= N_PROCS then
				break
			end
			-- pstree lists parents first; a cut copy keeps whole branches only
			if p.ppid == 0 or included[p.ppid] then
				included[p.pid] = true
				local q = copy(p)
				q.pid = p.pid + dp
				q.ppid = p.ppid == 0 and (k == 0 and 0 or root) or p.ppid + dp
				q.pgid = inpid[p.pgid] and p.pgid + dp or p.pgid
				if k > 0 and p.ppid == 0 then
					q.pgid = p.pgid -- the copy's root stays in the dump's group
				end
				local threads = {}
				for i, t in ipairs(p.threads or {}) do
					threads[i] = t + dp
					local core = dir .. "/core-" .. t .. ".img"
					if exists(core) then
						write(ck .. "/core-" .. (t + dp) .. ".img", read(core))
					end
				end
				q.threads = #threads > 0 and threads or nil
				out_tree[#out_tree + 1] = q

				local ids = src:image("ids-" .. p.pid .. ".img")
				if ids then
					local c = copy(ids)
					local i = c.entries[1]
					local ftab = i.files_id
					for _, f in ipairs({ "files_id", "vm_id", "fs_id", "sighand_id" }) do
						if i[f] then
							i[f] = i[f] + dt
						end
					end
					save(ck .. "/ids-" .. q.pid .. ".img", c)
					local fdname = "fdinfo-" .. (ftab + dt) .. ".img"
					local fdi = not tables_done[fdname] and src:image("fdinfo-" .. ftab .. ".img")
					if fdi then
						tables_done[fdname] = true
						local c2 = copy(fdi)
						for _, fd in ipairs(c2.entries) do
							fd.id = fd.id + df
						end
						save(ck .. "/" .. fdname, c2)
					end
				end
				local fs = src:image("fs-" .. p.pid .. ".img")
				if fs then
					local c = copy(fs)
					c.entries[1].cwd_id = c.entries[1].cwd_id + df
					c.entries[1].root_id = c.entries[1].root_id + df
					save(ck .. "/fs-" .. q.pid .. ".img", c)
				end
				local mm = src:image("mm-" .. p.pid .. ".img")
				if mm then
					local c = copy(mm)
					local m = c.entries[1]
					if m.exe_file_id then
						m.exe_file_id = m.exe_file_id + df
					end
					for _, v in ipairs(m.vmas or {}) do
						if v.status & (1 << 6 | 1 << 7) ~= 0 then -- file-backed: shmid is a file id
							v.shmid = v.shmid + df
						end
					end
					save(ck .. "/mm-" .. q.pid .. ".img", c)
				end
				local pm = src:image("pagemap-" .. p.pid .. ".img")
				if pm then
					local c = copy(pm)
					local id = c.entries[1].pages_id
					c.entries[1].pages_id = id + dg
					save(ck .. "/pagemap-" .. q.pid .. ".img", c)
					local pages = "pages-" .. id .. ".img"
					if not pages_done[id + dg] and exists(dir .. "/" .. pages) then
						pages_done[id + dg] = true
						-- the same bytes at the same offsets: a link does
						local abs = dir:sub(1, 1) == "/" and dir or os.getenv("PWD") .. "/" .. dir
						assert(os.execute(string.format("ln -sf '%s/%s' '%s/pages-%d.img'", abs, pages, ck,
							id + dg)))
					end
				end
				src:forget("ids-" .. p.pid .. ".img")
				src:forget("fs-" .. p.pid .. ".img")
				src:forget("mm-" .. p.pid .. ".img")
				src:forget("pagemap-" .. p.pid .. ".img")
			end
		end
	end
	save(ck .. "/pstree.img", { magic = "PSTREE", entries = out_tree })
	save(ck .. "/files.img", { magic = "FILES", entries = out_files })
	manifest.ck_procs = #out_tree
	manifest.ck_files = #out_files
	manifest.ck_from = sc
end

---------------------------------------------------------------------------
-- (4) pages: a real pages file repeated to at least `mib` MiB, its present
-- pagemap entries repeated with it (laid out in a row, adjacent where they
-- were adjacent), NEEDLE planted at the start, in the middle, at the very end,
-- across two adjacent regions and across a 4 MiB chunk of a long region
-- (where the source has such), the seams a streaming search must see across.

local function pages_source()
	local sc, dir = scenario({ "mem-20mb", "shell-tree", "sleep" }, "pstree.img")
	local best
	for _, name in ipairs(images_of(dir, "^pagemap%-%d+%.img$")) do
		local pm = crit.load(dir .. "/" .. name)
		local pages = dir .. "/pages-" .. pm.entries[1].pages_id .. ".img"
		local f = io.open(pages, "rb")
		if f then
			local size = f:seek("end")
			f:close()
			if not best or size > best.size then
				best = { pm = pm, pages = pages, size = size, name = name, dir = dir,
					pid = math.tointeger(tonumber(name:match("%d+"))) }
			end
		end
	end
	if not best then
		error(dir .. ": no pagemap with its pages file", 0)
	end
	best.data = read(best.pages)
	best.scenario = sc
	if best.data:find(NEEDLE, 1, true) then
		error(best.pages .. " already holds the needle", 0)
	end
	return best
end

local VMA_REGULAR, VMA_ANON_PRIVATE = 1 << 0, 1 << 9

-- A one-process checkpoint around the pages: pstree, the source process's core
-- and files, an mm with one anonymous VMA per run of adjacent pagemap entries,
-- pagemap-PID.img and pages-1.img — what `critlua grep` and crit.memory read.
local function gen_mem(src, name, mib)
	local regions, used = {}, 0
	for i = 2, #src.pm.entries do
		local e = src.pm.entries[i]
		local flags = e.flags or 4
		if e.in_parent then
			flags = flags | 1
		end
		if flags & 4 ~= 0 then
			local n = e.nr_pages or e.compat_nr_pages
			regions[#regions + 1] = { e = e, vaddr = e.vaddr, n = n, off = used }
			used = used + n * PAGE
		end
	end
	if used ~= #src.data then
		error(string.format("%s: %d bytes, but its pagemap %s describes %d", src.pages, #src.data,
			src.name, used), 0)
	end
	local reps = (mib * 1048576 + used - 1) // used
	local total = reps * used
	-- Where the needles go (offsets in the output file).
	local longest = regions[1]
	for _, r in ipairs(regions) do
		if r.n > longest.n then
			longest = r
		end
	end
	local plant = { 4096 + 123, total // 2 + 77, total - #NEEDLE }
	local third = (reps // 3) * used
	if longest.n * PAGE > (4 << 20) + PAGE then -- across the first 4 MiB chunk boundary
		plant[#plant + 1] = third + longest.off + (4 << 20) - #NEEDLE // 2
	end
	for i = 1, #regions - 1 do -- across two adjacent regions, which are read separately
		local a, b = regions[i], regions[i + 1]
		if b.vaddr == a.vaddr + a.n * PAGE then
			plant[#plant + 1] = third + b.off - #NEEDLE // 2
			break
		end
	end
	table.sort(plant)
	local dir = OUT .. "/" .. name
	mkdir(dir)
	local f = assert(io.open(dir .. "/pages-1.img", "wb"))
	local entries = { crit.new("pagemap_head", { pages_id = 1 }) }
	local vmas = {}
	local at = 0x10000000
	for r = 0, reps - 1 do
		local base = r * used
		local chunk = src.data
		for _, p in ipairs(plant) do
			if p < base + used and p + #NEEDLE > base then
				-- a needle may start in this copy and end in the next: cut it to this copy
				local from, to = math.max(p, base), math.min(p + #NEEDLE, base + used)
				local piece = NEEDLE:sub(from - p + 1, to - p)
				chunk = chunk:sub(1, from - base) .. piece .. chunk:sub(to - base + 1)
			end
		end
		assert(f:write(chunk))
		for i, reg in ipairs(regions) do
			local e = copy(reg.e)
			e.vaddr = at
			local last = vmas[#vmas]
			if last and last["end"] == at then
				last["end"] = at + reg.n * PAGE
			else
				vmas[#vmas + 1] = crit.new("vma_entry", { start = at, ["end"] = at + reg.n * PAGE, pgoff = 0,
					shmid = 0, prot = 3, flags = 0x22, status = VMA_REGULAR | VMA_ANON_PRIVATE, fd = -1 })
			end
			at = at + reg.n * PAGE
			local nxt = regions[i + 1]
			if not (nxt and nxt.vaddr == reg.vaddr + reg.n * PAGE) then
				at = at + PAGE -- a hole where the source had one
			end
			entries[#entries + 1] = e
		end
	end
	assert(f:close())
	local pid = src.pid
	save(dir .. "/pagemap-" .. pid .. ".img", { magic = "PAGEMAP", entries = entries })
	save(dir .. "/pstree.img", { magic = "PSTREE", entries = {
		crit.new("pstree_entry", { pid = pid, ppid = 0, pgid = pid, sid = pid, threads = { pid } }) } })
	local mm = crit.load(src.dir .. "/mm-" .. pid .. ".img")
	mm.entries[1].vmas = vmas
	save(dir .. "/mm-" .. pid .. ".img", mm)
	for _, img in ipairs({ "core-" .. pid .. ".img", "files.img", "inventory.img" }) do
		if exists(src.dir .. "/" .. img) then
			write(dir .. "/" .. img, read(src.dir .. "/" .. img))
		end
	end
	return total, #plant, #entries - 1
end

local function gen_pages()
	local src = pages_source()
	local big, nb, eb = gen_mem(src, "mem", PAGES_MIB)
	local small, ns, es = gen_mem(src, "mem-small", math.max(1, PAGES_MIB // 16))
	manifest.pages_bytes, manifest.pages_needles, manifest.pages_regions = big, nb, eb
	manifest.small_pages_bytes, manifest.small_pages_needles, manifest.small_pages_regions = small, ns, es
	manifest.pages_from = src.scenario .. "/" .. src.pages:match("[^/]+$")
	manifest.pages_pid = src.pid
	manifest.needle = NEEDLE
end

---------------------------------------------------------------------------

mkdir(OUT)
local steps = { { "files", gen_files }, { "mm", gen_mm }, { "ck", gen_ck }, { "mem", gen_pages } }
for _, s in ipairs(steps) do
	if ONLY[s[1]] then
		local t0 = os.clock()
		s[2]()
		io.stderr:write(string.format("bench-gen: %s done (%.1f s CPU)\n", s[1], os.clock() - t0))
	end
end
-- Merge into an existing manifest: parts may be made by separate runs.
local old = {}
local mf = io.open(OUT .. "/manifest", "rb")
if mf then
	for line in mf:lines() do
		local k, v = line:match("^([%w_]+)=(.*)$")
		if k then
			old[k] = v
		end
	end
	mf:close()
end
for k, v in pairs(manifest) do
	old[k] = tostring(v)
end
local keys = {}
for k in pairs(old) do
	keys[#keys + 1] = k
end
table.sort(keys)
local lines = {}
for _, k in ipairs(keys) do
	lines[#lines + 1] = k .. "=" .. old[k] .. "\n"
end
write(OUT .. "/manifest", table.concat(lines))
