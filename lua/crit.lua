-- crit: the Lua half of the crit module: crit.open and the checkpoint object,
-- whose images load on first use and save back together.

local crit = ...

local Checkpoint = {}
Checkpoint.__name = "crit.checkpoint"
-- Other modules add checkpoint methods here (ck:ps(), ck:memory(), ...).
crit.Checkpoint = Checkpoint
-- Modules that add checkpoint methods, loaded the first time a method is not
-- found, so a one-liner can call crit.open(dir):ps() without a require.
crit.checkpoint_modules = { "explore", "memory" }

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

-- Raise unless dir is a directory. Not by listing it: a dump of a thousand
-- processes holds thousands of files, and listing and sorting them costs a
-- tenth of what `x ps` takes over it. Reading a directory opened as a file
-- fails with EISDIR.
local function check_dir(dir)
	local f, msg = io.open(dir, "rb")
	if not f then
		error(msg, 0)
	end
	local _, _, code = f:read(0)
	f:close()
	if code ~= 21 then -- EISDIR
		error(dir .. ": Not a directory", 0)
	end
end

-- crit.open(dir) -> checkpoint
function crit.open(dir)
	if type(dir) ~= "string" then
		error("bad argument #1 to 'crit.open' (directory name expected, got " .. type(dir) .. ")", 2)
	end
	check_dir(dir) -- raises "dir: No such file or directory" / "Not a directory" now, not later
	local ck = setmetatable({ dir = dir:gsub("(.)/+$", "%1"), loaded = {} }, Checkpoint)
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

function Checkpoint:path(name)
	return self.dir .. "/" .. name
end

-- The image files of the dump, sorted (raw ones such as pages-*.img too).
function Checkpoint:list()
	local out = {}
	for _, name in ipairs(crit.dir(self.dir)) do
		if is_image_name(name) then
			out[#out + 1] = name
		end
	end
	return out
end

function Checkpoint:has(name)
	if self.loaded[name] then
		return true
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
		if read_all(path) ~= bytes then
			pending[#pending + 1] = { name = name, path = path, bytes = bytes }
		end
	end
	local written = {}
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

function Checkpoint:__tostring()
	return "crit.checkpoint: " .. self.dir
end
