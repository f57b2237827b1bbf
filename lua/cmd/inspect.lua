-- inspect: a container checkpoint's engine metadata and sizes
-- usage: critlua inspect [--json] ARCHIVE|DIR
-- For a container checkpoint archive (.tar, .tar.gz, .tar.zst) as Podman
-- and CRI-O write it, or such a directory (checkpoint/ beside config.dump):
-- the container's name, id, image, runtime, engine, creation and checkpoint
-- times and command (from config.dump and spec.dump), the size of the
-- checkpoint (all images, the memory pages, the root file system diff) and
-- the number of processes. A plain CRIU image directory shows what it has.
--   --json   the same as one JSON document
-- Exit status: 0 done; 1 an error (the message on stderr, nothing half
-- written); 2 a usage mistake.

local cli = require "cli"
local crit = require "crit"
local explore = require "explore"

local o = cli.parse(arg, { "--json" })
if #o ~= 1 then
	cli.usage_error("give one checkpoint archive or directory")
end
local path = o[1]

-- The checkpoint, and a reader of the files beside its images.
local ck, meta, top_names
if crit.is_dir(path) and crit.is_dir(path .. "/checkpoint") then
	ck = crit.open(path .. "/checkpoint")
	meta = function(name)
		local f = io.open(path .. "/" .. name, "rb")
		if not f then
			return nil
		end
		local s = f:read("a")
		f:close()
		return s
	end
	top_names = crit.dir(path)
else
	ck = crit.open(path)
	if ck.archive then
		meta = function(name)
			return ck.archive:read(name)
		end
		top_names = {}
		for _, m in ipairs(ck.archive:members()) do
			if not m.name:find("/", 1, true) and m.type == "file" then
				top_names[#top_names + 1] = m.name
			end
		end
		table.sort(top_names)
	else
		meta = function()
			return nil
		end
		top_names = {}
	end
end

local function json_file(name)
	local text = meta(name)
	if not text then
		return nil
	end
	local ok, v = pcall(crit.json.decode, text)
	if not ok then
		error((ck.archive and path .. ":" .. name or path .. "/" .. name) .. ": " .. tostring(v), 0)
	end
	return type(v) == "table" and v or nil -- metadata is an object; anything else says nothing
end

local config = json_file("config.dump") or {}
local spec = json_file("spec.dump") or {}
local function str(v)
	return type(v) == "string" and v ~= "" and v or nil
end

local info = { path = path, container = {}, size = {}, metadata = {} }
local c = info.container
c.name = str(config.name)
c.id = str(config.id)
c.image = str(config.rootfsImageName)
c.runtime = str(config.runtime) or str(config.ociRuntime)
c.created = str(config.createdTime)
c.checkpointed = str(config.checkpointedTime)
local ann = type(spec.annotations) == "table" and spec.annotations or {}
local manager = str(ann["io.container.manager"])
if manager == "libpod" then
	c.engine = "Podman"
elseif manager then
	c.engine = manager
else
	for k in pairs(ann) do
		if type(k) == "string" and k:match("^io%.kubernetes%.cri%-o%.") then
			c.engine = "CRI-O"
			break
		end
	end
end
if not c.name and str(ann["io.kubernetes.cri-o.ContainerName"]) then
	c.name = ann["io.kubernetes.cri-o.ContainerName"]
end
if type(spec.process) == "table" and type(spec.process.args) == "table" then
	local args = {}
	for _, a in ipairs(spec.process.args) do
		if type(a) == "string" or type(a) == "number" then
			args[#args + 1] = tostring(a)
		end
	end
	if #args > 0 then
		c.command = table.concat(args, " ")
	end
end
c.hostname = str(spec.hostname)

for _, name in ipairs(top_names) do
	if name ~= "checkpoint" then
		info.metadata[#info.metadata + 1] = name
	end
end

-- Sizes: every file of the checkpoint, the pages among them, the rootfs diff.
local s = info.size
s.images, s.pages, s.files = 0, 0, 0
for _, name in ipairs(ck:list()) do
	local n = ck:size(name) or 0
	s.images = s.images + n
	s.files = s.files + 1
	if name:match("^pages%-") then
		s.pages = s.pages + n
	end
end
local diff = meta("rootfs-diff.tar")
if ck.archive then
	s.rootfs_diff = ck.archive:size("rootfs-diff.tar")
else
	s.rootfs_diff = diff and #diff or nil
end
if ck.archive then
	local ai = ck.archive:info()
	info.archive = { compression = ai.compression, format = ai.format, size = ai.size }
end

local pst = ck:image("pstree.img")
if pst then
	local threads = 0
	for _, e in ipairs(pst.entries) do
		threads = threads + math.max(1, #(e.threads or {}))
	end
	info.processes, info.threads = #pst.entries, threads
end

-- The dump statistics Podman keeps beside the images (or CRIU's own).
local sd = meta("stats-dump")
local stats_ok, stats = false, nil
if sd then
	stats_ok, stats = pcall(crit.decode, sd, "stats-dump")
elseif ck:has("stats-dump") then
	stats_ok, stats = pcall(ck.image, ck, "stats-dump")
end
if stats_ok and stats and stats.entries[1] and stats.entries[1].dump then
	local d = stats.entries[1].dump
	info.dump = { frozen_time_us = d.frozen_time, pages_written = d.pages_written, memdump_time_us = d.memdump_time }
end

if o.json then
	io.stdout:write(explore.json(info), "\n")
	return
end

local rows = {}
local function row(k, v)
	if v ~= nil then
		rows[#rows + 1] = { k, tostring(v) }
	end
end
local hb = explore.human_bytes
if info.archive then
	row("archive", string.format("%s (%s, %s, %s)", path, info.archive.compression, info.archive.format,
		hb(info.archive.size)))
else
	row("directory", path)
end
row("container", c.name)
row("id", c.id)
row("image", c.image)
row("engine", c.engine)
row("runtime", c.runtime)
row("created", c.created)
row("checkpointed", c.checkpointed)
row("command", c.command)
row("hostname", c.hostname)
row("processes", info.processes and string.format("%d (%d threads)", info.processes, info.threads))
row("checkpoint", string.format("%s in %d files (memory pages %s)", hb(s.images), s.files, hb(s.pages)))
row("rootfs diff", s.rootfs_diff and hb(s.rootfs_diff))
if info.dump then
	row("frozen", info.dump.frozen_time_us and explore.human_time(info.dump.frozen_time_us))
	row("pages written", info.dump.pages_written)
end
row("metadata", #info.metadata > 0 and table.concat(info.metadata, ", ") or nil)
local w = 0
for _, r in ipairs(rows) do
	w = math.max(w, #r[1])
end
for _, r in ipairs(rows) do
	io.stdout:write(string.format("%-" .. (w + 1) .. "s %s\n", r[1] .. ":", r[2]))
end
