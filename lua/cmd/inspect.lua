-- inspect: a container checkpoint's engine metadata, sizes, mounts and network
-- usage: critlua inspect [--mounts] [--network] [--all] [--json] ARCHIVE|DIR
-- For a container checkpoint archive (.tar, .tar.gz, .tar.zst) as Podman,
-- CRI-O and containerd write it, or such a directory (checkpoint/ beside
-- config.dump): the container's name, id, image, runtime, engine (Podman,
-- CRI-O or containerd), pod and namespace, creation and checkpoint times and
-- command (from config.dump and spec.dump), the size of the checkpoint (all
-- images, the memory pages, the root file system diff) and the number of
-- processes. A plain CRIU image directory shows what it has. A pod
-- checkpoint (KEP-5823: pod.options and a folder per container) shows the pod
-- and a line per container; POD//NAME inspects one of them.
--   --mounts   the container's mounts (spec.dump): destination, type,
--              source, whether CRIU dumped it (when the checkpoint has
--              mountpoints-*.img), options
--   --network  its network (network.status as Podman's netavark and CNI
--              back-ends write it; CRI-O's IP annotations): network,
--              interface, addresses, gateways, MAC
--   --all      the summary, the mounts and the network at once
--   --json     the same as one JSON document
-- Exit status: 0 done; 1 an error (the message on stderr, nothing half
-- written); 2 a usage mistake.

local cli = require "cli"
local crit = require "crit"
local explore = require "explore"
local container = require "container"

local o = cli.parse(arg, { "--json", "--mounts", "--network", "--all" })
if #o ~= 1 then
	cli.usage_error("give one checkpoint archive or directory")
end
local path = o[1]
local want_summary = o.all or not (o.mounts or o.network)
local want_mounts = o.all or o.mounts
local want_network = o.all or o.network

-- "key:   value" lines, the values aligned, for the keys row(k, v) gave a value
local function key_values()
	local rows = {}
	return rows, function(k, v)
		if v ~= nil then
			rows[#rows + 1] = { k, tostring(v) }
		end
	end
end
local function key_value_lines(rows)
	local w, out = 0, {}
	for _, r in ipairs(rows) do
		w = math.max(w, #r[1])
	end
	for i, r in ipairs(rows) do
		out[i] = r[1] .. ":" .. string.rep(" ", w - #r[1]) .. " " .. r[2]
	end
	return out
end

-- A table's lines: each column as wide as its widest cell, two spaces apart.
local function column_lines(rows)
	local w, out = {}, {}
	for _, r in ipairs(rows) do
		for i, v in ipairs(r) do
			w[i] = math.max(w[i] or 0, #v)
		end
	end
	for k, r in ipairs(rows) do
		local cells = {}
		for i, v in ipairs(r) do
			cells[i] = i < #r and v .. string.rep(" ", w[i] - #v) or v
		end
		out[k] = table.concat(cells, "  ")
	end
	return out
end

local okc, c = pcall(container.open, path)
if not okc and require("pod").is_pod_error(c) then
	-- a pod checkpoint: the pod and a line per container (each inspected as POD//NAME)
	if o.mounts or o.network or o.all then
		error(path .. ": a pod checkpoint: the mounts and the network are a container's: inspect "
			.. path .. "//NAME", 0)
	end
	local pi = require("pod").describe(path)
	if o.json then
		io.stdout:write(explore.json(pi), "\n")
		return
	end
	local hb, p = explore.human_bytes, pi.pod
	local rows, row = key_values()
	row("archive", string.format("%s (%s, %s, %s)", path, pi.archive.compression, pi.archive.format,
		hb(pi.archive.size)))
	row("pod", p.name)
	row("namespace", p.namespace)
	row("pod id", p.id)
	row("pod uid", p.uid)
	row("engine", p.engine and (p.engine .. (p.engine_version and " " .. p.engine_version or "")))
	row("criu", p.criu_version)
	row("arch", p.host_arch)
	row("containers", #pi.containers)
	local t = { { "CONTAINER", "FOLDER", "IMAGE", "ENGINE", "CHECKPOINTED", "PROCESSES" } }
	for _, e in ipairs(pi.containers) do
		t[#t + 1] = { e.name, e.folder, e.image or "-", e.engine or "-", e.checkpointed or "-",
			e.processes and tostring(e.processes) or "-" }
	end
	io.stdout:write(table.concat(key_value_lines(rows), "\n"), "\n\n", table.concat(column_lines(t), "\n"), "\n")
	return
elseif not okc then
	error(c, 0)
end
local ck = c.ck
local info = container.describe(c)

local function summary()
	local s = {}
	info.size = s
	s.images, s.pages, s.files = 0, 0, 0
	local names, sizes = ck:list(true)
	for i, name in ipairs(names) do
		local n = sizes[i]
		s.images = s.images + n
		s.files = s.files + 1
		if name:match("^pages%-") then
			s.pages = s.pages + n
		end
	end
	s.rootfs_diff = c.meta_size("rootfs-diff.tar")
	if ck.archive then
		local ai = ck.archive:info()
		info.archive = { compression = ai.compression, format = ai.format, size = ai.size }
	end
	-- the processes and their threads: the one field counted, not whole entries
	local pst = ck:has("pstree.img") and ck:select("pstree.img", { threads = true }, { plain = true })
	if pst then
		local threads = 0
		for _, e in ipairs(pst.entries) do
			threads = threads + math.max(1, #(e.threads or {}))
		end
		info.processes, info.threads = #pst.entries, threads
	end
	-- The dump statistics the engine keeps beside the images (or CRIU's own).
	local sd = c.meta("stats-dump")
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
end

if want_summary then
	summary()
end
if want_mounts then
	info.mounts = container.mounts(c)
end
if want_network then
	info.network = container.network(c)
end

if o.json then
	if not want_summary then
		info.metadata = nil
		info.container = nil
	end
	io.stdout:write(explore.json(info), "\n")
	return
end

local out = {}
local function put(s)
	out[#out + 1] = s
end

if want_summary then
	local ci, s = info.container, info.size
	local rows, row = key_values()
	local hb = explore.human_bytes
	if info.archive then
		row("archive", string.format("%s (%s, %s, %s)", path, info.archive.compression, info.archive.format,
			hb(info.archive.size)))
	else
		row("directory", path)
	end
	row("container", ci.name)
	row("id", ci.id)
	row("image", ci.image)
	row("engine", ci.engine)
	row("pod", ci.pod)
	row("namespace", ci.namespace)
	row("runtime", ci.runtime)
	row("created", ci.created)
	row("checkpointed", ci.checkpointed)
	row("command", ci.command)
	row("hostname", ci.hostname)
	row("processes", info.processes and string.format("%d (%d threads)", info.processes, info.threads))
	row("checkpoint", string.format("%s in %d files (memory pages %s)", hb(s.images), s.files, hb(s.pages)))
	row("rootfs diff", s.rootfs_diff and hb(s.rootfs_diff))
	if info.dump then
		row("frozen", info.dump.frozen_time_us and explore.human_time(info.dump.frozen_time_us))
		row("pages written", info.dump.pages_written)
	end
	row("metadata", #info.metadata > 0 and table.concat(info.metadata, ", ") or nil)
	for _, line in ipairs(key_value_lines(rows)) do
		put(line)
	end
end

-- A table with a header, columns as wide as their widest cell, indented
-- under a heading when other sections share the output.
local function table_out(heading, header, rows, none)
	local indent = ""
	if o.all or (want_mounts and want_network) then
		if #out > 0 then
			put("")
		end
		put(heading .. ":")
		indent = "  "
	end
	if #rows == 0 then
		put(indent .. none)
		return
	end
	for _, line in ipairs(column_lines({ header, table.unpack(rows) })) do
		put(indent .. line)
	end
end

if want_mounts then
	local rows, checked = {}, info.mounts[1] and info.mounts[1].in_checkpoint ~= nil
	for _, m in ipairs(info.mounts) do
		local r = { m.destination or "-", m.type or "-", m.source or "-" }
		if checked then
			r[#r + 1] = m.in_checkpoint and "yes" or "no"
		end
		r[#r + 1] = #m.options > 0 and table.concat(m.options, ",") or "-"
		rows[#rows + 1] = r
	end
	local header = checked and { "DESTINATION", "TYPE", "SOURCE", "DUMPED", "OPTIONS" }
		or { "DESTINATION", "TYPE", "SOURCE", "OPTIONS" }
	table_out("mounts", header, rows,
		c.meta_size("spec.dump") and "no mounts in spec.dump" or "no spec.dump: the mounts are not known")
end
if want_network then
	local rows = {}
	for _, n in ipairs(info.network) do
		rows[#rows + 1] = { n.network or "-", n.interface or "-",
			#n.addresses > 0 and table.concat(n.addresses, ",") or "-",
			#n.gateways > 0 and table.concat(n.gateways, ",") or "-", n.mac or "-" }
	end
	local none = info.container and info.container.engine == "containerd"
			and "none recorded (containerd stores no network state in its checkpoints)"
		or c.meta_size("network.status") and "none recorded in network.status"
		or "none recorded (no network.status)"
	table_out("network", { "NETWORK", "INTERFACE", "ADDRESSES", "GATEWAYS", "MAC" }, rows, none)
end
if #out > 0 then
	io.stdout:write(table.concat(out, "\n"), "\n")
end
