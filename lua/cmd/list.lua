-- list: the container checkpoint archives in folders, one line each
-- usage: critlua list [--json] [--depth N] [--no-default] [DIR|ARCHIVE...]
-- Searches the kubelet's checkpoint folder /var/lib/kubelet/checkpoints (when
-- it exists; CRITLUA_CHECKPOINTS_DIR names another) and the folders given,
-- recursively down to --depth levels (default 8), never following a symbolic
-- link, for checkpoint archives as Podman, CRI-O and containerd write them.
-- Each is listed with its engine, container name, image, checkpoint time,
-- size and number of processes, as far as its metadata has them. Files that
-- are not checkpoint archives are left out without a word; a damaged one is
-- listed with the reason. A pod checkpoint (KEP-5823) is listed a line per
-- container, as POD//NAME.
--   --json        one JSON array: {path, engine, container, image, pod,
--                 namespace, id, checkpointed, size, processes} or
--                 {path, error}
--   --depth N     how many folder levels below each folder to search
--   --no-default  leave out the kubelet's folder

local cli = require "cli"
local crit = require "crit"
local explore = require "explore"
local container = require "container"

local o = cli.parse(arg, { "--json", "--depth=N", "--no-default" })
local depth = 8
if o.depth then
	depth = math.tointeger(tonumber(o.depth))
	if not depth or depth < 0 then
		cli.usage_error("--depth: a number of levels (0 or more) expected, not '" .. o.depth .. "'")
	end
end

local roots = {}
if not o.no_default then
	local kubelet = os.getenv("CRITLUA_CHECKPOINTS_DIR")
	if not kubelet or kubelet == "" then
		kubelet = "/var/lib/kubelet/checkpoints"
	end
	if crit.is_dir(kubelet) then
		roots[#roots + 1] = kubelet
	end
end
for _, d in ipairs(o) do
	local kind, _, err = crit._stat(d)
	if not kind then
		error(err or (d .. ": cannot be read"), 0)
	end
	roots[#roots + 1] = d
end

-- Messages that say "this file is not a checkpoint archive at all", as
-- opposed to "a checkpoint archive, but damaged".
local NOT_CHECKPOINT = {
	"neither a checkpoint directory nor a checkpoint archive",
	"no checkpoint/ directory in the archive",
	"an empty archive: no checkpoint/ directory",
}
local function not_checkpoint(msg)
	for _, s in ipairs(NOT_CHECKPOINT) do
		if msg:find(s, 1, true) then
			return true
		end
	end
	return false
end

local found = crit.json.array({})
local seen = {}

local function examine(path, size)
	if seen[path] then
		return
	end
	seen[path] = true
	local ok, c = pcall(container.open, path)
	if not ok and require("pod").is_pod_error(c) then
		-- a pod checkpoint: a line per container, as POD//NAME
		local ar = crit.archive(path)
		local okp, list = pcall(crit.pod_containers, ar, path)
		ar:close()
		if not okp then
			found[#found + 1] = { path = path, error = (tostring(list):gsub("^" .. path:gsub("%p", "%%%0") .. ":%s*", "")) }
			return
		end
		for _, pc in ipairs(list) do
			examine(path .. "//" .. pc.name, size)
		end
		return
	end
	if not ok then
		local msg = tostring(c)
		if not not_checkpoint(msg) then
			found[#found + 1] = { path = path, error = (msg:gsub("^" .. path:gsub("%p", "%%%0") .. ":%s*", "")) }
		end
		return
	end
	local e = { path = path, size = size }
	local ok2, err = pcall(function()
		local info = container.describe(c)
		local ci = info.container
		e.engine, e.container, e.image, e.id = ci.engine, ci.name, ci.image, ci.id
		e.pod, e.namespace, e.checkpointed = ci.pod, ci.namespace, ci.checkpointed
		local pst = c.ck:image("pstree.img")
		e.processes = pst and #pst.entries or nil
	end)
	if not ok2 then
		e = { path = path, error = (tostring(err):gsub("^" .. path:gsub("%p", "%%%0") .. ":%s*", "")) }
	end
	if c.ck.archive then
		c.ck.archive:close()
	end
	found[#found + 1] = e
end

-- A folder's entries, depth levels deep at most; symbolic links are skipped
-- (a link to / would make the search the whole machine's).
local function walk(dir, level)
	local names = crit.dir(dir)
	if not names then
		return
	end
	for _, n in ipairs(names) do
		local p = dir:sub(-1) == "/" and dir .. n or dir .. "/" .. n
		local kind, size = crit._lstat(p)
		if kind == "file" then
			examine(p, size)
		elseif kind == "directory" and level < depth then
			walk(p, level + 1)
		end
	end
end

for _, r in ipairs(roots) do
	local kind, size = crit._stat(r)
	if kind == "directory" then
		local names, msg = crit.dir(r)
		if not names then
			error(msg, 0)
		end
		walk(r, 0)
	elseif kind == "file" then
		examine(r, size)
	end
end

if o.json then
	io.stdout:write(explore.json(found), "\n")
	return
end
if #found == 0 then
	return
end
local hb = explore.human_bytes
local rows = { { "PATH", "ENGINE", "CONTAINER", "IMAGE", "CHECKPOINTED", "SIZE", "PROCESSES" } }
for _, e in ipairs(found) do
	if e.error then
		rows[#rows + 1] = { e.path, "damaged: " .. e.error }
	else
		rows[#rows + 1] = { e.path, e.engine or "-", e.container or "-", e.image or "-", e.checkpointed or "-",
			hb(e.size), e.processes and tostring(e.processes) or "-" }
	end
end
local w = {}
for _, r in ipairs(rows) do
	if #r > 2 then
		for i, v in ipairs(r) do
			w[i] = math.max(w[i] or 0, #v)
		end
	end
end
for _, r in ipairs(rows) do
	local cells = {}
	for i, v in ipairs(r) do
		cells[i] = i < #r and v .. string.rep(" ", math.max(w[i] or 0, #v) - #v) or v
	end
	io.stdout:write(table.concat(cells, "  "), "\n")
end
