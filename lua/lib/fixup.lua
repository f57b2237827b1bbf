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
-- (keep each replaced image as NAME.orig), quiet (no report, no notes: errors
-- only), json (the report as one JSON document on stdout), allow_none (changing
-- nothing is no error), wait (for another writer: seconds, true = no limit;
-- default 10 s). The checkpoint's lock is taken here, before any image is read,
-- and held to the end (a dry run only reads: it takes none).
function M.open(dir, opts)
	opts = opts or {}
	local ck = crit.open(dir, { lock = not opts.dry_run, wait = opts.wait })
	return setmetatable({
		ck = ck, dir = ck.dir, opts = opts,
		changes = {}, changed = {}, notes = {}, unmatched = {}, residuals = {}, touched = {},
	}, Txn)
end

-- The image, loaded once; nil when the checkpoint has no such file.
function Txn:image(name)
	return (self.ck:image(name))
end

function Txn:note(fmt, ...)
	self.notes[#self.notes + 1] = string.format(fmt, ...)
end

-- Why something asked for matched nothing ("no socket uses port 1111"): a note
-- when other things changed; the reason of the error when nothing did.
function Txn:none(fmt, ...)
	self.unmatched[#self.unmatched + 1] = string.format(fmt, ...)
end

-- A pid given by --pid: raises unless it is a process of the checkpoint (the
-- message of memory.lua, as grep gives it).
function Txn:check_pid(pid)
	if pid then
		require("memory").check_pid(self.ck, pid)
	end
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

-- The label of entry i (the Lua index) of an image, and back: the one place
-- that numbers them. Labels count from 0, as jq paths over decode's JSON and
-- every message of critlua do: img.entries[i] is "entries[i-1]".
function M.entry_label(i)
	return string.format("entries[%d]", i - 1)
end
local function entry_of_label(label)
	local i = label:match("^entries%[(%d+)%]")
	return i and tonumber(i) + 1
end

-- What a person knows the entry at `label` of image `name` by (holders.lua),
-- from the index built before the first change: the old names.
function Txn:object(name, label)
	if not self.index then
		self.index = require("holders").index(self.ck)
	end
	local i = entry_of_label(label)
	return i and require("holders").object(self.index, name, self.ck.loaded[name], i) or nil
end

-- Set msg[key] = new in image `name`, remembered for the report as
-- "object: key old -> new (name: label)" (show formats the values). Returns
-- whether it changed anything.
function Txn:set(name, msg, key, new, label, show)
	local old = msg[key]
	if same(old, new) then
		return false
	end
	local object = self:object(name, label)
	msg[key] = new
	self.changes[#self.changes + 1] = {
		image = name, label = label, field = key, old = old, new = new, show = show or M.show, object = object,
	}
	self.changed[name] = true
	self.touched[msg] = self.touched[msg] or {}
	self.touched[msg][key] = true
	return true
end

-- A change made otherwise than by Txn:set (bytes of a raw file, ck:patch),
-- remembered for the report the same way; name is then written by commit.
function Txn:record(name, label, old, new, show)
	self.changes[#self.changes + 1] = { image = name, label = label, old = old, new = new, show = show or M.show }
	self.changed[name] = true
end

-- One change (or residual hit) as a line: "pid 7 fd 3 tcp A→B: src_port 1 -> 2
-- (files.img: entries[6].isk.src_port)"; the image and path lead when no
-- object is known.
local function change_line(c)
	local holders = require "holders"
	local vals = c.old ~= nil and string.format("%s -> %s", c.show(c.old), c.show(c.new)) or c.show(c.new)
	if c.object then
		return string.format("%s: %s %s (%s: %s)", holders.text(c.object), c.field, vals, c.image, c.label)
	end
	return string.format("%s: %s: %s", c.image, c.label, vals)
end

-- The changes, one line each, in the order they were made.
function Txn:report(write)
	for _, c in ipairs(self.changes) do
		write(change_line(c) .. "\n")
	end
end

-- A value for the JSON report: what show writes for values it formats its own
-- way (addresses), else the value itself.
local function json_value(c, v)
	if c.show ~= M.show and v ~= nil then
		return c.show(v)
	end
	return v
end

local function json_object(obj)
	if not obj then
		return nil
	end
	local hs = {}
	for i, h in ipairs(obj.holders or {}) do
		hs[i] = { pid = h.pid, fd = h.fd, as = h.as }
	end
	return { kind = obj.kind, id = obj.id, name = obj.name, holders = crit.json.array(hs),
		["local"] = obj["local"], peer = obj.peer, text = require("holders").text(obj) }
end

-- The --json report: every change with its image, field path, old and new
-- values and object; the residual references; the notes.
function Txn:json_report(what, written)
	local changes, residual = {}, {}
	for i, c in ipairs(self.changes) do
		changes[i] = { image = c.image, path = c.label, field = c.field, old = json_value(c, c.old),
			new = json_value(c, c.new), object = json_object(c.object), line = change_line(c) }
	end
	for i, r in ipairs(self.residuals) do
		residual[i] = { value = r.value, where = r.where, pid = r.pid, index = r.index, text = r.text,
			image = r.image, path = r.label, object = json_object(r.object), line = r.line }
	end
	local notes = {}
	for _, n in ipairs(self.notes) do
		notes[#notes + 1] = n
	end
	for _, n in ipairs(self.unmatched) do
		notes[#notes + 1] = n
	end
	return crit.json.encode({
		command = what, dry_run = self.opts.dry_run and true or false, changes = crit.json.array(changes),
		written = crit.json.array(written), residual = crit.json.array(residual), notes = crit.json.array(notes),
	})
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

M.RESIDUAL_LINES = 20

-- The usual end of a fixup script: the commit, then the report of the changes
-- (text, or --json's document) and a line saying what happened, and on stderr
-- the notes and where the old values still appear (residual_search). Nothing
-- changed is an error naming why (the reasons given to none), unless
-- allow_none. quiet silences the report and the notes, not the errors.
function Txn:finish(what)
	local o = self.opts
	local n = #self.changes
	if n > 0 then
		self:residual_scan() -- on the tables as changed, before the write
	end
	local written = self:commit()
	if o.json then
		io.stdout:write(self:json_report(what, written), "\n")
	elseif not o.quiet or o.dry_run then
		self:report(function(s)
			io.stdout:write(s)
		end)
	end
	if not o.quiet then
		for _, note in ipairs(self.notes) do
			io.stderr:write("note: ", note, "\n")
		end
		-- up to RESIDUAL_LINES places per value; --json lists them all
		local shown, more = {}, {}
		for _, r in ipairs(self.residuals) do
			shown[r.value] = (shown[r.value] or 0) + 1
			if shown[r.value] <= M.RESIDUAL_LINES then
				io.stderr:write("note: ", r.line, "\n")
			else
				more[r.value] = (more[r.value] or 0) + 1
			end
		end
		for value, k in pairs(more) do
			io.stderr:write(string.format("note: %s still appears in %d more place(s) (--json lists them all)\n",
				value, k))
		end
		if n > 0 then
			for _, why in ipairs(self.unmatched) do
				io.stderr:write("note: ", why, "\n")
			end
		end
	end
	if n == 0 then
		local why = #self.unmatched > 0 and table.concat(self.unmatched, "; ") or "nothing matched"
		if not o.allow_none then
			io.stdout:flush()
			error(string.format("%s: nothing to change: %s (--allow-none accepts that)", what, why), 0)
		end
		if not o.quiet then
			io.stderr:write(what, ": nothing to change: ", why, "\n")
		end
	elseif o.json then
		return written
	elseif o.dry_run then
		io.stdout:write(string.format("dry run: %d change(s) in %d image(s); nothing written\n",
			n, self:count_images()))
	elseif not o.quiet then
		io.stdout:write(string.format("%d change(s) written to %s%s\n", n, table.concat(written, ", "),
			o.backup and " (originals kept as *.orig)" or ""))
	end
	return written
end

-- Where an old value may still be once the fixup is done. spec: value (as
-- people write it: "47321", "/srv/app"), mem(s) -> whether the string s of a
-- command line or environment holds it, fields = {typename = {key, ...}} (the
-- image fields to look at; true: every string and bytes field) and match(v) ->
-- whether such a field's value holds it. Fields this transaction changed are
-- not looked at. finish searches and writes what it finds as notes.
function Txn:residual(spec)
	self.residual_specs = self.residual_specs or {}
	self.residual_specs[#self.residual_specs + 1] = spec
end

-- The string and bytes fields of each message type.
local text_fields
local function strings_of(typename)
	if not text_fields then
		text_fields = {}
		for _, m in ipairs(crit.schema().messages) do
			local list = {}
			for _, f in ipairs(m.fields) do
				if f.type == "string" or f.type == "bytes" then
					list[#list + 1] = f.name
				end
			end
			text_fields[m.name] = list
		end
	end
	return text_fields[typename]
end

function Txn:residual_scan()
	local specs = self.residual_specs
	if not specs or (self.opts.quiet and not self.opts.json) then
		return
	end
	local ck = self.ck
	local found = self.residuals
	-- the images: the fields the specs name, in the images that can hold them
	local types, all_text = {}, false
	for _, sp in ipairs(specs) do
		if sp.fields == true then
			all_text = true
		else
			for t in pairs(sp.fields or {}) do
				types[t] = true
			end
		end
	end
	if all_text then
		strings_of("")
		for t, list in pairs(text_fields) do
			if #list > 0 then
				types[t] = true
			end
		end
	end
	for _, name in ipairs(M.images_holding(ck, types)) do
		local ok, img = pcall(ck.image, ck, name)
		if ok and img and img.entries then
			M.walk(img, function(msg, t, label)
				for _, sp in ipairs(specs) do
					local keys = sp.fields == true and strings_of(t) or (sp.fields or {})[t]
					for _, k in ipairs(keys or {}) do
						local v = msg[k]
						if v ~= nil and not (self.touched[msg] and self.touched[msg][k]) and sp.match(v) then
							local r = { value = sp.value, where = "image", image = name, label = label .. "." .. k,
								field = k, new = v, show = sp.show or M.show, object = self:object(name, label) }
							r.line = sp.value .. " still appears in " .. change_line(r)
							found[#found + 1] = r
						end
					end
				end
			end)
		end
	end
	-- the command lines and environments, read from the processes' memory
	local memory = require "memory"
	local unread, why = {}, nil
	local any_mem = false
	for _, sp in ipairs(specs) do
		any_mem = any_mem or sp.mem ~= nil
	end
	if not any_mem then
		return
	end
	for _, pid in ipairs(memory.pids(ck)) do
		for _, area in ipairs({ { memory.cmdline, "argv" }, { memory.environ, "environ" } }) do
			local ok, list, err = pcall(area[1], ck, pid)
			if ok and list then
				for i, str in ipairs(list) do
					for _, sp in ipairs(specs) do
						if sp.mem and sp.mem(str) then
							local r = { value = sp.value, where = area[2], pid = pid, index = i - 1, text = str }
							r.line = string.format("%s still appears in pid %d %s[%d] %s", sp.value, pid, area[2],
								i - 1, M.show(str))
							found[#found + 1] = r
						end
					end
				end
			else
				if unread[#unread] ~= pid then
					unread[#unread + 1] = pid
				end
				why = why or tostring(ok and err or list)
			end
		end
		memory.close_memory(ck, pid)
	end
	if #unread > 0 then
		self:note("the command line or environment of pid %s was not searched for the old value(s): %s",
			table.concat(unread, ", "), why)
	end
end

-- Whether text s holds word w where it is a whole word: not inside a longer
-- one made of the characters of `word` (a Lua character class).
function M.holds_word(s, w, word)
	local from = 1
	while true do
		local i, j = s:find(w, from, true)
		if not i then
			return false
		end
		local before, after = s:sub(i - 1, i - 1), s:sub(j + 1, j + 1)
		if (i == 1 or not before:find(word)) and (after == "" or not after:find(word)) then
			return true
		end
		from = i + 1
	end
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
					walk_msg(x, f.type, string.format("%s.%s[%d]", label, f.name, i - 1), visit)
				end
			else
				walk_msg(v, f.type, label .. "." .. f.name, visit)
			end
		end
	end
end

-- visit(msg, typename, label) for every message of the image, nested ones
-- too, depth first in field order; label is its path ("entries[3].reg", from 0).
function M.walk(img, visit)
	for i, e in ipairs(img.entries) do
		local t = crit.typeof(e)
		if t then
			walk_msg(e, t, M.entry_label(i), visit)
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
			local s = { image = "files.img", label = M.entry_label(i) .. ".isk", e = f.isk, pids = {} }
			socks[#socks + 1] = s
			by_id[f.id] = by_id[f.id] or s
		end
	end
	local legacy = ck:image("inetsk.img")
	for i, e in ipairs(legacy and legacy.entries or {}) do
		local s = { image = "inetsk.img", label = M.entry_label(i), e = e, pids = {} }
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
		"--peer-only", "--proto=P", "--pid=PID", "-q, --quiet", "--json", "--allow-none" })
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
	txn:check_pid(opts.pid)
	local socks, all = {}, M.inet_sockets(txn.ck)
	-- the values as they were, for why_none
	for _, s in ipairs(all) do
		s.old_src, s.old_dst = s.e[spec.src], s.e[spec.dst]
	end
	txn.inet = { all = all, spec = spec, opts = opts }
	for _, s in ipairs(all) do
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

-- Why no socket had `what` (a port or address, as people write it) changed
-- where rewrite_inet looked: the first of these that is so, over every inet
-- socket of the checkpoint as it was. match(v) -> whether the value v (of
-- spec.src or spec.dst) is it.
function M.why_none(txn, what, match)
	local spec, opts, all = txn.inet.spec, txn.inet.opts, txn.inet.all
	local SOCK_RAW_ = SOCK_RAW
	local function pids_of(list)
		local set, out = {}, {}
		for _, s in ipairs(list) do
			for pid in pairs(s.pids) do
				set[pid] = true
			end
		end
		for pid in pairs(set) do
			out[#out + 1] = pid
		end
		table.sort(out)
		return #out > 0 and table.concat(out, ", ") or "none"
	end
	local users = {}
	for _, s in ipairs(all) do
		if (s.old_src ~= nil and match(s.old_src)) or (s.connected and s.old_dst ~= nil and match(s.old_dst)) then
			users[#users + 1] = s
		end
	end
	if #users == 0 then
		return string.format("no socket of the checkpoint uses %s (as local or peer side)", what)
	end
	local function keep(list, pred)
		local out = {}
		for _, s in ipairs(list) do
			if pred(s) then
				out[#out + 1] = s
			end
		end
		return out
	end
	local left = keep(users, function(s)
		return spec.raw or s.e.type ~= SOCK_RAW_
	end)
	if #left == 0 then
		return string.format("only raw sockets use %s (their port is a protocol number: rewrite-ip only)", what)
	end
	if opts.proto then
		local before = left
		left = keep(left, function(s)
			return s.e.proto == opts.proto
		end)
		if #left == 0 then
			local names = { [M.TCP] = "tcp", [M.UDP] = "udp" }
			local other = {}
			for _, s in ipairs(before) do
				other[names[s.e.proto] or tostring(s.e.proto)] = true
			end
			local list = {}
			for k in pairs(other) do
				list[#list + 1] = k
			end
			table.sort(list)
			return string.format("%s is used by %s sockets only, not by %s ones (--proto)", what,
				table.concat(list, " and "), names[opts.proto])
		end
	end
	if opts.pid then
		local before = left
		left = keep(left, function(s)
			return s.pids[opts.pid]
		end)
		if #left == 0 then
			return string.format("no socket of pid %d uses %s (the sockets using it are those of pid %s)",
				opts.pid, what, pids_of(before))
		end
	end
	local as_local = keep(left, function(s)
		return s.old_src ~= nil and match(s.old_src)
	end)
	local as_peer = keep(left, function(s)
		return s.connected and s.old_dst ~= nil and match(s.old_dst)
	end)
	local peer_inside = keep(as_peer, function(s)
		return M.peer_of(all, s) ~= nil
	end)
	if opts.peer_only then
		local side = spec.src:match("port") and "port" or "address"
		if #as_peer == 0 then
			return string.format("%s is only a local %s here (of pid %s); --peer-only changes peer sides only",
				what, side, pids_of(as_local))
		end
		return string.format("%s is %sthe peer side of connections inside the checkpoint (pid %s), which " ..
			"--peer-only leaves alone (without it they follow their peer's local side)", what,
			#as_local > 0 and string.format("a local %s (pid %s) and ", side, pids_of(as_local)) or "only ",
			pids_of(as_peer))
	end
	if #as_local == 0 and #peer_inside < #as_peer then
		return string.format("%s is only the peer side of connections to outside the checkpoint (pid %s): " ..
			"--peer or --peer-only changes those", what, pids_of(as_peer))
	end
	if #as_local == 0 and opts.pid then
		return string.format("%s is only the peer side of pid %d's connections to other processes of the " ..
			"checkpoint: it changes with their local side (--pid %d leaves that out)", what, opts.pid, opts.pid)
	end
	return string.format("no selected socket has %s where it would change", what)
end

M.same = same

return M
