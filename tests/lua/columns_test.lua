-- columns_test: crit._select with a repeated message read as columns
-- ({columns = {...}}): one array per field, n the count, the same values as
-- the image decoded whole; bad column names refused, naming the field. And
-- crit.hex, which the views print addresses with; explore.mems_text against
-- render_mems.
-- usage: critlua -I tests/lua tests/lua/columns_test.lua FIXTURES_ROOT

local T = require "testlib"

local root = T.fixtures_root("columns_test.lua")
local COLS = { "start", "end", "prot", "flags", "status", "pgoff", "shmid", "fd" }
local SEL = { exe_file_id = true, vmas = { columns = COLS } }

local checked = 0
for _, name in ipairs(crit.dir(root)) do
	local dir = root .. "/" .. name
	for _, f in ipairs(T.exists(dir .. "/pstree.img") and crit.dir(dir) or {}) do
		if f:match("^mm%-%d+%.img$") then
			local path = dir .. "/" .. f
			local whole = crit.load(path).entries[1]
			local img, selected = crit._select(path, SEL, { plain = true })
			if selected then
				local e = img.entries[1]
				T.eq(e.exe_file_id, whole.exe_file_id, path .. ": exe_file_id")
				local c = e.vmas or { n = 0 }
				T.eq(c.n, #(whole.vmas or {}), path .. ": the count of VMAs")
				for i, v in ipairs(whole.vmas or {}) do
					for _, k in ipairs(COLS) do
						T.eq(c[k][i], v[k], string.format("%s: VMA %d's %s", path, i, k))
					end
				end
				checked = checked + 1
			end
		end
	end
end
T.check(checked > 0, "no mm image under %s read as columns", root)

-- More VMAs than one batch of the reader (256): the same columns.
do
	local img = crit.load(root .. "/sleep/mm-23744.img")
	local vmas, src = {}, img.entries[1].vmas
	for i = 1, 700 do
		local v = src[(i - 1) % #src + 1]
		vmas[i] = crit.new("vma_entry", { start = v.start + i * 4096, ["end"] = v["end"] + i * 4096,
			pgoff = i, shmid = v.shmid, prot = v.prot, flags = v.flags, status = v.status, fd = v.fd })
	end
	img.entries[1].vmas = vmas
	local path = T.tmpdir() .. "/mm-1.img"
	img:save(path)
	local c, selected = crit._select(path, SEL, { plain = true })
	T.check(selected, "700 VMAs: read as columns")
	c = c.entries[1].vmas
	T.eq(c.n, 700, "700 VMAs: the count")
	for i = 1, 700 do
		for _, k in ipairs(COLS) do
			T.eq(c[k][i], vmas[i][k], string.format("700 VMAs: VMA %d's %s", i, k))
		end
	end
end

-- A column must be a singular number of the element type.
local mm = root .. "/sleep/mm-23744.img"
T.raises("'nope' is no column", crit._select, mm, { vmas = { columns = { "nope" } } })
T.raises("'n' is no column", crit._select, mm, { vmas = { columns = { "n" } } })

-- explore.mems_text (the VMAs as columns) prints what render_mems prints of
-- explore.mems, also where it gets records: images a script loaded, or a
-- loader function.
local explore = require "explore"
local function text(fn, ...)
	local out = {}
	local put = function(s)
		out[#out + 1] = s
	end
	if fn == "records" then
		explore.render_mems(explore.mems(...), put)
	else
		explore.mems_text(..., put)
	end
	return table.concat(out)
end
for _, name in ipairs(crit.dir(root)) do
	local dir = root .. "/" .. name
	if T.exists(dir .. "/pstree.img") then
		local want = text("records", crit.open(dir))
		T.eq(text("columns", crit.open(dir)), want, dir .. ": mems_text")
		local ck = crit.open(dir)
		for _, f in ipairs(crit.dir(dir)) do
			if f:match("^mm%-") then
				ck:image(f)
			end
		end
		T.eq(text("columns", ck), want, dir .. ": mems_text over loaded images")
		T.eq(text("columns", function(n)
			return T.exists(dir .. "/" .. n) and crit.load(dir .. "/" .. n) or nil
		end), want, dir .. ": mems_text over a loader")
	end
end

-- crit.hex, the hex the views print: string.format's "%0<width>x".
for _, v in ipairs({ 0, 1, 15, 16, 255, 0x7fffffff, 0xffffffff, 0x100000000, 0x7ffd12345000,
	math.maxinteger, math.mininteger, -1, -4096 }) do
	for _, w in ipairs({ 0, 1, 8, 12, 16 }) do
		T.eq(crit.hex(v, w), string.format("%0" .. w .. "x", v), string.format("crit.hex(%d, %d)", v, w))
	end
	T.eq(crit.hex(v), string.format("%x", v), string.format("crit.hex(%d)", v))
end
T.raises("width from 0 to 16", crit.hex, 1, 17)

T.done("columns_test")
