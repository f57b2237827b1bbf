-- holders: an entry of a checkpoint's images named as a person knows it — the
-- processes that hold it (pid and fd, or cwd, root, exe, a mapping), its kind and,
-- for a socket, its addresses — for the fixups' change lines and --json reports.
-- Built on explore's views (fds, sockets), not on a reading of its own.

local crit = require "crit"
local explore = require "explore"

local M = {}

-- The index of a checkpoint: file id -> its holders and, for a socket, its
-- record from explore.sockets. Built from the values as they are when it is
-- called (a fixup calls it before its first change, so the names are the old
-- ones a person knows). A checkpoint the views cannot read gives an empty
-- index (the entries are then named by image and path only).
function M.index(ck)
	local idx = { holders = {}, sockets = {}, files = {} }
	local function hold(id, h)
		local list = idx.holders[id]
		if not list then
			list = {}
			idx.holders[id] = list
		end
		for _, o in ipairs(list) do
			if o.pid == h.pid and o.fd == h.fd and o.as == h.as then
				return
			end
		end
		list[#list + 1] = h
	end
	local ok, procs = pcall(explore.fds, ck)
	if not ok then
		return idx
	end
	for _, p in ipairs(procs) do
		for _, fd in ipairs(p.fds) do
			hold(fd.id, { pid = p.pid, fd = fd.fd })
			idx.files[fd.id] = idx.files[fd.id] or { type = fd.type, name = fd.name }
		end
		-- cwd, root, exe and mapped files are held by file id too
		local fs = ck:image(string.format("fs-%d.img", p.pid))
		local e = fs and fs.entries[1]
		if e then
			hold(e.cwd_id, { pid = p.pid, as = "cwd" })
			hold(e.root_id, { pid = p.pid, as = "root" })
		end
		local mmname = string.format("mm-%d.img", p.pid)
		local mm = ck.loaded and ck.loaded[mmname]
		if not mm and ck.select and ck:has(mmname) then
			mm = ck:select(mmname, { exe_file_id = true, vmas = { shmid = true, status = true } })
		end
		local m = mm and mm.entries[1]
		if m then
			if m.exe_file_id then
				hold(m.exe_file_id, { pid = p.pid, as = "exe" })
			end
			for _, v in ipairs(m.vmas or {}) do
				-- a file-backed mapping (VMA_FILE_PRIVATE or VMA_FILE_SHARED)
				if v.status & (3 << 6) ~= 0 then
					hold(v.shmid, { pid = p.pid, as = "map" })
				end
			end
		end
	end
	local sok, socks = pcall(explore.sockets, ck)
	for _, s in ipairs(sok and socks or {}) do
		idx.sockets[s.id] = idx.sockets[s.id] or s
	end
	return idx
end

-- The kind and the name of a socket record, as ss would show it.
local function socket_words(s)
	if s.family == "INET" or s.family == "INET6" then
		local kind = (s.proto or "ip"):lower()
		if s.dst_port and s.dst_port ~= 0 then
			return kind, s["local"] .. "→" .. s.peer
		end
		return kind, s["local"] .. (s.state == "LISTEN" and " (listening)" or "")
	end
	return (s.family or "socket"):lower(), s["local"]
end

-- An object of a files.img (or legacy per-type image) entry with this id.
local function file_object(idx, id, ftype, entry)
	local obj = { id = id, holders = idx.holders[id] or {} }
	local s = idx.sockets[id]
	if s then
		obj.kind, obj.name = socket_words(s)
		obj["local"], obj.peer = s["local"], s.peer
	else
		local f = idx.files[id]
		obj.kind = ftype and ftype:lower() or (f and f.type:lower()) or "file"
		if entry and entry.reg then
			obj.kind, obj.name = "file", entry.reg.name
		elseif f then
			obj.name = f.name
		end
	end
	return obj
end

-- The legacy per-type images whose entries are files by id.
local LEGACY = { ["inetsk.img"] = "inetsk", ["unixsk.img"] = "unixsk", ["reg-files.img"] = "reg",
	["packetsk.img"] = "packetsk", ["netlinksk.img"] = "netlinksk", ["pipes.img"] = "pipe" }

-- The object of entry number i (1-based) of image `name` (img: the image as
-- loaded), or nil when none is known beyond the image itself.
function M.object(idx, name, img, i)
	local e = img and img.entries and img.entries[i]
	if not e then
		return nil
	end
	if name == "files.img" then
		return file_object(idx, e.id, e.type, e)
	elseif LEGACY[name] and e.id then
		return file_object(idx, e.id, LEGACY[name]:upper(), nil)
	elseif name:match("^mountpoints%-") then
		return { kind = "mount", id = e.mnt_id, name = e.mountpoint, holders = {} }
	end
	return nil
end

-- A name as it is, unless it holds control bytes (a unix socket name's NULs):
-- then quoted and escaped.
local function name_text(name)
	if type(name) == "string" and name:find("%c") then
		return crit.json.encode(name)
	end
	return name
end

-- An object as the head of a change line: "pid 6509 fd 7 tcp A→B".
function M.text(obj)
	if obj.kind == "mount" then -- held by no fd: the mount itself
		return string.format("mount %d %s", obj.id or -1, name_text(obj.name) or "")
	end
	-- by process: "pid 7 fd 1, fd 2; pid 9 exe, map"
	local parts, by_pid = {}, {}
	for _, h in ipairs(obj.holders or {}) do
		local what = h.fd and string.format("fd %d", h.fd) or h.as
		local list = by_pid[h.pid]
		if not list then
			list = {}
			by_pid[h.pid] = list
			parts[#parts + 1] = { pid = h.pid, list = list }
		end
		list[#list + 1] = what
	end
	for i, p in ipairs(parts) do
		parts[i] = string.format("pid %d %s", p.pid, table.concat(p.list, ", "))
	end
	local who = #parts > 0 and table.concat(parts, "; ")
		or (obj.id and string.format("file id %d (held by no process)", obj.id)) or "(held by no process)"
	local name = name_text(obj.name)
	return who .. " " .. obj.kind .. (name and name ~= "" and " " .. name or "")
end

return M
