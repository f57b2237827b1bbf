-- check: check a checkpoint's consistency before restoring it
-- usage: critlua check DIR [--skip-pages] [-q|--quiet]
-- DIR may also be a container checkpoint archive (.tar, .tar.gz, .tar.zst with
-- the images under checkpoint/), read in place, or a container of a pod
-- checkpoint, POD.tar//NAME: see docs/ARCHIVES.md.
-- Lists each problem found and exits 1; exits 0 when there is none. It checks
-- that every image decodes; every process has its core images (one per
-- thread), and a live one its mm, ids, fs and pagemap (zombies and dead tasks
-- have none); every fd, cwd, root, exe and mapped file names an existing file
-- entry of the right type; each pagemap's present pages fill its pages file
-- exactly (a pagemap the memory reader refuses, as a newer CRIU's with
-- compressed pages, is a problem and its pages file is not measured); unix
-- socket peers exist; connected TCP sockets inside the checkpoint pair up and
-- no two listeners share an address; mounts sit under their parents and files
-- under their mounts; the process tree has no loop; cgroup sets, remaps and
-- ghost files exist. Notes (not problems) go to stderr.
--   --skip-pages  do not compare pagemaps with the pages files (a checkpoint
--                 copied without its pages-*.img, or with pages elsewhere)
--   -q, --quiet   print nothing when the checkpoint is clean
-- Exit status: 0 no problems; 1 problems found (one line each on stdout) or an
-- error; 2 a usage mistake.

local cli = require "cli"
local fixup = require "fixup"
local explore = require "explore"

local o = cli.parse(arg, { "--skip-pages", "-q, --quiet" })
if #o ~= 1 then
	cli.usage_error("give one checkpoint directory")
end

if o.quiet then
	crit.progress.enable(false) -- quiet: no progress line either
end

local ck = crit.open(o[1])
local problems, notes = {}, {}
local function problem(fmt, ...)
	problems[#problems + 1] = string.format(fmt, ...)
end
local function note(fmt, ...)
	notes[#notes + 1] = string.format(fmt, ...)
end

---------------------------------------------------------------------------
-- Every image decodes (raw files are not images)

local function is_raw(name)
	return crit.raw_kind(name) ~= nil
end

-- The images there is one of per process (or per file table) are decoded
-- here in full, then dropped: the checks below read the few fields they need
-- again through selections (explore's reader), so that memory stays that of
-- the largest image, not of the whole checkpoint.
local PER_PROCESS = { core = { tc = { task_state = true, comm = true, cg_set = true } },
	ids = { files_id = true }, fs = { cwd_id = true, root_id = true },
	mm = { exe_file_id = true, vmas = { start = true, ["end"] = true, status = true, shmid = true } },
	fdinfo = { fd = true, type = true, id = true },
	pagemap = true }
local function per_process(name)
	local kind = name:match("^(%a+)%-%d+%.img$")
	return kind and PER_PROCESS[kind]
end

local broken, count = {}, 0
local names = ck:list()
crit.progress.start("check: decoding", #names, "images")
for i, name in ipairs(names) do
	if not is_raw(name) then
		count = count + 1
		local loaded = ck.loaded[name]
		local ok, err = pcall(ck.image, ck, name)
		if not ok then
			broken[name] = true
			-- every file is named the same way: relative to the checkpoint
			-- (the summary line names the checkpoint once)
			err = tostring(err)
			local path = ck:path(name)
			if err:sub(1, #path) == path then
				err = name .. err:sub(#path + 1)
			end
			problem("%s", err)
		elseif not loaded and per_process(name) then
			ck:forget(name)
		end
	end
	crit.progress.set(i)
end
crit.progress.stop()

-- The checkpoint as the checks see it: a broken image is an absent one (it
-- is reported above once).
local view = {}
local READ_PLAIN = { plain = true }
function view:image(name)
	if broken[name] then
		return nil
	end
	local sel = not ck.loaded[name] and per_process(name)
	if sel then
		return (ck:select(name, sel, READ_PLAIN))
	end
	return (ck:image(name))
end
function view:has(name)
	return not broken[name] and ck:has(name)
end
function view:list()
	return ck:list()
end

local function first(name)
	local img = view:image(name)
	return img and img.entries[1]
end

for _, name in ipairs({ "inventory.img", "pstree.img" }) do
	if not ck:has(name) then
		problem("%s: missing: this is no checkpoint criu can restore", name)
	end
end

---------------------------------------------------------------------------
-- Files by id (files.img; the per-type images of old dumps)

local LEGACY = { REG = { "reg-files.img", "reg" }, PIPE = { "pipes.img", "pipe" },
	UNIXSK = { "unixsk.img", "usk" }, INETSK = { "inetsk.img", "isk" },
	PACKETSK = { "packetsk.img", "psk" }, NETLINKSK = { "netlinksk.img", "nlsk" },
	FIFO = { "fifo.img", "fifo" }, EVENTFD = { "eventfd.img", "efd" },
	EVENTPOLL = { "eventpoll.img", "epfd" }, SIGNALFD = { "signalfd.img", "sgfd" },
	TIMERFD = { "timerfd.img", "tfd" }, INOTIFY = { "inotify.img", "ify" },
	FANOTIFY = { "fanotify.img", "ffy" }, TTY = { "tty.img", "tty" }, EXT = { "ext-files.img", "ext" },
	TUNF = { "tunfile.img", "tunf" }, NS = { "ns-files.img", "nsf" }, MEMFD = { false, "memfd" } }

-- id -> type -> {entry =, where =}: a file may have entries of two types
-- under one id (a tun device is a REG file and a TUNF one).
local files = {}
local function add_file(id, ftype, e, where)
	files[id] = files[id] or {}
	local old = files[id][ftype]
	if old then
		problem("%s: %s file %d is also %s", where, ftype, id, old.where)
	else
		files[id][ftype] = { entry = e, where = where, type = ftype }
	end
end
local files_img = view:image("files.img")
for i, f in ipairs(files_img and files_img.entries or {}) do
	local field = LEGACY[f.type] and LEGACY[f.type][2]
	add_file(f.id, f.type, field and f[field], string.format("files.img: entries[%d]", i - 1))
end
for ftype, lg in pairs(LEGACY) do
	local img = lg[1] and view:image(lg[1])
	for i, e in ipairs(img and img.entries or {}) do
		add_file(e.id, ftype, e, string.format("%s: entries[%d]", lg[1], i - 1))
	end
end

-- Every file entry, once: f(id, {type =, entry =, where =}).
local function each_file(f)
	for id, types in pairs(files) do
		for _, rec in pairs(types) do
			f(id, rec)
		end
	end
end

local function want_file(id, types, what)
	local have = files[id]
	if not have then
		if broken["files.img"] then
			return nil -- said once: files.img does not decode
		end
		problem("%s: file %d does not exist (not in files.img)", what, id)
		return nil
	end
	for _, t in ipairs(types) do
		if have[t] then
			return have[t]
		end
	end
	local got = {}
	for t, rec in pairs(have) do
		got[#got + 1] = string.format("a %s (%s)", t, rec.where)
	end
	table.sort(got)
	problem("%s: file %d is %s, not a %s", what, id, table.concat(got, " and "), table.concat(types, " or "))
	return nil
end

---------------------------------------------------------------------------
-- Processes, their images and their files

local TASK_DEAD, TASK_ZOMBIE = 2, 6
local VMA_FILE = (1 << 6) | (1 << 7)
local seen_pid, procs = {}, {}
local pstree = view:image("pstree.img")
for i, p in ipairs(pstree and pstree.entries or {}) do
	if seen_pid[p.pid] then
		problem("pstree.img: entries[%d]: pid %d appears twice", i - 1, p.pid)
	end
	seen_pid[p.pid] = true
	procs[#procs + 1] = p
end

-- Every process's ancestry ends at the root (ppid 0): a loop leaves criu no
-- order in which to create them.
local ppid_of = {}
for _, p in ipairs(procs) do
	ppid_of[p.pid] = p.ppid
end
-- Each pid is walked through once (linear in the tree, however deep): a walk
-- up from a process stops at the root, at a missing parent, or at a pid an
-- earlier walk already judged, and every pid it passed gets that verdict.
local judged = {} -- pid -> true once walked
for _, p in ipairs(procs) do
	local path, on_path, at = {}, {}, p.pid
	while at and at ~= 0 and not judged[at] and not on_path[at] do
		path[#path + 1] = at
		on_path[at] = #path
		at = ppid_of[at]
	end
	if on_path[at] then
		-- this walk closed a loop at `at`: name its members, once
		local members = {}
		for k = on_path[at], #path do
			members[#members + 1] = tostring(path[k])
		end
		problem("pstree.img: the parents of %s loop (%s -> %d): none of them reaches the root",
			table.concat(members, ", "), table.concat(members, " -> "), at)
	end
	for _, q in ipairs(path) do
		judged[q] = true
	end
end

local fdinfo_used = {}
for _, p in ipairs(procs) do
	local pid = p.pid
	if p.ppid ~= 0 and not seen_pid[p.ppid] then
		problem("pstree.img: %d: its parent %d is not in the tree", pid, p.ppid)
	end
	local core = first("core-" .. pid .. ".img")
	local state = core and core.tc and core.tc.task_state
	local label = string.format("%d (%s)", pid, core and core.tc and core.tc.comm or "?")
	if not core and not broken["core-" .. pid .. ".img"] then
		problem("%d: no core-%d.img", pid, pid)
	elseif core and not core.tc then
		problem("core-%d.img: no task core (tc)", pid)
	end
	-- a dead task's thread list is not meaningful (CRIU leaves it unset)
	if state ~= TASK_DEAD and state ~= TASK_ZOMBIE and core then
		for _, tid in ipairs(p.threads or {}) do
			local name = "core-" .. tid .. ".img"
			if tid ~= pid and not view:has(name) and not broken[name] then
				problem("%s: thread %d has no %s", label, tid, name)
			end
		end
		for _, img in ipairs({ "mm", "ids", "fs", "pagemap" }) do
			local name = string.format("%s-%d.img", img, pid)
			if not view:has(name) and not broken[name] then
				problem("%s: no %s (a live process has one)", label, name)
			end
		end
	end
	local ids = first("ids-" .. pid .. ".img")
	if ids then
		local name = string.format("fdinfo-%d.img", ids.files_id)
		fdinfo_used[name] = true
		local fdi = view:image(name)
		if not fdi and not broken[name] then
			problem("%s: ids-%d.img names %s, which does not exist", label, pid, name)
		end
	end
	local fs = first("fs-" .. pid .. ".img")
	if fs then
		want_file(fs.cwd_id, { "REG" }, string.format("fs-%d.img: cwd", pid))
		want_file(fs.root_id, { "REG" }, string.format("fs-%d.img: root", pid))
	end
	local mm = first("mm-" .. pid .. ".img")
	if mm then
		if mm.exe_file_id then
			want_file(mm.exe_file_id, { "REG" }, string.format("mm-%d.img: exe", pid))
		end
		for i, v in ipairs(mm.vmas or {}) do
			if v.status & VMA_FILE ~= 0 then
				want_file(v.shmid, { "REG", "MEMFD" }, string.format("mm-%d.img: entries[0].vmas[%d] (%x-%x)",
					pid, i - 1, v.start, v["end"]))
			end
		end
	end
end

for _, name in ipairs(ck:list()) do
	local img = name:match("^fdinfo%-%d+%.img$") and view:image(name)
	if img then
		if not fdinfo_used[name] then
			note("%s: no process uses it", name)
		end
		local fds = {}
		for i, fd in ipairs(img.entries) do
			local what = string.format("%s: entries[%d] (fd %d)", name, i - 1, fd.fd)
			if fds[fd.fd] then
				problem("%s: fd %d is also entries[%d]", what, fd.fd, fds[fd.fd] - 1)
			end
			fds[fd.fd] = i
			if not files_img and not LEGACY[fd.type] then
				note("%s: cannot check a %s file of a dump without files.img", what, fd.type)
			else
				want_file(fd.id, { fd.type }, what)
			end
		end
	end
end

---------------------------------------------------------------------------
-- Memory: the present pages of the pagemaps fill their pages files

local PE_PARENT, PE_PRESENT = explore.PE_PARENT, explore.PE_PRESENT
if not o.skip_pages then
	local want, by = {}, {} -- pages id -> bytes; -> the pagemaps naming it
	local refused, said = {}, {} -- pages id -> true: a pagemap the memory reader refuses names it
	local parent_needed
	for _, name in ipairs(ck:list()) do
		local img = name:match("^pagemap%-.*%.img$") and view:image(name)
		if img and img.entries[1] then
			local id = img.entries[1].pages_id
			-- a newer CRIU's pagemap (compressed pages): the reader's refusal is the
			-- problem, and its pages file cannot be measured against it
			local pid, shmid = name:match("^pagemap%-(%d+)%.img$"), name:match("^pagemap%-shmem%-(%d+)%.img$")
			local ok, why = pcall(pid and ck.memory or ck.shmem, ck, tonumber(pid or shmid))
			if not ok and tostring(why):find("unknown to CRIU 4.2", 1, true) then
				if not said[why] then -- the inventory's refusal comes once, not per pagemap
					problem("%s", tostring(why))
				end
				refused[id], said[why] = true, true
			end
			local total, last_end = 0, nil
			for i = 2, #img.entries do
				local e = img.entries[i]
				local nr = e.nr_pages or e.compat_nr_pages
				local flags = explore.pagemap_flags(e)
				if flags & PE_PRESENT ~= 0 then
					total = total + nr
				end
				if flags & PE_PARENT ~= 0 then
					parent_needed = parent_needed or name
				end
				if last_end and math.ult(e.vaddr, last_end) then
					problem("%s: entries[%d]: pages at %x overlap or precede the entry before", name, i - 1, e.vaddr)
				end
				last_end = e.vaddr + nr * explore.PAGE_SIZE
			end
			want[id] = (want[id] or 0) + total
			by[id] = by[id] and by[id] .. ", " .. name or name
		end
	end
	ck:close_memory()
	for id, pages in pairs(want) do
		-- a refused pagemap's pages file is not measured: the refusal above says why
		local pname = string.format("pages-%d.img", id)
		local size = not refused[id] and ck:size(pname)
		if not refused[id] and not size and pages > 0 then
			problem("%s: missing, yet %s count(s) %d present page(s) in it", pname, by[id], pages)
		elseif size and size ~= pages * explore.PAGE_SIZE then
			problem("%s: %d bytes, but %s count(s) %d present page(s) of %d bytes in it (%d bytes)", pname, size, by[id],
				pages, explore.PAGE_SIZE, pages * explore.PAGE_SIZE)
		end
	end
	for _, name in ipairs(ck:list()) do
		local id = tonumber(name:match("^pages%-(%d+)%.img$"))
		if id and not want[id] then
			note("%s: no pagemap names it", name)
		end
	end
	if parent_needed and not ck:has("parent/inventory.img") then
		problem("%s: pages in the parent checkpoint, but there is no parent/ checkpoint", parent_needed)
	end
end

---------------------------------------------------------------------------
-- Sockets

local USK_EXTERN = 1
local unix_by_ino = {}
each_file(function(_, f)
	if f.type == "UNIXSK" and f.entry then
		unix_by_ino[f.entry.ino] = f
	end
end)
each_file(function(_, f)
	local u = f.type == "UNIXSK" and f.entry
	if u and u.peer ~= 0 and not unix_by_ino[u.peer] and u.uflags & USK_EXTERN == 0 then
		problem("%s: unix socket %d: its peer %d is not in the checkpoint", f.where, u.ino, u.peer)
	end
end)

local function endpoint(s, side)
	local words = side == "src" and s.e.src_addr or s.e.dst_addr
	local port = side == "src" and s.e.src_port or s.e.dst_port
	return (explore.ip_string(words) or "?") .. ":" .. port
end

local TCP_ESTABLISHED, TCP_LISTEN = 1, 10
local socks = fixup.inet_sockets(view)
local by_local, streams = {}, {}
for i, s in ipairs(socks) do
	s.index = i
	local key = s.e.proto .. " " .. s.src .. ":" .. s.e.src_port
	by_local[key] = by_local[key] or {}
	table.insert(by_local[key], s)
end
for _, s in ipairs(socks) do
	local e = s.e
	local where = string.format("%s: %s", s.image, s.label)
	if e.proto == fixup.TCP and e.state == TCP_ESTABLISHED then
		local name = string.format("tcp-stream-%x.img", e.ino)
		streams[name] = true
		if not ck:has(name) then
			note("%s: established TCP socket %d has no %s (dumped without --tcp-established? restore " ..
				"then needs --tcp-close)", where, e.ino, name)
		end
	end
	if e.proto == fixup.TCP and e.state == TCP_LISTEN then
		for _, o2 in ipairs(by_local[e.proto .. " " .. s.src .. ":" .. e.src_port]) do
			if o2 ~= s and o2.e.state == TCP_LISTEN and o2.e.family == e.family and s.index < o2.index
				and not (e.opts.so_reuseport and o2.e.opts.so_reuseport) then
				problem("%s and %s: two TCP listeners on %s", where, o2.label, endpoint(s, "src"))
			end
		end
	end
	if e.proto == fixup.TCP and s.connected and e.state ~= TCP_LISTEN then
		local there = by_local[e.proto .. " " .. s.dst .. ":" .. e.dst_port] or {}
		local others, mate = 0, false
		for _, o2 in ipairs(there) do
			if o2 ~= s and o2.connected and o2.e.state ~= TCP_LISTEN then
				others = others + 1
				if o2.dst == s.src and o2.e.dst_port == e.src_port then
					mate = true
				end
			end
		end
		if others > 0 and not mate then
			problem("%s: TCP %s -> %s: the checkpoint's sockets at %s are connected elsewhere, none to %s " ..
				"(one end of the connection was changed, not the other?)", where, endpoint(s, "src"),
				endpoint(s, "dst"), endpoint(s, "dst"), endpoint(s, "src"))
		end
	end
	if s.connected and not fixup.peer_of(socks, s) and not by_local[e.proto .. " " .. s.dst .. ":" .. e.dst_port] then
		local b = s.dst
		if (#b == 4 and b:byte(1) == 127) or b == string.rep("\0", 15) .. "\1" then
			note("%s: %s -> %s: no socket of the checkpoint is at this loopback address; a process " ..
				"outside it must be there at restore", where, endpoint(s, "src"), endpoint(s, "dst"))
		end
	end
end
for _, name in ipairs(ck:list()) do
	if name:match("^tcp%-stream%-%x+%.img$") and not streams[name] and not broken["files.img"] then
		note("%s: no established TCP socket has inode %d", name, tonumber(name:match("%-(%x+)%.img$"), 16))
	end
end

---------------------------------------------------------------------------
-- Mounts, and the files on them

local mounts = {}
for _, name in ipairs(ck:list()) do
	local img = name:match("^mountpoints%-%d+%.img$") and view:image(name)
	if img then
		local here = {}
		for i, m in ipairs(img.entries) do
			here[m.mnt_id] = { m = m, i = i }
			mounts[m.mnt_id] = { m = m, where = string.format("%s: entries[%d]", name, i - 1) }
		end
		local roots = {}
		for i, m in ipairs(img.entries) do
			local parent = here[m.parent_mnt_id]
			if not parent or parent.m == m then
				roots[#roots + 1] = i - 1
			elseif not fixup.path_under(m.mountpoint, parent.m.mountpoint) then
				problem("%s: entries[%d]: mount %d at %s is not under its parent mount %d at %s", name, i - 1,
					m.mnt_id, m.mountpoint, parent.m.mnt_id, parent.m.mountpoint)
			end
		end
		if #roots ~= 1 then
			problem("%s: %d mounts have no parent in the image (entries %s); one root is expected", name,
				#roots, table.concat(roots, ", "))
		end
	end
end

each_file(function(id, f)
	local e = f.entry
	if f.type == "REG" and e then
		if e.name:sub(1, 1) ~= "/" then
			problem("%s: file %d: %q is not an absolute path", f.where, id, e.name)
		end
		local mnt = e.mnt_id and e.mnt_id >= 0 and next(mounts) and mounts[e.mnt_id]
		if e.mnt_id and e.mnt_id >= 0 and next(mounts) and not mnt then
			problem("%s: file %d (%s): its mount %d does not exist", f.where, id, e.name, e.mnt_id)
		elseif mnt and not fixup.path_under(e.name, mnt.m.mountpoint) then
			problem("%s: file %d: %s is not under its mount %d at %s", f.where, id, e.name, e.mnt_id,
				mnt.m.mountpoint)
		end
	end
end)

---------------------------------------------------------------------------
-- Cgroups, remaps, ghost files

local cgroup = first("cgroup.img")
if cgroup then
	local sets = {}
	for i, s in ipairs(cgroup.sets or {}) do
		sets[s.id] = true
		for k, m in ipairs(s.ctls or {}) do
			if m.cgns_prefix and m.cgns_prefix > #m.path then
				problem("cgroup.img: entries[0].sets[%d].ctls[%d]: cgns_prefix %d is longer than its path %s",
					i - 1, k - 1, m.cgns_prefix, m.path)
			end
		end
	end
	for _, p in ipairs(procs) do
		local core = first("core-" .. p.pid .. ".img")
		local cg = core and core.tc and core.tc.cg_set
		if cg and not sets[cg] then
			problem("core-%d.img: cgroup set %d is not in cgroup.img", p.pid, cg)
		end
	end
end

local remaps = view:image("remap-fpath.img")
for i, r in ipairs(remaps and remaps.entries or {}) do
	local what = string.format("remap-fpath.img: entries[%d]", i - 1)
	want_file(r.orig_id, { "REG" }, what .. ": orig_id")
	local t, id = r.remap_type, r.remap_id
	if not t then -- before remap_type, a high bit of remap_id said "ghost"
		t = id & 0x80000000 ~= 0 and "GHOST" or "LINKED"
		id = id & 0x7fffffff
	end
	if t == "GHOST" then
		local name = string.format("ghost-file-%x.img", id)
		if not ck:has(name) then
			problem("%s: its ghost file %s does not exist", what, name)
		end
	elseif t == "LINKED" then
		want_file(id, { "REG" }, what .. ": remap_id")
	end
end

---------------------------------------------------------------------------

for _, n in ipairs(notes) do
	io.stderr:write("note: ", n, "\n")
end
for _, p in ipairs(problems) do
	io.stdout:write(p, "\n")
end
if #problems > 0 then
	io.stdout:write(string.format("%s: %d problem(s)\n", ck.dir, #problems))
	os.exit(1)
end
if not o.quiet then
	io.stdout:write(string.format("%s: no problems (%d images, %d processes)\n", ck.dir, count, #procs))
end
