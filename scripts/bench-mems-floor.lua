-- bench-mems-floor: the least work an `x mems` written in Lua can do, for the
-- benchmark's floor row (scripts/bench.sh): every process's VMAs read through
-- the one reader as columns (start, end, prot only), and one line a VMA made
-- the cheapest way Lua has (crit.hex and one concatenation), without any of
-- the view's logic (kinds, file names, numbering, padding by width).
-- usage: critlua scripts/bench-mems-floor.lua CHECKPOINT_DIR [read]
--   read: only read the columns, make no line
local dir, only_read = arg[1], arg[2] == "read"
local PLAIN = { plain = true }
local COLS = { vmas = { columns = { "start", "end", "prot" } } }
local PROT = {}
for p = 0, 7 do
	PROT[p] = (p & 1 ~= 0 and "r" or "-") .. (p & 2 ~= 0 and "w" or "-") .. (p & 4 ~= 0 and "x" or "-")
end
local hex, concat = crit.hex, table.concat
local buf, n = {}, 0
for _, p in ipairs(crit._select(dir .. "/pstree.img", { pid = true }, PLAIN).entries) do
	local mm = crit._select(dir .. "/mm-" .. p.pid .. ".img", COLS, PLAIN)
	local c = mm and mm.entries[1] and mm.entries[1].vmas
	if c and c.n and not only_read then
		local starts, ends, prots = c.start, c["end"], c.prot
		for i = 1, c.n do
			n = n + 1
			buf[n] = "\t" .. hex(starts[i], 8) .. "-" .. hex(ends[i], 8) .. "                   " ..
				PROT[prots[i] & 7] .. "\n"
			if n == 512 then
				io.stdout:write(concat(buf, "", 1, n))
				n = 0
			end
		end
	end
end
io.stdout:write(concat(buf, "", 1, n))
