-- xviews_test: `x DIR fds|mems|rss`, whose views read only the fields they show
-- (crit._select, the selective walk of src/lua/pb2lua.c), against the same
-- views over images decoded whole (crit.load), byte for byte, with the notes on
-- stderr: on every checkpoint under ROOT, and on edited copies — images
-- missing or damaged, files not in files.img, VMAs and fds of every kind,
-- unix socket names to quote, fields the schema does not know, a file's reg
-- part given twice (which protobuf merges).
-- usage: critlua -I tests/lua tests/lua/xviews_test.lua FIXTURES_ROOT

local T = require "testlib"
local explore = require "explore"

local root = T.fixtures_root("xviews_test.lua")
local critlua = T.critlua()
local q = T.sh_quote

-- The view over images decoded whole: a loader function, which the views
-- never read selectively.
local function full_text(dir, view)
	local data, notes = explore[view](function(name)
		local path = dir .. "/" .. name
		if T.exists(path) then
			return crit.load(path)
		end
	end)
	local out = {}
	explore["render_" .. view](data, function(s)
		out[#out + 1] = s
	end)
	return table.concat(out), notes
end

-- `x` prints the text and notes of the view over whole images. Returns the notes.
local function agree(dir, view, what)
	local want, notes = full_text(dir, view)
	local out, err, code = T.run(critlua .. " x " .. q(dir) .. " " .. view)
	T.eq(code, 0, what .. " x " .. view .. ": exit status")
	T.check(out == want, "%s: x %s differs from the view over whole images", what, view)
	local lines = {}
	for _, n in ipairs(notes) do
		lines[#lines + 1] = "critlua: x " .. view .. ": " .. n .. "\n"
	end
	T.eq(err, table.concat(lines), what .. " x " .. view .. ": notes on stderr")
	return notes
end

-- ---- every checkpoint under root ----

local dirs = {}
for _, name in ipairs(crit.dir(root)) do
	local dir = root .. "/" .. name
	if T.exists(dir .. "/pstree.img") then
		dirs[#dirs + 1] = dir
		for _, view in ipairs({ "fds", "mems", "rss" }) do
			agree(dir, view, name)
		end
	end
end
T.check(#dirs > 0, "no checkpoint under %s", root)

-- ---- edited copies with something missing: the views note it ----

local function copy(dir)
	local tmp = T.tmpdir()
	os.execute("cp -a " .. q(dir) .. "/. " .. q(tmp))
	return tmp
end

local src = root .. "/pipes"
if not T.exists(src .. "/pstree.img") then
	src = dirs[1]
end
local pid = crit.load(src .. "/pstree.img").entries[1].pid

local function edited(what, views, edit)
	local tmp = copy(src)
	edit(tmp)
	for _, view in ipairs(views) do
		local notes = agree(tmp, view, what)
		T.check(#notes > 0, "%s %s: the view noted nothing", what, view)
	end
	os.execute("rm -rf " .. q(tmp))
end

edited("no fs image", { "fds" }, function(d)
	os.remove(d .. "/fs-" .. pid .. ".img")
end)
edited("no ids image", { "fds" }, function(d)
	os.remove(d .. "/ids-" .. pid .. ".img")
end)
edited("no fdinfo image", { "fds" }, function(d)
	local ids = crit.load(d .. "/ids-" .. pid .. ".img").entries[1]
	os.remove(d .. "/fdinfo-" .. ids.files_id .. ".img")
end)
edited("no mm image", { "mems", "rss" }, function(d)
	os.remove(d .. "/mm-" .. pid .. ".img")
end)
edited("no pagemap image", { "rss" }, function(d)
	os.remove(d .. "/pagemap-" .. pid .. ".img")
end)
edited("no files.img", { "fds", "mems", "rss" }, function(d)
	os.remove(d .. "/files.img")
end)
-- the first file an fd of the first process names, gone from files.img
edited("an fd's file not in files.img", { "fds" }, function(d)
	local ids = crit.load(d .. "/ids-" .. pid .. ".img").entries[1]
	local fdi = crit.load(d .. "/fdinfo-" .. ids.files_id .. ".img")
	local gone
	for _, fd in ipairs(fdi.entries) do
		if fd.type == "REG" or fd.type == "PIPE" or fd.type == "UNIXSK" then
			gone = fd.id
			break
		end
	end
	T.check(gone, "pipes: the first process has a regular file, pipe or socket open")
	local files = crit.load(d .. "/files.img")
	local kept = {}
	for _, e in ipairs(files.entries) do
		if e.id ~= gone then
			kept[#kept + 1] = e
		end
	end
	files.entries = kept
	crit.save(files, d .. "/files.img")
end)
-- the file of its exe, and so of its text VMAs
edited("the exe not in files.img", { "mems" }, function(d)
	local mm = crit.load(d .. "/mm-" .. pid .. ".img").entries[1]
	local files = crit.load(d .. "/files.img")
	local kept = {}
	for _, e in ipairs(files.entries) do
		if e.id ~= mm.exe_file_id then
			kept[#kept + 1] = e
		end
	end
	files.entries = kept
	crit.save(files, d .. "/files.img")
end)

-- ---- edited copies with nothing missing: every branch of the two renderers ----

local function complete(what, dir, views, edit)
	local tmp = copy(dir)
	edit(tmp)
	for _, view in ipairs(views) do
		local notes = agree(tmp, view, what)
		T.eq(#notes, 0, what .. " " .. view .. ": notes: " .. table.concat(notes, "; "))
	end
	os.execute("rm -rf " .. q(tmp))
end

-- VMAs of every kind CRIT names (vma_entry.status bits), at addresses above
-- 2^63, with offsets, shared segments met twice, irregular ones.
complete("VMAs of every kind", src, { "mems" }, function(d)
	local img = crit.load(d .. "/mm-" .. pid .. ".img")
	local mm = img.entries[1]
	local fid = mm.exe_file_id
	local kinds = {
		{ 1 | 2 }, { 1 | 4 }, { 1 | 8 }, { 1 | 32 }, { 1 | 4096 }, { 1 | 8192 }, { 1 },
		{ 0 }, { 0, 0x100 }, { 1, 0x100 },
		{ 1 | 64, 0, fid, 0 }, { 1 | 64, 0, fid, 0x7000 }, { 1 | 128, 1, fid, 0xffffffffffff0000 },
		{ 64, 0, fid, 0x10 }, { 128 | 256, 1, fid, 0 },
		{ 1 | 256, 1, 77 }, { 1 | 1024, 1, 5 }, { 1 | 2048, 1, 9 }, { 1 | 256, 1, 77 },
		{ 1024, 1, 0xffffffffffffffff }, { 1 | 1024, 1, 5 },
	}
	local vmas, at = {}, -0x100000000000 -- 0xffff f000 0000 0000: above 2^63
	for i, k in ipairs(kinds) do
		local v = mm.vmas[(i - 1) % #mm.vmas + 1]
		vmas[i] = {
			start = at, ["end"] = at + 0x3000, pgoff = k[4] or 0, shmid = k[3] or 0,
			prot = i % 8, flags = k[2] or 2, status = k[1], fd = v.fd,
		}
		at = at + 0x10000
	end
	vmas[#vmas + 1] = { start = 0, ["end"] = 0x1000, pgoff = 0, shmid = 0, prot = 7, flags = 0x22, status = 1, fd = -1 }
	mm.vmas = vmas
	crit.save(img, d .. "/mm-" .. pid .. ".img")
end)

-- fds of every type CRIT names, one of a type the schema does not know.
complete("fds of every type", src, { "fds" }, function(d)
	local ids = crit.load(d .. "/ids-" .. pid .. ".img").entries[1]
	local path = d .. "/fdinfo-" .. ids.files_id .. ".img"
	local fdi = crit.load(path)
	local proto = fdi.entries[1]
	local types = { "EVENTFD", "TIMERFD", "INOTIFY", "SIGNALFD", "EVENTPOLL", "NS", "TUNF", "MEMFD",
		"BPFMAP", "PIDFD", "TTY", "FIFO", "INETSK", "PACKETSK", "NETLINKSK", "EXT", "UND", 99, 4000000 }
	for i, t in ipairs(types) do
		fdi.entries[#fdi.entries + 1] = { id = 1000000 + i, flags = 0, type = t, fd = 4000000000 + i,
			xattr_security_selinux = proto.xattr_security_selinux }
	end
	crit.save(fdi, path)
end)

-- unix socket names: empty, with bytes to quote, line ends of both kinds,
-- long enough for soft line breaks; a pipe entry and a socket entry that the
-- fds' types do not match (CRIT's "pipe[?]", "unix[?]", "unknown path").
local usk_dir = root .. "/unix-sockets"
if T.exists(usk_dir .. "/files.img") then
	local names = { "", "\0abstract", "a=b \r\nc\nd.\n", "x\ry\r\nz\n", string.rep("long name ", 12) .. "\t",
		".", "\255\254", "tab\t\nspace \n" }
	local function set_names(d)
		local files = crit.load(d .. "/files.img")
		local i = 0
		for _, e in ipairs(files.entries) do
			if e.usk then
				i = i + 1
				e.usk.name = names[(i - 1) % #names + 1]
			end
		end
		T.check(i > 0, "unix-sockets has unix sockets in files.img")
		crit.save(files, d .. "/files.img")
	end
	complete("unix socket names", usk_dir, { "fds" }, set_names)
	complete("fds whose files are of another type", usk_dir, { "fds", "mems" }, function(d)
		set_names(d)
		local p1 = crit.load(d .. "/pstree.img").entries[1].pid
		local ids = crit.load(d .. "/ids-" .. p1 .. ".img").entries[1]
		local path = d .. "/fdinfo-" .. ids.files_id .. ".img"
		local fdi = crit.load(path)
		local files = crit.load(d .. "/files.img")
		for i, fd in ipairs(fdi.entries) do -- each names a file of the type before it
			local e = files.entries[(i % #files.entries) + 1]
			fd.id = e.id
			fd.type = ({ "REG", "PIPE", "UNIXSK" })[i % 3 + 1]
		end
		crit.save(fdi, path)
	end)
end

-- Fields the schema does not know (field 30, a varint): the selective reader
-- passes over them.
local function varint(n)
	local s = ""
	repeat
		local b = n & 0x7f
		n = n >> 7
		s = s .. string.char(n > 0 and b | 0x80 or b)
	until n == 0
	return s
end
complete("fields the schema does not know", src, { "fds", "mems" }, function(d)
	local img = crit.load(d .. "/mm-" .. pid .. ".img")
	for i, v in ipairs(img.entries[1].vmas) do
		crit.unknown(v, "\xf0\x01" .. varint(i))
	end
	crit.unknown(img.entries[1], "\xf0\x01\x07")
	crit.save(img, d .. "/mm-" .. pid .. ".img")
	local files = crit.load(d .. "/files.img")
	for _, e in ipairs(files.entries) do
		crit.unknown(e, "\xf0\x01\x09")
		if e.reg then
			crit.unknown(e.reg, "\xf0\x01\x0b")
		end
	end
	crit.save(files, d .. "/files.img")
end)

-- A file entry with its reg part twice, which protobuf-c merges into one: the
-- selective reader must give the merged entry too.
do
	local tmp = copy(src)
	local files = crit.load(tmp .. "/files.img")
	for _, e in ipairs(files.entries) do
		if e.reg then
			local msg = crit.encode({ magic = "REG_FILES", entries = { e.reg } }):sub(13)
			crit.unknown(e, "\x1a" .. varint(#msg) .. msg)
			break
		end
	end
	crit.save(files, tmp .. "/files.img")
	for _, view in ipairs({ "fds", "mems" }) do
		agree(tmp, view, "a reg part twice")
	end
	os.execute("rm -rf " .. q(tmp))
end

-- A damaged image: x refuses it, naming it.
do
	local tmp = copy(src)
	T.write(tmp .. "/mm-" .. pid .. ".img", "\25\67\86\84not an image")
	local _, err, code = T.run(critlua .. " x " .. q(tmp) .. " mems")
	T.eq(code, 1, "a damaged mm image: x exit status")
	T.check(err:find("mm-" .. pid .. ".img", 1, true), "a damaged mm image: the error names it: %s", err)
	os.execute("rm -rf " .. q(tmp))
end

T.done("xviews")
