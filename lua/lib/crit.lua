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
	return name:match("%.img$") ~= nil or name == "stats-dump" or name == "stats-restore"
		or name == "irmap-cache"
end

-- crit.is_dir(path) -> true | false [, message when path cannot be opened].
-- Not by listing it: a dump of a thousand processes holds thousands of
-- files, and listing and sorting them costs a tenth of what `x ps` takes
-- over it. Reading a directory opened as a file fails with EISDIR.
function crit.is_dir(path)
	local f, msg = io.open(path, "rb")
	if not f then
		return false, msg
	end
	local _, _, code = f:read(0)
	f:close()
	return code == 21 -- EISDIR
end

-- In a container checkpoint archive (Podman, CRI-O), CRIU's images are
-- the members under this directory; the engine's metadata lies beside it.
local ARCHIVE_DIR = "checkpoint/"
crit.ARCHIVE_DIR = ARCHIVE_DIR

-- crit.open(dir | archive) -> checkpoint
function crit.open(dir)
	if type(dir) ~= "string" then
		error("bad argument #1 to 'crit.open' (directory name expected, got " .. type(dir) .. ")", 2)
	end
	-- raises "dir: No such file or directory" now, not later; a file must be
	-- a container checkpoint archive (.tar, .tar.gz, .tar.zst), indexed now
	local ck
	local is_dir, msg = crit.is_dir(dir)
	if msg then
		error(msg, 0)
	end
	if is_dir then
		ck = setmetatable({ dir = dir:gsub("(.)/+$", "%1"), loaded = {} }, Checkpoint)
	else
		ck = setmetatable({ dir = dir, archive = crit.archive(dir), loaded = {}, saved = {} }, Checkpoint)
	end
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

-- The image files of the dump, sorted (raw ones such as pages-*.img too).
function Checkpoint:list()
	local out = {}
	if self.archive then
		for _, m in ipairs(self.archive:members()) do
			local name = m.type == "file" and m.name:sub(1, #ARCHIVE_DIR) == ARCHIVE_DIR
				and m.name:sub(#ARCHIVE_DIR + 1)
			if name and not name:find("/", 1, true) and is_image_name(name) then
				out[#out + 1] = name
			end
		end
		table.sort(out)
		for i = #out, 2, -1 do -- a name given twice in the archive
			if out[i] == out[i - 1] then
				table.remove(out, i)
			end
		end
		return out
	end
	for _, name in ipairs(crit.dir(self.dir)) do
		if is_image_name(name) then
			out[#out + 1] = name
		end
	end
	return out
end

-- ck:read(name) -> the bytes of a file of the checkpoint (an image, a raw
-- file, "parent/..."), as they are on disk or in the archive; nil when absent.
function Checkpoint:read(name)
	if self.archive then
		return self.archive:read(ARCHIVE_DIR .. name)
	end
	local f = io.open(self:path(name), "rb")
	if not f then
		return nil
	end
	local data = f:read("a")
	f:close()
	return data
end

-- ck:size(name) -> the size in bytes of such a file, or nil when absent.
function Checkpoint:size(name)
	if self.archive then
		return self.archive:size(ARCHIVE_DIR .. name)
	end
	local f = io.open(self:path(name), "rb")
	if not f then
		return nil
	end
	local size = f:seek("end")
	f:close()
	return size
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
	local f = io.open(self:path(name), "rb")
	if f then
		f:close()
	end
	return f ~= nil
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
	local f, msg, errno = io.open(path, "rb")
	if not f and errno == 2 then -- ENOENT
		return nil, path .. ": no such image in the checkpoint"
	end
	if f then
		f:close()
	end
	img = crit.load(path)
	self.loaded[name] = img
	return img
end

-- Put a new or replaced image into the checkpoint; written by ck:save().
function Checkpoint:set(name, img)
	if type(img) ~= "table" then
		error("bad argument #2 to 'set' (image table expected, got " .. type(img) .. ")", 2)
	end
	self.loaded[name] = img
end

-- Forget a loaded image (its changes are not saved).
function Checkpoint:forget(name)
	self.loaded[name] = nil
end

local function read_all(path)
	local f = io.open(path, "rb")
	if not f then
		return nil
	end
	local data = f:read("a")
	f:close()
	return data
end

-- ck:save() -> names written. Every loaded image is encoded first, so a bad
-- value anywhere raises before any file is touched; then each image whose
-- bytes differ from its file is replaced atomically (unchanged files keep
-- their times). With opts.backup = SUFFIX, the old file is kept as NAME..SUFFIX.
function Checkpoint:save(opts)
	opts = opts or {}
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
	local written = {}
	if self.archive then
		return self:_write_archive(pending, opts.backup)
	end
	for _, p in ipairs(pending) do
		if opts.backup then
			local old = read_all(p.path)
			if old then
				crit.write_file(p.path .. opts.backup, old)
			end
		end
		crit.write_file(p.path, p.bytes)
		written[#written + 1] = p.name
	end
	return written
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
	if #pending == 0 then
		return {}
	end
	local puts, written = {}, {}
	for _, p in ipairs(pending) do
		puts[ARCHIVE_DIR .. p.name] = p.bytes
		written[#written + 1] = p.name
	end
	local _, note = self.archive:rewrite(puts, backup)
	for _, p in ipairs(pending) do
		self.saved[p.name] = p.bytes
	end
	return written, note
end

function Checkpoint:__tostring()
	return "crit.checkpoint: " .. self.dir
end
