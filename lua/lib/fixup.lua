-- fixup: what the migration fixups (lua/cmd/rewrite-*.lua, check.lua) share: a
-- transaction over a checkpoint directory that changes all its images or none,
-- a walk over every message of an image, and the inet sockets of a checkpoint
-- with their peers. See docs/FIXUPS.md.

local crit = require "crit"

local M = {}

---------------------------------------------------------------------------
-- Showing values in reports

-- Strings as people read them: printable ASCII as is, other bytes escaped
-- (a unix socket name ends in "\0").
local function show_string(s)
	return '"' .. s:gsub('[%c"\\\127-\255]', function(c)
		if c == "\0" then
			return "\\0"
		elseif c == '"' or c == "\\" then
			return "\\" .. c
		end
		return string.format("\\x%02x", c:byte())
	end) .. '"'
end

function M.show(v)
	if v == nil then
		return "(none)"
	elseif type(v) == "string" then
		return show_string(v)
	elseif type(v) == "table" then
		local parts = {}
		for i, x in ipairs(v) do
			parts[i] = M.show(x)
		end
		return "[" .. table.concat(parts, ", ") .. "]"
	end
	return tostring(v)
end

---------------------------------------------------------------------------
-- The transaction

local Txn = {}
Txn.__index = Txn

-- fixup.open(dir, opts) -> transaction. opts: dry_run (report only), backup
-- (keep each replaced image as NAME.orig), quiet (no report of the changes),
-- wait (for another writer: seconds, true = no limit; default 10 s). The
-- checkpoint's lock is taken here, before any image is read, and held to the
-- end (a dry run only reads: it takes none).
function M.open(dir, opts)
	opts = opts or {}
	local ck = crit.open(dir, { lock = not opts.dry_run, wait = opts.wait })
	return setmetatable({
		ck = ck, dir = ck.dir, opts = opts or {},
		changes = {}, changed = {}, notes = {},
	}, Txn)
end

-- The image, loaded once; nil when the checkpoint has no such file.
function Txn:image(name)
	return (self.ck:image(name))
end

function Txn:note(fmt, ...)
	self.notes[#self.notes + 1] = string.format(fmt, ...)
end

-- Two field values are the same: scalars, or sequences of scalars (repeated
-- fields, addresses) element by element. Also for lua/cmd/diff.lua.
local function same(a, b)
	if type(a) == "table" and type(b) == "table" then
		if #a ~= #b then
			return false
		end
		for i = 1, #a do
			if a[i] ~= b[i] then
				return false
			end
		end
		return true
	end
	return a == b
end

-- Set msg[key] = new in image `name`, remembered for the report as
-- "name: label: old -> new" (show formats the values). Returns whether it
-- changed anything.
function Txn:set(name, msg, key, new, label, show)
	local old = msg[key]
	if same(old, new) then
		return false
	end
	msg[key] = new
	self.changes[#self.changes + 1] = {
		image = name, label = label, old = old, new = new, show = show or M.show,
	}
	self.changed[name] = true
	return true
end

-- A change made otherwise than by Txn:set (bytes of a raw file, ck:patch),
-- remembered for the report the same way; name is then written by commit.
function Txn:record(name, label, old, new, show)
	self.changes[#self.changes + 1] = { image = name, label = label, old = old, new = new, show = show or M.show }
	self.changed[name] = true
end

-- The changes, one line each, in the order they were made.
function Txn:report(write)
	for _, c in ipairs(self.changes) do
		write(string.format("%s: %s: %s -> %s\n", c.image, c.label, c.show(c.old), c.show(c.new)))
	end
end

-- For tests: CRITLUA_FIXUP_FAIL_AFTER=N makes the commit fail after N images
-- were staged, to prove that nothing is changed then.
local function injected_failure(staged)
	local n = tonumber(os.getenv("CRITLUA_FIXUP_FAIL_AFTER") or "")
	if n and staged >= n then
		error(string.format("failure injected by CRITLUA_FIXUP_FAIL_AFTER=%d after %d image(s) staged",
			n, staged), 0)
	end
end

-- Write every changed image, all or nothing, through the checkpoint's
-- transaction (crit.txn, docs/TRANSACTIONS.md):
--  1. encode each one (a bad value raises here, before any file is touched);
--  2. stage each (written and fsync'ed in a copy of the checkpoint beside
--     it, whose other files are hard links); with --backup the original is
--     kept as NAME.orig (one already there is kept, as the older original);
--  3. exchange the copy with the checkpoint in one rename.
-- Any error before 3 removes the copy: the checkpoint is exactly as it was.
-- Returns the names written (none with dry_run, which writes nothing).
function Txn:commit()
	local names = {}
	for name in pairs(self.changed) do
		names[#names + 1] = name
	end
	table.sort(names)
	local pending = {}
	for _, name in ipairs(names) do
		local path = self.ck:path(name)
		-- a raw file (pages-*.img) changed by ck:patch is staged below
		local bytes = self.ck.loaded[name] and crit.encode(self.ck.loaded[name], path)
		if bytes and self.ck:current(name) ~= bytes then
			pending[#pending + 1] = { name = name, path = path, bytes = bytes }
		end
	end
	local patched = self.ck:patched()
	if self.opts.dry_run or #pending + #patched == 0 then
		return {}
	end
	if self.ck.archive then
		-- an archive: one new archive written beside it and renamed over it
		-- (ckarchive.c, through the same transaction); the original is
		-- untouched on any failure
		local ok, written, note = pcall(self.ck._write_archive, self.ck, pending,
			self.opts.backup and ".orig" or nil)
		if not ok then
			error(tostring(written) .. " (nothing changed: the archive is as it was)", 0)
		end
		if note then
			self:note("%s", note)
		end
		self.ck:_saved(written)
		return written
	end
	local txn = self.ck._txn
	local ok, err = pcall(function()
		for i, p in ipairs(pending) do
			injected_failure(i - 1)
			txn:stage(p.name, p.bytes)
			if self.opts.backup then
				local orig = p.name .. ".orig"
				if self.ck:has(orig) then
					self:note("%s already exists: kept as the older original", self.ck:path(orig))
				else
					txn:keep(p.name, orig)
				end
			end
		end
		for _, name in ipairs(patched) do
			if self.opts.backup and self.ck:has(name .. ".orig") then
				self:note("%s already exists: kept as the older original", self.ck:path(name .. ".orig"))
			elseif self.opts.backup then
				txn:keep(name, name .. ".orig")
			end
		end
		self.ck:_stage_patches(txn)
		injected_failure(#pending)
		local _, note = txn:commit()
		if note then
			self:note("%s", note)
		end
	end)
	if not ok then
		txn:abort()
		err = tostring(err)
		if not err:find("nothing was changed", 1, true) then
			err = err .. " (nothing changed: the checkpoint is as it was)"
		end
		error(err, 0)
	end
	local written = {}
	for _, p in ipairs(pending) do
		written[#written + 1] = p.name
	end
	for _, name in ipairs(patched) do
		written[#written + 1] = name
	end
	self.ck:_saved(written)
	return written
end

-- The usual end of a fixup script: the commit, then the report of the
-- changes (unless quiet) and one line saying what happened; notes on stderr.
function Txn:finish(what)
	local written = self:commit()
	if not self.opts.quiet or self.opts.dry_run then
		self:report(function(s)
			io.stdout:write(s)
		end)
	end
	for _, n in ipairs(self.notes) do
		io.stderr:write("note: ", n, "\n")
	end
	local n = #self.changes
	if n == 0 then
		io.stderr:write(what, ": nothing to change\n")
	elseif self.opts.dry_run then
		io.stdout:write(string.format("dry run: %d change(s) in %d image(s); nothing written\n",
			n, self:count_images()))
	elseif not self.opts.quiet then
		io.stdout:write(string.format("%d change(s) written to %s%s\n", n, table.concat(written, ", "),
			self.opts.backup and " (originals kept as *.orig)" or ""))
	end
	return written
end

function Txn:count_images()
	local k = 0
	for _ in pairs(self.changed) do
		k = k + 1
	end
	return k
end

-- Whether path is dir or below it ("/a/b" is under "/a" and "/", not "/ab").
function M.path_under(path, dir)
	if dir == "/" then
		return path:sub(1, 1) == "/"
	end
	dir = dir:gsub("/+$", "")
	return path == dir or path:sub(1, #dir + 1) == dir .. "/"
end

---------------------------------------------------------------------------
-- Walking messages

-- For each message type, its fields that hold messages: {name, type, repeated}.
local msg_fields
local function fields_of(typename)
	if not msg_fields then
		msg_fields = {}
		for _, m in ipairs(crit.schema().messages) do
			local list = {}
			for _, f in ipairs(m.fields) do
				if f.type == "message" then
					list[#list + 1] = { name = f.name, type = f.type_name, repeated = f.label == "repeated" }
				end
			end
			msg_fields[m.name] = list
		end
	end
	return msg_fields[typename] or {}
end

local function walk_msg(msg, typename, label, visit)
	visit(msg, typename, label)
	for _, f in ipairs(fields_of(typename)) do
		local v = msg[f.name]
		if v ~= nil then
			if f.repeated then
				for i, x in ipairs(v) do
					walk_msg(x, f.type, string.format("%s.%s[%d]", label, f.name, i), visit)
				end
			else
				walk_msg(v, f.type, label .. "." .. f.name, visit)
			end
		end
	end
end

-- visit(msg, typename, label) for every message of the image, nested ones
-- too, depth first in field order; label is its path ("entries[3].reg").
function M.walk(img, visit)
	for i, e in ipairs(img.entries) do
		local t = crit.typeof(e)
		if t then
			walk_msg(e, t, string.format("entries[%d]", i), visit)
		end
	end
end

-- Whether a message of type `from` can contain one of `types` (a set).
local function reaches(from, types, seen)
	if types[from] then
		return true
	end
	seen = seen or {}
	if seen[from] then
		return false
	end
	seen[from] = true
	for _, f in ipairs(fields_of(from)) do
		if reaches(f.type, types, seen) then
			return true
		end
	end
	return false
end

-- The file name patterns of each image type ("core-%u.img" -> "^core%-%d+%.img$").
local name_rules
local function image_type(name)
	if not name_rules then
		name_rules = {}
		for _, m in ipairs(crit.magics()) do
			for pat in m.files:gmatch("%S+") do
				local lp = pat:gsub("[%^%$%(%)%.%[%]%*%+%-%?]", "%%%0")
				lp = lp:gsub("%%l?u", "%%d+"):gsub("%%x", "%%x+")
				name_rules[#name_rules + 1] = { pattern = "^" .. lp .. "$", magic = m }
			end
		end
	end
	for _, r in ipairs(name_rules) do
		if name:match(r.pattern) then
			return r.magic
		end
	end
	return nil
end
M.image_type = image_type

-- The images of the checkpoint that can hold a message of one of `types`
-- (a set of type names), judged by their file names and the schema.
function M.images_holding(ck, types)
	local out = {}
	for _, name in ipairs(ck:list()) do
		local m = image_type(name)
		if m and (reaches(m.message, types) or (m.message2 and reaches(m.message2, types))) then
			out[#out + 1] = name
		end
	end
	return out
end

---------------------------------------------------------------------------
-- Inet sockets and their peers

M.TCP, M.UDP = 6, 17
local SOCK_RAW = 3

-- The bytes of an address from CRIU's u32 words (network byte order, read
-- as little-endian integers); an IPv4-mapped IPv6 address as its IPv4 bytes,
-- so that both ends of a dual-stack connection compare equal.
function M.addr_bytes(words)
	local b = {}
	for _, w in ipairs(words or {}) do
		b[#b + 1] = string.char(w & 0xff, (w >> 8) & 0xff, (w >> 16) & 0xff, (w >> 24) & 0xff)
	end
	local s = table.concat(b)
	if #s == 16 and s:sub(1, 12) == string.rep("\0", 10) .. "\255\255" then
		return s:sub(13)
	end
	return s
end

-- An IPv4 or IPv6 address in text -> CRIU's words (1 or 4), or nil and why.
function M.parse_ip(text)
	local b = {}
	local function dotted(s)
		local q = { s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$") }
		if #q ~= 4 then
			return false
		end
		for _, x in ipairs(q) do
			local v = tonumber(x)
			if v > 255 or (#x > 1 and x:sub(1, 1) == "0") then
				return false
			end
			b[#b + 1] = v
		end
		return true
	end
	if not text:find(":", 1, true) then
		if not dotted(text) then
			return nil, "'" .. text .. "' is not an IPv4 or IPv6 address"
		end
	else
		local head, tail = text:match("^(.-)::(.*)$")
		local bad = "'" .. text .. "' is not an IPv6 address"
		local function groups(s)
			local list = {}
			if s == "" then
				return list
			end
			for g in (s .. ":"):gmatch("([^:]*):") do
				list[#list + 1] = g
			end
			return list
		end
		local left, right
		if head then
			if tail:find("::", 1, true) then
				return nil, bad
			end
			left, right = groups(head), groups(tail)
		else
			left, right = groups(text), {}
		end
		local v4
		local last = right[#right] or left[#left]
		if last and last:find(".", 1, true) then
			v4 = last
			if #right > 0 then
				right[#right] = nil
			else
				left[#left] = nil
			end
		end
		local n = #left + #right + (v4 and 2 or 0)
		if (head and n > 7) or (not head and n ~= 8) then
			return nil, bad
		end
		local words16 = {}
		local function add(list)
			for _, g in ipairs(list) do
				if not g:match("^%x%x?%x?%x?$") then
					return false
				end
				words16[#words16 + 1] = tonumber(g, 16)
			end
			return true
		end
		if not add(left) then
			return nil, bad
		end
		for _ = 1, 8 - n do
			words16[#words16 + 1] = 0
		end
		if not add(right) then
			return nil, bad
		end
		for _, g in ipairs(words16) do
			b[#b + 1] = g >> 8
			b[#b + 1] = g & 0xff
		end
		if v4 and not dotted(v4) then
			return nil, bad
		end
	end
	local words = {}
	for i = 1, #b, 4 do
		words[#words + 1] = b[i] | b[i + 1] << 8 | b[i + 2] << 16 | b[i + 3] << 24
	end
	return words
end

local function unspecified(bytes)
	return not bytes:find("[^%z]")
end

local function loopback(bytes)
	return (#bytes == 4 and bytes:byte(1) == 127) or bytes == string.rep("\0", 15) .. "\1"
end

-- Every inet socket entry of the checkpoint (files.img and the legacy
-- inetsk.img): {image =, label =, e = inet_sk_entry, pids = {pid = true}}.
-- The pids are the processes with an fd on it (from the fd tables).
function M.inet_sockets(ck)
	local socks, by_id = {}, {}
	local files = ck:image("files.img")
	for i, f in ipairs(files and files.entries or {}) do
		if f.isk then
			local s = { image = "files.img", label = string.format("entries[%d].isk", i), e = f.isk, pids = {} }
			socks[#socks + 1] = s
			by_id[f.id] = by_id[f.id] or s
		end
	end
	local legacy = ck:image("inetsk.img")
	for i, e in ipairs(legacy and legacy.entries or {}) do
		local s = { image = "inetsk.img", label = string.format("entries[%d]", i), e = e, pids = {} }
		socks[#socks + 1] = s
		by_id[e.id] = by_id[e.id] or s
	end
	if #socks > 0 and ck:has("pstree.img") then
		local explore = require "explore"
		local records = explore.sockets(ck)
		for _, r in ipairs(records) do
			local s = by_id[r.id]
			if s and (r.family == "INET" or r.family == "INET6") then
				s.pids[r.pid] = true
			end
		end
	end
	for _, s in ipairs(socks) do
		local e = s.e
		s.src = M.addr_bytes(e.src_addr)
		s.dst = M.addr_bytes(e.dst_addr)
		s.connected = e.dst_port ~= 0
	end
	return socks
end

-- Sockets by local port, for peer_of (built once per list).
local by_port_cache = setmetatable({}, { __mode = "k" })
local function by_port(socks)
	local idx = by_port_cache[socks]
	if not idx then
		idx = {}
		for _, o in ipairs(socks) do
			local port = o.e.src_port
			idx[port] = idx[port] or {}
			table.insert(idx[port], o)
		end
		by_port_cache[socks] = idx
	end
	return idx
end

-- The socket of the list at the other end of s, or nil. A connected TCP
-- socket's peer is the one with the mirrored address pair; a UDP socket (or
-- a TCP one still connecting) may also talk to an unconnected socket bound to
-- its destination — on the same address, or on the wildcard one when the
-- destination is this host (loopback, or s's own address).
function M.peer_of(socks, s)
	if not s.connected then
		return nil
	end
	local e = s.e
	local pair_only = e.proto == M.TCP and e.state ~= 2 -- SYN_SENT
	local bound
	for _, o in ipairs(by_port(socks)[e.dst_port] or {}) do
		local oe = o.e
		if o ~= s and oe.proto == e.proto and oe.type == e.type then
			local here = o.src == s.dst or (unspecified(o.src) and (loopback(s.dst) or s.dst == s.src))
			if here then
				if o.connected and oe.dst_port == e.src_port and o.dst == s.src then
					return o
				elseif not o.connected and not pair_only then
					bound = bound or o
				end
			end
		end
	end
	return bound
end

-- The command line the socket fixups share (rewrite-ports, rewrite-ip): their
-- options, checked. Returns o (cli.parse's result: o[1] the checkpoint, o[2..]
-- the pairs) and the selection rewrite_inet takes. pairs_what names the pairs
-- in the usage error ("OLD:NEW port pair").
function M.socket_args(argv, pairs_what)
	local cli = require "cli"
	local o = cli.parse(argv, { "-n, --dry-run", "--backup", "--wait[=SECONDS]", "--local-only", "--peer",
		"--peer-only", "--proto=P", "--pid=PID", "-q, --quiet" })
	if #o < 2 then
		cli.usage_error("give a checkpoint directory and at least one " .. pairs_what)
	end
	if (o.local_only and 1 or 0) + (o.peer and 1 or 0) + (o.peer_only and 1 or 0) > 1 then
		cli.usage_error("--local-only, --peer and --peer-only exclude each other")
	end
	local protos = { tcp = M.TCP, udp = M.UDP }
	if o.proto and not protos[o.proto] then
		cli.usage_error("--proto takes tcp or udp")
	end
	local pid = o.pid and tonumber(o.pid:match("^%d+$") or "")
	if o.pid and not pid then
		cli.usage_error("--pid takes a process id")
	end
	return o, { proto = protos[o.proto], pid = pid, local_only = o.local_only, peer = o.peer,
		peer_only = o.peer_only }
end

-- Rewrite inet socket endpoints (ports or addresses), on one side or both.
-- spec: src, dst = the fields ("src_port", "dst_port"); map(value, sock) ->
-- the new value or nil; follow(value, from, to) -> a peer's new local value
-- as sock `to` must hold it (default: the value itself); show = formatter;
-- raw = whether SOCK_RAW sockets count (their "port" is a protocol number).
-- opts: proto (number or nil), pid, local_only, peer, peer_only.
--
-- Local sides change on the selected sockets (all, or those of --pid). A
-- peer side changes where the peer is in the checkpoint and its local side
-- changed, whatever the selection, so a connection inside stays consistent
-- (--local-only skips these, and they are counted as broken); and, with
-- --peer or --peer-only, where the peer is outside and the socket is
-- selected. --peer-only changes no local side. Returns the number of fields
-- changed.
function M.rewrite_inet(txn, spec, opts)
	local socks = {}
	for _, s in ipairs(M.inet_sockets(txn.ck)) do
		if (spec.raw or s.e.type ~= SOCK_RAW) and (not opts.proto or s.e.proto == opts.proto) then
			socks[#socks + 1] = s
		end
	end
	local function selected(s)
		return not opts.pid or s.pids[opts.pid]
	end
	-- decide everything on the values as they are, then change
	local new_src, new_dst, broken = {}, {}, 0
	if not opts.peer_only then
		for _, s in ipairs(socks) do
			if selected(s) then
				new_src[s] = spec.map(s.e[spec.src], s)
			end
		end
	end
	for _, s in ipairs(socks) do
		local p = M.peer_of(socks, s)
		if p and new_src[p] ~= nil then
			if opts.local_only then
				broken = broken + 1
			elseif p.src == s.dst then
				new_dst[s] = spec.map(s.e[spec.dst], s)
			else -- p is bound to the wildcard address: follow what it became
				new_dst[s] = (spec.follow or function(v)
					return v
				end)(new_src[p], p, s)
			end
		elseif not p and s.connected and (opts.peer or opts.peer_only) and selected(s) then
			new_dst[s] = spec.map(s.e[spec.dst], s)
		end
	end
	local n = 0
	for _, s in ipairs(socks) do
		if new_src[s] ~= nil and txn:set(s.image, s.e, spec.src, new_src[s], s.label .. "." .. spec.src, spec.show) then
			n = n + 1
		end
		if new_dst[s] ~= nil and txn:set(s.image, s.e, spec.dst, new_dst[s], s.label .. "." .. spec.dst, spec.show) then
			n = n + 1
		end
	end
	if broken > 0 then
		txn:note("--local-only: %d socket(s) in the checkpoint still point at the old local side of " ..
			"their peer; those connections will not match at restore ('check' lists them)", broken)
	end
	return n
end

M.same = same

return M
