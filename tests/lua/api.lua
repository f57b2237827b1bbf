-- api: the crit module's promises, one by one: typed tables, errors naming
-- the path of a bad value, 64-bit integers, unknown fields, atomic saves,
-- crit.new and the lazy checkpoint of crit.open.
-- usage: critlua -I tests/lua tests/lua/api.lua FIXTURES (tests/fixtures)

local T = require "testlib"

local fx = arg[1] or error("usage: api.lua FIXTURES", 0)
local sleep = fx .. "/sleep"
local core_path = sleep .. "/core-23744.img"
local mm_path = sleep .. "/mm-23744.img"

-- ---- typed tables ----
do
	local img = crit.load(core_path)
	T.eq(crit.typeof(img), "image", "typeof(image)")
	T.eq(img.magic, "CORE", "magic")
	local core = img.entries[1]
	T.eq(crit.typeof(core), "core_entry", "typeof(entry)")
	T.eq(crit.typeof(core.tc), "task_core_entry", "typeof(nested)")
	T.eq(crit.typeof({}), nil, "typeof(plain)")
	T.eq(core.tc.comm, "sleep", "string field")
	T.eq(core.mtype, "X86_64", "enum as name")
	T.eq(core.tc.child_subreaper, false, "bool field")
	T.eq(math.type(core.tc.flags), "integer", "integers are Lua integers")
	T.eq(core.tc.cg_set, nil, "absent optional field is nil")
	T.eq(core.ti_arm, nil, "absent optional message is nil")
	T.eq(core.extra, nil, "no payload: extra is nil")
	T.raises("no field 'comn' in task_core_entry (did you mean 'comm'?)", function()
		return core.tc.comn
	end)
	T.raises("no field 'bogus' in task_core_entry", function()
		core.tc.bogus = 1
	end)
	T.raises("no field 'bogus' in core_entry", function()
		core.bogus = 1
	end)
	-- uint64 above 2^63 (RLIM_INFINITY) is a negative Lua integer, exactly
	T.eq(core.tc.rlimits.rlimits[1].cur, -1, "uint64 max as -1")
	T.eq(T.udec(core.tc.rlimits.rlimits[1].cur), "18446744073709551615", "uint64 max, unsigned")
	-- pairs() shows fields only
	for k in pairs(core) do
		T.check(type(k) == "string", "pairs key %s", tostring(k))
	end
	-- loaded from a file, the image keeps its path for img:save()
	T.eq(img.path, core_path, "img.path")
end

-- ---- errors on encode/save name the path (entries count from 1) ----
local function mm()
	return crit.load(mm_path)
end

do
	local img = mm()
	img.entries[1].vmas[7].prot = "rw"
	T.raises("encode: entries[0].vmas[6].prot: expected an integer (uint32), got a string", crit.encode, img)
	img.entries[1].vmas[7].prot = 1 << 32
	T.raises("entries[0].vmas[6].prot: 4294967296 is out of range for uint32", crit.encode, img)
	img.entries[1].vmas[7].prot = -1
	T.raises("entries[0].vmas[6].prot: -1 is out of range for uint32", crit.encode, img)
	img.entries[1].vmas[7].prot = 1.5
	T.raises("entries[0].vmas[6].prot: 1.5 is not an integer", crit.encode, img)
	img.entries[1].vmas[7].prot = 3.0 -- a float with an integer value is fine
	T.check(pcall(crit.encode, img), "3.0 accepted for a uint32")
	img.entries[1].vmas[7].prot = 1
	img.entries[1].vmas[2].start = nil
	T.raises("entries[0].vmas[1].start: required field is missing", crit.encode, img)
	img.entries[1].vmas[2].start = 4096
	img.entries[1].vmas[3] = { start = 1, ["end"] = 2, pgoff = 0, shmid = 0, prot = 1, flags = 2, status = 1, fd = -1, porot = 3 }
	T.raises("entries[0].vmas[2]: no field 'porot' in vma_entry", crit.encode, img)
	img.entries[1].vmas[3].porot = nil
	T.check(pcall(crit.encode, img), "a plain table is a fine vma_entry")
	img.entries[1].vmas[3] = crit.new("core_entry", { mtype = "X86_64" })
	T.raises("entries[0].vmas[2]: expected a vma_entry table, got a core_entry table", crit.encode, img)
	img.entries[1].vmas[3] = nil -- a hole in the sequence
	T.raises("entries[0].vmas: expected a sequence (a table with keys 1..n), got one with holes", crit.encode, img)
	img = mm()
	img.entries[1].extra = "x"
	T.raises("encode: entries[0].extra: a MM image has no payload", crit.encode, img)
	img.entries[1].extra = nil
	img.magic = "NOPE"
	T.raises("encode: magic: unknown image type \"NOPE\"", crit.encode, img)
	img.magic = "CORE"
	T.raises("entries[0]: expected a core_entry table, got a mm_entry table", crit.encode, img)
	img.entries = { { mm_start_code = 1 } }
	T.raises("entries[0]: no field 'mm_start_code' in core_entry", crit.encode, img)
	T.raises("bad argument #1 to 'crit.encode' (table expected, got string)", crit.encode, "x")
	T.raises("bad argument #1 to 'crit.load' (string expected, got no value)", crit.load)
end

do
	local core = crit.load(core_path)
	core.entries[1].mtype = "X86_65"
	T.raises("entries[0].mtype: unknown name \"X86_65\" for enum core_entry.march (known: UNKNOWN, X86_64,", crit.encode, core)
	core.entries[1].mtype = 99 -- a number the schema does not name: kept (a newer CRIU's)
	T.eq(crit.decode(crit.encode(core)).entries[1].mtype, 99, "unknown enum number round-trips")
	core.entries[1].mtype = "X86_64"
	core.entries[1].tc.comm = "a\0b"
	T.raises("entries[0].tc.comm: a string field cannot hold a NUL character (\\u0000, at byte 1)", crit.encode, core)
	core.entries[1].tc.comm = 7
	T.raises("entries[0].tc.comm: expected a string (string), got an integer", crit.encode, core)
	core.entries[1].tc.comm = "sleep"
	core.entries[1].tc.child_subreaper = 1
	T.raises("entries[0].tc.child_subreaper: expected a boolean, got an integer", crit.encode, core)
	core.entries[1].tc.child_subreaper = false
	core.entries[1].tc.oom_score_adj = 1 << 31
	T.raises("entries[0].tc.oom_score_adj: 2147483648 is out of range for int32", crit.encode, core)
	core.entries[1].tc.oom_score_adj = -(1 << 31)
	T.check(pcall(crit.encode, core), "int32 minimum accepted")
	-- every 64-bit pattern survives
	core.entries[1].tc.blk_sigset = math.mininteger
	core.entries[1].tc.rlimits.rlimits[2].max = -2
	local back = crit.decode(crit.encode(core)).entries[1].tc
	T.eq(back.blk_sigset, math.mininteger, "uint64 2^63 round-trips")
	T.eq(back.rlimits.rlimits[2].max, -2, "uint64 2^64-2 round-trips")
end

-- A table that contains itself cannot hang the encoder.
do
	local ns = crit.new("aa_namespace", { name = "x" })
	ns.namespaces = { ns }
	T.raises("nested deeper than 100 levels", crit.encode, { magic = "APPARMOR", entries = { { namespaces = { ns } } } })
end

-- Payloads: the writer checks their lengths against the message.
do
	local img = crit.load(fx .. "/synthetic-kinds/tcp-stream-7f.img")
	local e = img.entries[1]
	T.eq(e.extra.inq, "", "tcp inq")
	T.eq(e.extra.outq, "out!", "tcp outq")
	e.extra.outq = "out!!"
	T.raises("entries[0].extra: outq holds 5 bytes, but outq_len says 4", crit.encode, img)
	e.outq_len = 5
	T.eq(crit.decode(crit.encode(img)).entries[1].extra.outq, "out!!", "changed outq saved")
	local sem = crit.load(fx .. "/synthetic-kinds/ipcns-sem-3.img")
	T.eq(table.concat(sem.entries[1].extra, ","), "9,8,7,6,65535", "semaphore values")
	sem.entries[1].extra[5] = 65536
	T.raises("entries[0].extra[4]: 65536 is out of range for a semaphore value (0..65535)", crit.encode, sem)
	sem.entries[1].extra[5] = 1
	sem.entries[1].extra[6] = 1
	T.raises("encode: entries[0].extra: 12 bytes, but 2 x nsems says 10", crit.encode, sem)
	local msg = crit.load(fx .. "/synthetic-kinds/ipcns-msg-3.img")
	local items = msg.entries[1].extra
	T.eq(#items, 3, "ipc messages")
	T.eq(crit.typeof(items[2].msg), "ipc_msg", "ipc message item type")
	T.eq(items[2].data, "ninebytes", "ipc message text")
	items[2].msg.mtype = nil
	T.raises("entries[0].extra[1].msg.mtype: required field is missing", crit.encode, msg)
	local pipes = crit.load(fx .. "/synthetic-kinds/fifo-data.img")
	T.eq(type(pipes.entries[1].extra), "string", "pipe data as a string")
end

-- ---- crit.new ----
do
	local v = crit.new("vma_entry", { start = 0x1000, ["end"] = 0x2000 })
	T.eq(crit.typeof(v), "vma_entry", "crit.new type")
	T.eq(v["end"], 0x2000, "crit.new copies values")
	T.eq(v.prot, nil, "crit.new leaves the rest nil")
	T.raises("no field 'prt' in vma_entry (did you mean 'prot'?)", function()
		v.prt = 1
	end)
	T.raises("no field 'bogus' in vma_entry", crit.new, "vma_entry", { bogus = 1 })
	T.raises("start: expected an integer (uint64), got a string", crit.new, "vma_entry", { start = "x" })
	T.raises("bad argument #1 to 'crit.new' (no message type 'nope')", crit.new, "nope")
	local core = crit.new("core_entry", { mtype = "X86_64", tc = { comm = "x" } })
	T.eq(crit.typeof(core.tc), "task_core_entry", "crit.new types nested tables")
	T.raises("tc.comm: expected a string (string), got an integer", crit.new, "core_entry", { tc = { comm = 1 } })
	T.raises("mtype: unknown name \"ARM64\"", crit.new, "core_entry", { mtype = "ARM64" })
	-- a whole image from scratch
	local bytes = crit.encode({ magic = "FS", entries = { crit.new("fs_entry", { cwd_id = 1, root_id = 2 }) } })
	local fs = crit.decode(bytes)
	T.eq(fs.entries[1].root_id, 2, "new image decodes")
	T.eq(bytes:sub(1, 4), "\x19\x43\x56\x54", "IMG_COMMON head first")
end

-- ---- the form of the file: a v1 image (no head) saves back without one ----
do
	local v1 = crit.load(fx .. "/synthetic-kinds/fs-7.img")
	T.eq(v1.form, "bare", "v1 image form")
	T.eq(crit.encode(v1), T.read(fx .. "/synthetic-kinds/fs-7.img"), "v1 saves back headless")
	v1.form = nil -- as if it came from JSON: CRIU 4.2's form
	T.eq(crit.encode(v1):sub(1, 4), "\x19\x43\x56\x54", "no form: IMG_COMMON head")
	v1.form = "v2"
	T.raises("form: expected \"common\", \"service\" or \"bare\", got \"v2\"", crit.encode, v1)
end

-- ---- unknown fields (a newer CRIU's) survive load -> change -> save ----
do
	-- fs_entry with field 15 (varint 7) and field 16 (bytes "hi") appended
	local orig = T.read(sleep .. "/fs-23744.img")
	local size = string.unpack("<I4", orig, 9)
	local body = orig:sub(13, 12 + size) .. "\x78\x07" .. "\x82\x01\x02hi"
	local img_bytes = orig:sub(1, 8) .. string.pack("<I4", #body) .. body
	local img = crit.decode(img_bytes)
	local fs = img.entries[1]
	T.eq(crit.unknown(fs), "\x78\x07\x82\x01\x02hi", "unknown fields kept")
	T.eq(crit.encode(img), img_bytes, "unknown fields: byte-identical")
	fs.umask = 0x1ff
	local back = crit.decode(crit.encode(img))
	T.eq(back.entries[1].umask, 0x1ff, "known field changed")
	T.eq(crit.unknown(back.entries[1]), "\x78\x07\x82\x01\x02hi", "unknown fields still there")
	crit.unknown(fs, "\x78") -- damaged: truncated varint
	T.raises("entries[0]: the kept unknown fields are damaged at byte 0", crit.encode, img)
	crit.unknown(fs, nil)
	T.eq(crit.unknown(crit.decode(crit.encode(img)).entries[1]), nil, "unknown fields dropped on request")
end

-- ---- saving: atomic, mode kept, old file intact on failure ----
local tmp = T.tmpdir()
do
	local path = tmp .. "/mm-1.img"
	T.write(path, T.read(mm_path))
	os.execute("chmod 640 " .. T.sh_quote(path))
	local img = crit.load(path)
	img.entries[1].vmas[1].prot = 7
	T.eq(crit.save(img), true, "img saved to its own path")
	T.eq(crit.load(path).entries[1].vmas[1].prot, 7, "saved value")
	local p = io.popen("stat -c %a " .. T.sh_quote(path))
	T.eq(p:read("l"), "640", "mode kept")
	p:close()
	local before = T.read(path)
	img.entries[1].vmas[1].prot = "bad"
	T.raises(path .. ": entries[0].vmas[0].prot: expected an integer", crit.save, img, path)
	T.eq(T.read(path), before, "failed save: old file intact")
	T.eq(#crit.dir(tmp), 1, "failed save: no temporary file left")
	img.entries[1].vmas[1].prot = 1
	T.raises("bad argument #2 to 'crit.save' (a file name is needed", crit.save, crit.decode(before))
	T.raises(tmp .. "/no/such/dir/x.img: ", crit.save, img, tmp .. "/no/such/dir/x.img")
	-- a write that fails half-way (file size limit: like a full disk)
	local script = tmp .. "/grow.lua"
	T.write(script, [[
		local img = crit.load(arg[1])
		img.entries[1].vmas[1].prot = 5
		crit.save(img)
	]])
	local out, err, rc = T.run("ulimit -f 1; trap '' XFSZ; " .. T.sh_quote(T.critlua()) .. " " .. T.sh_quote(script) .. " " .. T.sh_quote(path))
	T.eq(rc, 1, "save past the file size limit fails")
	T.check(err:find("critlua: " .. path .. ": ", 1, true) and err:find("too large", 1, true),
		"save past the size limit: message %q", err)
	T.eq(T.read(path), before, "failed write: old file intact")
	T.eq(#crit.dir(tmp), 2, "failed write: no temporary file left")
end

-- ---- crit.open: a checkpoint loaded lazily, saved together ----
do
	local dir = tmp .. "/dump"
	os.execute("cp -r " .. T.sh_quote(sleep) .. " " .. T.sh_quote(dir))
	local ck = crit.open(dir)
	T.eq(tostring(ck), "crit.checkpoint: " .. dir, "tostring(checkpoint)")
	local list = table.concat(ck:list(), " ")
	T.check(list:find("core-23744.img", 1, true) and list:find("stats-dump", 1, true), "ck:list(): %s", list)
	T.eq(next(ck.loaded), nil, "nothing loaded before use")
	T.eq(ck.images["core-23744.img"].entries[1].tc.comm, "sleep", "ck.images[name]")
	T.eq(ck:image("core-23744.img"), ck.images["core-23744.img"], "loaded once")
	local none, msg = ck:image("core-1.img")
	T.eq(none, nil, "a missing image is nil")
	T.check(msg and msg:find("core-1.img: no such image", 1, true), "missing image message: %s", tostring(msg))
	T.eq(ck:has("core-1.img"), false, "has(missing)")
	T.eq(ck:has("mm-23744.img"), true, "has(present)")
	T.raises("pages-1.img: raw memory pages", ck.image, ck, "pages-1.img")
	T.eq(#ck:save(), 0, "unchanged images are not written")
	ck:image("core-23744.img").entries[1].tc.comm = "renamed"
	ck:image("mm-23744.img").entries[1].vmas[1].prot = "bad"
	local core_before, mm_before = T.read(dir .. "/core-23744.img"), T.read(dir .. "/mm-23744.img")
	T.raises(dir .. "/mm-23744.img: entries[0].vmas[0].prot: expected an integer", ck.save, ck)
	T.eq(T.read(dir .. "/core-23744.img"), core_before, "one bad image: no image written")
	ck:image("mm-23744.img").entries[1].vmas[1].prot = 1
	local written = ck:save({ backup = ".orig" })
	T.eq(table.concat(written, " "), "core-23744.img", "only the changed image is written")
	T.eq(crit.load(dir .. "/core-23744.img").entries[1].tc.comm, "renamed", "checkpoint saved")
	T.eq(T.read(dir .. "/core-23744.img.orig"), core_before, "backup kept")
	T.eq(T.read(dir .. "/mm-23744.img"), mm_before, "unchanged image untouched")
	-- methods of other modules (explore: ck:ps()) come without a require
	if require("critlua").embedded.explore then
		T.eq(type(crit.open(dir).ps), "function", "ck:ps() loads explore by itself")
	end
	T.eq(crit.open(dir).nosuchmethod, nil, "an unknown method is nil")
	T.raises(tmp .. "/nope: No such file or directory", crit.open, tmp .. "/nope")
	T.raises("bad argument #1 to 'crit.open' (directory name expected, got nil)", crit.open)
end
os.execute("rm -rf " .. T.sh_quote(tmp))

T.done("api")
