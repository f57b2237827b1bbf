-- container: what a container engine (Podman, CRI-O, containerd) stored beside
-- CRIU's images in a checkpoint archive or directory: engine, names, mounts, network.
-- inspect and list share it; the facts on the engines' files are in docs/ARCHIVES.md.

local crit = require "crit"

local M = {}

-- A metadata value when it is a string with something in it, else nil.
local function str(v)
	return type(v) == "string" and v ~= "" and v or nil
end
M.nonempty = str

-- M.open(path) -> c: the checkpoint (c.ck), c.meta(name) -> bytes|nil for a
-- file beside checkpoint/, c.top (the names there, sorted), c.label(name)
-- for messages. path is an archive, a directory holding checkpoint/, or a
-- plain CRIU image directory (no metadata then).
function M.open(path)
	local c = { path = path }
	if crit.is_dir(path) and crit.is_dir(path .. "/checkpoint") then
		c.ck = crit.open(path .. "/checkpoint")
		c.meta = function(name)
			local kind = crit._stat(path .. "/" .. name)
			if kind ~= "file" then
				return nil
			end
			local f = io.open(path .. "/" .. name, "rb")
			if not f then
				return nil
			end
			local s = f:read("a")
			f:close()
			return s
		end
		c.meta_size = function(name)
			local kind, size = crit._stat(path .. "/" .. name)
			return kind == "file" and size or nil
		end
		c.top = crit.dir(path)
		c.label = function(name)
			return path .. "/" .. name
		end
	else
		c.ck = crit.open(path)
		c.top = {}
		if c.ck.archive then
			local ar = c.ck.archive
			c.meta = function(name)
				return ar:read(name)
			end
			c.meta_size = function(name)
				return ar:size(name)
			end
			c.top = ar:files("")
		else
			c.meta = function()
				return nil
			end
			c.meta_size = c.meta
		end
		c.label = function(name)
			return path .. ":" .. name
		end
	end
	return c
end

-- A JSON metadata file as a table; nil when absent or not an object. A file
-- that is not JSON is an error naming it.
function M.json_file(c, name)
	local text = c.meta(name)
	if not text then
		return nil
	end
	local ok, v = pcall(crit.json.decode, text)
	if not ok then
		error(c.label(name) .. ": " .. tostring(v), 0)
	end
	return type(v) == "table" and v or nil
end

-- The engine that wrote the checkpoint, from the spec's annotations (and, for
-- containerd, the files only it writes): "Podman", "CRI-O", "containerd", the
-- io.container.manager value of another engine, or nil.
local function engine_of(ann, has)
	local manager = str(ann["io.container.manager"])
	if manager == "libpod" then
		return "Podman"
	elseif manager == "cri-o" then
		return "CRI-O"
	elseif manager then
		return manager
	end
	for k in pairs(ann) do
		if type(k) == "string" then
			if k:match("^io%.kubernetes%.cri%-o%.") then
				return "CRI-O"
			elseif k:match("^io%.kubernetes%.cri%.") then
				return "containerd"
			end
		end
	end
	if has("status.dump") or has("status") then
		return "containerd"
	end
	return nil
end

-- M.describe(c) -> info: container (name, id, image, engine, runtime, created,
-- checkpointed, command, hostname, pod, namespace), metadata (the file names
-- beside checkpoint/), and the decoded config, spec and status (c.config,
-- c.spec, c.status) for the views below.
function M.describe(c)
	local has = {}
	for _, n in ipairs(c.top) do
		has[n] = true
	end
	c.config = M.json_file(c, "config.dump") or {}
	c.spec = M.json_file(c, "spec.dump") or {}
	c.status = has["status.dump"] and M.json_file(c, "status.dump") or {}
	local config, spec, status = c.config, c.spec, c.status
	local ann = type(spec.annotations) == "table" and spec.annotations or {}
	local info = { path = c.path, container = {}, metadata = {} }
	local ci = info.container
	ci.engine = engine_of(ann, function(n)
		return has[n]
	end)
	ci.id = str(config.id)
	ci.image = str(config.rootfsImageName)
	ci.runtime = str(config.runtime) or str(config.ociRuntime)
	ci.created = str(config.createdTime)
	ci.checkpointed = str(config.checkpointedTime)
	if ci.engine == "containerd" then
		-- config.dump's name is containerd's own (NAME_POD_NAMESPACE_UID_ATTEMPT);
		-- the Kubernetes container name is an annotation, as in CRI's status.
		local md = type(status.metadata) == "table" and status.metadata or {}
		ci.name = str(ann["io.kubernetes.cri.container-name"]) or str(md.name) or str(config.name)
		ci.pod = str(ann["io.kubernetes.cri.sandbox-name"])
		ci.namespace = str(ann["io.kubernetes.cri.sandbox-namespace"])
		local img = type(status.image) == "table" and status.image or {}
		ci.image = ci.image or str(img.image) or str(ann["io.kubernetes.cri.image-name"])
	elseif ci.engine == "CRI-O" then
		-- config.dump's name is CRI-O's own (k8s_NAME_POD_...); the Kubernetes
		-- container name is in the io.kubernetes.cri-o.Metadata annotation (JSON).
		local md = str(ann["io.kubernetes.cri-o.Metadata"])
		local ok, m = pcall(crit.json.decode, md or "")
		ci.name = ok and type(m) == "table" and str(m.name) or str(config.name)
			or str(ann["io.kubernetes.cri-o.ContainerName"])
		ci.pod = str(ann["io.kubernetes.pod.name"])
		ci.namespace = str(ann["io.kubernetes.pod.namespace"])
	else
		ci.name = str(config.name)
	end
	if type(spec.process) == "table" and type(spec.process.args) == "table" then
		local args = {}
		for _, a in ipairs(spec.process.args) do
			if type(a) == "string" or type(a) == "number" then
				args[#args + 1] = tostring(a)
			end
		end
		if #args > 0 then
			ci.command = table.concat(args, " ")
		end
	end
	ci.hostname = str(spec.hostname)
	for _, name in ipairs(c.top) do
		if name ~= "checkpoint" then
			info.metadata[#info.metadata + 1] = name
		end
	end
	return info
end

-- M.mounts(c) -> {{destination, type, source, options = {...},
-- in_checkpoint}}: the OCI spec's mounts (spec.dump), in its order; fields
-- that are not strings are left out. in_checkpoint (only when the checkpoint
-- has mountpoints-*.img): whether CRIU dumped a mount at that destination.
function M.mounts(c)
	local spec = c.spec or M.json_file(c, "spec.dump") or {}
	local out = crit.json.array({})
	if type(spec.mounts) ~= "table" then
		return out
	end
	for _, m in ipairs(spec.mounts) do
		if type(m) == "table" then
			local opts = crit.json.array({})
			if type(m.options) == "table" then
				for _, v in ipairs(m.options) do
					if type(v) == "string" then
						opts[#opts + 1] = v
					end
				end
			end
			out[#out + 1] = { destination = str(m.destination), type = str(m.type), source = str(m.source),
				options = opts }
		end
	end
	-- Checked against CRIU's own record of the mounts (mountpoints-*.img):
	-- a spec mount CRIU did not dump is one restore will not bring back.
	local seen, any = {}, false
	for _, name in ipairs(c.ck:list()) do
		if name:match("^mountpoints%-%d+%.img$") then
			any = true
			for _, e in ipairs(c.ck:image(name).entries) do
				if type(e.mountpoint) == "string" then
					local mp = e.mountpoint:gsub("^%./", "/"):gsub("(.)/+$", "%1")
					seen[mp] = true
				end
			end
		end
	end
	if any then
		for _, m in ipairs(out) do
			local d = m.destination and m.destination:gsub("(.)/+$", "%1")
			m.in_checkpoint = d ~= nil and seen[d] == true
		end
	end
	return out
end

local function list_of(t)
	local out = crit.json.array({})
	for _, v in ipairs(t) do
		out[#out + 1] = v
	end
	return out
end

local function sorted_keys(t)
	local keys = {}
	for k in pairs(t) do
		if type(k) == "string" then
			keys[#keys + 1] = k
		end
	end
	table.sort(keys)
	return keys
end

-- M.network(c) -> {{network, interface, addresses = {...}, gateways = {...},
-- mac}}: one entry an interface, from whichever form the checkpoint has:
--  * Podman 4 and later (netavark and CNI back-ends alike): network.status is
--    an object, network name -> {interfaces = {NAME = {subnets = {{ipnet,
--    gateway}}, mac_address}}};
--  * Podman 3 (CNI): network.status is an array of CNI results, {interfaces =
--    {{name, mac, sandbox}}, ips = {{address, gateway, interface = INDEX}}};
--    the interfaces in the container (a sandbox) are listed;
--  * CRI-O: no network.status; the spec's io.kubernetes.cri-o.IP.N
--    annotations give the pod's addresses.
-- containerd stores no network state: the list is empty.
function M.network(c)
	local out = crit.json.array({})
	local text = c.meta("network.status")
	if text then
		local ok, ns = pcall(crit.json.decode, text)
		if not ok then
			error(c.label("network.status") .. ": " .. tostring(ns), 0)
		end
		if type(ns) ~= "table" then
			error(c.label("network.status") .. ": neither an object of networks nor an array of CNI results", 0)
		end
		if getmetatable(ns) == crit.json.array_mt then
			for _, r in ipairs(ns) do
				if type(r) == "table" then
					local ifs = type(r.interfaces) == "table" and r.interfaces or {}
					local per, loose = {}, {}
					for i, f in ipairs(ifs) do
						if type(f) == "table" and str(f.sandbox) then
							per[i - 1] = { network = str(r.network) or str(r.name), interface = str(f.name),
								mac = str(f.mac), addresses = {}, gateways = {} }
						end
					end
					for _, ip in ipairs(type(r.ips) == "table" and r.ips or {}) do
						if type(ip) == "table" and str(ip.address) then
							local e = math.type(ip.interface) == "integer" and per[ip.interface]
							if not e then
								-- an address tied to no interface in the container
								e = { network = str(r.network) or str(r.name), addresses = {}, gateways = {} }
								loose[#loose + 1] = e
							end
							e.addresses[#e.addresses + 1] = ip.address
							if str(ip.gateway) then
								e.gateways[#e.gateways + 1] = ip.gateway
							end
						end
					end
					local entries = {}
					for i = 0, #ifs - 1 do
						entries[#entries + 1] = per[i]
					end
					for _, e in ipairs(loose) do
						entries[#entries + 1] = e
					end
					for _, e in ipairs(entries) do
						e.addresses, e.gateways = list_of(e.addresses), list_of(e.gateways)
						out[#out + 1] = e
					end
				end
			end
		else
			for _, net in ipairs(sorted_keys(ns)) do
				local n = ns[net]
				local ifs = type(n) == "table" and type(n.interfaces) == "table" and n.interfaces or {}
				for _, name in ipairs(sorted_keys(ifs)) do
					local f = type(ifs[name]) == "table" and ifs[name] or {}
					local e = { network = net, interface = name, mac = str(f.mac_address),
						addresses = crit.json.array({}), gateways = crit.json.array({}) }
					for _, sn in ipairs(type(f.subnets) == "table" and f.subnets or {}) do
						if type(sn) == "table" then
							if str(sn.ipnet) then
								e.addresses[#e.addresses + 1] = sn.ipnet
							end
							if str(sn.gateway) then
								e.gateways[#e.gateways + 1] = sn.gateway
							end
						end
					end
					out[#out + 1] = e
				end
			end
		end
		return out
	end
	local spec = c.spec or M.json_file(c, "spec.dump") or {}
	local ann = type(spec.annotations) == "table" and spec.annotations or {}
	local e = { addresses = crit.json.array({}), gateways = crit.json.array({}) }
	for i = 0, 63 do
		local ip = str(ann["io.kubernetes.cri-o.IP." .. i])
		if not ip then
			break
		end
		e.addresses[#e.addresses + 1] = ip
	end
	if #e.addresses > 0 then
		out[1] = e
	end
	return out
end

return M
