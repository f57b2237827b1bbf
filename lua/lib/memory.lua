-- memory: a process's memory on the checkpoint object (ck:read_memory, ck:regions,
-- ck:cmdline, ck:environ, ck:search, ...), over crit.memory and shared memory segments.
--
-- A process's memory is its private pagemap (pagemap-PID.img) plus, for the VMAs
-- that map a shared segment (SysV shm, shared anonymous memory, memfd), that
-- segment's pagemap (pagemap-shmem-ID.img) at the VMA's offset: CRIU dumps shared
-- pages once per segment, not per process. See docs/MEMORY.md.
--
-- Errors: what is absent from the checkpoint (a zombie's memory, an address that
-- was not dumped, lazy pages, a missing parent/) gives nil and a message; what is
-- broken or misused (a pid that is no process of the checkpoint, a corrupt image, a
-- pagemap written by a newer CRIU) raises.

local crit = require "crit"
local explore = require "explore"

local M = {}

local ult = math.ult
local function ule(a, b)
	return not ult(b, a)
end

local DEFAULT_PAGE_SIZE = 4096
local MAX_ARG_AREA = 64 << 20 -- far above any ARG_MAX: a bigger arg/env range is corrupt
local VMA_MEMFD = 1 << 14

-- Per-checkpoint state, dropped with the checkpoint.
local STATE = setmetatable({}, { __mode = "k" })
local function state(ck)
	local s = STATE[ck]
	if not s then
		s = { spaces = {}, shm = {} }
		STATE[ck] = s
	end
	return s
end

local function page_size(ck)
	return rawget(ck, "page_size") or DEFAULT_PAGE_SIZE
end

---------------------------------------------------------------------------
-- Processes and their VMAs

-- pid -> pstree entry, and tid -> pid of its process.
local function processes(ck)
	local pst = ck:image("pstree.img")
	if not pst then
		error(ck.dir .. ": not a checkpoint directory: there is no pstree.img", 0)
	end
	local s = state(ck)
	if s.pstree == pst then
		return s.procs, s.threads
	end
	local procs, threads = {}, {}
	s.pstree, s.procs, s.threads = pst, procs, threads
	for _, e in ipairs(pst.entries) do
		procs[e.pid] = e
		for _, t in ipairs(e.threads or {}) do
			threads[t] = e.pid
		end
	end
	return procs, threads
end

-- Raises unless pid is a process of the checkpoint.
local function check_pid(ck, pid)
	if math.type(pid) ~= "integer" then
		local n = math.tointeger(tonumber(pid))
		if not n then
			error("bad pid " .. tostring(pid) .. ": an integer expected", 3)
		end
		pid = n
	end
	local procs, threads = processes(ck)
	if procs[pid] then
		return pid
	end
	if threads[pid] then
		error(string.format("%s: %d is a thread of process %d, not a process: its memory is that of %d",
			ck.dir, pid, threads[pid], threads[pid]), 0)
	end
	local pids = {}
	for p in pairs(procs) do
		pids[#pids + 1] = p
	end
	table.sort(pids)
	local list = #pids > 12 and table.concat(pids, " ", 1, 12) .. " ..." or table.concat(pids, " ")
	error(string.format("%s: pid %d is not in the checkpoint (its processes: %s)", ck.dir, pid, list), 0)
end

M.check_pid = check_pid -- for the fixups' --pid: one message for a pid not there

-- The checkpoint's processes (pids), in pstree order.
function M.pids(ck)
	local pst = ck:image("pstree.img")
	if not pst then
		error(ck.dir .. ": not a checkpoint directory: there is no pstree.img", 0)
	end
	local out = {}
	for i, e in ipairs(pst.entries) do
		out[i] = e.pid
	end
	return out
end

-- files.img and memfd.img, indexed once: a memfd VMA names its file by id.
local function memfd_inode(ck, file_id)
	local s = state(ck)
	if s.memfds == nil then
		s.memfds = {}
		local files = ck:image("files.img")
		local inodes = {}
		local mi = ck:image("memfd.img")
		for _, e in ipairs(mi and mi.entries or {}) do
			inodes[e.inode_id] = e
		end
		for _, f in ipairs(files and files.entries or {}) do
			if f.memfd then
				s.memfds[f.id] = inodes[f.memfd.inode_id] or false
			end
		end
	end
	return s.memfds[file_id] or nil
end

local KIND_NAMES = {
	stack = "[stack]", growsdown = "[stack]", heap = "[heap]", vdso = "[vdso]", vvar = "[vvar]",
	vsyscall = "[vsyscall]", aioring = "[aio]", packet = "[packet ring]", anon = "",
}

-- The segment id (pagemap-shmem-ID.img) a VMA maps, and a name for the VMA in
-- the style of /proc/PID/maps.
local function vma_source(ck, v)
	if v.kind == "sysvipc" then
		return v.shmid, string.format("[sysv shm %d]", v.shmid)
	elseif v.kind == "shmem" then
		return v.shmid, string.format("[shmem %d]", v.shmid)
	elseif v.kind == "file" then
		if v.path then
			return nil, v.path
		end
		if v.status & VMA_MEMFD ~= 0 or v.file_type == "MEMFD" then
			local ino = memfd_inode(ck, v.shmid)
			if ino then
				return ino.shmid, "memfd:" .. ino.name
			end
			return nil, string.format("memfd (file %d, not in memfd.img)", v.shmid)
		end
		return nil, string.format("[file %d%s]", v.shmid, v.file_type and ", " .. v.file_type or "")
	end
	return nil, KIND_NAMES[v.kind] or "[" .. v.kind .. "]"
end

-- ck:shmem(id) -> the memory object of shared segment id (its addresses are
-- offsets in the segment), or nil, message when pagemap-shmem-ID.img is absent.
function M.shmem(ck, id)
	local s = state(ck)
	local m = s.shm[id]
	if m == nil then
		local name = string.format("pagemap-shmem-%d.img", id)
		if not ck:has(name) then
			m = { why = ck:path(name) .. ": shared memory segment " .. id .. " is not in the checkpoint" }
		else
			local obj, err = ck:memory_map(name, page_size(ck))
			if not obj then
				error(err, 0)
			end
			m = { obj = obj }
		end
		s.shm[id] = m
	end
	if m.obj then
		return m.obj
	end
	return nil, m.why
end

-- A process's address space: its private memory object (or why there is none)
-- and its VMAs in address order with names and their shared segment, if any.
local function space(ck, pid)
	local s = state(ck)
	local sp = s.spaces[pid]
	if sp then
		return sp
	end
	sp = { pid = pid, vmas = {}, shared = {} }
	local name = string.format("pagemap-%d.img", pid)
	if ck:has(name) then
		local obj, err = ck:memory_map(name, page_size(ck))
		if not obj then
			error(err, 0)
		end
		sp.mem = obj
	else
		local core = ck:image(string.format("core-%d.img", pid))
		local st = core and core.entries[1] and core.entries[1].tc and core.entries[1].tc.task_state
		sp.why = string.format("%s: process %d has no memory in the checkpoint (no %s%s)", ck.dir, pid, name,
			(st == 2 or st == 6) and ": it is a zombie" or "")
	end
	-- this process's mm image only (not every process's: one range of one
	-- process of thousands cost the whole checkpoint)
	local rec = explore.mems_of(ck, pid)
	for _, v in ipairs(rec and rec.vmas or {}) do
		local id, vname = vma_source(ck, v)
		local r = {
			start = v.start, ["end"] = v["end"], prot = v.prot, flags = v.flags, status = v.status,
			pgoff = v.pgoff, kind = v.kind, path = v.path, name = vname, shmid = id,
			perms = explore.prot_string(v.prot) .. (v.shared and "s" or "p"),
		}
		sp.vmas[#sp.vmas + 1] = r
	end
	table.sort(sp.vmas, function(a, b)
		return ult(a.start, b.start)
	end)
	for _, v in ipairs(sp.vmas) do
		if v.shmid then
			sp.shared[#sp.shared + 1] = v
		end
	end
	s.spaces[pid] = sp
	return sp
end

-- The VMA holding addr, or nil and the index of the first VMA above addr.
local function vma_at(vmas, addr)
	local lo, hi = 1, #vmas
	while lo <= hi do
		local mid = (lo + hi) // 2
		local v = vmas[mid]
		if ult(addr, v.start) then
			hi = mid - 1
		elseif ule(v["end"], addr) then
			lo = mid + 1
		else
			return v, mid
		end
	end
	return nil, lo
end

-- A few words on what is at addr, for error messages.
local function where(sp, addr)
	local v = vma_at(sp.vmas, addr)
	if not v then
		return #sp.vmas > 0 and "the process has no VMA there" or nil
	end
	local s = string.format("in VMA %x-%x %s%s", v.start, v["end"], v.perms, v.name ~= "" and " " .. v.name or "")
	if v.kind == "file" and not v.shmid then
		s = s .. "; CRIU leaves out the file-backed pages a process did not change: they are in the file"
	end
	return s
end

-- For the modules over this one (memwrite): the VMA at an address in a list
-- of ck:vmas(pid), and the few words on what is there.
M.vma_at = vma_at
function M.where(vmas, addr)
	return where({ vmas = vmas }, addr)
end

local function explain(sp, err)
	local a = err:match("address 0x(%x+)") or err:match("pages at 0x(%x+)")
	local w = a and where(sp, tonumber(a, 16))
	return w and err .. " (" .. w .. ")" or err
end

-- ck:memory(pid) -> the process's private memory object (crit.memory over
-- pagemap-PID.img), or nil, message when the process has none (a zombie).
function M.memory(ck, pid)
	pid = check_pid(ck, pid)
	local sp = space(ck, pid)
	if sp.mem then
		return sp.mem
	end
	return nil, sp.why
end

-- ck:vmas(pid) -> the process's VMAs in address order: {start, end, prot,
-- perms ("rw-p"), name, kind, path, pgoff, shmid (the shared segment it maps)}.
function M.vmas(ck, pid)
	pid = check_pid(ck, pid)
	return space(ck, pid).vmas
end

-- ck:close_memory([pid]) closes the memory objects opened so far (their
-- files): those of process pid, or all of them. They reopen when used again.
function M.close_memory(ck, pid)
	local s = state(ck)
	if pid then
		local sp = s.spaces[pid]
		if sp and sp.mem then
			sp.mem:close()
		end
		s.spaces[pid] = nil
		return
	end
	for _, sp in pairs(s.spaces) do
		if sp.mem then
			sp.mem:close()
		end
	end
	for _, m in pairs(s.shm) do
		if m.obj then
			m.obj:close()
		end
	end
	STATE[ck] = nil
end

---------------------------------------------------------------------------
-- Reading

-- Read from the private memory or, inside a shared VMA, from its segment.
local function read(ck, sp, addr, len)
	local parts = {}
	local cur, left = addr, len
	while left > 0 do
		local v, i = vma_at(sp.vmas, cur)
		local n, data, err
		if v and v.shmid then
			n = v["end"] - cur
			if ult(left, n) then
				n = left
			end
			local shm, why = M.shmem(ck, v.shmid)
			if not shm then
				return nil, string.format("address 0x%x is in a shared VMA: %s", cur, why)
			end
			data, err = shm:read(v.pgoff + (cur - v.start), n)
			if not data then
				err = string.format("address 0x%x (shared segment %d at offset 0x%x): %s", cur, v.shmid,
					v.pgoff + (cur - v.start), err)
			end
		else
			n = left
			-- stop at the next shared VMA
			for k = v and i + 1 or i, #sp.vmas do
				local nv = sp.vmas[k]
				if nv.shmid then
					if ult(nv.start - cur, n) then
						n = nv.start - cur
					end
					break
				end
			end
			if not sp.mem then
				return nil, sp.why
			end
			data, err = sp.mem:read(cur, n)
		end
		if not data then
			return nil, explain(sp, err)
		end
		parts[#parts + 1] = data
		cur, left = cur + n, left - n
	end
	return table.concat(parts)
end

-- ck:read_memory(pid, addr, len) -> string of len bytes, or nil, message when
-- some of them are not in the checkpoint (a hole, lazy pages, a parent/ that
-- is missing).
function M.read_memory(ck, pid, addr, len)
	pid = check_pid(ck, pid)
	if math.type(addr) ~= "integer" then
		error("bad argument #2 to 'read_memory' (an integer address expected)", 2)
	end
	if math.type(len) ~= "integer" or len < 0 or len > (1 << 30) then
		error("bad argument #3 to 'read_memory' (a length between 0 and 1 GiB expected)", 2)
	end
	return read(ck, pid and space(ck, pid), addr, len)
end

-- Split "a\0b\0" into {"a", "b"}; a last string without its NUL is kept (a
-- process may have overwritten its arguments).
local function split_nul(s)
	local out = {}
	local i = 1
	while i <= #s do
		local j = s:find("\0", i, true)
		out[#out + 1] = s:sub(i, (j or #s + 1) - 1)
		i = (j or #s) + 1
	end
	return out
end

local function arg_area(ck, pid, what, from, to)
	pid = check_pid(ck, pid)
	local mm = ck:image(string.format("mm-%d.img", pid))
	if not mm or not mm.entries[1] then
		local sp = space(ck, pid)
		return nil, sp.why or string.format("%s: process %d has no mm-%d.img", ck.dir, pid, pid)
	end
	local e = mm.entries[1]
	local a, b = e[from], e[to]
	if ult(b, a) or b - a > MAX_ARG_AREA then
		return nil, string.format("mm-%d.img: the %s range %s..%s is not a plausible one", pid, what,
			string.format("0x%x", a), string.format("0x%x", b))
	end
	local data, err = read(ck, space(ck, pid), a, b - a)
	if not data then
		return nil, string.format("%d: %s: %s", pid, what, err)
	end
	return split_nul(data)
end

-- ck:cmdline(pid) -> its arguments as a list of strings (argv), read from its
-- memory between mm_arg_start and mm_arg_end; nil, message when unreadable.
function M.cmdline(ck, pid)
	return arg_area(ck, pid, "command line", "mm_arg_start", "mm_arg_end")
end

-- ck:environ(pid) -> its environment as a list of "NAME=value" strings.
function M.environ(ck, pid)
	return arg_area(ck, pid, "environment", "mm_env_start", "mm_env_end")
end

---------------------------------------------------------------------------
-- Regions and the per-VMA summary

-- ck:regions(pid) -> the dumped memory of the process in address order, each
-- piece within one VMA: {start, end, nr_pages, size, flags, present, parent,
-- lazy, vma, name, perms, shmid}; nil, message when the process has no memory.
function M.regions(ck, pid)
	pid = check_pid(ck, pid)
	local sp = space(ck, pid)
	if not sp.mem then
		return nil, sp.why
	end
	local ps = sp.mem:page_size()
	local out = {}
	local function piece(r, s, e, v, shmid)
		local size = e - s
		out[#out + 1] = {
			start = s, ["end"] = e, size = size, nr_pages = size // ps, flags = r.flags,
			present = r.present, parent = r.parent, lazy = r.lazy,
			vma = v, name = v and v.name or nil, perms = v and v.perms or nil, shmid = shmid,
		}
	end
	-- private memory, cut at VMA boundaries
	for _, r in ipairs(sp.mem:regions()) do
		local cur, stop = r.vaddr, r.vaddr + r.size
		while ult(cur, stop) do
			local v, i = vma_at(sp.vmas, cur)
			local e = stop
			if v then
				if ult(v["end"], e) then
					e = v["end"]
				end
			else
				local nv = sp.vmas[i]
				if nv and ult(nv.start, e) then
					e = nv.start
				end
			end
			piece(r, cur, e, v)
			cur = e
		end
	end
	-- shared segments, at the addresses their VMAs map them
	for _, v in ipairs(sp.shared) do
		local shm = M.shmem(ck, v.shmid)
		local lo, hi = v.pgoff, v.pgoff + (v["end"] - v.start)
		for _, r in ipairs(shm and shm:regions() or {}) do
			local s, e = r.vaddr, r.vaddr + r.size
			if ult(s, lo) then
				s = lo
			end
			if ult(hi, e) then
				e = hi
			end
			if ult(s, e) then
				piece(r, v.start + (s - lo), v.start + (e - lo), v, v.shmid)
			end
		end
	end
	table.sort(out, function(a, b)
		return ult(a.start, b.start)
	end)
	return out
end

-- ck:memory_summary(pid) -> one row per VMA (address order) with what the
-- checkpoint holds of it: {start, end, size, perms, name, kind, shmid,
-- present_pages, parent_pages, lazy_pages, present_bytes}; rows with vma = nil
-- for dumped pages outside every VMA; and the totals.
function M.memory_summary(ck, pid)
	pid = check_pid(ck, pid) -- a bad pid is the caller's line, not regions'
	local regions, why = M.regions(ck, pid)
	if not regions then
		return nil, why
	end
	local sp = space(ck, pid)
	local ps = sp.mem:page_size()
	local rows, byvma = {}, {}
	local function row_for(v)
		local r = byvma[v]
		if not r then
			r = {
				start = v.start, ["end"] = v["end"], size = v["end"] - v.start, perms = v.perms, name = v.name,
				kind = v.kind, shmid = v.shmid, vma = v,
				present_pages = 0, parent_pages = 0, lazy_pages = 0,
			}
			byvma[v] = r
			rows[#rows + 1] = r
		end
		return r
	end
	for _, v in ipairs(sp.vmas) do
		row_for(v)
	end
	for _, p in ipairs(regions) do
		local r = p.vma and row_for(p.vma)
		if not r then
			r = {
				start = p.start, ["end"] = p["end"], size = p.size, name = "(not in any VMA)",
				present_pages = 0, parent_pages = 0, lazy_pages = 0,
			}
			rows[#rows + 1] = r
		end
		if p.present then
			r.present_pages = r.present_pages + p.nr_pages
		elseif p.parent then
			r.parent_pages = r.parent_pages + p.nr_pages
		else
			r.lazy_pages = r.lazy_pages + p.nr_pages
		end
	end
	table.sort(rows, function(a, b)
		return ult(a.start, b.start)
	end)
	local total = { size = 0, present_pages = 0, parent_pages = 0, lazy_pages = 0 }
	for _, r in ipairs(rows) do
		r.present_bytes = r.present_pages * ps
		for k in pairs(total) do
			total[k] = total[k] + r[k]
		end
	end
	total.present_bytes = total.present_pages * ps
	return rows, total
end

---------------------------------------------------------------------------
-- Searching

-- The stretches of memory that can be read at once, for the context of a
-- match: {start, end} in address order, per source (private or a shared VMA).
local function spans(list)
	local out = {}
	for _, r in ipairs(list) do
		local last = out[#out]
		if last and last["end"] == r.start then
			last["end"] = r["end"]
		else
			out[#out + 1] = { start = r.start, ["end"] = r["end"] }
		end
	end
	return out
end

local function span_at(sp_list, addr)
	return (vma_at(sp_list, addr))
end

-- A Lua pattern that can be matched piece by piece: anchors have no meaning
-- in memory, and a malformed pattern should fail before the search starts.
function M.check_pattern(pat)
	if pat:sub(1, 1) == "^" then
		error("a pattern cannot start with '^': memory has no line starts to anchor at", 0)
	end
	local escapes = pat:match("(%%*)%$$") -- the '%'s before a final '$'
	if escapes and #escapes % 2 == 0 then
		error("a pattern cannot end with '$': memory has no line ends to anchor at (write %$ for a dollar)", 0)
	end
	local ok, err = pcall(string.find, "", pat)
	if not ok then
		error("bad pattern '" .. pat .. "': " .. tostring(err):gsub("^.-: ", ""), 0)
	end
end

-- The literal text every match of pat starts with ("" when none): found with
-- a plain search, it lets the pattern be tried only where it can match.
local function literal_prefix(pat)
	local out, i = {}, 1
	while i <= #pat do
		local c, lit, nexti = pat:sub(i, i), nil, nil
		if c == "%" then
			local d = pat:sub(i + 1, i + 1)
			if d == "" or d:match("%w") then
				break -- a class (%d, %a, ...), %b, %f: not a literal
			end
			lit, nexti = d, i + 2
		elseif c:match("[%^%$%*%+%?%.%(%)%[%]%-]") then
			break
		else
			lit, nexti = c, i + 1
		end
		local quant = pat:sub(nexti, nexti)
		if quant == "*" or quant == "?" or quant == "-" then
			break -- optional: matches need not start with it
		end
		out[#out + 1] = lit
		if quant == "+" then
			break
		end
		i = nexti
	end
	return table.concat(out)
end

-- The single-character class every match starts with (%d, [%w_], ...) when
-- the pattern starts with one that is not optional; nil otherwise.
local function first_class(pat)
	local item
	local c = pat:sub(1, 1)
	if c == "%" then
		if not pat:sub(2, 2):match("[acdglpsuwxACDGLPSUWX]") then
			return nil
		end
		item = pat:sub(1, 2)
	elseif c == "[" then
		local i = 2
		if pat:sub(i, i) == "^" then
			i = i + 1
		end
		if pat:sub(i, i) == "]" then
			i = i + 1 -- a ']' first is a member
		end
		while i <= #pat and pat:sub(i, i) ~= "]" do
			i = i + (pat:sub(i, i) == "%" and 2 or 1)
		end
		if i > #pat then
			return nil
		end
		item = pat:sub(1, i)
	else
		return nil
	end
	local quant = pat:sub(#item + 1, #item + 1)
	if quant == "*" or quant == "?" or quant == "-" then
		return nil
	end
	return item
end

-- Feed (addr, bytes) pieces in address order; calls emit(addr, text) for each
-- match of pat that starts in them. Matches up to `window` bytes long are
-- found whole across piece boundaries (longer ones may be cut short or
-- missed), and a pattern that backtracks badly costs time in proportion to
-- the window, never to the size of a piece: each match is looked for in a
-- subject of window bytes from its start (when the pattern starts with
-- literal text or a character class, found by a search for that) or of
-- 2 x window bytes from the block of window bytes where it starts. Returns
-- feed(addr, bytes) and finish(); both return true when emit asked to stop.
local function pattern_scanner(pat, window, emit)
	local prefix, plain = literal_prefix(pat), true
	if prefix == "" then
		prefix, plain = first_class(pat), false
	end
	local anchored = "^" .. pat
	local buf, base, resume = "", nil, nil -- unprocessed bytes of the current stretch, at address base

	-- Candidates where the literal prefix (or the first class) is; returns the
	-- first index to keep.
	local function run_prefix(final)
		local pos = 1
		local tail = plain and #prefix - 1 or 0
		while true do
			local c = buf:find(prefix, pos, plain)
			if not c then
				return math.max(pos, #buf - tail + 1)
			end
			if not final and #buf - c + 1 < window then
				return c -- wait for the bytes that follow
			end
			local at = base + (c - 1)
			if resume and resume - at > 0 then
				pos = c + (resume - at) -- inside the last match: matches do not overlap
			else
				local subject = buf:sub(c, c + window - 1)
				local _, e = subject:find(anchored)
				if e then
					if emit(at, subject:sub(1, e)) then
						return nil
					end
					resume = at + e
					pos = c + e
				else
					pos = c + 1
				end
			end
		end
	end

	-- Blocks of window bytes, each searched with the next block as lookahead.
	local function run_blocks(final)
		local pos = 1
		while true do
			local avail = #buf - pos + 1
			if avail <= 0 or (not final and avail < 2 * window) then
				return pos
			end
			local subject = buf:sub(pos, pos + 2 * window - 1)
			local limit = (final and avail <= 2 * window) and #subject or window
			local at = base + (pos - 1)
			local init = 1
			if resume and resume - at > 0 then
				init = (resume - at) + 1
			end
			while init <= limit do
				local s, e = subject:find(pat, init)
				if not s or s > limit then
					break
				end
				if e >= s then
					if emit(at + (s - 1), subject:sub(s, e)) then
						return nil
					end
					resume = at + e
					init = e + 1
				else
					init = s + 1 -- an empty match: look further
				end
			end
			pos = pos + limit
		end
	end

	local function run(final)
		local keep = (prefix and prefix ~= "" and run_prefix or run_blocks)(final)
		if not keep then
			return true
		end
		if keep > 1 then
			buf = buf:sub(keep)
			base = base + (keep - 1)
		end
		return false
	end
	local function feed(addr, data)
		if base and base + #buf == addr then
			buf = buf .. data
		else
			if base and run(true) then
				return true
			end
			buf, base, resume = data, addr, nil
		end
		return run(false)
	end
	local function finish()
		local stop = base and run(true)
		buf, base = "", nil
		return stop
	end
	return feed, finish
end
M.pattern_scanner = pattern_scanner -- for datasrc's search over the other byte streams

-- For a pattern whose matches start with literal text, over memory that the
-- core's search can look through in place: returns that text and try(at), to
-- be called for each place the search finds it (in address order, overlapping
-- ones too). try tries the pattern there on up to window bytes of the
-- readable stretch (readable: spans; read(addr, n) -> bytes), skips places
-- inside the last match, and returns what emit(at, text) returns. The same
-- matches as pattern_scanner's, without copying all memory into Lua strings.
-- nil when the pattern starts with no literal text.
local function prefix_trier(pat, window, read, readable, emit)
	local prefix = literal_prefix(pat)
	if prefix == "" then
		return nil
	end
	local anchored, resume = "^" .. pat, nil
	return prefix, function(at)
		if resume and ult(at, resume) then
			return false -- inside the last match: matches do not overlap
		end
		local s, n = span_at(readable, at), window
		if s and ult(s["end"] - at, n) then
			n = s["end"] - at
		end
		local subject = read(at, n)
		local e = subject and select(2, subject:find(anchored))
		if not e then
			return false
		end
		resume = at + e
		return emit(at, subject:sub(1, e))
	end
end

-- The parts of the address spans a that lie in b (each sorted, disjoint).
local function intersect(a, b)
	local out = {}
	for _, x in ipairs(a) do
		for _, y in ipairs(b) do
			local s = ult(x.start, y.start) and y.start or x.start
			local e = ult(x["end"], y["end"]) and x["end"] or y["end"]
			if ult(s, e) then
				out[#out + 1] = { start = s, ["end"] = e }
			end
		end
	end
	table.sort(out, function(p, q)
		return ult(p.start, q.start)
	end)
	return spans(out)
end

-- Read the spans in pieces of at most 4 MiB with read(addr, n) and give them
-- to feed(addr, bytes) (true stops): the search of opts.only, which reads
-- nothing outside them. Returns true, or nil and read's message.
local ONLY_PIECE = 4 << 20
local function read_spans(list, read_fn, feed)
	for _, p in ipairs(list) do
		local a = p.start
		while ult(a, p["end"]) do
			local n = p["end"] - a
			if ult(ONLY_PIECE, n) then
				n = ONLY_PIECE
			end
			local data, err = read_fn(a, n)
			if not data then
				return nil, err
			end
			if feed(a, data) then
				return true
			end
			a = a + n
		end
	end
	return true
end

-- The needle and options every search takes (ck:search, ck:search_data),
-- checked in the name of the caller's caller (fname): context and window,
-- with their defaults.
function M.search_opts(fname, needle, opts)
	if type(needle) ~= "string" or needle == "" then
		error("bad argument #2 to '" .. fname .. "' (a non-empty string expected)", 3)
	end
	local context = opts.context or 16
	if math.type(context) ~= "integer" or context < 0 then
		error("bad option context (a byte count >= 0 expected)", 3)
	end
	local window = opts.window or 256
	if math.type(window) ~= "integer" or window < 1 or window > (64 << 20) then
		error("bad option window (a byte count between 1 and 64 MiB expected)", 3)
	end
	if opts.pattern then
		M.check_pattern(needle)
	end
	return context, window
end

-- ck:search(pid, needle [, opts] [, fn]): look for needle (a byte string, or
-- with opts.pattern a Lua pattern) in the process's memory. Each match is
-- {pid, addr, vma, name, match, before, after}: before/after are up to
-- opts.context (16) bytes around the match, within readable memory. With fn,
-- fn(match) is called per match (true stops) and the count is returned;
-- without, the matches are returned as a list in address order. The second
-- result lists what could not be searched (lazy pages, a missing parent/).
-- opts.window (pattern only, default 256): matches up to this long are found
-- whole; it also bounds the work per position of a pattern that backtracks. Private memory is searched first, then shared VMAs.
-- opts.only: a list of address spans {start, end} (sorted, disjoint) where
-- matches may start: nothing else is read (a match starting inside one is
-- still found whole), so --range and --prot/--kind narrow the reading too.
function M.search(ck, pid, needle, opts, fn)
	if type(opts) == "function" then
		opts, fn = nil, opts
	end
	opts = opts or {}
	pid = check_pid(ck, pid)
	local context, window = M.search_opts("search", needle, opts)
	local sp = space(ck, pid)
	local notes = {}
	if not sp.mem and #sp.shared == 0 then
		notes[1] = sp.why
		return fn and 0 or {}, notes
	end
	local list, count, stopped = {}, 0, false

	-- Readable stretches per source, for context.
	local function private_spans()
		local s = {}
		local st = state(ck)
		if st.parent_dir == nil then -- as mem.c decides: the path is there (fopen opens a directory)
			st.parent_dir = ck:has("parent")
		end
		local parent_dir = st.parent_dir
		for _, r in ipairs(sp.mem:regions()) do
			if r.present or (r.parent and parent_dir) then
				s[#s + 1] = { start = r.vaddr, ["end"] = r.vaddr + r.size }
			elseif r.parent then
				notes[#notes + 1] = string.format("%d: %d pages at 0x%x are in the parent checkpoint, "
					.. "and %s is not there: not searched", pid, r.nr_pages, r.vaddr, ck:path("parent"))
			elseif r.lazy then
				notes[#notes + 1] = string.format("%d: %d pages at 0x%x are lazy (not in the checkpoint): "
					.. "not searched", pid, r.nr_pages, r.vaddr)
			end
		end
		return spans(s)
	end

	local function emit(source_spans, addr, text)
		local v = vma_at(sp.vmas, addr)
		local m = { pid = pid, addr = addr, vma = v, name = v and v.name or nil, match = text, before = "", after = "" }
		if context > 0 then
			local s = span_at(source_spans, addr)
			if s then
				local nb = addr - s.start
				if ult(context, nb) then
					nb = context
				end
				local na = s["end"] - (addr + #text)
				if ult(context, na) then
					na = context
				end
				local data = read(ck, sp, addr - nb, nb + #text + na)
				if data then
					m.before, m.after = data:sub(1, nb), data:sub(nb + #text + 1)
				end
			end
		end
		count = count + 1
		if fn then
			if fn(m) then
				stopped = true
			end
		else
			list[#list + 1] = m
		end
		return stopped
	end

	-- what opts.only lets be read: its spans, each followed by room for a
	-- match that starts inside it
	local only
	if opts.only then
		local extra = opts.pattern and window or #needle - 1
		only = {}
		for _, o in ipairs(opts.only) do
			local e = o["end"] + extra
			if ult(e, o["end"]) then
				e = -1 -- the top of the address space
			end
			only[#only + 1] = { start = o.start, ["end"] = e }
		end
		table.sort(only, function(p, q)
			return ult(p.start, q.start)
		end)
		-- overlapping after the extension: merge
		local merged = {}
		for _, o in ipairs(only) do
			local last = merged[#merged]
			if last and not ult(last["end"], o.start) then
				if ult(last["end"], o["end"]) then
					last["end"] = o["end"]
				end
			else
				merged[#merged + 1] = o
			end
		end
		only = merged
	end
	-- A search over only's part of some readable spans, through read_fn.
	local function search_only(readable, read_fn, emit_at)
		local list = intersect(readable, only)
		if opts.pattern then
			local feed, finish = pattern_scanner(needle, window, emit_at)
			local ok, err = read_spans(list, read_fn, feed)
			if ok and not stopped then
				finish()
			end
			return ok, err
		end
		local s = crit.searcher(needle, function(a)
			return emit_at(a, needle)
		end)
		return read_spans(list, read_fn, function(a, data)
			return not s:feed(a, data)
		end)
	end

	-- private memory
	if sp.mem and only then
		local ps = private_spans()
		local ok, err = search_only(ps, function(a, n)
			return sp.mem:read(a, n)
		end, function(a, t)
			return emit(ps, a, t)
		end)
		if not ok then
			error(explain(sp, err), 0)
		end
	elseif sp.mem then
		local ps = private_spans()
		local ok, err
		local prefix, try
		if opts.pattern then
			prefix, try = prefix_trier(needle, window, function(a, n)
				return sp.mem:read(a, n)
			end, ps, function(a, t)
				return emit(ps, a, t)
			end)
		end
		if prefix then
			ok, err = sp.mem:find(prefix, try)
		elseif opts.pattern then
			local feed, finish = pattern_scanner(needle, window, function(a, t)
				return emit(ps, a, t)
			end)
			ok, err = sp.mem:chunks(function(a, data)
				return feed(a, data)
			end)
			if ok and not stopped then
				finish()
			end
		else
			ok, err = sp.mem:find(needle, function(a)
				return emit(ps, a, needle)
			end)
		end
		if not ok then
			error(explain(sp, err), 0)
		end
	elseif sp.why then
		notes[#notes + 1] = sp.why
	end

	-- shared VMAs: the segment's pages inside the VMA's window
	for _, v in ipairs(sp.shared) do
		if stopped then
			break
		end
		local shm, why = M.shmem(ck, v.shmid)
		if not shm then
			notes[#notes + 1] = string.format("%d: VMA %x-%x %s: %s", pid, v.start, v["end"], v.name, why)
		else
			local lo = v.pgoff
			local hi = lo + (v["end"] - v.start)
			local s = {}
			for _, r in ipairs(shm:regions()) do
				local a, b = r.vaddr, r.vaddr + r.size
				if ult(a, lo) then
					a = lo
				end
				if ult(hi, b) then
					b = hi
				end
				if ult(a, b) and r.present then
					s[#s + 1] = { start = v.start + (a - lo), ["end"] = v.start + (b - lo) }
				end
			end
			local vs = spans(s)
			local ok, err
			local prefix, try
			if opts.pattern and not only then
				prefix, try = prefix_trier(needle, window, function(a, n)
					return shm:read(lo + (a - v.start), n)
				end, vs, function(a, t)
					return emit(vs, a, t)
				end)
			end
			if prefix then
				ok, err = shm:find(prefix, function(off)
					if ule(lo, off) and ule(off + #prefix, hi) then
						return try(v.start + (off - lo))
					end
				end)
			elseif only then
				ok, err = search_only(vs, function(a, n)
					return shm:read(lo + (a - v.start), n)
				end, function(a, t)
					return emit(vs, a, t)
				end)
			elseif opts.pattern then
				local feed, finish = pattern_scanner(needle, window, function(a, t)
					return emit(vs, a, t)
				end)
				ok, err = shm:chunks(function(off, data)
					-- clip the piece to the window the VMA maps
					local e = off + #data
					if ule(e, lo) or ule(hi, off) then
						return false
					end
					if ult(off, lo) then
						data, off = data:sub(lo - off + 1), lo
					end
					if ult(hi, off + #data) then
						data = data:sub(1, hi - off)
					end
					return feed(v.start + (off - lo), data)
				end)
				if ok and not stopped then
					finish()
				end
			else
				ok, err = shm:find(needle, function(off)
					if ule(lo, off) and ule(off + #needle, hi) then
						return emit(vs, v.start + (off - lo), needle)
					end
				end)
			end
			if not ok then
				error(err, 0)
			end
		end
	end

	if fn then
		return count, notes
	end
	table.sort(list, function(a, b)
		return ult(a.addr, b.addr)
	end)
	return list, notes
end

---------------------------------------------------------------------------
-- Text helpers for the commands

-- Bytes as text a terminal shows safely: printable ASCII as is, \\ \" \n \r
-- \t, everything else \xNN (always two hex digits). With text = true (names,
-- command lines), valid UTF-8 sequences and '"' pass through.
function M.escape(s, text)
	local out = {}
	local i, n = 1, #s
	while i <= n do
		local j = s:find(text and '[%c\\\128-\255]' or '[%c"\\\128-\255]', i)
		if not j then
			out[#out + 1] = s:sub(i)
			break
		end
		if j > i then
			out[#out + 1] = s:sub(i, j - 1)
		end
		local c = s:byte(j)
		local len = 1
		if text and c >= 0xc2 and c <= 0xf4 then
			local want = c >= 0xf0 and 4 or c >= 0xe0 and 3 or 2
			local seq = s:sub(j, j + want - 1)
			if #seq == want and utf8.len(seq) == 1 then
				len = want
			end
		end
		if len > 1 then
			out[#out + 1] = s:sub(j, j + len - 1)
		elseif c == 92 then
			out[#out + 1] = "\\\\"
		elseif c == 34 then
			out[#out + 1] = '\\"'
		elseif c == 10 then
			out[#out + 1] = "\\n"
		elseif c == 13 then
			out[#out + 1] = "\\r"
		elseif c == 9 then
			out[#out + 1] = "\\t"
		else
			out[#out + 1] = string.format("\\x%02x", c)
		end
		i = j + len
	end
	return table.concat(out)
end

-- An integer from the command line: decimal or 0x hex (hex may use all 64 bits).
function M.parse_int(s)
	if type(s) ~= "string" then
		return nil
	end
	s = s:gsub("_", "")
	if s:match("^0[xX]%x+$") then
		if #s:gsub("^0[xX]0*", "") > 16 then
			return nil
		end
		return math.tointeger(tonumber(s))
	elseif s:match("^%d+$") then
		return math.tointeger(tonumber(s))
	end
	return nil
end

-- crit.open(dir, open_opts), reading memory with pages of the size text
-- (--page-size; nil: the default). Returns the checkpoint, or nil and what is
-- wrong with text.
function M.open(dir, page_size_text, open_opts)
	local ck = crit.open(dir, open_opts)
	if page_size_text then
		local ps = M.parse_int(page_size_text)
		if not ps or ps < 1 or ps & (ps - 1) ~= 0 then
			return nil, "--page-size: '" .. page_size_text .. "' is not a power of two"
		end
		ck.page_size = ps
	end
	return ck
end

---------------------------------------------------------------------------
-- x ps --cmdline / --env

-- Add cmdline and/or environ lists to the records of explore.ps.
function M.annotate_ps(ck, procs, notes, opts)
	for _, p in ipairs(procs) do
		local function get(method, key)
			local ok, v, err = pcall(M[method], ck, p.pid)
			if not ok then
				notes[#notes + 1] = string.format("%d: %s", p.pid, tostring(v))
			elseif v then
				p[key] = v
			elseif p.state ~= "zombie" and p.state ~= "dead" then
				notes[#notes + 1] = err
			end
		end
		if opts.cmdline then
			get("cmdline", "cmdline")
		end
		if opts.env then
			get("environ", "environ")
		end
		M.close_memory(ck, p.pid)
	end
	M.close_memory(ck)
end

-- ps with command lines instead of names (as ps shows them: a process whose
-- memory cannot be read shows [comm]) and/or each process's environment below it.
function M.render_ps(procs, write, opts)
	local out = {}
	out[1] = string.format("%7s%7s%7s   %s\n", "PID", "PGID", "SID", opts.cmdline and "COMMAND" or "COMM")
	for _, p in ipairs(procs) do
		local indent = string.rep(" ", 4 * p.depth)
		local name
		if opts.cmdline and p.cmdline then
			local args = {}
			for i, a in ipairs(p.cmdline) do
				args[i] = M.escape(a, true)
			end
			name = table.concat(args, " ")
		elseif opts.cmdline then
			name = "[" .. M.escape(p.comm or "?", true) .. "]" .. ((p.state == "zombie" or p.state == "dead") and " <defunct>" or "")
		else
			name = p.comm or "?"
		end
		out[#out + 1] = string.format("%7d%7d%7d   ", p.pid, p.pgid, p.sid) .. indent .. name .. "\n"
		if opts.env then
			for _, e in ipairs(p.environ or {}) do
				out[#out + 1] = string.rep(" ", 24) .. indent .. M.escape(e, true) .. "\n"
			end
		end
		if #out >= 512 then
			write(table.concat(out))
			out = {}
		end
	end
	write(table.concat(out))
end

-- Checkpoint methods: ck:memory(pid), ck:shmem(id), ck:vmas(pid),
-- ck:regions(pid), ck:memory_summary(pid), ck:read_memory(pid, addr, len),
-- ck:cmdline(pid), ck:environ(pid), ck:search(pid, needle, opts, fn),
-- ck:close_memory(), ck:pids().
crit.add_checkpoint_methods(M, { "memory", "shmem", "vmas", "regions", "memory_summary", "read_memory",
	"cmdline", "environ", "search", "close_memory", "pids" })

return M
