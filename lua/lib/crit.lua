-- crit: the Lua half of the crit module: crit.open and the checkpoint object,
-- whose images load on first use and save back together.

local crit, checkpoint_modules = ...

local Checkpoint = {}
Checkpoint.__name = "crit.checkpoint"
-- Other modules add checkpoint methods here (ck:ps(), ck:memory(), ...).
crit.Checkpoint = Checkpoint
-- Modules that add checkpoint methods, loaded the first time a method is not
-- found, so a one-liner can call crit.open(dir):ps() without a require. The
-- hub that runs this prelude (src/lua/lcrit.c) names the stock ones; a
-- script may add its own.
crit.checkpoint_modules = checkpoint_modules or {}

-- Give every checkpoint the methods `names` of module M (functions taking
-- the checkpoint first); a method a checkpoint already has is kept.
function crit.add_checkpoint_methods(M, names)
	for _, name in ipairs(names) do
		if rawget(Checkpoint, name) == nil then
			Checkpoint[name] = M[name]
		end
	end
end

local extensions_loaded = false
function Checkpoint.__index(_, key)
	local v = Checkpoint[key]
	if v == nil and not extensions_loaded then
		extensions_loaded = true
		for _, name in ipairs(crit.checkpoint_modules) do
			local ok, err = pcall(require, name)
			-- absent is fine (crit used as a plain Lua module); broken is not
			if not ok and not tostring(err):find("module '" .. name .. "' not found", 1, true) then
				error(err, 0)
			end
		end
		v = Checkpoint[key]
	end
	return v
end

-- The files of a dump that are not images even though they sit there.
local function is_image_name(name)
	return name:sub(-4) == ".img" or name == "stats-dump" or name == "stats-restore"
		or name == "irmap-cache"
end

-- crit.is_dir(path) -> true | false [, message when path cannot be opened].
-- Not by listing it: a dump of a thousand processes holds thousands of
-- files, and listing and sorting them costs a tenth of what `x ps` takes
-- over it. Reading a directory opened as a file fails with EISDIR.
-- (crit._stat: not by opening it either, which a FIFO would hang.)
function crit.is_dir(path)
	local kind, msg = crit._stat(path)
	if not kind then
		return false, msg
	end
	return kind == "directory"
end

-- In a container checkpoint archive (Podman, CRI-O), CRIU's images are
-- the members under this directory; the engine's metadata lies beside it.
local ARCHIVE_DIR = "checkpoint/"
crit.ARCHIVE_DIR = ARCHIVE_DIR

-- The wait for another writer's lock: opts.wait = seconds, true (no
-- limit) or a string from --wait=S; nil: the default (10 s).
local function wait_seconds(v)
	if v == nil then
		return nil
	elseif v == true then
		return -1
	end
	local n = tonumber(v)
	if not n or n < 0 then
		error("--wait: '" .. tostring(v) .. "' is not a number of seconds", 0)
	end
	return n
end

-- A pod checkpoint's containers (KEP-5823 as CRI-O and containerd first wrote
-- it: docs/ARCHIVES.md): pod.options maps each container's name to its folder.
-- crit.pod_containers(ar, label) -> { {name, folder, id}, ... } by name, and
-- pod.options decoded; a bad pod.options is an error naming it.
function crit.pod_containers(ar, label)
	local where = label .. ":pod.options"
	local ok, opts = pcall(crit.json.decode, ar:read("pod.options") or "")
	if not ok or type(opts) ~= "table" or type(opts.containers) ~= "table" then
		error(where .. ": " .. (ok and "no \"containers\" object" or tostring(opts)), 0)
	end
	local out = {}
	for name, folder in pairs(opts.containers) do
		folder = type(folder) == "string" and folder:gsub("/+$", ""):gsub("^%./", "") or nil
		if type(name) ~= "string" or not folder or folder == "" or folder == "." or folder == ".."
			or folder:find("/", 1, true) then
			error(string.format("%s: containers[%q]: not a folder of the archive: %s", where, tostring(name),
				tostring(opts.containers[name])), 0)
		end
		-- the folder is ID-NAME
		local id = folder:sub(-#name - 1) == "-" .. name and folder:sub(1, -#name - 2) or nil
		out[#out + 1] = { name = name, folder = folder, id = id ~= "" and id or nil }
	end
	table.sort(out, function(a, b)
		return a.name < b.name
	end)
	return out, opts
end

-- crit.pod_address(path) -> file, name when path is POD//NAME: a container of
-- the pod checkpoint in the regular file POD (and path itself is nothing).
function crit.pod_address(path)
	local file, name = path:match("^(.-)//([^/]+)$")
	if file and file ~= "" and crit._stat(file) == "file" and not crit._stat(path) then
		return file, name
	end
end

-- ar (a pod checkpoint) made the view of its container name (or folder).
local function pod_view(ar, file, name)
	if not ar:info().pod then
		error(file .. ": not a pod checkpoint (no pod.options at the top of the archive)", 0)
	end
	local list = crit.pod_containers(ar, file)
	local names = {}
	for _, c in ipairs(list) do
		if c.name == name or c.folder == name then
			ar:view(c.folder .. "/", file .. "//" .. name)
			return
		end
		names[#names + 1] = c.name
	end
	error(string.format("%s: no container %s in the pod checkpoint (its containers: %s)", file, name,
		table.concat(names, ", ")), 0)
end

-- crit.open(dir | archive | POD//CONTAINER, [opts]) -> checkpoint. opts.lock: take the
-- checkpoint's lock now, before anything is read, for a read-modify-write
-- (held until ck:unlock() or the end; opts.wait as in ck:lock). Without it a
-- checkpoint is only read, never waiting for a writer; a change a killed
-- critlua left half done is finished or undone first (docs/TRANSACTIONS.md).
function crit.open(dir, opts)
	if type(dir) ~= "string" then
		error("bad argument #1 to 'crit.open' (directory name expected, got " .. type(dir) .. ")", 2)
	end
	opts = opts or {}
	-- raises "dir: No such file or directory" now, not later; a file must be
	-- a container checkpoint archive (.tar, .tar.gz, .tar.zst), indexed now
	local ck
	local is_dir, msg = crit.is_dir(dir)
	-- POD.tar//NAME: a container of a pod checkpoint (when no such path exists)
	local file, cname = nil, nil
	if msg then
		file, cname = crit.pod_address(dir)
		if not file then
			error(msg, 0)
		end
		is_dir = false
	end
	local txn
	if opts.lock then
		txn = crit.txn(file or dir, { wait = wait_seconds(opts.wait) })
	else
		crit._recover(file or dir)
	end
	if is_dir then
		ck = setmetatable({ dir = dir:gsub("(.)/+$", "%1"), loaded = {}, stamps = {} }, Checkpoint)
	else
		-- the archive's stamp before anything is read from it: a save refuses
		-- to replace an archive another writer replaced since (as for images)
		local stamp = select(3, crit._stat(file or dir))
		local ar = crit.archive(file or dir)
		if cname then
			pod_view(ar, file, cname)
		elseif ar:info().pod then
			local names = {}
			for _, c in ipairs(crit.pod_containers(ar, dir)) do
				names[#names + 1] = c.name
			end
			ar:close()
			error(string.format("%s: a pod checkpoint of %d container(s) (%s): name one as %s//NAME", dir, #names,
				table.concat(names, ", "), dir), 0)
		end
		ck = setmetatable({ dir = dir, file = file, archive = ar, loaded = {}, saved = {}, stamp = stamp },
			Checkpoint)
	end
	ck._txn = txn
	ck.images = setmetatable({}, {
		__index = function(_, name)
			return (ck:image(name))
		end,
		__newindex = function(_, name, img)
			ck:set(name, img)
		end,
	})
	return ck
end

-- The name of an image for messages: DIR/NAME, or ARCHIVE:checkpoint/NAME.
function Checkpoint:path(name)
	if self.archive then
		return self.dir .. ":" .. ARCHIVE_DIR .. name
	end
	return self.dir .. "/" .. name
end

-- The image files of the dump, sorted (raw ones such as pages-*.img too);
-- with_sizes: and their sizes in bytes, a second list in the same order.
function Checkpoint:list(with_sizes)
	local out, sizes = {}, with_sizes and {} or nil
	local names, known
	if self.archive then
		names, known = self.archive:files(ARCHIVE_DIR)
	else
		names = crit.dir(self.dir)
	end
	for i, name in ipairs(names) do
		if is_image_name(name) then
			out[#out + 1] = name
			if sizes then
				sizes[#out] = known and known[i] or self:size(name) or 0
			end
		end
	end
	if sizes then
		return out, sizes
	end
	return out
end

-- ck:read(name) -> the bytes of a file of the checkpoint (an image, a raw
-- file, "parent/..."), as they are on disk or in the archive; nil when absent.
-- A file that is not a regular one (a FIFO named like an image) raises an
-- error naming it: it is never opened in a way that could block.
local function read_all(path)
	local data, msg, absent = crit._read(path)
	if not data and not absent then
		error(msg, 0)
	end
	return data
end

function Checkpoint:read(name)
	if self.archive then
		return self.archive:read(ARCHIVE_DIR .. name)
	end
	return read_all(self:path(name))
end

-- ck:size(name) -> the size in bytes of such a file, or nil when absent.
function Checkpoint:size(name)
	if self.archive then
		return self.archive:size(ARCHIVE_DIR .. name)
	end
	local kind, size = crit._stat(self:path(name))
	if kind and kind ~= "file" then
		error(self:path(name) .. ": is a " .. kind .. ", not an image file", 0)
	end
	return kind and size or nil
end

-- ck:memory_map(pagemap_name, page_size) -> crit.memory object | nil, message
function Checkpoint:memory_map(name, page_size)
	return crit.memory(self.archive or self.dir, name, page_size)
end

-- ck:select(name, selection, opts) -> crit._select over the image, wherever it is.
function Checkpoint:select(name, sel, opts)
	if self.archive then
		local data = self.archive:read(ARCHIVE_DIR .. name)
		if not data then
			return nil, self:path(name) .. ": no such image in the checkpoint"
		end
		return crit._select(self:path(name), sel, opts, data)
	end
	return crit._select(self:path(name), sel, opts)
end

function Checkpoint:has(name)
	if self.loaded[name] then
		return true
	end
	if self.archive then
		return self.archive:has(ARCHIVE_DIR .. name)
	end
	return crit._stat(self:path(name)) ~= nil
end

-- ck:image(name) -> image, loaded once; nil and a message when the file does
-- not exist (a dump may lack an image: a zombie has no mm-*.img); raises
-- when it exists but cannot be read or decoded.
function Checkpoint:image(name)
	local img = self.loaded[name]
	if img then
		return img
	end
	local path = self:path(name)
	if self.archive then
		if not self.archive:size(ARCHIVE_DIR .. name) then
			return nil, path .. ": no such image in the checkpoint"
		end
		img = self.archive:load(ARCHIVE_DIR .. name, path)
		self.loaded[name] = img
		return img
	end
	-- the file's stamp before it is read: ck:save knows then whether another
	-- writer replaced it since (a change read after the stamp only makes
	-- ck:save refuse, never lose it)
	local kind, _, stamp = crit._stat(path)
	if not kind then
		return nil, path .. ": no such image in the checkpoint"
	end
	img = crit.load(path) -- a FIFO or device: an error naming it, never a wait
	self.loaded[name] = img
	self.stamps[name] = stamp
	return img
end

-- Put a new or replaced image into the checkpoint; written by ck:save().
function Checkpoint:set(name, img)
	if type(img) ~= "table" then
		error("bad argument #2 to 'set' (image table expected, got " .. type(img) .. ")", 2)
	end
	self.loaded[name] = img
end

-- ck:patch(name, offset, bytes): write bytes at offset into a raw file of the
-- checkpoint (a pages-*.img), saved by ck:save() with the images. The file is
-- never changed in place: the save stages a copy with every patch applied
-- (crit.txn's stage_patched). Patches of one file apply in the order given.
function Checkpoint:patch(name, offset, bytes)
	if type(name) ~= "string" or math.type(offset) ~= "integer" or offset < 0 or type(bytes) ~= "string" then
		error("bad arguments to 'patch' (a file name, an offset >= 0 and a string expected)", 2)
	end
	if self.loaded[name] then
		error(self:path(name) .. ": is a loaded image: change its fields, not its bytes", 2)
	end
	local size = self:size(name)
	if not size then
		error(self:path(name) .. ": no such file in the checkpoint", 0)
	end
	if offset > size or #bytes > size - offset then
		error(string.format("%s: %d bytes at offset 0x%x are past its end (%d bytes)", self:path(name), #bytes,
			offset, size), 0)
	end
	self.patches = self.patches or {}
	local list = self.patches[name]
	if not list then
		list = {}
		self.patches[name] = list
		if self.stamps then -- as for an image: another writer's change since is refused at the save
			self.stamps[name] = self.stamps[name] or select(3, crit._stat(self:path(name)))
		end
	end
	list[#list + 1] = { offset, bytes }
end

-- ck:patched() -> the names of the raw files with patches not yet saved, sorted.
function Checkpoint:patched()
	local out = {}
	for name in pairs(self.patches or {}) do
		out[#out + 1] = name
	end
	table.sort(out)
	return out
end

-- ck:on_save(fn): fn(ck, names) after each save that wrote something (a
-- module keeping open files of the checkpoint drops them there).
function Checkpoint:on_save(fn)
	self._on_save = self._on_save or {}
	self._on_save[#self._on_save + 1] = fn
end

-- Stage every pending patch in txn (a directory's); returns the names.
function Checkpoint:_stage_patches(txn)
	local names = self:patched()
	for _, name in ipairs(names) do
		txn:stage_patched(name, self.patches[name])
	end
	return names
end

-- After a commit: the patches are in the files, the hooks told.
function Checkpoint:_saved(names)
	self.patches = nil
	if #names > 0 then
		for _, fn in ipairs(self._on_save or {}) do
			fn(self, names)
		end
	end
end

-- Forget a loaded image (its changes are not saved).
function Checkpoint:forget(name)
	self.loaded[name] = nil
	if self.stamps then
		self.stamps[name] = nil
	end
end

-- ck:lock([{wait = seconds}]): take the checkpoint's lock (held until
-- ck:unlock()), so that nobody changes it between reading images and
-- ck:save(). wait: for another writer, default 10 s; true: no limit; 0: fail
-- at once (the message names the holder's pid).
function Checkpoint:lock(opts)
	if not self._txn then
		self._txn = crit.txn(self.file or self.dir, { wait = wait_seconds((opts or {}).wait) })
	end
	return self
end

function Checkpoint:unlock()
	if self._txn then
		self._txn:close()
		self._txn = nil
	end
end

-- ck:save([opts]) -> names written, [note]. Under the checkpoint's lock (the
-- one ck:lock took, else taken for the save; opts.wait as there), every
-- loaded image is encoded first, so a bad value anywhere raises before any
-- file is touched; the images whose bytes differ from their files are then
-- replaced all at once, through the one write path (crit.txn,
-- docs/TRANSACTIONS.md): after a crash at any instant the checkpoint holds
-- every old image or every new one. An image that is a symbolic link is
-- replaced by a regular file, never written through. With opts.backup =
-- SUFFIX, each replaced file is kept as NAME..SUFFIX (a link to the old file).
function Checkpoint:save(opts)
	opts = opts or {}
	local own = not self._txn
	if own then
		self:lock(opts)
	end
	local txn = self._txn
	local ok, written, note = pcall(function()
		local names = {}
		for name in pairs(self.loaded) do
			names[#names + 1] = name
		end
		table.sort(names)
		local pending = {}
		for _, name in ipairs(names) do
			local path = self:path(name)
			local bytes = crit.encode(self.loaded[name], path)
			if self:current(name) ~= bytes then
				pending[#pending + 1] = { name = name, path = path, bytes = bytes }
			end
		end
		if self.archive then
			return self:_write_archive(pending, opts.backup)
		end
		-- Under the lock: an image another writer replaced after this script
		-- read it would lose that writer's change; refused instead.
		local check = self:patched()
		for _, p in ipairs(pending) do
			check[#check + 1] = p.name
		end
		for _, name in ipairs(check) do
			local stamp, path = self.stamps[name], self:path(name)
			if stamp and select(3, crit._stat(path)) ~= stamp then
				error(path .. ": changed on disk since this script read it (another writer?); " ..
					"nothing was changed: read it again, or take ck:lock() before reading", 0)
			end
		end
		local out = {}
		for _, p in ipairs(pending) do
			if opts.backup then
				txn:keep(p.name, p.name .. opts.backup)
			end
			txn:stage(p.name, p.bytes)
			out[#out + 1] = p.name
		end
		for _, name in ipairs(self:patched()) do
			if opts.backup then
				txn:keep(name, name .. opts.backup)
			end
			out[#out + 1] = name
		end
		self:_stage_patches(txn)
		local _, n = txn:commit()
		for _, name in ipairs(out) do
			self.stamps[name] = select(3, crit._stat(self:path(name)))
		end
		return out, n
	end)
	if not ok then
		txn:abort()
	end
	if own then
		self:unlock()
	end
	if not ok then
		error(written, 0)
	end
	self:_saved(written)
	return written, note
end

-- The bytes an image has now: in the archive, or as last written to it.
function Checkpoint:current(name)
	if self.archive then
		local saved = self.saved[name]
		if saved then
			return saved
		end
		return self:read(name)
	end
	return read_all(self:path(name))
end

-- An archive is not changed in place: a new one is written beside it with
-- the pending images replaced or added and every other member copied, then
-- renamed over it (the old one kept as ARCHIVE..backup when asked). Returns
-- the names written and a note, if any.
function Checkpoint:_write_archive(pending, backup)
	-- a patched raw file is read whole and rewritten: the archive is anyway
	local patched = self:patched()
	for _, name in ipairs(patched) do
		local data = self:current(name)
		for _, p in ipairs(self.patches[name]) do
			local off, bytes = p[1], p[2]
			data = data:sub(1, off) .. bytes .. data:sub(off + #bytes + 1)
		end
		pending[#pending + 1] = { name = name, bytes = data }
	end
	if #pending == 0 then
		return {}
	end
	local puts, written = {}, {}
	for _, p in ipairs(pending) do
		puts[ARCHIVE_DIR .. p.name] = p.bytes
		written[#written + 1] = p.name
	end
	if self.stamp and select(3, crit._stat(self.file or self.dir)) ~= self.stamp then
		error((self.file or self.dir) .. ": changed on disk since this script read it (another writer?); " ..
			"nothing was changed: open it again, or take ck:lock() before reading", 0)
	end
	local _, note = self.archive:rewrite(puts, backup, self._txn)
	self.stamp = select(3, crit._stat(self.file or self.dir))
	for _, p in ipairs(pending) do
		self.saved[p.name] = p.bytes
	end
	return written, note
end

function Checkpoint:__tostring()
	return "crit.checkpoint: " .. self.dir
end
