-- datasrc: the byte streams a checkpoint stores besides process memory —
-- pipe and FIFO buffers, TCP and unix socket queues, tty input, ghost files,
-- memfd and SysV shared memory, SysV message queues, tmpfs archives — as
-- records named the way a person looks for them (ck:data_sources), and the
-- streaming search over them (ck:search_data). See docs/MEMORY.md.
--
-- Payloads are located by the image framing (crit.datafile: image.c's located
-- reader) and read in bounded pieces; a tmpfs archive is decompressed as a
-- stream once (ckarchive.c). Nothing is loaded whole.

local crit = require "crit"
local holders = require "holders"
local memory = require "memory"

local M = {}

-- The kinds, in the order their sources are listed and searched.
M.kinds = { "pipe", "fifo", "tcp", "unix", "tty", "ghost", "memfd", "sysvshm", "sysvmsg", "tmpfs" }
local KNOWN = {}
for _, k in ipairs(M.kinds) do
	KNOWN[k] = true
end
M.known = KNOWN

-- A checkpoint file read in pieces: crit.datafile over the directory or the
-- archive; a file that cannot be opened raises (it is listed, so it is there).
local function datafile(ck, name)
	local df, err = crit.datafile(ck.archive or ck.dir, name)
	if not df then
		error(err, 0)
	end
	return df
end

-- The entries of a framed image, the file closed again: a payload is read
-- later by its offset (file_source), not kept.
local function entries(ck, name)
	local df = datafile(ck, name)
	local list, err = df:entries()
	df:close()
	if not list then
		error(err, 0)
	end
	return list
end

-- A holder list to the set of pids holding it.
local function pid_set(hs)
	local s = {}
	for _, h in ipairs(hs or {}) do
		s[h.pid] = true
	end
	return s
end

local function sorted_pids(set)
	local out = {}
	for p in pairs(set) do
		out[#out + 1] = p
	end
	table.sort(out)
	return out
end

-- The head of a source's name: who holds it and what it is ("pid 7 fd 3
-- tcp A → B"), through holders.text, the form the fixups' change lines use.
local function held_name(hs, kind, name)
	if not hs or #hs == 0 then
		return kind .. (name and name ~= "" and " " .. name or "")
	end
	return holders.text({ kind = kind, name = name, holders = hs })
end

-- A source over bytes already in memory (a tty's queue, a SysV message).
local function string_source(rec, data)
	function rec.chunks(_, fn)
		return not fn(0, data)
	end
	function rec.read(_, off, len)
		return data:sub(off + 1, off + len)
	end
	return rec
end

-- A source over runs of one file: {off, len, pos} each.
local function file_source(rec, ck, image, runs)
	rec.image = image
	rec.runs = runs
	function rec.chunks(self, fn)
		local df = datafile(ck, self.image)
		local ok, err = df:chunks(self.runs, function(pos, data)
			return fn(pos, data)
		end)
		df:close()
		if ok == nil then
			error(err, 0)
		end
		return ok
	end
	function rec.read(self, off, len)
		local parts = {}
		for _, r in ipairs(self.runs) do
			local a, b = math.max(off, r.pos), math.min(off + len, r.pos + r.len)
			if a < b then
				parts[#parts + 1] = { a, b, r }
			end
		end
		local df = datafile(ck, self.image)
		local out, at = {}, off
		for _, p in ipairs(parts) do
			if p[1] > at then
				out[#out + 1] = string.rep("\0", p[1] - at) -- a hole between chunks
			end
			local data, err = df:read(p[3].off + (p[1] - p[3].pos), p[2] - p[1])
			if not data then
				df:close()
				return nil, err
			end
			out[#out + 1] = data
			at = p[2]
		end
		df:close()
		local stop = math.min(off + len, self.size or at)
		if stop > at then
			out[#out + 1] = string.rep("\0", stop - at) -- a hole up to the end
		end
		return table.concat(out)
	end
	return rec
end

-- A source over a shared memory segment (pagemap-shmem-ID.img): positions
-- are offsets in the segment; pages never written are not stored.
local function shmem_source(rec, ck, shmid)
	rec.image = string.format("pagemap-shmem-%d.img", shmid)
	rec.shmid = shmid
	function rec.chunks(self, fn)
		local shm, why = memory.shmem(ck, self.shmid)
		if not shm then
			error(why, 0)
		end
		local ok, err = shm:chunks(function(off, data)
			return fn(off, data)
		end, 1 << 20)
		if ok == nil then
			error(err, 0)
		end
		return ok
	end
	function rec.read(self, off, len)
		local shm, why = memory.shmem(ck, self.shmid)
		if not shm then
			return nil, why
		end
		return shm:read(off, len)
	end
	return rec
end

---------------------------------------------------------------------------
-- The sources, kind by kind

local function files_by(ck, test)
	local out = {}
	local fi = ck:image("files.img")
	for _, f in ipairs(fi and fi.entries or {}) do
		if test(f) then
			out[#out + 1] = f.id
		end
	end
	return out
end

-- Holders of several file ids (a pipe's two ends), in one list.
local function holders_of(idx, ids)
	local out = {}
	for _, id in ipairs(ids) do
		for _, h in ipairs(idx.holders[id] or {}) do
			out[#out + 1] = h
		end
	end
	return out
end

-- The path of a FIFO: the regular-file entry its fifo entry names.
local function fifo_path(ck, fid)
	local fi = ck:image("files.img")
	local regf
	for _, f in ipairs(fi and fi.entries or {}) do
		if f.id == fid and f.fifo then
			regf = f.fifo.regf_id or f.id
		end
	end
	for _, f in ipairs(fi and fi.entries or {}) do
		if f.id == regf and f.reg then
			return f.reg.name
		end
	end
	return nil
end

local function pipes(ck, idx, name, kind, add)
	local list = entries(ck, name)
	for _, e in ipairs(list) do
		local id = e.msg.pipe_id
		local hs, what
		if kind == "pipe" then
			hs = holders_of(idx, files_by(ck, function(f)
				return f.pipe and f.pipe.pipe_id == id
			end))
			what = string.format("pipe:[%d]", id)
		else
			local fids = files_by(ck, function(f)
				return f.fifo and f.fifo.pipe_id == id
			end)
			hs = holders_of(idx, fids)
			local f = fids[1] and idx.files[fids[1]]
			local path = fids[1] and fifo_path(ck, fids[1])
			what = "fifo " .. (path or (f and f.name) or string.format("pipe_id %d", id))
		end
		add(file_source({
			kind = kind, name = held_name(hs, what) .. " buffer",
			size = e.payload_len or 0, holders = hs,
		}, ck, name, { { off = e.payload_off or 0, len = e.payload_len or 0, pos = 0 } }))
	end
end

local function tcp(ck, idx, name, add)
	local ino = tonumber(name:match("^tcp%-stream%-(%x+)%.img$"), 16)
	local list = entries(ck, name)
	local e = list[1]
	if not e then
		return
	end
	local fids = files_by(ck, function(f)
		return f.isk and f.isk.ino == ino
	end)
	local s = fids[1] and idx.sockets[fids[1]]
	local hs = holders_of(idx, fids)
	local what = s and (s["local"] .. " → " .. s.peer) or string.format("socket ino %d", ino)
	local head = held_name(hs, "tcp", what)
	local inq, outq = e.msg.inq_len, e.msg.outq_len
	add(file_source({ kind = "tcp", name = head .. " recv queue", size = inq, holders = hs }, ck, name,
		{ { off = e.payload_off, len = inq, pos = 0 } }))
	add(file_source({ kind = "tcp", name = head .. " send queue", size = outq, holders = hs }, ck, name,
		{ { off = e.payload_off + inq, len = outq, pos = 0 } }))
end

-- sk-queues.img: a stream socket's packets are one byte stream; each
-- datagram (DGRAM, SEQPACKET) is a source of its own.
local function unix_queues(ck, idx, add)
	local list = entries(ck, "sk-queues.img")
	local by, order = {}, {}
	for _, e in ipairs(list) do
		local id = e.msg.id_for
		if not by[id] then
			by[id] = {}
			order[#order + 1] = id
		end
		local t = by[id]
		t[#t + 1] = e
	end
	for _, id in ipairs(order) do
		local s = idx.sockets[id]
		local hs = idx.holders[id] or {}
		local what = s and (s["local"] .. " → " .. s.peer) or string.format("socket id %d", id)
		local head = held_name(hs, "unix", what)
		if s and s.type == "STREAM" then
			local runs, pos = {}, 0
			for _, e in ipairs(by[id]) do
				runs[#runs + 1] = { off = e.payload_off, len = e.payload_len, pos = pos }
				pos = pos + e.payload_len
			end
			add(file_source({ kind = "unix", name = head .. " queue", size = pos, holders = hs }, ck,
				"sk-queues.img", runs))
		else
			for k, e in ipairs(by[id]) do
				add(file_source({ kind = "unix", name = string.format("%s queue datagram %d", head, k),
					size = e.payload_len, holders = hs }, ck, "sk-queues.img",
					{ { off = e.payload_off, len = e.payload_len, pos = 0 } }))
			end
		end
	end
end

-- A tty by its tty-info.img entry: /dev/pts/N, the master of one (/dev/ptmx,
-- 5:2), or its type and device numbers.
local function tty_name(ck, id)
	local img = ck:has("tty-info.img") and ck:image("tty-info.img")
	for _, t in ipairs(img and img.entries or {}) do
		if t.id == id then
			local r = t.rdev or 0
			local major, minor = (r >> 8) & 0xfff, (r & 0xff) | ((r >> 12) & 0xfff00)
			local index = t.pty and t.pty.index
			if t.type == "PTY" and index then
				return major == 5 and string.format("pty master of /dev/pts/%d", index)
					or string.format("/dev/pts/%d", index)
			end
			return string.format("%s %d:%d", tostring(t.type):lower(), major, minor)
		end
	end
	return nil
end

-- tty-data.img: the input queued in a tty (its data is a field, not a payload).
local function ttys(ck, idx, add)
	local img = ck:image("tty-data.img")
	for _, e in ipairs(img and img.entries or {}) do
		local fids = files_by(ck, function(f)
			return f.tty and f.tty.tty_info_id == e.tty_id
		end)
		local hs = holders_of(idx, fids)
		local f = fids[1] and idx.files[fids[1]]
		local data = e.data or ""
		local rec = {
			kind = "tty", name = held_name(hs, "tty", tty_name(ck, e.tty_id) or (f and f.name)
				or string.format("tty_id %d", e.tty_id)) .. " unread input",
			size = #data, holders = hs,
		}
		add(string_source(rec, data))
	end
end

-- ghost-file-ID.img: the content after its one entry, or chunks {len, off}
-- each followed by its bytes. The chunks are walked as they come, never
-- listed: a sparse file of a million runs costs no memory.
local function ghost(ck, idx, name, add)
	local id = tonumber(name:match("^ghost%-file%-(%x+)%.img$"), 16)
	local orig
	local rp = ck:has("remap-fpath.img") and ck:image("remap-fpath.img")
	for _, r in ipairs(rp and rp.entries or {}) do
		if r.remap_id == id and (r.remap_type == nil or r.remap_type == "GHOST") then
			orig = r.orig_id
		end
	end
	local df = datafile(ck, name)
	local head
	local ok, err = df:entries(function(e)
		head = e
		return true -- the head entry is enough here
	end)
	df:close()
	if ok == nil then
		error(err, 0)
	end
	if not head then
		return
	end
	local path
	local f = orig and idx.files[orig]
	local fi = ck:image("files.img")
	for _, e in ipairs(fi and fi.entries or {}) do
		if e.id == orig and e.reg then
			path = e.reg.name
		end
	end
	local hs = orig and idx.holders[orig] or {}
	local rec = {
		kind = "ghost", name = held_name(hs, "ghost file", path or (f and f.name) or name),
		size = head.msg.size or head.payload_len or 0, holders = hs,
	}
	if head.payload_off then -- the rest of the file is the content
		rec.size = head.payload_len
		add(file_source(rec, ck, name, { { off = head.payload_off, len = head.payload_len, pos = 0 } }))
		return
	end
	rec.image = name
	-- the chunks, one by one: fn(run) for each {off, len, pos}
	local function each_chunk(fn)
		local cdf = datafile(ck, name)
		local done, cerr = cdf:entries(function(e)
			if e.index > 0 then
				return fn({ off = e.payload_off, len = e.payload_len, pos = e.msg.off })
			end
		end)
		cdf:close()
		if done == nil then
			error(cerr, 0)
		end
		return done
	end
	function rec.chunks(self, fn)
		local df2 = datafile(ck, self.image)
		local stopped = false
		local ok2, err2 = pcall(each_chunk, function(run)
			local done, e2 = df2:chunks({ run }, fn)
			if done == nil then
				error(e2, 0)
			end
			stopped = not done
			return stopped
		end)
		df2:close()
		if not ok2 then
			error(err2, 0)
		end
		return not stopped
	end
	function rec.read(_, off, len)
		local runs = {}
		each_chunk(function(run)
			if run.pos < off + len and off < run.pos + run.len then
				runs[#runs + 1] = run
			end
		end)
		return file_source({ size = rec.size }, ck, name, runs):read(off, len)
	end
	add(rec)
end

local function memfds(ck, idx, add)
	local img = ck:image("memfd.img")
	for _, e in ipairs(img and img.entries or {}) do
		local hs = holders_of(idx, files_by(ck, function(f)
			return f.memfd and f.memfd.inode_id == e.inode_id
		end))
		local rec = { kind = "memfd", name = held_name(hs, "memfd:" .. e.name), size = e.size, holders = hs }
		add(shmem_source(rec, ck, e.shmid))
	end
end

local function sysv_shm(ck, name, add)
	local list = entries(ck, name)
	local ns = tonumber(name:match("(%d+)%.img$"))
	for _, e in ipairs(list) do
		local rec = {
			kind = "sysvshm", name = string.format("SysV shm key 0x%x id %d", e.msg.desc.key, e.msg.desc.id),
			size = e.msg.size, ipc_ns = ns, holders = {},
		}
		if e.payload_off then -- an old image: the segment follows its entry
			add(file_source(rec, ck, name, { { off = e.payload_off, len = e.payload_len, pos = 0 } }))
		else
			add(shmem_source(rec, ck, e.msg.desc.id))
		end
	end
end

local function sysv_msg(ck, name, add)
	local list = entries(ck, name)
	local ns = tonumber(name:match("(%d+)%.img$"))
	for _, e in ipairs(list) do
		for k, item in ipairs(e.items or {}) do
			local data = item.data
			local rec = {
				kind = "sysvmsg", name = string.format("SysV msg queue key 0x%x id %d message %d (type %d)",
					e.msg.desc.key, e.msg.desc.id, k, item.msg.mtype),
				size = #data, ipc_ns = ns, holders = {},
			}
			add(string_source(rec, data))
		end
	end
end

-- tmpfs-dev-DEV.tar.gz.img (and the older tmpfs-ID.tar.gz.img): a tmpfs
-- mount's files, named by the mount's root_dev (mnt_id in the older form).
local function tmpfs(ck, name, add)
	local dev, old = name:match("^tmpfs%-dev%-(%d+)%.tar%.gz%.img$"), nil
	if not dev then
		old = name:match("^tmpfs%-(%d+)%.tar%.gz%.img$")
	end
	local key = tonumber(dev or old)
	local where, ns
	for _, n in ipairs(ck:list()) do
		local mns = n:match("^mountpoints%-(%d+)%.img$")
		if mns and not where then
			local img = ck:image(n)
			for _, m in ipairs(img and img.entries or {}) do
				if (dev and m.root_dev == key) or (old and m.mnt_id == key) then
					where, ns = m.mountpoint, tonumber(mns)
					break
				end
			end
		end
	end
	local known = where ~= nil
	where = where or string.format("(%s %d)", dev and "device" or "mount", key)
	local rec = { kind = "tmpfs", name = "tmpfs " .. where, image = name, mnt_ns = ns, holders = {},
		size = ck:size(name) }
	-- the members one by one: fn(pos, bytes, part) with part the member's path
	function rec.chunks(self, fn)
		local df = datafile(ck, self.image)
		local part
		local base = known and where:gsub("/$", "") or where .. " " -- "tmpfs (device 5) /big.bin"

		local ok, err = df:tar(function(mname, mtype)
			part = "tmpfs " .. base .. "/" .. mname
			return mtype == "file"
		end, function(off, data)
			return fn(off, data, part)
		end)
		df:close()
		if ok == nil then
			error(err, 0)
		end
		return ok
	end
	add(rec)
end

-- The namespaces of a process: {ipc = id, mnt = id}, from ids-PID.img.
local function namespaces(ck, pid)
	local ids = ck:has(string.format("ids-%d.img", pid)) and ck:image(string.format("ids-%d.img", pid))
	local e = ids and ids.entries[1]
	return { ipc = e and e.ipc_ns_id, mnt = e and e.mnt_ns_id }
end

-- ck:data_sources([opts]) -> the byte streams of the checkpoint besides
-- process memory, each {kind, name, size, image, holders = {{pid, fd|as}},
-- chunks = function(self, fn), read = function(self, off, len)}:
-- src:chunks(fn) calls fn(pos, bytes [, part]) over its stored bytes in
-- order (part: a tmpfs member's path, positions counted in it); fn returns
-- true to stop. src:read(off, len) -> bytes (not for tmpfs). opts.kinds: a
-- set of kinds (M.kinds) to list; opts.pids: a list of pids — only what
-- they hold through their fds (and cwd, exe, mappings), and the SysV IPC
-- and tmpfs mounts of their namespaces. The second result lists the images
-- that could not be read (a corrupt one: its file, entry and offset).
function M.data_sources(ck, opts)
	opts = opts or {}
	local want = opts.kinds
	local function wanted(k)
		return not want or want[k]
	end
	-- who holds what: built only when some image is there to name (the
	-- index reads every process's fds, which a dump of many processes feels)
	local idx = setmetatable({}, { __index = function(t, k)
		local full = holders.index(ck)
		for key, v in pairs(full) do
			rawset(t, key, v)
		end
		return rawget(t, k)
	end })
	local by_kind = {}
	for _, k in ipairs(M.kinds) do
		by_kind[k] = {}
	end
	local function add(rec)
		local list = by_kind[rec.kind]
		list[#list + 1] = rec
	end
	-- An image that cannot be read is said in the second result; the
	-- others are still listed.
	local errors = {}
	local function try(f, ...)
		local ok, err = pcall(f, ...)
		if not ok then
			errors[#errors + 1] = tostring(err)
		end
	end
	local names = ck:list()
	for _, name in ipairs(names) do
		if name == "pipes-data.img" and wanted("pipe") then
			try(pipes, ck, idx, name, "pipe", add)
		elseif name == "fifo-data.img" and wanted("fifo") then
			try(pipes, ck, idx, name, "fifo", add)
		elseif name:match("^tcp%-stream%-%x+%.img$") and wanted("tcp") then
			try(tcp, ck, idx, name, add)
		elseif name == "sk-queues.img" and wanted("unix") then
			try(unix_queues, ck, idx, add)
		elseif name == "tty-data.img" and wanted("tty") then
			try(ttys, ck, idx, add)
		elseif name:match("^ghost%-file%-%x+%.img$") and wanted("ghost") then
			try(ghost, ck, idx, name, add)
		elseif name == "memfd.img" and wanted("memfd") then
			try(memfds, ck, idx, add)
		elseif name:match("^ipcns%-shm%-%d+%.img$") and wanted("sysvshm") then
			try(sysv_shm, ck, name, add)
		elseif name:match("^ipcns%-msg%-%d+%.img$") and wanted("sysvmsg") then
			try(sysv_msg, ck, name, add)
		elseif name:match("^tmpfs%-.*%.tar%.gz%.img$") and wanted("tmpfs") then
			try(tmpfs, ck, name, add)
		end
	end
	local pids
	if opts.pids then
		pids = {}
		for _, p in ipairs(opts.pids) do
			pids[p] = namespaces(ck, p)
		end
	end
	local out = {}
	for _, k in ipairs(M.kinds) do
		for _, rec in ipairs(by_kind[k]) do
			rec.pids = sorted_pids(pid_set(rec.holders))
			local keep = true
			if pids then
				keep = false
				for _, p in ipairs(rec.pids) do
					keep = keep or pids[p] ~= nil
				end
				for _, ns in pairs(pids) do
					keep = keep or (rec.ipc_ns and rec.ipc_ns == ns.ipc) or (rec.mnt_ns and rec.mnt_ns == ns.mnt)
				end
			end
			if keep then
				out[#out + 1] = rec
			end
		end
	end
	return out, errors
end

---------------------------------------------------------------------------
-- Search

-- The shared segments (shmid) the memory of these processes maps: found
-- there by address, so not reported again as a source.
function M.mapped_segments(ck, pids)
	local seen = {}
	for _, pid in ipairs(pids) do
		for _, v in ipairs(memory.vmas(ck, pid)) do
			if v.shmid then
				seen[v.shmid] = true
			end
		end
	end
	return seen
end

-- ck:search_data(needle [, opts] [, fn]): look for needle (a byte string, or
-- with opts.pattern a Lua pattern, matches up to opts.window bytes long) in
-- the sources of ck:data_sources(opts) (or opts.sources). Each match is
-- {source, kind, name, offset, match, before, after}: name is the source's
-- (a tmpfs member's own for tmpfs), offset counts from the start of that
-- stream; before/after up to opts.context (16) bytes, within it. With fn,
-- fn(match) per match (true stops) and the count is returned; without, the
-- list. opts.skip_shmids: segments not to search (memory has them).
function M.search_data(ck, needle, opts, fn)
	if type(opts) == "function" then
		opts, fn = nil, opts
	end
	opts = opts or {}
	local context, window = memory.search_opts("search_data", needle, opts)
	local sources = opts.sources
	if not sources then
		local errors
		sources, errors = M.data_sources(ck, opts)
		if errors[1] then
			error(errors[1], 0)
		end
	end
	local skip = opts.skip_shmids or {}
	local list, count, stopped = {}, 0, false
	local keep_back = context + (opts.pattern and 2 * window or #needle)

	for _, src in ipairs(sources) do
		if stopped then
			break
		end
		if src.shmid and skip[src.shmid] then
			goto next
		end
		do
			-- The bytes seen last: what was kept of the earlier pieces (tail, from
			-- tail_base) and the current piece (cur, from cur_base), never joined
			-- (a piece is 1 MiB); the matches waiting for their after-context;
			-- the stream they are in.
			local tail, tail_base, cur, cur_base, part = "", 0, "", 0, nil
			local function w_end()
				return cur_base + #cur
			end
			-- bytes [a, b) of tail .. cur
			local function slice(a, b)
				if b <= cur_base then
					return tail:sub(a - tail_base + 1, b - tail_base)
				elseif a >= cur_base then
					return cur:sub(a - cur_base + 1, b - cur_base)
				end
				return tail:sub(a - tail_base + 1) .. cur:sub(1, b - cur_base)
			end
			local pending = {}
			local feed, finish

			local function flush(final)
				local wend = w_end()
				local i = 1
				while i <= #pending do
					local m = pending[i]
					local stop_at = m.pos + #m.text + context
					if not final and stop_at > wend then
						break
					end
					local from = math.max(tail_base, m.pos - context)
					local rec = {
						source = src, kind = src.kind, name = part or src.name, offset = m.pos, match = m.text,
						before = slice(from, m.pos),
						after = slice(m.pos + #m.text, math.min(stop_at, wend)),
					}
					count = count + 1
					if fn then
						if fn(rec) then
							stopped = true
						end
					else
						list[#list + 1] = rec
					end
					i = i + 1
					if stopped then
						break
					end
				end
				if i > 1 then
					pending = table.move(pending, i, #pending, 1, {})
				end
			end

			local function start(pos, p)
				part = p and (p) or nil
				tail, tail_base, cur, cur_base, pending = "", pos, "", pos, {}
				if opts.pattern then
					feed, finish = memory.pattern_scanner(needle, window, function(a, t)
						pending[#pending + 1] = { pos = a, text = t }
					end)
				else
					local s = crit.searcher(needle, function(a)
						pending[#pending + 1] = { pos = a, text = needle }
					end)
					feed = function(a, data)
						s:feed(a, data)
					end
					finish = function() end
				end
			end

			local function close_stream()
				if feed then
					finish()
					flush(true)
				end
				feed = nil
			end

			local cur_part = false
			src:chunks(function(pos, data, p)
				local name = p and p or false
				if not feed or name ~= cur_part or pos ~= w_end() then
					close_stream()
					if stopped then
						return true
					end
					cur_part = name
					start(pos, p)
				end
				-- the kept bytes and the piece before it are the new tail
				if #cur > 0 then
					local keep_from = math.max(tail_base, cur_base + #cur - keep_back)
					if pending[1] then
						keep_from = math.max(tail_base, math.min(keep_from, pending[1].pos - context))
					end
					tail, tail_base = slice(keep_from, w_end()), keep_from
				end
				cur, cur_base = data, pos
				feed(pos, data)
				flush(false)
				if stopped then
					return true
				end
			end)
			if not stopped then
				close_stream()
			end
		end
		::next::
	end
	if fn then
		return count
	end
	return list
end

-- Checkpoint methods: ck:data_sources(opts), ck:search_data(needle, opts, fn).
crit.add_checkpoint_methods(M, { "data_sources", "search_data" })

return M
