-- bench-fds-floor: the least work an `x fds` written in Lua can do, for the
-- benchmark's floor row (scripts/bench.sh): files.img's regular files read
-- once into a table of names by id, then for every process its ids, fdinfo
-- and fs images read through the one reader (only the fields the lines need,
-- as plain tables) and one line a fd made with one concatenation, without
-- any of the view's logic (other kinds of files, notes, missing images).
-- usage: critlua scripts/bench-fds-floor.lua CHECKPOINT_DIR
local dir = arg[1]
local PLAIN = { plain = true }
local select_ = crit._select
local concat = table.concat
local names = {}
for _, f in ipairs(select_(dir .. "/files.img", { id = true, reg = { name = true } }, PLAIN).entries) do
	names[f.id] = f.reg and f.reg.name or "?"
end
local heads = setmetatable({}, { __index = function(t, fd)
	local h = string.format("\t%7d: ", fd)
	t[fd] = h
	return h
end })
local IDS, FDS, FS = { files_id = true }, { fd = true, id = true }, { cwd_id = true, root_id = true }
local CWD, ROOT = string.format("\t%7s: ", "cwd"), string.format("\t%7s: ", "root")
-- the lines of a process at a time, written in one call each
for _, p in ipairs(select_(dir .. "/pstree.img", { pid = true }, PLAIN).entries) do
	local pid = p.pid
	local lines, k = { pid .. "\n" }, 1
	local ids = select_(dir .. "/ids-" .. pid .. ".img", IDS, PLAIN).entries[1]
	for _, fd in ipairs(select_(dir .. "/fdinfo-" .. ids.files_id .. ".img", FDS, PLAIN).entries) do
		k = k + 1
		lines[k] = heads[fd.fd] .. (names[fd.id] or "?") .. "\n"
	end
	local fs = select_(dir .. "/fs-" .. pid .. ".img", FS, PLAIN).entries[1]
	lines[k + 1] = CWD .. (names[fs.cwd_id] or "?") .. "\n"
	lines[k + 2] = ROOT .. (names[fs.root_id] or "?") .. "\n"
	io.stdout:write(concat(lines))
end
