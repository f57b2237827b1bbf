-- bench-rss-floor: the least work an `x rss` written in Lua can do, for the
-- benchmark's floor row (scripts/bench.sh): every process's VMAs read through
-- the one reader as columns (start, end only) and its pagemap entries as plain
-- tables, and the pieces of the lines made the cheapest way Lua has (one
-- string.format per pagemap entry and one per VMA it overlaps), without any of
-- the view's logic (file names, repeated VMAs, notes, compat page counts).
-- usage: critlua scripts/bench-rss-floor.lua CHECKPOINT_DIR [read]
--   read: only read the images, make no line
local dir, only_read = arg[1], arg[2] == "read"
local PLAIN = { plain = true }
local COLS = { vmas = { columns = { "start", "end" } } }
local fmt, concat, ult = string.format, table.concat, math.ult
local PAD = "\n\t" .. string.rep(" ", 23)
local buf, n = {}, 0
local function put(s)
	n = n + 1
	buf[n] = s
	if n == 512 then
		io.stdout:write(concat(buf, "", 1, n))
		n = 0
	end
end
for _, p in ipairs(crit._select(dir .. "/pstree.img", { pid = true }, PLAIN).entries) do
	local mm = crit._select(dir .. "/mm-" .. p.pid .. ".img", COLS, PLAIN)
	local pm = crit._select(dir .. "/pagemap-" .. p.pid .. ".img", true, PLAIN)
	local c = mm and mm.entries[1] and mm.entries[1].vmas
	if c and c.n and pm and not only_read then
		put(p.pid .. "\n")
		local starts, ends, nv, vi = c.start, c["end"], c.n, 1
		for i = 2, #pm.entries do
			local e = pm.entries[i]
			local vaddr, nr = e.vaddr, e.nr_pages
			put(fmt("\t%x / %-8d      ", vaddr, nr))
			while vi <= nv and not ult(vaddr, ends[vi]) do
				vi = vi + 1
			end
			local stop = vaddr + (nr << 12)
			while vi <= nv and ult(starts[vi], stop) do
				put(fmt(" %08x / %-8d", starts[vi], (ends[vi] - starts[vi]) >> 12))
				put(PAD)
				vi = vi + 1
			end
			put("\n")
		end
	end
end
io.stdout:write(concat(buf, "", 1, n))
