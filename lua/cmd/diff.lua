-- diff: what differs between two images or two checkpoints (directories or archives)
-- usage: critlua diff [--json] [-q|--brief] [--no-summary] [--memory [--pid PID]... [--page-size N]] A B
-- A and B are two image files, or two checkpoints: directories or container
-- checkpoint archives (.tar, .tar.gz, .tar.zst), in any mix. Prints, per
-- image, each field that differs by its path, counting entries from 0 as jq
-- over decode's JSON does (as every command and the Lua API's messages do):
--   files.img: entries[3].isk.src_port: 8080 -> 9090
-- entries only on one side (matched by their id, pid or fd when every entry
-- has a distinct one, else by position), images only on one side, and raw
-- files (pages-*.img, ...) by content: their sizes and the first byte that
-- differs. For checkpoints, a summary of the processes, open files and
-- sockets that changed follows (--no-summary leaves it out).
--   --json      one JSON document: {"equal":, "images": [...], "summary": {...}}
--   -q, --brief only say whether they differ
--   --memory    compare the processes' memory instead of the images (two
--               checkpoints): per process (by pid) the VMAs added, removed or
--               changed, the pages changed (address ranges, counts) and those
--               that moved between present / parent / lazy, parent/ chains
--               followed on both sides; then the shared memory segments.
--               --pid PID (repeatable) narrows it to those processes;
--               --pid PA:PB compares process PA of A with process PB of B;
--               --page-size N: the dumped machine's page size (4096).
--               See docs/MEMORY.md.
-- Exit status, as diff(1): 0 when equal, 1 when different, 2 on error or
-- bad usage (unlike the other commands, whose errors exit with 1).

local cli = require "cli"
local crit = require "crit"

local o = cli.parse(arg, { "--json", "-q, --brief", "--no-summary", "--memory", "--pid=PID...", "--page-size=N" })
if #o ~= 2 then
	cli.usage_error("give two images or two checkpoints")
end
if (o.pid or o.page_size) and not o.memory then
	cli.usage_error((o.pid and "--pid" or "--page-size") .. " goes with --memory")
end

local fixup = require "fixup"
local explore = require "explore"

---------------------------------------------------------------------------
-- What the schema says of each message type: its fields in order, their types

local FIELDS = {}
for _, m in ipairs(crit.schema().messages) do
	FIELDS[m.name] = m.fields
end

local UNSIGNED64 = { uint64 = true, fixed64 = true }

local unsigned = explore.unsigned

-- A value as the fixups' reports show it; IP addresses dotted, big strings
-- and payloads by their length.
local function show(v, f)
	if f and f.criu and f.criu.ipadd and type(v) == "table" then
		local ip = explore.ip_string(v)
		if ip then
			return ip
		end
	end
	if f and UNSIGNED64[f.type] and math.type(v) == "integer" then
		return unsigned(v)
	end
	if type(v) == "string" and #v > 64 then
		return string.format("<%d bytes>", #v)
	end
	if type(v) == "table" and crit.typeof(v) then
		return "{" .. crit.typeof(v) .. "}"
	end
	return fixup.show(v)
end

local function first_difference(a, b)
	local n = math.min(#a, #b)
	local i = 1
	while i <= n do -- by blocks first, then the byte
		local k = math.min(i + 4095, n)
		if a:sub(i, k) ~= b:sub(i, k) then
			for j = i, k do
				if a:byte(j) ~= b:byte(j) then
					return j - 1
				end
			end
		end
		i = k + 1
	end
	return n
end

---------------------------------------------------------------------------
-- Messages, field by field

-- Adds {path =, old =, new =, shown_old =, shown_new =} to out for each
-- leaf that differs between messages a and b of type tname.
local compare_value

local function compare_message(a, b, tname, path, out)
	local fields = FIELDS[tname]
	if not fields then
		return compare_value(a, b, nil, path, out)
	end
	for _, f in ipairs(fields) do
		compare_value(a[f.name], b[f.name], f, path .. "." .. f.name, out)
	end
	local ua, ub = crit.unknown(a), crit.unknown(b)
	if ua ~= ub then
		out[#out + 1] = { path = path .. ".(unknown)", old = ua, new = ub,
			shown_old = ua and string.format("<%d bytes>", #ua) or "(none)",
			shown_new = ub and string.format("<%d bytes>", #ub) or "(none)" }
	end
end

local function leaf(out, path, a, b, f)
	local d = { path = path, old = a, new = b, shown_old = show(a, f), shown_new = show(b, f) }
	if type(a) == "string" and type(b) == "string" and (#a > 64 or #b > 64) then
		d.first_difference = first_difference(a, b)
		d.shown_new = d.shown_new .. string.format(" (first difference at byte %d)", d.first_difference)
	end
	out[#out + 1] = d
end

function compare_value(a, b, f, path, out)
	if a == b then
		return
	end
	local ta, tb = type(a), type(b)
	if f and f.type == "message" and ta == "table" and tb == "table" then
		if f.label == "repeated" then
			for i = 1, math.max(#a, #b) do
				local p = string.format("%s[%d]", path, i - 1)
				if a[i] == nil then
					leaf(out, p, nil, b[i], f)
					out[#out].added = true
				elseif b[i] == nil then
					leaf(out, p, a[i], nil, f)
					out[#out].removed = true
				else
					compare_message(a[i], b[i], f.type_name, p, out)
				end
			end
		else
			compare_message(a, b, f.type_name, path, out)
		end
	elseif ta == "table" and tb == "table" and crit.typeof(a) == nil and crit.typeof(b) == nil then
		-- a repeated scalar field (or an extra payload of several parts)
		if f and f.label == "repeated" then
			if not fixup.same(a, b) then
				leaf(out, path, a, b, f)
			end
		else
			local keys, seen = {}, {}
			for k in pairs(a) do
				keys[#keys + 1], seen[k] = k, true
			end
			for k in pairs(b) do
				if not seen[k] then
					keys[#keys + 1] = k
				end
			end
			table.sort(keys, function(x, y)
				return tostring(x) < tostring(y)
			end)
			for _, k in ipairs(keys) do
				local p = math.type(k) == "integer" and string.format("%s[%d]", path, k - 1) or path .. "." .. tostring(k)
				if type(a[k]) == "table" and crit.typeof(a[k]) and type(b[k]) == "table" then
					compare_message(a[k], b[k], crit.typeof(a[k]), p, out)
				else
					compare_value(a[k], b[k], nil, p, out)
				end
			end
		end
	elseif ta == "table" and tb == "table" and crit.typeof(a) and crit.typeof(a) == crit.typeof(b) then
		compare_message(a, b, crit.typeof(a), path, out)
	else
		leaf(out, path, a, b, f)
	end
end

---------------------------------------------------------------------------
-- Images: entries matched by a key, or by position

local KEYS = { "id", "pid", "fd" }

-- The field that tells entries apart: one every entry of both sides has, a
-- different value in each; nil when none does.
local function entry_key(ea, eb)
	for _, k in ipairs(KEYS) do
		local ok = true
		for _, list in ipairs({ ea, eb }) do
			local seen = {}
			for _, e in ipairs(list) do
				local ok_get, v = pcall(function()
					return e[k]
				end)
				if not ok_get or v == nil or type(v) == "table" or seen[v] then
					ok = false
					break
				end
				seen[v] = true
			end
			if not ok then
				break
			end
		end
		if ok and (#ea > 1 or #eb > 1) then
			return k
		end
	end
	return nil
end

local function entry_type(e)
	return crit.typeof(e)
end

-- {changes = {...}, added = {{index=, key=}}, removed = {...}} for two image tables
local function compare_images(ia, ib)
	local res = { changes = {}, added = {}, removed = {} }
	if ia.magic ~= ib.magic then
		res.changes[1] = { path = "magic", old = ia.magic, new = ib.magic,
			shown_old = ia.magic, shown_new = ib.magic }
		return res
	end
	if ia.form ~= ib.form then
		leaf(res.changes, "form", ia.form, ib.form)
	end
	local ea, eb = ia.entries, ib.entries
	local key = entry_key(ea, eb)
	local function cmp(i, j)
		local a, b = ea[i], eb[j]
		local p = string.format("entries[%d]", i - 1)
		if entry_type(a) ~= entry_type(b) then
			leaf(res.changes, p, a, b)
		else
			compare_message(a, b, entry_type(a), p, res.changes)
		end
	end
	if key then
		local in_b = {}
		for j, e in ipairs(eb) do
			in_b[e[key]] = j
		end
		local in_a = {}
		for i, e in ipairs(ea) do
			in_a[e[key]] = i
			local j = in_b[e[key]]
			if j then
				cmp(i, j)
			else
				res.removed[#res.removed + 1] = { index = i - 1, key = key, value = e[key] }
			end
		end
		for j, e in ipairs(eb) do
			if not in_a[e[key]] then
				res.added[#res.added + 1] = { index = j - 1, key = key, value = e[key] }
			end
		end
	else
		for i = 1, math.min(#ea, #eb) do
			cmp(i, i)
		end
		for i = #eb + 1, #ea do
			res.removed[#res.removed + 1] = { index = i - 1 }
		end
		for j = #ea + 1, #eb do
			res.added[#res.added + 1] = { index = j - 1 }
		end
	end
	return res
end

---------------------------------------------------------------------------
-- Sources: a checkpoint, or a single image

local function sniff_archive(path)
	if path:match("%.img$") then
		return false -- an image, even a raw one that is a tar (tmpfs-*.tar.gz.img)
	end
	if path:match("%.tar$") or path:match("%.tar%.%w+$") or path:match("%.tgz$") then
		return true -- crit.open says what is wrong with it, if anything
	end
	local f = io.open(path, "rb")
	if not f then
		return false
	end
	local head = f:read(512) or ""
	f:close()
	return head:sub(1, 2) == "\31\139" or head:sub(1, 4) == "\40\181\47\253"
		or head:sub(1, 6) == "\253\55\122\88\90\0" or head:sub(1, 3) == "BZh"
		or head:sub(258, 262) == "ustar"
end

-- Raw files of a dump: compared by their bytes, never decoded.
local function is_raw(name)
	return crit.raw_kind(name) ~= nil
end

-- A reader of pieces of a file of a checkpoint: fn(offset, length) -> bytes
local function piece_reader(ck, name)
	if ck.archive then
		local member = crit.ARCHIVE_DIR .. name
		return function(off, len)
			return ck.archive:read(member, off, len)
		end, function() end
	end
	-- a FIFO named like a raw file would hang io.open: refused, naming it
	local kind = crit._stat(ck:path(name))
	if kind ~= "file" then
		error(ck:path(name) .. ": is a " .. tostring(kind) .. ", not an image file", 0)
	end
	local f = assert(io.open(ck:path(name), "rb"))
	return function(off, len)
		f:seek("set", off)
		return f:read(len) or ""
	end, function()
		f:close()
	end
end

-- Raw contents: nil when equal, else {size_a =, size_b =, first_difference =}
local function compare_raw(cka, ckb, name)
	local sa, sb = cka:size(name), ckb:size(name)
	local ra, ca = piece_reader(cka, name)
	local rb, cb = piece_reader(ckb, name)
	local n, off, diff = math.min(sa, sb), 0, nil
	local BLOCK = 1 << 20
	while off < n do
		local len = math.min(BLOCK, n - off)
		local a, b = ra(off, len), rb(off, len)
		if a ~= b then
			diff = off + first_difference(a, b)
			break
		end
		off = off + len
	end
	ca()
	cb()
	if not diff and sa ~= sb then
		diff = n
	end
	if diff then
		return { size_a = sa, size_b = sb, first_difference = diff }
	end
	return nil
end

-- One image of each checkpoint: nil when the same, else a record
local function compare_entry(cka, ckb, name)
	if is_raw(name) then
		local r = compare_raw(cka, ckb, name)
		if r then
			r.image, r.raw = name, true
		end
		return r
	end
	local ba, bb = cka:read(name), ckb:read(name)
	if ba == bb then
		return nil
	end
	local oka, ia = pcall(cka.image, cka, name)
	local okb, ib = pcall(ckb.image, ckb, name)
	if not (oka and okb) then
		-- not decodable on one side: by content, and why
		local r = compare_raw(cka, ckb, name)
		r = r or { size_a = #ba, size_b = #bb, first_difference = first_difference(ba, bb) }
		r.image, r.raw = name, true
		r.error = not oka and tostring(ia) or tostring(ib)
		return r
	end
	local r = compare_images(ia, ib)
	-- the same tables, different bytes: a field order or encoding only
	if #r.changes == 0 and #r.added == 0 and #r.removed == 0 then
		r.encoding_only = true
	end
	r.image = name
	cka:forget(name)
	ckb:forget(name)
	return r
end

---------------------------------------------------------------------------
-- The summary: processes, files, sockets

local function by_key(list, keyf)
	local t = {}
	for _, x in ipairs(list or {}) do
		t[keyf(x)] = x
	end
	return t
end

local function sorted_keys(...)
	local seen, keys = {}, {}
	for _, t in ipairs({ ... }) do
		for k in pairs(t) do
			if not seen[k] then
				seen[k] = true
				keys[#keys + 1] = k
			end
		end
	end
	table.sort(keys, function(x, y)
		if type(x) == type(y) and type(x) ~= "table" then
			return x < y
		end
		return tostring(x) < tostring(y)
	end)
	return keys
end

local function view_diff(la, lb, keyf, fields, label)
	local ma, mb = by_key(la, keyf), by_key(lb, keyf)
	local out = {}
	for _, k in ipairs(sorted_keys(ma, mb)) do
		local a, b = ma[k], mb[k]
		if not a then
			out[#out + 1] = { what = "added", key = label(b), item = b }
		elseif not b then
			out[#out + 1] = { what = "removed", key = label(a), item = a }
		else
			local ch = {}
			for _, f in ipairs(fields) do
				local va, vb = a[f], b[f]
				if type(va) == "table" and type(vb) == "table" then
					if #va ~= #vb then
						ch[#ch + 1] = { field = f, old = #va, new = #vb }
					end
				elseif va ~= vb then
					ch[#ch + 1] = { field = f, old = va, new = vb }
				end
			end
			if #ch > 0 then
				out[#out + 1] = { what = "changed", key = label(a), changes = ch }
			end
		end
	end
	return out
end

local function summary(cka, ckb)
	local function safe(fn, ck)
		local ok, v = pcall(fn, ck)
		return ok and v or {}
	end
	local pa, pb = safe(explore.ps, cka), safe(explore.ps, ckb)
	local procs = view_diff(pa, pb, function(p)
		return p.pid
	end, { "comm", "ppid", "pgid", "sid", "state", "threads" }, function(p)
		return string.format("process %d (%s)", p.pid, tostring(p.comm))
	end)
	local function flat_fds(list)
		local out = {}
		for _, r in ipairs(list) do
			for _, f in ipairs(r.fds or {}) do
				out[#out + 1] = { pid = r.pid, fd = f.fd, type = f.type, name = f.name, flags = f.flags }
			end
			out[#out + 1] = { pid = r.pid, fd = "cwd", name = r.cwd }
			out[#out + 1] = { pid = r.pid, fd = "root", name = r.root }
		end
		return out
	end
	local fa, fb = flat_fds(safe(explore.fds, cka)), flat_fds(safe(explore.fds, ckb))
	local fkey = function(f)
		return string.format("%d fd %s", f.pid, tostring(f.fd))
	end
	local files = view_diff(fa, fb, fkey, { "type", "name", "flags" }, fkey)
	local sa, sb = safe(explore.sockets, cka), safe(explore.sockets, ckb)
	local skey = function(s)
		return string.format("%d fd %d", s.pid, s.fd)
	end
	local sockets = view_diff(sa, sb, skey, { "family", "type", "proto", "state", "local", "peer" }, function(s)
		return string.format("%d fd %d (%s %s)", s.pid, s.fd, tostring(s.family), tostring(s.type))
	end)
	return { processes = procs, files = files, sockets = sockets }
end

---------------------------------------------------------------------------
-- Output

local function line_of(img, d)
	return string.format("%s: %s: %s -> %s", img, d.path, d.shown_old, d.shown_new)
end

local function render_text(res, write)
	for _, name in ipairs(res.only_a) do
		write(string.format("%s: only in %s\n", name, res.a))
	end
	for _, name in ipairs(res.only_b) do
		write(string.format("%s: only in %s\n", name, res.b))
	end
	for _, r in ipairs(res.images) do
		local name = r.image
		if r.raw then
			write(string.format("%s: contents differ: %d bytes -> %d bytes, first difference at offset 0x%x%s\n",
				name, r.size_a, r.size_b, r.first_difference, r.error and " (" .. r.error .. ")" or ""))
		elseif r.encoding_only then
			write(string.format("%s: the same entries, encoded differently\n", name))
		else
			for _, d in ipairs(r.changes) do
				write(line_of(name, d) .. "\n")
			end
			for _, x in ipairs(r.removed) do
				write(string.format("%s: entries[%d]: removed%s\n", name, x.index,
					x.key and string.format(" (%s %s)", x.key, tostring(x.value)) or ""))
			end
			for _, x in ipairs(r.added) do
				write(string.format("%s: entries[%d]: added%s\n", name, x.index,
					x.key and string.format(" (%s %s)", x.key, tostring(x.value)) or ""))
			end
		end
	end
	local s = res.summary
	if s and (#s.processes + #s.files + #s.sockets) > 0 then
		write("\nsummary:\n")
		for _, part in ipairs({ { "processes", s.processes }, { "files", s.files }, { "sockets", s.sockets } }) do
			for _, x in ipairs(part[2]) do
				if x.what == "changed" then
					local parts = {}
					for _, c in ipairs(x.changes) do
						parts[#parts + 1] = string.format("%s %s -> %s", c.field, fixup.show(c.old), fixup.show(c.new))
					end
					write(string.format("  %s: %s: %s\n", part[1], x.key, table.concat(parts, ", ")))
				else
					write(string.format("  %s: %s: %s\n", part[1], x.key, x.what))
				end
			end
		end
	end
end

-- JSON: values as the images hold them (strings as JSON strings, messages as
-- decode writes them); payloads over 64 bytes by their length. The records
-- below, with their keys in these orders; old, new, size and index are null
-- when absent, the others left out.
local JSON_SHAPES = setmetatable({}, { __mode = "k" })
local JSON_LAYOUT = { lists = true, shapes = JSON_SHAPES, order = {
	doc = { "a", "b", "equal", "only_a", "only_b", "images", "summary" },
	raw = { "image", "kind", "size_a", "size_b", "first_difference", "error" },
	entries = { "image", "kind", "encoding_only", "changes", "removed", "added" },
	change = { "path", "old", "new", "old_text", "new_text", "first_difference" },
	item = { "index", "key", "value" },
	summary = { "processes", "files", "sockets" },
	part = { "what", "key", "changes" },
	field = { "field", "old", "new" },
} }

local function record(shape, t)
	JSON_SHAPES[t] = shape
	return t
end

local function or_null(v)
	if v == nil then
		return crit.json.null
	end
	return v
end

local function map(list, fn)
	local out = {}
	for i, x in ipairs(list) do
		out[i] = fn(x)
	end
	return out
end

local function render_json(res, write)
	local function item(x)
		return record("item", { index = or_null(x.index), key = x.key, value = x.key and or_null(x.value) })
	end
	local images = map(res.images, function(r)
		if r.raw then
			return record("raw", { image = r.image, kind = "contents", size_a = or_null(r.size_a),
				size_b = or_null(r.size_b), first_difference = or_null(r.first_difference), error = r.error })
		end
		return record("entries", { image = r.image, kind = "entries", encoding_only = r.encoding_only and true or nil,
			changes = map(r.changes, function(d)
				local old, new = d.old, d.new
				if type(old) == "string" and #old > 64 then
					old = string.format("<%d bytes>", #old)
				end
				if type(new) == "string" and #new > 64 then
					new = string.format("<%d bytes>", #new)
				end
				return record("change", { path = d.path, old = or_null(old), new = or_null(new),
					old_text = d.shown_old, new_text = d.shown_new, first_difference = d.first_difference })
			end),
			removed = map(r.removed, item), added = map(r.added, item) })
	end)
	local summ
	if res.summary then
		local function part(list)
			return map(list, function(x)
				return record("part", { what = x.what, key = x.key, changes = x.changes and map(x.changes, function(c)
					return record("field", { field = c.field, old = or_null(c.old), new = or_null(c.new) })
				end) })
			end)
		end
		summ = record("summary", { processes = part(res.summary.processes), files = part(res.summary.files),
			sockets = part(res.summary.sockets) })
	end
	write(crit.json.encode(record("doc", { a = res.a, b = res.b, equal = res.equal and true or false,
		only_a = res.only_a, only_b = res.only_b, images = images, summary = summ }), JSON_LAYOUT) .. "\n")
end

---------------------------------------------------------------------------
-- The run: any error exits with 2, as diff(1) does

local function run()
	local a, b = o[1], o[2]
	if o.memory then
		local pids
		for _, t in ipairs(o.pid or {}) do
			local x, y = t:match("^(%d+):(%d+)$")
			x, y = math.tointeger(tonumber(x or t)), math.tointeger(tonumber(y or t))
			if not x or not y or x <= 0 or y <= 0 then
				cli.usage_error("--pid: '" .. t .. "' is not a pid (or PID_A:PID_B)")
			end
			pids = pids or {}
			pids[#pids + 1] = { x, y }
		end
		local memory = require "memory"
		local cka, bad = memory.open(a, o.page_size)
		if not cka then
			cli.usage_error(bad)
		end
		crit.progress.start("diff --memory", 0)
		local ok, res = pcall(cka.memory_diff, cka, memory.open(b, o.page_size), { pids = pids })
		crit.progress.stop()
		if not ok then
			error(res, 0)
		end
		res.memory = true
		return res
	end
	local res = { a = a, b = b, only_a = {}, only_b = {}, images = {} }
	for _, p in ipairs({ a, b }) do
		local f, msg = io.open(crit.pod_address(p) or p, "rb")
		if not f then
			error(msg, 0)
		end
		f:close()
	end
	local ck_a = crit.is_dir(a) or sniff_archive(crit.pod_address(a) or a)
	local ck_b = crit.is_dir(b) or sniff_archive(crit.pod_address(b) or b)
	if ck_a ~= ck_b then
		error(string.format("cannot compare %s with %s: %s", a, b,
			ck_a and "a checkpoint with an image" or "an image with a checkpoint"), 0)
	end
	if ck_a then
		local cka, ckb = crit.open(a), crit.open(b)
		local la, lb = cka:list(), ckb:list()
		local in_a, in_b = {}, {}
		for _, n in ipairs(la) do
			in_a[n] = true
		end
		for _, n in ipairs(lb) do
			in_b[n] = true
			if not in_a[n] then
				res.only_b[#res.only_b + 1] = n
			end
		end
		for _, n in ipairs(la) do
			if not in_b[n] then
				res.only_a[#res.only_a + 1] = n
			else
				local r = compare_entry(cka, ckb, n)
				if r then
					res.images[#res.images + 1] = r
				end
			end
		end
		res.equal = #res.images == 0 and #res.only_a == 0 and #res.only_b == 0
		if not res.equal and not o.no_summary and not o.brief then
			res.summary = summary(cka, ckb)
		end
	else
		local name = a:match("[^/]+$")
		local fa, fb = assert(io.open(a, "rb")), io.open(b, "rb")
		if not fb then
			local _, msg = io.open(b, "rb")
			error(msg, 0)
		end
		local ba, bb = fa:read("a"), fb:read("a")
		fa:close()
		fb:close()
		if ba ~= bb then
			local r
			if is_raw(name) or is_raw(b) then -- (raw_kind looks at the base name)
				r = { raw = true, size_a = #ba, size_b = #bb, first_difference = first_difference(ba, bb) }
			else
				r = compare_images(crit.load(a), crit.load(b))
				if #r.changes == 0 and #r.added == 0 and #r.removed == 0 then
					r.encoding_only = true
				end
			end
			r.image = name
			res.images[1] = r
		end
		res.equal = #res.images == 0
	end
	return res
end

local ok, res = pcall(run)
if not ok then
	if getmetatable(res) and tostring(getmetatable(res).__name) == "critlua.usage_error" then
		error(res, 0)
	end
	io.stdout:flush()
	io.stderr:write("critlua: diff: ", tostring(res), "\n")
	os.exit(2, true)
end
if o.brief then
	if not res.equal then
		io.stdout:write(string.format("%s and %s differ\n", res.a, res.b))
	end
elseif res.memory then
	local md = require "memdiff"
	md[o.json and "render_json" or "render_text"](res, function(s)
		io.stdout:write(s)
	end)
elseif o.json then
	render_json(res, function(s)
		io.stdout:write(s)
	end)
else
	render_text(res, function(s)
		io.stdout:write(s)
	end)
end
io.stdout:flush()
os.exit(res.equal and 0 or 1, true)
