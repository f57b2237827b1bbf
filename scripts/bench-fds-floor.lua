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
local buf, n = {}, 0
local function put(s)
	n = n + 1
	buf[n] = s
	if n == 512 then
		io.stdout:write(concat(buf, "", 1, n))
		n = 0
	end
end
for _, p in ipairs(select_(dir .. "/pstree.img", { pid = true }, PLAIN).entries) do
	local pid = p.pid
	put(pid .. "\n")
	local ids = select_(dir .. "/ids-" .. pid .. ".img", IDS, PLAIN).entries[1]
	for _, fd in ipairs(select_(dir .. "/fdinfo-" .. ids.files_id .. ".img", FDS, PLAIN).entries) do
		put(heads[fd.fd] .. (names[fd.id] or "?") .. "\n")
	end
	local fs = select_(dir .. "/fs-" .. pid .. ".img", FS, PLAIN).entries[1]
	put(CWD .. (names[fs.cwd_id] or "?") .. "\n")
	put(ROOT .. (names[fs.root_id] or "?") .. "\n")
end
io.stdout:write(concat(buf, "", 1, n))
