-- memdiff: the memory of two checkpoints compared per process (matched by pid)
-- and per shared segment: VMAs added, removed or changed, and the pages that
-- changed or moved between present / parent / lazy (crit.memdiff, streaming).
-- ck:memory_diff(other [, opts]); `critlua diff A B --memory` renders it.

local crit = require "crit"
local explore = require "explore"

local M = {}

local ult = math.ult

-- The VMA fields a change is reported on, in this order.
local VMA_FIELDS = { "start", "end", "perms", "prot", "flags", "pgoff", "name" }

local function hex(n)
	return string.format("0x%x", n)
end

local function vma_record(what, v)
	return { what = what, start = v.start, ["end"] = v["end"], perms = v.perms, name = v.name }
end

-- VMAs matched by start address, then the rest by end address (a stack that
-- grew down keeps its end).
local function diff_vmas(va, vb)
	local out = {}
	local by_start = {}
	for _, v in ipairs(vb) do
		by_start[v.start] = v
	end
	local pair, used = {}, {}
	for _, v in ipairs(va) do
		local w = by_start[v.start]
		if w then
			pair[v], used[w] = w, true
		end
	end
	local by_end = {}
	for _, w in ipairs(vb) do
		if not used[w] then
			by_end[w["end"]] = by_end[w["end"]] or w
		end
	end
	for _, v in ipairs(va) do
		local w = not pair[v] and by_end[v["end"]]
		if w and not used[w] then
			pair[v], used[w] = w, true
		end
	end
	for _, v in ipairs(va) do
		local w = pair[v]
		if not w then
			out[#out + 1] = vma_record("removed", v)
		else
			local ch = {}
			for _, f in ipairs(VMA_FIELDS) do
				if v[f] ~= w[f] then
					ch[#ch + 1] = { field = f, old = v[f], new = w[f] }
				end
			end
			if #ch > 0 then
				local r = vma_record("changed", v)
				r.changes = ch
				out[#out + 1] = r
			end
		end
	end
	for _, w in ipairs(vb) do
		if not used[w] then
			out[#out + 1] = vma_record("added", w)
		end
	end
	table.sort(out, function(x, y)
		if x.start ~= y.start then
			return ult(x.start, y.start)
		end
		return x.what < y.what
	end)
	return out
end

-- What a run of crit.memdiff is, for a person: changed, moved, added,
-- removed, or uncompared.
local function classify(r)
	if r.content == "changed" then
		return "changed"
	elseif r.content == "same" then
		return "moved"
	elseif r.a == "none" then
		return "added"
	elseif r.b == "none" then
		return "removed"
	elseif r.a ~= r.b then
		return "moved"
	end
	return "uncompared"
end

local function new_counts()
	return { compared = 0, changed = 0, changed_ranges = 0, added = 0, removed = 0, moved = 0, uncompared = 0 }
end

-- memdiff.check_pages_file(ck, m, pagemap_name): raises unless the pages file
-- of memory object m of ck holds every page its
-- pagemap says it does: pages only on one side are never read, and a pagemap
-- pointing past its pages file is broken input all the same. An absent pages
-- file (a dump kept without its memory) gives false and a note: the VMAs are
-- still compared.
function M.check_pages_file(ck, m, pagemap)
	local want = 0
	for _, r in ipairs(m:regions()) do
		if r.present then
			want = want + r.size
		end
	end
	if want == 0 then
		return true
	end
	local name = string.format("pages-%d.img", m:pages_id())
	local have = ck:size(name)
	if not have then
		return false, string.format("pages not compared: %s is not there (%s has pages in it)", ck:path(name), pagemap)
	end
	if have < want then
		error(string.format("%s: the file is shorter than its pagemap says: %d bytes, %s says %d", ck:path(name), have,
			pagemap, want), 0)
	end
	return true
end

-- Compare two memory objects (crit.memory); pages of the result and counts.
local function diff_pages(ma, mb, chunk, ps)
	local pages, counts = {}, new_counts()
	local st, err = crit.memdiff(ma, mb, function(r)
		local what = classify(r)
		local rec = {
			what = what, start = r.addr, ["end"] = r.addr + r.npages * ps, pages = r.npages, a = r.a, b = r.b,
			compared = r.content ~= "uncompared", missing_parent = r.missing_parent or nil,
		}
		-- pages of a missing parent/ are not compared, even where they "moved"
		if r.missing_parent and what ~= "added" and what ~= "removed" then
			rec.what = "uncompared"
		end
		pages[#pages + 1] = rec
		if rec.what == "changed" then
			counts.changed_ranges = counts.changed_ranges + 1
		else
			counts[rec.what] = counts[rec.what] + r.npages
		end
	end, chunk)
	if not st then
		error(err, 0)
	end
	counts.compared, counts.changed = st.compared, st.changed
	return pages, counts
end

local function comms(ck)
	local ok, ps = pcall(explore.ps, ck)
	local out = {}
	for _, p in ipairs(ok and ps or {}) do
		out[p.pid] = p.comm
	end
	return out
end

local function shmem_ids(ck)
	local ids = {}
	for _, name in ipairs(ck:list()) do
		local id = name:match("^pagemap%-shmem%-(%d+)%.img$")
		if id then
			ids[#ids + 1] = math.tointeger(tonumber(id))
		end
	end
	return ids
end

local function union_sorted(la, lb)
	local seen, out = {}, {}
	for _, l in ipairs({ la, lb }) do
		for _, x in ipairs(l) do
			if not seen[x] then
				seen[x] = true
				out[#out + 1] = x
			end
		end
	end
	table.sort(out)
	return out, seen
end

local function has(list, x)
	for _, y in ipairs(list) do
		if y == x then
			return true
		end
	end
	return false
end

local function page_size_of(cka, ckb)
	local pa, pb = rawget(cka, "page_size") or 4096, rawget(ckb, "page_size") or 4096
	if pa ~= pb then
		error(string.format("cannot compare memory with pages of %d and %d bytes", pa, pb), 0)
	end
	return pa
end

-- ck:memory_diff(other [, opts]) -> the differences between the memory of ck
-- (A) and of other (B): {a, b, equal, processes = {...}, shmem = {...}}; see
-- docs/MEMORY.md. opts.pids: only these processes, each a pid or {pid in A,
-- pid in B} (a restored process may have another pid); opts.chunk: bytes read
-- from each side at a time (1 MiB).
function M.memory_diff(cka, ckb, opts)
	opts = opts or {}
	local ps = page_size_of(cka, ckb)
	local res = { a = cka.dir, b = ckb.dir, processes = {}, shmem = {}, equal = true }
	local pa, pb = cka:pids(), ckb:pids()
	-- pairs {pid in A, pid in B}: every pid of either side, or those asked for
	local pairs_ = {}
	if opts.pids then
		for _, p in ipairs(opts.pids) do
			local x, y = p, p
			if type(p) == "table" then
				x, y = p[1], p[2]
			end
			if not has(pa, x) and not has(pb, y) then
				error(x == y and string.format("pid %d is in neither %s nor %s", x, cka.dir, ckb.dir)
					or string.format("pid %d is not in %s, nor pid %d in %s", x, cka.dir, y, ckb.dir), 0)
			end
			pairs_[#pairs_ + 1] = { x, y }
		end
	else
		for _, p in ipairs(union_sorted(pa, pb)) do
			pairs_[#pairs_ + 1] = { p, p }
		end
	end
	local ca, cb = comms(cka), comms(ckb)
	for _, pp in ipairs(pairs_) do
		local pid, pid_b = pp[1], pp[2]
		local rec = { pid = pid, pid_b = pid_b ~= pid and pid_b or nil, comm = ca[pid] or cb[pid_b] }
		local ina, inb = has(pa, pid), has(pb, pid_b)
		if not (ina and inb) then
			rec.only = ina and "a" or "b"
			res.equal = false
		else
			rec.vmas = diff_vmas(cka:vmas(pid), ckb:vmas(pid_b))
			local ma, why_a = cka:memory(pid)
			local mb, why_b = ckb:memory(pid_b)
			local oka, okb
			if ma and mb then
				oka, why_a = M.check_pages_file(cka, ma, string.format("pagemap-%d.img", pid))
				okb, why_b = M.check_pages_file(ckb, mb, string.format("pagemap-%d.img", pid_b))
			end
			if ma and mb and not (oka and okb) then
				rec.note = why_a or why_b
				res.equal = false
			elseif ma and mb then
				rec.pages, rec.counts = diff_pages(ma, mb, opts.chunk, ps)
			elseif ma or mb then
				rec.note = why_a or why_b
				res.equal = false
			else
				rec.note = why_a
			end
			cka:close_memory(pid)
			ckb:close_memory(pid_b)
			if #rec.vmas > 0 or (rec.pages and #rec.pages > 0) then
				res.equal = false
			end
		end
		res.processes[#res.processes + 1] = rec
	end
	if not opts.pids then
		local ia, ib = shmem_ids(cka), shmem_ids(ckb)
		for _, id in ipairs(union_sorted(ia, ib)) do
			local rec = { id = id }
			if not (has(ia, id) and has(ib, id)) then
				rec.only = has(ia, id) and "a" or "b"
				res.equal = false
			else
				local ma, mb = assert(cka:shmem(id)), assert(ckb:shmem(id))
				local pm = string.format("pagemap-shmem-%d.img", id)
				local oka, why_a = M.check_pages_file(cka, ma, pm)
				local okb, why_b = M.check_pages_file(ckb, mb, pm)
				if oka and okb then
					rec.pages, rec.counts = diff_pages(ma, mb, opts.chunk, ps)
				else
					rec.note, rec.pages = why_a or why_b, {}
					res.equal = false
				end
				if #rec.pages > 0 then
					res.equal = false
				end
			end
			res.shmem[#res.shmem + 1] = rec
		end
		cka:close_memory()
		ckb:close_memory()
	end
	return res
end

---------------------------------------------------------------------------
-- Output

local function plural(n, word)
	return string.format("%d %s%s", n, word, n == 1 and "" or "s")
end

local function page_line(p)
	local range = string.format("%x-%x", p.start, p["end"])
	local n = plural(p.pages, "page")
	if p.what == "changed" then
		local moved = p.a ~= p.b and string.format(", %s -> %s", p.a, p.b) or ""
		return string.format("pages %s: changed (%s%s)", range, n, moved)
	elseif p.what == "added" then
		return string.format("pages %s: added (%s, %s)", range, n, p.b)
	elseif p.what == "removed" then
		return string.format("pages %s: removed (%s, were %s)", range, n, p.a)
	elseif p.what == "moved" then
		return string.format("pages %s: moved %s -> %s (%s%s)", range, p.a, p.b, n,
			p.compared and ", same bytes" or "")
	end
	return string.format("pages %s: not compared (%s, %s -> %s%s)", range, n, p.a, p.b,
		p.missing_parent and "; a parent/ of the chain is missing" or "")
end

local function vma_line(v)
	local head = string.format("vma %x-%x %s%s", v.start, v["end"], v.perms, v.name ~= "" and " " .. v.name or "")
	if v.what ~= "changed" then
		return head .. ": " .. v.what
	end
	local parts = {}
	for _, c in ipairs(v.changes) do
		local function show(x)
			if math.type(x) == "integer" and (c.field == "start" or c.field == "end" or c.field == "pgoff") then
				return hex(x)
			end
			return tostring(x)
		end
		parts[#parts + 1] = string.format("%s %s -> %s", c.field, show(c.old), show(c.new))
	end
	return head .. ": " .. table.concat(parts, ", ")
end

local function counts_line(c)
	return string.format("%s compared, %s changed in %s; %s added, %s removed, %s moved, %s not compared",
		plural(c.compared, "page"), plural(c.changed, "page"), plural(c.changed_ranges, "range"), plural(c.added, "page"),
		plural(c.removed, "page"), plural(c.moved, "page"), plural(c.uncompared, "page"))
end

-- The text form: one line per difference, "process PID (COMM): ...", then the
-- counts of each process that has pages on both sides.
function M.render_text(res, write)
	for _, p in ipairs(res.processes) do
		local who = string.format("process %d%s (%s)", p.pid, p.pid_b and ":" .. p.pid_b or "", tostring(p.comm))
		if p.only then
			write(string.format("%s: only in %s\n", who, p.only == "a" and res.a or res.b))
		else
			for _, v in ipairs(p.vmas) do
				write(who .. ": " .. vma_line(v) .. "\n")
			end
			for _, pg in ipairs(p.pages or {}) do
				write(who .. ": " .. page_line(pg) .. "\n")
			end
			if p.note then
				write(who .. ": " .. p.note .. "\n")
			end
			if p.counts then
				write(who .. ": " .. counts_line(p.counts) .. "\n")
			end
		end
	end
	for _, s in ipairs(res.shmem) do
		local who = string.format("shmem %d", s.id)
		if s.only then
			write(string.format("%s: only in %s\n", who, s.only == "a" and res.a or res.b))
		else
			for _, pg in ipairs(s.pages) do
				write(who .. ": " .. page_line(pg):gsub("^pages", "offsets") .. "\n")
			end
			if s.note then
				write(who .. ": " .. s.note .. "\n")
			end
			if #s.pages > 0 then
				write(who .. ": " .. counts_line(s.counts) .. "\n")
			end
		end
	end
end

-- JSON: addresses as "0x..." strings (they pass 2^63), keys in these orders.
local SHAPES = setmetatable({}, { __mode = "k" })
local LAYOUT = { lists = true, shapes = SHAPES, order = {
	doc = { "a", "b", "equal", "processes", "shmem" },
	process = { "pid", "pid_b", "comm", "only", "note", "vmas", "pages", "counts" },
	shmem = { "id", "only", "note", "pages", "counts" },
	vma = { "what", "start", "end", "perms", "name", "changes" },
	change = { "field", "old", "new" },
	page = { "what", "start", "end", "pages", "a", "b", "compared", "missing_parent" },
	counts = { "compared", "changed", "changed_ranges", "added", "removed", "moved", "uncompared" },
} }

local function shape(name, t)
	SHAPES[t] = name
	return t
end

local function map(list, fn)
	if not list then
		return nil
	end
	local out = {}
	for i, x in ipairs(list) do
		out[i] = fn(x)
	end
	return out
end

local function json_page(p)
	return shape("page", { what = p.what, start = hex(p.start), ["end"] = hex(p["end"]), pages = p.pages, a = p.a,
		b = p.b, compared = p.compared, missing_parent = p.missing_parent })
end

local function json_counts(c)
	return c and shape("counts", {
		compared = c.compared, changed = c.changed, changed_ranges = c.changed_ranges, added = c.added,
		removed = c.removed, moved = c.moved, uncompared = c.uncompared,
	})
end

-- One JSON document (and a newline) for the result.
function M.render_json(res, write)
	local procs = map(res.processes, function(p)
		return shape("process", {
			pid = p.pid, pid_b = p.pid_b, comm = p.comm, only = p.only, note = p.note,
			vmas = map(p.vmas, function(v)
				return shape("vma", { what = v.what, start = hex(v.start), ["end"] = hex(v["end"]), perms = v.perms,
					name = v.name, changes = map(v.changes, function(c)
						local function val(x)
							if math.type(x) == "integer" and (c.field == "start" or c.field == "end" or c.field == "pgoff") then
								return hex(x)
							end
							return x
						end
						return shape("change", { field = c.field, old = val(c.old), new = val(c.new) })
					end) })
			end),
			pages = map(p.pages, json_page), counts = json_counts(p.counts),
		})
	end)
	local shm = map(res.shmem, function(s)
		return shape("shmem", { id = s.id, only = s.only, note = s.note, pages = map(s.pages, json_page), counts = json_counts(s.counts) })
	end)
	write(crit.json.encode(shape("doc", { a = res.a, b = res.b, equal = res.equal, processes = procs, shmem = shm }),
		LAYOUT) .. "\n")
end

crit.add_checkpoint_methods(M, { "memory_diff" })

return M
