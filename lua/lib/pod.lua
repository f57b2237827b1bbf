-- pod: pod checkpoints (KEP-5823, as CRI-O and containerd first wrote them:
-- pod.options at the top of a tar, a folder per container laid out as a
-- container's archive): the pod's names and its containers, for inspect and list.
-- Each container opens as a checkpoint of its own, crit.open("POD.tar//NAME").

local crit = require "crit"
local container = require "container"

local M = {}

local str = container.nonempty

-- Whether msg is crit.open's refusal of a pod checkpoint opened whole.
function M.is_pod_error(msg)
	return tostring(msg):find(": a pod checkpoint of ", 1, true) ~= nil
end

-- M.describe(path) -> {path, archive = {compression, format, size}, pod =
-- {name, namespace, id, uid, engine, engine_version, criu_version, host_arch,
-- format_version}, containers = {{name, address, folder, id, image, engine,
-- checkpointed, processes, threads}, ...}}. The pod's names come from
-- pod.options' annotations (org.criu.checkpoint.*), else from pod.dump (the
-- sandbox's CRI config: metadata.name, .namespace, .uid).
function M.describe(path)
	local ar = crit.archive(path)
	local ok, list, opts = pcall(crit.pod_containers, ar, path)
	local ai = ar:info()
	local dump = ar:size("pod.dump") and ar:read("pod.dump")
	ar:close()
	if not ok then
		error(list, 0)
	end
	local ann = type(opts.annotations) == "table" and opts.annotations or {}
	local function a(k)
		return str(ann["org.criu.checkpoint." .. k])
	end
	local md = {}
	if dump then
		local okd, d = pcall(crit.json.decode, dump)
		if not okd then
			error(path .. ":pod.dump: " .. tostring(d), 0)
		end
		md = type(d) == "table" and type(d.metadata) == "table" and d.metadata or {}
	end
	local info = {
		path = path,
		archive = { compression = ai.compression, format = ai.format, size = ai.size },
		pod = {
			name = a("pod.name") or str(md.name),
			namespace = a("pod.namespace") or str(md.namespace),
			id = a("pod.id"),
			uid = a("pod.uid") or str(md.uid),
			engine = a("engine.name"),
			engine_version = a("engine.version"),
			criu_version = a("criu.version"),
			host_arch = a("host.arch"),
			format_version = math.type(opts.version) and opts.version or nil,
		},
		containers = crit.json.array({}),
	}
	for _, c in ipairs(list) do
		local address = path .. "//" .. c.name
		local cc = container.open(address)
		local d = container.describe(cc)
		local e = { name = c.name, address = address, folder = c.folder, id = c.id or d.container.id,
			image = d.container.image, engine = d.container.engine, checkpointed = d.container.checkpointed }
		local pst = cc.ck:image("pstree.img")
		if pst then
			e.processes, e.threads = #pst.entries, 0
			for _, p in ipairs(pst.entries) do
				e.threads = e.threads + math.max(1, #(p.threads or {}))
			end
		end
		cc.ck.archive:close()
		info.containers[#info.containers + 1] = e
	end
	return info
end

return M
