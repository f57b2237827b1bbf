-- explore: a checkpoint seen from above, as plain Lua data (process tree, files,
-- memory maps, resident pages, sockets, statistics), and CRIT's text views of it.
--
-- Every analysis takes a checkpoint `ck`: an object with ck:image(name) returning
-- the decoded image or nil when the file is absent (crit.open), or simply such a
-- function. It returns its data and a list of notes (what was missing and what was
-- done about it). Only the images a view needs are asked for. See docs/EXPLORE.md.

local M = {}

local PAGE_SIZE = 4096 -- x86_64; CRIU's images do not record it

-- vma_entry.status bits (CRIU's VMA_AREA_* / VMA_* flags)
local VMA_REGULAR = 1 << 0
local VMA_STACK = 1 << 1
local VMA_VSYSCALL = 1 << 2
local VMA_VDSO = 1 << 3
local VMA_HEAP = 1 << 5
local VMA_FILE_PRIVATE = 1 << 6
local VMA_FILE_SHARED = 1 << 7
local VMA_ANON_SHARED = 1 << 8
local VMA_SYSVIPC = 1 << 10
local VMA_SOCKET = 1 << 11
local VMA_VVAR = 1 << 12
local VMA_AIORING = 1 << 13
local MAP_GROWSDOWN = 0x100

local PE_PARENT, PE_LAZY, PE_PRESENT = 1, 2, 4

M.PAGE_SIZE = PAGE_SIZE
M.PE_PARENT, M.PE_LAZY, M.PE_PRESENT = PE_PARENT, PE_LAZY, PE_PRESENT

-- The flags of pagemap entry e, with the compatibility rule for older dumps:
-- in_parent means PE_PARENT, and an entry without flags is present (SPEC §1.4).
function M.pagemap_flags(e)
	local flags = e.flags
	if e.in_parent then
		return (flags or 0) | PE_PARENT
	end
	return flags or PE_PRESENT
end

-- The shape of each record made here (for the key order of --json).
local SHAPES = setmetatable({}, { __mode = "k" })
local function shaped(shape, t)
	SHAPES[t] = shape
	return t
end

---------------------------------------------------------------------------
-- The checkpoint source and per-checkpoint state

-- What the views read of each kind of image (by the first word of its name),
-- so that a checkpoint's images are decoded only that far: a core's comm and
-- state, not its registers and signal masks. For a dump of a thousand
-- processes that is most of the time `x ps` would take. true: every field.
-- Kinds not listed (pagemap, legacy images, netdev, stats) are loaded whole.
local READS = {
	pstree = true,
	core = { tc = { comm = true, task_state = true, exit_code = true } },
	ids = { files_id = true, net_ns_id = true },
	fdinfo = { fd = true, type = true, id = true, flags = true },
	fs = { cwd_id = true, root_id = true },
	mm = { exe_file_id = true, vmas = { start = true, ["end"] = true, pgoff = true, shmid = true,
		prot = true, flags = true, status = true, fd = true } },
	files = { type = true, id = true, reg = { name = true }, pipe = { pipe_id = true },
		usk = { ino = true, peer = true, name = true } },
	pagemap = true,
}
-- The kinds there is one image of per process (or per file table): read for
-- the process at hand and not remembered, so that a view's memory is that of
-- one process, not of the checkpoint.
local PER_PROCESS = { core = true, ids = true, fs = true, mm = true, pagemap = true, fdinfo = true }
-- The socket view reads the files' socket entries whole.
local SOCKET_READS = setmetatable({ files = false }, { __index = READS })
-- How each kind is read: plain tables (the views may turn them into their
-- records in place); the VMAs with room for what vma_record adds, which saves
-- growing tens of thousands of tables.
local READ_OPTS = { plain = true }
local READ_OPTS_BY_KIND = { mm = { plain = true, spare = 8 } }

local crit = require "crit"

-- The state of one analysis: the image getter and the indexes built over the
-- images (once per call, so that images a script changed are seen afresh).
-- A checkpoint of crit.open reads the images it has not loaded through
-- crit._select, which decodes what `reads` names into plain tables and keeps
-- nothing: the checkpoint's own images stay untouched (and loaded ones, maybe
-- changed by a script, are the ones used).
local function state(ck, reads)
	local get, peek
	if type(ck) == "function" then
		get = ck
	elseif type(ck) == "table" and ck.image then
		get = function(name)
			return ck:image(name)
		end
		if getmetatable(ck) == crit.Checkpoint then
			peek = function(name, sel, owned, kind)
				local img = ck.loaded[name]
				if img then
					return img
				end
				local selected
				img, selected = ck:select(name, sel, READ_OPTS_BY_KIND[kind] or READ_OPTS)
				if img and selected then
					owned[img] = true
				end
				return img
			end
		end
	else
		error("a checkpoint (crit.open(dir)) or an image loader function expected, got " .. type(ck), 3)
	end
	-- owned: the images read here (plain tables nobody else holds), which the
	-- views may turn into their records in place rather than copy
	return { get = get, peek = peek, reads = reads or READS, cache = {}, noted = {},
		owned = setmetatable({}, { __mode = "k" }) }
end

-- An image through the checkpoint, remembered here too so that an index built
-- over it is built once (absent images are remembered as false). kind: the
-- first word of name, when the caller knows it.
local function image(st, name, kind)
	local img = st.cache[name]
	if img == nil then
		kind = kind or name:match("^%a*")
		local sel = st.peek and st.reads[kind]
		if sel then
			img = st.peek(name, sel, st.owned, kind) or false
			if PER_PROCESS[kind] then
				return img or nil
			end
		else
			img = st.get(name) or false
		end
		st.cache[name] = img
	end
	return img or nil
end

local function note_once(st, notes, key, msg)
	if not st.noted[key] then
		st.noted[key] = true
		notes[#notes + 1] = msg
	end
end

-- The process tree's entries; raises when the directory is no checkpoint.
local function pstree(st)
	local img = image(st, "pstree.img")
	if not img then
		error("not a checkpoint directory: there is no pstree.img (a dump made by criu dump has one)", 0)
	end
	return img.entries
end

local function first_entry(st, name, kind)
	local img = image(st, name, kind)
	return img and img.entries[1] or nil
end

---------------------------------------------------------------------------
-- Files: files.img by id, with the per-type images CRIU wrote before files.img

local LEGACY = {
	REG = { field = "reg", image = "reg-files.img" },
	PIPE = { field = "pipe", image = "pipes.img" },
	UNIXSK = { field = "usk", image = "unixsk.img" },
	INETSK = { field = "isk", image = "inetsk.img" },
	PACKETSK = { field = "psk", image = "packetsk.img" },
	NETLINKSK = { field = "nlsk", image = "netlinksk.img" },
}

local function index_by_id(entries)
	local idx = {}
	for _, e in ipairs(entries) do
		if idx[e.id] == nil then -- the first one, as CRIT's search finds it
			idx[e.id] = e
		end
	end
	return idx
end

local function files_index(st)
	if st.files == nil then
		local img = image(st, "files.img")
		st.files = img and index_by_id(img.entries) or false
	end
	return st.files or nil
end

-- The type-specific entry (reg_file_entry, pipe_entry, unix_sk_entry, ...) of
-- file `id`, as CRIT looks for it: a files.img entry with that id decides (its
-- field of this type, or nothing when it is a file of another type); without
-- one, the legacy image. Returns entry, file_entry (when from files.img).
local function find_file(st, notes, ftype, id)
	local lg = LEGACY[ftype]
	local files = files_index(st)
	local fe = files and files[id]
	if fe then
		return fe[lg.field], fe
	end
	local key = "legacy:" .. lg.image
	if st[key] == nil then
		local img = image(st, lg.image)
		st[key] = img and index_by_id(img.entries) or false
		if not img then
			note_once(st, notes, lg.image, string.format(
				"file %d is neither in files.img nor in %s (absent)", id, lg.image))
		end
	end
	return st[key] and st[key][id] or nil, nil
end

-- A regular file's path, or nil (then the file is of another kind: ftype says
-- which, when files.img knows it). Remembered per id: every process maps the
-- same libraries many times.
local function reg_path(st, notes, id)
	local paths = st.reg_paths
	if not paths then
		paths = {}
		st.reg_paths = paths
	end
	local known = paths[id]
	if known then
		return known[1], known[2]
	end
	local rf, fe = find_file(st, notes, "REG", id)
	known = rf and { rf.name } or { nil, fe and fe.type }
	paths[id] = known
	return known[1], known[2]
end

-- Python's binascii.b2a_qp(data, quotetabs=False, istext=True, header=False):
-- how CRIT writes unix socket names (SPEC §2).
M.qp = crit.qp

-- CRIT's name for an open file (get_file_str).
local function file_name(st, notes, ftype, id)
	if ftype == "REG" then
		return reg_path(st, notes, id) or "unknown path"
	elseif ftype == "PIPE" then
		local p = find_file(st, notes, "PIPE", id)
		return p and string.format("pipe[%d]", p.pipe_id) or "pipe[?]"
	elseif ftype == "UNIXSK" then
		local u = find_file(st, notes, "UNIXSK", id)
		if not u then
			return "unix[?]"
		end
		local qn = u.name and M.qp(u.name) or ""
		return string.format("unix[%d (%d)", u.ino, u.peer) .. (qn ~= "" and " " .. qn or "") .. "]"
	end
	return tostring(ftype) .. "." .. string.format("%d", id)
end

-- Where a view's records go: a list it returns, or, when the caller gives
-- each, to each(record) one by one (then nothing is kept and the list is nil:
-- the view's memory is that of one process).
local function collector(each)
	if each then
		return nil, each
	end
	local out = {}
	return out, function(r)
		out[#out + 1] = r
	end
end

---------------------------------------------------------------------------
-- Processes

local TASK_STATES = { [1] = "alive", [2] = "dead", [3] = "stopped", [6] = "zombie" }

local function core_of(st, pid)
	return first_entry(st, string.format("core-%d.img", pid))
end

-- The pstree as records in pstree order (core images only when with_core).
local function procs_of(st, notes, with_core)
	local list = {}
	for _, e in ipairs(pstree(st)) do
		local p = shaped("proc", {
			pid = e.pid, ppid = e.ppid, pgid = e.pgid, sid = e.sid,
			threads = {},
		})
		for i, t in ipairs(e.threads or {}) do
			p.threads[i] = t
		end
		if with_core then
			local core = core_of(st, e.pid)
			local tc = core and core.tc
			if tc then
				p.comm = tc.comm
				p.state = TASK_STATES[tc.task_state] or tc.task_state
				p.exit_code = tc.exit_code
			else
				notes[#notes + 1] = string.format("%d: %s, so its name and state are unknown", e.pid,
					core and string.format("core-%d.img has no task core (tc)", e.pid)
					or string.format("no core-%d.img", e.pid))
			end
		end
		list[#list + 1] = p
	end
	return list
end

-- A note for a process whose image is missing, naming a dead task as such.
local function missing_note(st, p, img, what)
	local core = core_of(st, p.pid)
	local ts = core and core.tc and core.tc.task_state
	local why = ""
	if ts == 2 or ts == 6 then
		why = " (a zombie: it has none)"
	end
	return string.format("%d: no %s, so no %s%s", p.pid, img, what, why)
end

-- The process tree, depth first: each process once, with depth and children
-- (pids). Roots are the processes with ppid 0; CRIT shows only the last one,
-- so it comes first, then the others, then processes whose parent is not in the
-- dump (noted). Children are in pstree order.
function M.ps(ck)
	local st, notes = state(ck), {}
	local list = procs_of(st, notes, true)
	local bypid = {}
	for _, p in ipairs(list) do
		if bypid[p.pid] then
			notes[#notes + 1] = string.format("pid %d appears twice in pstree.img", p.pid)
		end
		bypid[p.pid] = p
		p.children = {}
	end
	local kids = {}
	local roots, orphans = {}, {}
	for _, p in ipairs(list) do
		if p.ppid == 0 then
			roots[#roots + 1] = p
		elseif bypid[p.ppid] and bypid[p.ppid] ~= p then
			local k = kids[bypid[p.ppid]] or {}
			kids[bypid[p.ppid]] = k
			k[#k + 1] = p
			local c = bypid[p.ppid].children
			c[#c + 1] = p.pid
		else
			orphans[#orphans + 1] = p
			notes[#notes + 1] = string.format("%d: its parent %d is not in the dump; shown as a root",
				p.pid, p.ppid)
		end
	end
	if #roots > 1 then
		local pids = {}
		for _, r in ipairs(roots) do
			pids[#pids + 1] = tostring(r.pid)
		end
		notes[#notes + 1] = "several roots (ppid 0): " .. table.concat(pids, ", ") ..
			"; the last one is shown first, as CRIT does"
		table.insert(roots, 1, table.remove(roots))
	end
	local out, seen = {}, {}
	-- Depth first with an explicit stack: a dump may hold a very long chain.
	local function walk(root)
		local stack, depths = { root }, { 0 }
		while #stack > 0 do
			local p, depth = table.remove(stack), table.remove(depths)
			if not seen[p] then
				seen[p] = true
				p.depth = depth
				out[#out + 1] = p
				local k = kids[p] or {}
				for i = #k, 1, -1 do
					stack[#stack + 1] = k[i]
					depths[#depths + 1] = depth + 1
				end
			end
		end
	end
	for _, r in ipairs(roots) do
		walk(r)
	end
	for _, r in ipairs(orphans) do
		walk(r)
	end
	for _, p in ipairs(list) do -- parent cycles: nothing above leads to them
		if not seen[p] then
			notes[#notes + 1] = string.format("%d: its ancestry loops; shown as a root", p.pid)
			walk(p)
		end
	end
	return out, notes
end

---------------------------------------------------------------------------
-- Open files

-- Per process (pstree order): its fds from fdinfo-<files_id>.img with their
-- names, and cwd and root from fs-<pid>.img.
function M.fds(ck, each)
	local st, notes = state(ck), {}
	local out, emit = collector(each)
	for _, p in ipairs(pstree(st)) do
		local pid = p.pid
		local fds = {}
		local r = shaped("files", { pid = pid, fds = fds })
		local ids = first_entry(st, "ids-" .. pid .. ".img", "ids")
		if not ids then
			notes[#notes + 1] = missing_note(st, p, "ids-" .. pid .. ".img", "open files")
		else
			r.files_id = ids.files_id
			local fdi = image(st, "fdinfo-" .. ids.files_id .. ".img", "fdinfo")
			if not fdi then
				notes[#notes + 1] = missing_note(st, p, "fdinfo-" .. ids.files_id .. ".img", "open files")
			else
				for i, fd in ipairs(fdi.entries) do
					local ftype, id = fd.type, fd.id
					fds[i] = {
						fd = fd.fd, type = ftype, id = id, flags = fd.flags,
						name = file_name(st, notes, ftype, id),
						path = ftype == "REG" and reg_path(st, notes, id) or nil,
					}
				end
			end
		end
		local fs = first_entry(st, "fs-" .. pid .. ".img", "fs")
		if fs then
			r.cwd = file_name(st, notes, "REG", fs.cwd_id)
			r.root = file_name(st, notes, "REG", fs.root_id)
		elseif ids then -- without ids the note above says it all
			notes[#notes + 1] = missing_note(st, p, "fs-" .. p.pid .. ".img", "cwd and root")
		end
		emit(r)
	end
	return out, notes
end

---------------------------------------------------------------------------
-- Memory maps

-- CRIT's numbering of shared segments: one counter over SysV IPC, shared
-- anonymous and packet-ring mappings of all processes, by shmid.
local function shm_numberer()
	local ids, last = {}, 0
	return function(shmid)
		local n = ids[shmid]
		if not n then
			last = last + 1
			n = last
			ids[shmid] = n
		end
		return n
	end
end

-- A VMA's kind, in CRIT's order of precedence, from its status and flags;
-- numbered: whether it is a shared segment (shm_numberer).
local function vma_kind(s, flags)
	if s & VMA_SYSVIPC ~= 0 then
		return "sysvipc", true
	elseif s & VMA_ANON_SHARED ~= 0 then
		return "shmem", true
	elseif s & VMA_SOCKET ~= 0 then
		return "packet", true
	elseif s & (VMA_FILE_PRIVATE | VMA_FILE_SHARED) ~= 0 then
		return "file"
	elseif s & VMA_STACK ~= 0 then
		return "stack"
	elseif s & VMA_VSYSCALL ~= 0 then
		return "vsyscall"
	elseif s & VMA_VDSO ~= 0 then
		return "vdso"
	elseif flags & MAP_GROWSDOWN ~= 0 then
		return "growsdown"
	elseif s & VMA_VVAR ~= 0 then
		return "vvar"
	elseif s & VMA_HEAP ~= 0 then
		return "heap"
	elseif s & VMA_AIORING ~= 0 then
		return "aioring"
	end
	return "anon"
end
-- Every kind vma_kind gives, for the filters that name one (mem/grep --kind).
M.vma_kinds = { "sysvipc", "shmem", "packet", "file", "stack", "vsyscall", "vdso", "growsdown", "vvar", "heap",
	"aioring", "anon" }

-- A VMA as a plain record. A VMA of an image read here (owned) holds just
-- the fields a record has and becomes one; any other is copied.
local function vma_record(st, notes, v, number, owned)
	local s = v.status
	local r
	if owned then
		r = v
		r.regular = s & VMA_REGULAR ~= 0
		r.shared = s & (VMA_FILE_SHARED | VMA_ANON_SHARED) ~= 0 or v.flags & 1 ~= 0
	else
		r = {
			start = v.start, ["end"] = v["end"], pgoff = v.pgoff, shmid = v.shmid,
			prot = v.prot, flags = v.flags, status = v.status, fd = v.fd,
			regular = s & VMA_REGULAR ~= 0,
			shared = s & (VMA_FILE_SHARED | VMA_ANON_SHARED) ~= 0 or v.flags & 1 ~= 0,
		}
	end
	local kind, numbered = vma_kind(s, v.flags)
	r.kind = kind
	if numbered and number then
		r.seq = number(v.shmid)
	end
	-- The backing file of any file-backed VMA (rss names it whatever the kind).
	if s & (VMA_FILE_PRIVATE | VMA_FILE_SHARED) ~= 0 then
		r.file_backed = true
		r.path, r.file_type = reg_path(st, notes, v.shmid)
	end
	return r
end

-- The mm entry of process p, and whether it is owned (see state()).
local function mm_of(st, notes, p, what)
	local img = image(st, string.format("mm-%d.img", p.pid))
	local mm = img and img.entries[1]
	if not mm then
		notes[#notes + 1] = missing_note(st, p, "mm-" .. p.pid .. ".img", what)
	end
	return mm, img and st.owned[img]
end

-- Process p's record of M.mems: exe path and VMAs (number: CRIT's numbering
-- of shared segments, or nil for none).
local function mem_record(st, notes, p, number)
	local r = shaped("mem", { pid = p.pid, vmas = {} })
	local mm, owned = mm_of(st, notes, p, "memory map")
	if mm then
		r.exe_file_id = mm.exe_file_id
		r.exe = file_name(st, notes, "REG", mm.exe_file_id)
		local vmas = r.vmas
		for i, v in ipairs(mm.vmas or vmas) do
			vmas[i] = vma_record(st, notes, v, number, owned)
		end
	end
	return r
end

-- Per process (pstree order): exe path and VMAs.
function M.mems(ck, each)
	local st, notes = state(ck), {}
	local number = shm_numberer()
	local out, emit = collector(each)
	for _, p in ipairs(pstree(st)) do
		emit(mem_record(st, notes, p, number))
	end
	return out, notes
end

-- One process's record of M.mems, reading only its own images (the memory
-- tools open one process of thousands), or nil when pid is not in the
-- pstree. Its VMAs have no seq: CRIT numbers shared segments over all the
-- processes before it.
function M.mems_of(ck, pid)
	local st, notes = state(ck), {}
	for _, p in ipairs(pstree(st)) do
		if p.pid == pid then
			return mem_record(st, notes, p), notes
		end
	end
	return nil, notes
end

-- What the text of x mems reads of an mm image: the VMAs as columns (one
-- array per field, see crit._select), the lines made from them without a
-- record per VMA.
local MEMS_TEXT_READS = setmetatable({
	mm = { exe_file_id = true, vmas = { columns = { "start", "end", "prot", "flags", "status", "pgoff",
		"shmid" } } },
}, { __index = READS })

local mems_line -- below, with the renderers
local PADS_EXE = string.rep(" ", 37) -- "%-36s    " of "exe"

-- x mems's text (M.render_mems(M.mems(ck))) written straight from the
-- images; returns the notes.
function M.mems_text(ck, write)
	local st, notes = state(ck, MEMS_TEXT_READS), {}
	local number = shm_numberer()
	local put, done = M.flusher(write)
	for _, p in ipairs(pstree(st)) do
		put(p.pid .. "\n")
		local mm, owned = mm_of(st, notes, p, "memory map")
		if mm then
			put("\texe" .. PADS_EXE ..
				file_name(st, notes, "REG", mm.exe_file_id) .. "\n")
			local c = mm.vmas
			if c and c.n then
				local starts, ends, prots, flags, status = c.start, c["end"], c.prot, c.flags, c.status
				local pgoffs, shmids = c.pgoff, c.shmid
				for i = 1, c.n do
					local s = status[i]
					local kind, numbered = vma_kind(s, flags[i])
					local seq, path
					if numbered then
						seq = number(shmids[i])
					end
					if s & (VMA_FILE_PRIVATE | VMA_FILE_SHARED) ~= 0 then
						path = reg_path(st, notes, shmids[i])
					end
					put(mems_line(starts[i], ends[i], prots[i], kind, seq, path, pgoffs[i], s, s & VMA_REGULAR ~= 0))
				end
			else
				for _, v in ipairs(c or {}) do
					v = vma_record(st, notes, v, number, owned)
					put(mems_line(v.start, v["end"], v.prot, v.kind, v.seq, v.path, v.pgoff, v.status, v.regular))
				end
			end
		end
	end
	done()
	return notes
end

---------------------------------------------------------------------------
-- Resident pages

-- An address range comparison in unsigned 64 bits (addresses above 2^63, such
-- as the vsyscall page, are negative Lua integers).
local function ule(a, b)
	return not math.ult(b, a)
end

-- What rss reads of an mm image: the VMAs as columns (crit._select), one array
-- per field rather than a table per VMA; the records are made from them only
-- for a caller that takes records.
local RSS_VMA_FIELDS = { "start", "end", "prot", "flags", "status", "pgoff", "shmid", "fd" }
local RSS_READS = setmetatable({ mm = { vmas = { columns = RSS_VMA_FIELDS } } }, { __index = READS })
-- The text needs fewer: each column costs a store per VMA.
local RSS_TEXT_READS = setmetatable({ mm = { vmas = { columns = { "start", "end", "status", "shmid" } } } },
	{ __index = READS })

-- The VMAs of an mm entry as columns: as read, or made from the tables of an
-- image a script loaded (ck:image).
local function vma_columns(mm)
	local v = mm.vmas
	if v and v.n then
		return v
	end
	local c = { n = v and #v or 0 }
	for _, k in ipairs(RSS_VMA_FIELDS) do
		local col = {}
		for i = 1, c.n do
			col[i] = v[i][k]
		end
		c[k] = col
	end
	return c
end

-- Process p's resident pages: its VMAs (columns c) and pagemap entries after
-- the head (vaddr, nr: nr_pages, or compat_nr_pages in images older than CRIU
-- 4.2, flags as CRIU reads them), each with the VMAs it overlaps, lo[i]..hi[i]
-- (none when hi < lo), found as CRIT finds them: one scan over the VMAs in mm
-- order that resumes at the last VMA of the previous entry. nil when the
-- process has no mm or pagemap image (noted).
local function rss_scan(st, notes, p)
	local mm = mm_of(st, notes, p, "resident pages")
	local pmi = mm and image(st, string.format("pagemap-%d.img", p.pid), "pagemap")
	if mm and not pmi then
		notes[#notes + 1] = missing_note(st, p, "pagemap-" .. p.pid .. ".img", "resident pages")
	end
	if not pmi then
		return nil
	end
	local c = vma_columns(mm)
	local s = { c = c, n = 0, vaddr = {}, nr = {}, flags = {}, lo = {}, hi = {},
		pages_id = pmi.entries[1] and pmi.entries[1].pages_id }
	local vaddrs, nrs, flags = s.vaddr, s.nr, s.flags
	local compat = false
	local pagemap_flags = M.pagemap_flags
	for i = 2, #pmi.entries do
		local e = pmi.entries[i]
		local nr = e.nr_pages
		if nr == nil then
			nr, compat = e.compat_nr_pages, true
		end
		vaddrs[i - 1], nrs[i - 1], flags[i - 1] = e.vaddr, nr, pagemap_flags(e)
	end
	s.n = #pmi.entries > 1 and #pmi.entries - 1 or 0
	if compat then
		notes[#notes + 1] = string.format(
			"%d: pagemap-%d.img is from CRIU before 4.2 (compat_nr_pages only)", p.pid, p.pid)
	end
	local starts, ends, nv = c.start, c["end"], c.n
	local lo, hi = s.lo, s.hi
	local ult = math.ult
	local vi = 1
	for i = 1, s.n do
		local vaddr = vaddrs[i]
		while vi <= nv and not ult(vaddr, ends[vi]) do -- ends[vi] <= vaddr
			vi = vi + 1
		end
		local pend = vaddr + (nrs[i] << 12)
		local first = vi
		while vi <= nv and ult(starts[vi], pend) do
			vi = vi + 1
		end
		lo[i], hi[i] = first, vi - 1
		if vi == first then
			notes[#notes + 1] = string.format("%d: no VMA holds the pages at %x", p.pid, vaddr)
		end
		if vi > 1 then
			vi = vi - 1
		end
	end
	return s
end

-- Per process (pstree order): VMAs and pagemap entries (after the head), each
-- with nr_pages (compat_nr_pages in images older than CRIU 4.2), flags as
-- CRIU reads them, and the VMAs it overlaps.
function M.rss(ck, each)
	local st, notes = state(ck, RSS_READS), {}
	local number = shm_numberer()
	local out, emit = collector(each)
	for _, p in ipairs(pstree(st)) do
		local r = shaped("rss", { pid = p.pid, vmas = {}, pages = {} })
		local s = rss_scan(st, notes, p)
		if s then
			local c, vmas = s.c, r.vmas
			for i = 1, c.n do
				local v = {}
				for _, k in ipairs(RSS_VMA_FIELDS) do
					v[k] = c[k][i]
				end
				vmas[i] = vma_record(st, notes, v, number, true)
			end
			r.pages_id = s.pages_id
			for i = 1, s.n do
				local flags, hit = s.flags[i], {}
				for k = s.lo[i], s.hi[i] do
					hit[#hit + 1] = vmas[k]
				end
				r.pages[i] = {
					vaddr = s.vaddr[i], nr_pages = s.nr[i], flags = flags,
					in_parent = flags & PE_PARENT ~= 0,
					lazy = flags & PE_LAZY ~= 0,
					present = flags & PE_PRESENT ~= 0,
					vmas = hit,
				}
			end
		end
		emit(r)
	end
	return out, notes
end

local rss_head, rss_vma, RSS_PAD -- below, with the renderers

-- x rss's text (M.render_rss(M.rss(ck))) written straight from the scan of
-- each process, without a record per VMA or pagemap entry; returns the notes.
function M.rss_text(ck, write)
	local st, notes = state(ck, RSS_TEXT_READS), {}
	local put, done = M.flusher(write)
	for _, p in ipairs(pstree(st)) do
		put(p.pid .. "\n")
		local s = rss_scan(st, notes, p)
		if s then
			local c = s.c
			local starts, ends, status, shmids = c.start, c["end"], c.status, c.shmid
			local lo, hi, vaddrs, nrs = s.lo, s.hi, s.vaddr, s.nr
			local last
			for i = 1, s.n do
				local line = rss_head(vaddrs[i], nrs[i])
				for k = lo[i], hi[i] do
					if k == last then
						line = line .. " ~" .. RSS_PAD
					else
						local path
						if status[k] & (VMA_FILE_PRIVATE | VMA_FILE_SHARED) ~= 0 then
							path = reg_path(st, notes, shmids[k]) or "unknown path"
						end
						line = line .. rss_vma(starts[k], ends[k], path) .. RSS_PAD
						last = k
					end
				end
				put(line .. "\n")
			end
		end
	end
	done()
	return notes
end

---------------------------------------------------------------------------
-- Sockets

local FAMILIES = { [1] = "UNIX", [2] = "INET", [10] = "INET6", [16] = "NETLINK", [17] = "PACKET" }
local SOCK_TYPES = { [1] = "STREAM", [2] = "DGRAM", [3] = "RAW", [4] = "RDM", [5] = "SEQPACKET",
	[6] = "DCCP", [10] = "PACKET" }
-- The kernel's TCP states under the names ss(8) gives them (unix sockets use them too).
local SK_STATES = { [1] = "ESTAB", [2] = "SYN-SENT", [3] = "SYN-RECV", [4] = "FIN-WAIT-1",
	[5] = "FIN-WAIT-2", [6] = "TIME-WAIT", [7] = "UNCONN", [8] = "CLOSE-WAIT", [9] = "LAST-ACK",
	[10] = "LISTEN", [11] = "CLOSING" }
local IP_PROTOS = { [0] = "IP", [1] = "ICMP", [6] = "TCP", [17] = "UDP", [58] = "ICMPV6",
	[132] = "SCTP", [136] = "UDPLITE", [255] = "RAW", [262] = "MPTCP" }
local NETLINK_PROTOS = { [0] = "ROUTE", [2] = "USERSOCK", [3] = "FIREWALL", [4] = "SOCK_DIAG",
	[5] = "NFLOG", [6] = "XFRM", [7] = "SELINUX", [8] = "ISCSI", [9] = "AUDIT",
	[10] = "FIB_LOOKUP", [11] = "CONNECTOR", [12] = "NETFILTER", [13] = "IP6_FW",
	[14] = "DNRTMSG", [15] = "KOBJECT_UEVENT", [16] = "GENERIC", [18] = "SCSITRANSPORT",
	[19] = "ECRYPTFS", [20] = "RDMA", [21] = "CRYPTO", [22] = "SMC" }
local ETHERTYPES = { [0x0003] = "ALL", [0x0800] = "IP", [0x0806] = "ARP", [0x86dd] = "IPV6",
	[0x8100] = "8021Q", [0x88cc] = "LLDP" }

local function name_of(map, v)
	if v == nil then
		return nil
	end
	return map[v] or tostring(v)
end

-- An IPv4 or IPv6 address from the u32 words CRIU stores (network byte order).
function M.ip_string(words)
	local b = {}
	for _, w in ipairs(words or {}) do
		for k = 0, 24, 8 do
			b[#b + 1] = (w >> k) & 0xff
		end
	end
	if #b == 4 then
		return string.format("%d.%d.%d.%d", b[1], b[2], b[3], b[4])
	elseif #b ~= 16 then
		return nil
	end
	local h = {}
	for i = 1, 8 do
		h[i] = b[2 * i - 1] << 8 | b[2 * i]
	end
	-- IPv4-mapped addresses read best with the IPv4 part dotted, as inet_ntop writes them.
	if h[1] == 0 and h[2] == 0 and h[3] == 0 and h[4] == 0 and h[5] == 0 and h[6] == 0xffff then
		return string.format("::ffff:%d.%d.%d.%d", b[13], b[14], b[15], b[16])
	end
	-- RFC 5952: the first longest run of two or more zero groups becomes "::".
	local best, bestlen, i = nil, 1, 1
	while i <= 8 do
		if h[i] == 0 then
			local j = i
			while j <= 8 and h[j] == 0 do
				j = j + 1
			end
			if j - i > bestlen then
				best, bestlen = i, j - i
			end
			i = j
		else
			i = i + 1
		end
	end
	local function groups(from, to)
		local g = {}
		for k = from, to do
			g[#g + 1] = string.format("%x", h[k])
		end
		return table.concat(g, ":")
	end
	if not best then
		return groups(1, 8)
	end
	return groups(1, best - 1) .. "::" .. groups(best + bestlen, 8)
end

local function addr_port(family, addr, port, ifname)
	if not addr then
		addr = "?"
	end
	if ifname and ifname ~= "" then
		addr = addr .. "%" .. ifname
	end
	if family == 10 then
		addr = "[" .. addr .. "]"
	end
	return addr .. ":" .. (port ~= 0 and tostring(port) or "*")
end

-- A unix socket name for people: abstract names (a leading NUL) with "@",
-- the NULs CRIU keeps after a path dropped.
local function unix_display(name)
	if name == nil or name == "" then
		return nil
	end
	if name:byte(1) == 0 then
		return "@" .. name:sub(2):gsub("%z", "@")
	end
	return (name:gsub("%z+$", ""))
end

local function sk_common(p, fd, e, r)
	shaped("socket", r)
	r.pid, r.fd, r.id = p.pid, fd.fd, fd.id
	if e.opts then
		r.sndbuf, r.rcvbuf = e.opts.so_sndbuf, e.opts.so_rcvbuf
	end
	return r
end

-- Interface names by ifindex, from netdev-<netns id>.img.
local function ifname(st, nsid, ifindex)
	if ifindex == 0 then
		return nil
	end
	if nsid then
		local img = image(st, string.format("netdev-%d.img", nsid))
		for _, d in ipairs(img and img.entries or {}) do
			if d.ifindex == ifindex then
				return d.name
			end
		end
	end
	return nil
end

local function inet_record(st, p, fd, e)
	local src, dst = M.ip_string(e.src_addr), M.ip_string(e.dst_addr)
	local r = sk_common(p, fd, e, {
		family = name_of(FAMILIES, e.family), type = name_of(SOCK_TYPES, e.type),
		proto = name_of(IP_PROTOS, e.proto), state = name_of(SK_STATES, e.state),
		ino = e.ino, src_addr = src, src_port = e.src_port, dst_addr = dst, dst_port = e.dst_port,
		backlog = e.backlog, v6only = e.v6only, ifname = e.ifname,
		shutdown = e.shutdown ~= "NONE" and e.shutdown or nil,
	})
	r["local"] = addr_port(e.family, src, e.src_port, e.ifname)
	r.peer = addr_port(e.family, dst, e.dst_port)
	if e.proto == 6 then
		-- TCP, as ss shows it: a listener's accept queue (never in a
		-- checkpoint) and backlog; a connection's unread and unacknowledged
		-- bytes, saved in tcp-stream-INO.img
		if e.state == 10 then
			r.recv_q, r.send_q = 0, e.backlog
		else
			local ts = first_entry(st, string.format("tcp-stream-%x.img", e.ino), "tcp")
			if ts then
				r.recv_q, r.send_q = ts.inq_len, ts.outq_len
			end
		end
	end
	return r
end

-- The receive queues CRIU saves (sk-queues.img, unix sockets): by socket id,
-- {bytes =, first =, packets =}.
local function sk_queues(st)
	if st.sk_queues == nil then
		local q = {}
		local img = image(st, "sk-queues.img")
		for _, p in ipairs(img and img.entries or {}) do
			local t = q[p.id_for]
			if not t then
				t = { bytes = 0, first = p.length, packets = 0 }
				q[p.id_for] = t
			end
			t.bytes, t.packets = t.bytes + p.length, t.packets + 1
		end
		st.sk_queues = img and q or false
	end
	return st.sk_queues or nil
end

local function unix_record(st, notes, p, fd, e)
	local r = sk_common(p, fd, e, {
		family = "UNIX", type = name_of(SOCK_TYPES, e.type), state = name_of(SK_STATES, e.state),
		ino = e.ino, peer_ino = e.peer, name = unix_display(e.name), backlog = e.backlog,
		shutdown = e.shutdown ~= "NONE" and e.shutdown or nil,
	})
	if e.peer ~= 0 then
		local byino = st.unix_by_ino
		if not byino then
			byino = {}
			for _, f in pairs(files_index(st) or {}) do
				if f.usk then
					byino[f.usk.ino] = f.usk
				end
			end
			for _, u in pairs(st["legacy:unixsk.img"] or {}) do
				byino[u.ino] = u
			end
			st.unix_by_ino = byino
		end
		local pe = byino[e.peer]
		r.peer_name = pe and unix_display(pe.name)
	end
	r["local"] = (r.name or "*") .. " " .. e.ino
	r.peer = (r.peer_name or "*") .. " " .. e.peer
	-- as ss shows it: a listener's pending connections (none saved) and
	-- backlog; else the bytes queued to be read (of a datagram socket, the
	-- first datagram's, as FIONREAD gives), from sk-queues.img. What it has
	-- sent and the peer has not read (ss's Send-Q) is in the peer's queue.
	if e.state == 10 then
		r.recv_q, r.send_q = 0, e.backlog
	else
		local q = sk_queues(st)
		if q then
			local t = q[fd.id]
			r.recv_q = t and (e.type == 2 and t.first or t.bytes) or 0
		end
	end
	return r
end

local function packet_record(st, p, fd, e, nsid)
	local proto = ((e.protocol & 0xff) << 8) | ((e.protocol >> 8) & 0xff) -- network order
	local r = sk_common(p, fd, e, {
		family = "PACKET", type = name_of(SOCK_TYPES, e.type),
		proto = ETHERTYPES[proto] or string.format("0x%04x", proto), ethertype = proto,
		ifindex = e.ifindex, ifname = ifname(st, e.ns_id or nsid, e.ifindex),
	})
	r["local"] = r.ifname or (e.ifindex ~= 0 and "if" .. e.ifindex) or "*"
	r.peer = "*"
	return r
end

local function netlink_record(st, p, fd, e)
	local r = sk_common(p, fd, e, {
		family = "NETLINK", proto = name_of(NETLINK_PROTOS, e.protocol),
		-- 0 is an unbound netlink socket, which ss also calls UNCONN
		state = e.state == 0 and "UNCONN" or name_of(SK_STATES, e.state), ino = e.ino, portid = e.portid,
		dst_portid = e.dst_portid, dst_group = e.dst_group, groups = {},
	})
	for i, g in ipairs(e.groups or {}) do
		r.groups[i] = g
	end
	r["local"] = e.portid ~= 0 and tostring(e.portid) or "*"
	r.peer = (e.dst_portid ~= 0 or e.dst_group ~= 0)
		and string.format("%d:%d", e.dst_group, e.dst_portid) or "*"
	return r
end

local SK_FDTYPES = { INETSK = true, UNIXSK = true, PACKETSK = true, NETLINKSK = true }

-- Every socket of every process, one record per fd, in pstree then fd order.
function M.sockets(ck)
	local st, notes = state(ck, SOCKET_READS), {}
	local out = {}
	for _, p in ipairs(pstree(st)) do
		local ids = first_entry(st, string.format("ids-%d.img", p.pid))
		local fdi = ids and image(st, string.format("fdinfo-%d.img", ids.files_id))
		if not ids then
			notes[#notes + 1] = missing_note(st, p, "ids-" .. p.pid .. ".img", "sockets")
		elseif not fdi then
			notes[#notes + 1] = missing_note(st, p, "fdinfo-" .. ids.files_id .. ".img", "sockets")
		end
		for _, fd in ipairs(fdi and fdi.entries or {}) do
			if SK_FDTYPES[fd.type] then
				local e = find_file(st, notes, fd.type, fd.id)
				if not e then
					notes[#notes + 1] = string.format("%d: fd %d: socket %d (%s) is not in the dump",
						p.pid, fd.fd, fd.id, fd.type)
				elseif fd.type == "INETSK" then
					out[#out + 1] = inet_record(st, p, fd, e)
				elseif fd.type == "UNIXSK" then
					out[#out + 1] = unix_record(st, notes, p, fd, e)
				elseif fd.type == "PACKETSK" then
					out[#out + 1] = packet_record(st, p, fd, e, ids.net_ns_id)
				else
					out[#out + 1] = netlink_record(st, p, fd, e)
				end
			end
		end
	end
	return out, notes
end

---------------------------------------------------------------------------
-- Statistics

local DUMP_STATS = { "freezing_time", "frozen_time", "memdump_time", "memwrite_time",
	"irmap_resolve", "pages_scanned", "pages_skipped_parent", "pages_written", "pages_lazy",
	"page_pipes", "page_pipe_bufs", "shpages_scanned", "shpages_skipped_parent", "shpages_written" }
local RESTORE_STATS = { "pages_compared", "pages_skipped_cow", "pages_restored", "forking_time",
	"restore_time" }
M.DUMP_STATS, M.RESTORE_STATS = DUMP_STATS, RESTORE_STATS

-- {dump = {...}, restore = {...}} from stats-dump and stats-restore (either
-- may be nil): the fields as CRIU wrote them (times in µs, counts in pages).
function M.stats(ck)
	local st, notes = state(ck), {}
	local res = shaped("stats", {})
	for _, which in ipairs({ "dump", "restore" }) do
		local e = first_entry(st, "stats-" .. which)
		local s = e and e[which]
		if e and not s then
			notes[#notes + 1] = "stats-" .. which .. " holds no " .. which .. " statistics"
		end
		if s then
			local t = shaped(which .. "_stats", {})
			for _, k in ipairs(which == "dump" and DUMP_STATS or RESTORE_STATS) do
				t[k] = s[k]
			end
			res[which] = t
		end
	end
	return res, notes
end

---------------------------------------------------------------------------
-- CRIT's text (crit x DIR ps|fds|mems|rss), byte for byte. Each renderer takes
-- the data above and a write function, called once per chunk of lines.

local function flusher(write)
	local buf, n = {}, 0
	local concat = table.concat
	return function(s)
		n = n + 1
		buf[n] = s
		if n == 512 then -- the same table again: its slots are overwritten
			write(concat(buf, "", 1, n))
			n = 0
		end
	end, function()
		if n > 0 then
			write(concat(buf, "", 1, n))
		end
	end
end
M.flusher = flusher

function M.render_ps(procs, write)
	local put, done = flusher(write)
	put(string.format("%7s%7s%7s   %s\n", "PID", "PGID", "SID", "COMM"))
	for _, p in ipairs(procs) do
		put(string.format("%7d%7d%7d   ", p.pid, p.pgid, p.sid) .. string.rep(" ", 4 * p.depth) ..
			(p.comm or "?") .. "\n")
	end
	done()
end

local CWD, ROOT = string.format("\t%7s: ", "cwd"), string.format("\t%7s: ", "root")

-- The text of the views made a process at a time (fds, rss): TEXT[view](put)
-- returns the function that puts one record's lines.
local TEXT = {}

function TEXT.fds(put)
	-- "\t%7d: " once per fd number (they repeat in every process)
	local fd_heads = setmetatable({}, { __index = function(t, fd)
		local h = string.format("\t%7d: ", fd)
		t[fd] = h
		return h
	end })
	return function(r)
		put(r.pid .. "\n")
		for _, f in ipairs(r.fds) do
			put(fd_heads[f.fd] .. f.name .. "\n")
		end
		if r.cwd then
			put(CWD .. r.cwd .. "\n")
			put(ROOT .. r.root .. "\n")
		end
	end
end

-- M.text_writer(view, write) -> each(record), done(): the text of render_fds or
-- render_rss written a record at a time, as a view hands them over (the
-- view's each): nothing is kept.
function M.text_writer(view, write)
	local put, done = flusher(write)
	return TEXT[view](put), done
end

local function render_list(view)
	return function(procs, write)
		local each, done = M.text_writer(view, write)
		for _, r in ipairs(procs) do
			each(r)
		end
		done()
	end
end
M.render_fds = render_list("fds")

-- Made once: a view over tens of thousands of VMAs would build them anew each time.
local PROT_STRINGS, PADS = {}, {}
for prot = 0, 7 do
	PROT_STRINGS[prot] = (prot & 1 ~= 0 and "r" or "-") .. (prot & 2 ~= 0 and "w" or "-") ..
		(prot & 4 ~= 0 and "x" or "-")
end
for n = 0, 36 do
	PADS[n] = string.rep(" ", n)
end

local function prot_string(prot)
	return PROT_STRINGS[prot & 7]
end
M.prot_string = prot_string

-- CRIT's name column of a VMA that is no file, by kind (numbered ones: the
-- name around their number).
local KIND_NAMES = { stack = " [stack]", vsyscall = " [vsyscall]", vdso = " [vdso]", growsdown = " [stack?]" }
local SEQ_NAMES = { sysvipc = " ips[", shmem = " shmem[", packet = " packet[" }

-- One line of x mems: range ("%08x-%08x", then "%-36s" by hand), rwx, the
-- name column, and " *" for a VMA that is not regular. Hex by crit.hex:
-- string.format was most of the time of this view.
local hex = crit.hex
function mems_line(start, stop, prot, kind, seq, path, pgoff, status, regular)
	local from, to = hex(start, 8), hex(stop, 8)
	local name
	if kind == "file" then
		name = " " .. (path or "unknown path") .. (pgoff ~= 0 and " + 0x" .. hex(pgoff) or "") ..
			(status & VMA_FILE_SHARED ~= 0 and " (s)" or "")
	elseif seq then
		name = SEQ_NAMES[kind] .. hex(seq) .. "]"
	else
		name = KIND_NAMES[kind] or ""
	end
	return "\t" .. from .. "-" .. to .. (PADS[35 - #from - #to] or "") .. PROT_STRINGS[prot & 7] .. name ..
		(regular and "\n" or " *\n")
end

function M.render_mems(procs, write)
	local put, done = flusher(write)
	for _, r in ipairs(procs) do
		put(r.pid .. "\n")
		if r.exe then
			put("\texe" .. PADS_EXE .. r.exe .. "\n")
		end
		for _, v in ipairs(r.vmas) do
			put(mems_line(v.start, v["end"], v.prot, v.kind, v.seq, v.path, v.pgoff, v.status, v.regular))
		end
	end
	done()
end

-- The pieces of a line of x rss: a pagemap entry ("%-24s" of "\t%x / %-8d",
-- padded by hand: a second format costs more), each VMA it overlaps
-- (" %08x / %-8d" with its size in pages, and the path of a file-backed one)
-- and what follows each VMA.
RSS_PAD = "\n\t" .. string.rep(" ", 23)
function rss_head(vaddr, nr)
	local s = string.format("\t%x / %-8d", vaddr, nr)
	return s .. (PADS[24 - #s] or "")
end
function rss_vma(start, stop, path)
	local s = string.format(" %08x / %-8d", start, (stop - start) >> 12)
	return path and s .. " " .. path or s
end

function TEXT.rss(put)
	return function(r)
		put(r.pid .. "\n")
		local last
		for _, pm in ipairs(r.pages) do
			local vs = { rss_head(pm.vaddr, pm.nr_pages) }
			for _, v in ipairs(pm.vmas) do
				if v == last then
					vs[#vs + 1] = " ~"
				else
					vs[#vs + 1] = rss_vma(v.start, v["end"], v.file_backed and (v.path or "unknown path"))
					last = v
				end
				vs[#vs + 1] = RSS_PAD
			end
			vs[#vs + 1] = "\n"
			put(table.concat(vs))
		end
	end
end
M.render_rss = render_list("rss")

---------------------------------------------------------------------------
-- Sockets as a table

local SK_COLUMNS = {
	{ "PID", "pid", true }, { "FD", "fd", true }, { "FAMILY", "family" }, { "TYPE", "type" },
	{ "PROTO", "proto" }, { "STATE", "state" }, { "RECV-Q", "recv_q", true }, { "SEND-Q", "send_q", true },
	{ "LOCAL", "local" }, { "PEER", "peer" },
	{ "SNDBUF", "sndbuf", true }, { "RCVBUF", "rcvbuf", true },
}

function M.render_sockets(socks, write)
	local rows = {}
	local width = {}
	for c, col in ipairs(SK_COLUMNS) do
		width[c] = #col[1]
	end
	for i, s in ipairs(socks) do
		local row = {}
		for c, col in ipairs(SK_COLUMNS) do
			local v = s[col[2]]
			row[c] = v == nil and "-" or tostring(v)
			if #row[c] > width[c] then
				width[c] = #row[c]
			end
		end
		rows[i] = row
	end
	local function line(cells)
		local parts = {}
		for c, col in ipairs(SK_COLUMNS) do
			local cell = cells[c]
			if col[3] then
				parts[c] = string.rep(" ", width[c] - #cell) .. cell
			elseif c == #SK_COLUMNS then
				parts[c] = cell
			else
				parts[c] = cell .. string.rep(" ", width[c] - #cell)
			end
		end
		return table.concat(parts, "  "):gsub("%s+$", "") .. "\n"
	end
	local head = {}
	for c, col in ipairs(SK_COLUMNS) do
		head[c] = col[1]
	end
	local put, done = flusher(write)
	put(line(head))
	for _, row in ipairs(rows) do
		put(line(row))
	end
	done()
end

---------------------------------------------------------------------------
-- Statistics in human units

local function human_time(us)
	if us < 1000 then
		return string.format("%d µs", us)
	elseif us < 1000000 then
		return string.format("%.3f ms", us / 1000)
	end
	return string.format("%.3f s", us / 1000000)
end

local function human_bytes(n)
	local units = { "KiB", "MiB", "GiB", "TiB", "PiB" }
	if n < 1024 then
		return string.format("%d B", n)
	end
	local v, u = n / 1024, 1
	while v >= 1024 and u < #units do
		v, u = v / 1024, u + 1
	end
	return string.format("%.1f %s", v, units[u])
end
M.human_time, M.human_bytes = human_time, human_bytes

-- A 64-bit integer as its unsigned decimal text (an address above 2^63 is
-- negative in Lua), for JSON and messages.
function M.unsigned(n)
	if n >= 0 then
		return string.format("%d", n)
	end
	local q = (n >> 1) // 5
	return string.format("%d%d", q, n - q * 10)
end

local function pages(n)
	return string.format("%d (%s)", n, human_bytes(n * PAGE_SIZE))
end

local STAT_LINES = {
	dump = {
		{ "freezing_time", "Freezing time", human_time },
		{ "frozen_time", "Frozen time", human_time },
		{ "memdump_time", "Memory dump time", human_time },
		{ "memwrite_time", "Memory write time", human_time },
		{ "irmap_resolve", "IRMAP resolve time", human_time },
		{ "pages_scanned", "Memory pages scanned", pages },
		{ "pages_skipped_parent", "Memory pages skipped from parent", pages },
		{ "pages_written", "Memory pages written", pages },
		{ "pages_lazy", "Lazy memory pages", pages },
		{ "page_pipes", "Page pipes", tostring },
		{ "page_pipe_bufs", "Page pipe buffers", tostring },
		{ "shpages_scanned", "Shared memory pages scanned", pages },
		{ "shpages_skipped_parent", "Shared memory pages skipped from parent", pages },
		{ "shpages_written", "Shared memory pages written", pages },
	},
	restore = {
		{ "pages_compared", "Pages compared", pages },
		{ "pages_skipped_cow", "Pages skipped (COW)", pages },
		{ "pages_restored", "Pages restored", pages },
		{ "forking_time", "Forking time", human_time },
		{ "restore_time", "Restore time", human_time },
	},
}

function M.render_stats(stats, write)
	local width = 0
	for _, lines in pairs(STAT_LINES) do
		for _, l in ipairs(lines) do
			width = math.max(width, #l[2] + 1)
		end
	end
	local out = {}
	for _, which in ipairs({ "dump", "restore" }) do
		local s = stats[which]
		if s then
			if #out > 0 then
				out[#out + 1] = "\n"
			end
			out[#out + 1] = (which == "dump" and "Dump" or "Restore") .. " statistics (stats-" .. which .. "):\n"
			for _, l in ipairs(STAT_LINES[which]) do
				local v = s[l[1]]
				if v ~= nil then
					out[#out + 1] = string.format("  %-" .. width .. "s  %s\n", l[2] .. ":", l[3](v))
				end
			end
		end
	end
	write(table.concat(out))
end

---------------------------------------------------------------------------
-- JSON for --json: compact, keys in a fixed order (the ones below first, the
-- rest alphabetically), integers exact (64-bit fields unsigned, except those
-- that CRIU stores signed), strings as Python's json.dumps writes them, with
-- bytes that are not UTF-8 as \udcXX (surrogateescape) so nothing is lost.

-- Key orders per record shape; a record's shape is remembered (weakly) when
-- it is made, so the data stays plain tables. The records inside those (a
-- process's VMAs, fds, pages) take their shape from where they sit (CHILDREN),
-- rather than be remembered one by one: there are tens of thousands of them.
local ORDERS = {
	proc = { "pid", "ppid", "pgid", "sid", "comm", "state", "exit_code", "depth", "threads", "children" },
	files = { "pid", "files_id", "fds", "cwd", "root" },
	fd = { "fd", "type", "id", "flags", "name", "path" },
	mem = { "pid", "exe_file_id", "exe", "vmas" },
	vma = { "start", "end", "prot", "flags", "status", "pgoff", "shmid", "fd", "kind", "seq",
		"file_backed", "path", "file_type", "shared", "regular" },
	rss = { "pid", "pages_id", "vmas", "pages" },
	page = { "vaddr", "nr_pages", "flags", "present", "lazy", "in_parent", "vmas" },
	socket = { "pid", "fd", "id", "ino", "family", "type", "proto", "state", "recv_q", "send_q", "local", "peer",
		"src_addr", "src_port", "dst_addr", "dst_port", "name", "peer_ino", "peer_name",
		"ethertype", "ifindex", "ifname", "portid", "dst_portid", "dst_group", "groups",
		"backlog", "v6only", "shutdown", "sndbuf", "rcvbuf" },
	stats = { "dump", "restore", "notes" },
	result = { "processes", "sockets", "notes" },
	dump_stats = DUMP_STATS,
	restore_stats = RESTORE_STATS,
}
local CHILDREN = {
	files = { fds = "fd" },
	mem = { vmas = "vma" },
	rss = { vmas = "vma", pages = "page" },
}
-- How a field is written when it is not written as it is: a page's VMAs are
-- the VMA records themselves in Lua, their start addresses in JSON.
local VIEWS = {
	page = {
		vmas = function(list)
			local starts = {}
			for i, v in ipairs(list) do
				starts[i] = v.start
			end
			return starts
		end,
	},
}
local SIGNED = { fd = true } -- vma_entry.fd is sint64 (-1 for anonymous memory)

-- How crit.json.encode writes the records: a table with a [1], or empty, is a
-- list; integers unsigned (but under SIGNED); keys by shape.
local LAYOUT = { lists = true, unsigned = true, signed = SIGNED, shapes = SHAPES, order = ORDERS,
	children = CHILDREN, views = VIEWS }

-- A string as Python's json.dumps writes it.
function M.json_string(s)
	return crit.json.encode(s)
end

-- The document --json prints: {KEY = data, notes = notes}, KEY first.
function M.result(key, data, notes)
	return shaped("result", { [key] = data, notes = notes })
end

-- One JSON document (no newline at the end).
function M.json(v)
	return crit.json.encode(v, LAYOUT)
end

-- Checkpoint methods: ck:ps(), ck:fds(), ck:mems(), ck:rss(), ck:sockets(),
-- ck:stats() on every crit.open() checkpoint once this module is loaded.
crit.add_checkpoint_methods(M, { "ps", "fds", "mems", "rss", "sockets", "stats" })

return M
