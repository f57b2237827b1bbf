-- fixup_test: the migration fixups (lua/cmd/rewrite-*.lua, check.lua, lua/lib/fixup.lua)
-- on copies of real checkpoints: a rewrite changes exactly the fields it should
-- (every image decoded before and after, compared as tables), check passes
-- before and after, and a rewrite made to fail midway leaves every file as it was.
-- usage: critlua -I tests/lua tests/fixup/fixup_test.lua FIXTURES_DIR [--every-section]
-- A section whose checkpoint FIXTURES_DIR lacks is skipped, said so on stdout, and
-- the test exits 77 (skipped), not 0; with --every-section (the repository's own
-- fixtures, which hold them all) it fails instead.

local T = require "testlib"

local root = assert(arg[1], "give the fixtures directory")
local every_section = arg[2] == "--every-section"
local CRITLUA = T.critlua()
local q = T.sh_quote

local function is_dir(p)
	return os.execute("test -d " .. q(p)) == true
end

-- A scratch copy of fixture `name`, or nil when this fixtures root lacks it.
local scratch = T.tmpdir()
local function copy(name)
	local src = root .. "/" .. name
	if not is_dir(src) then
		if every_section then
			T.fail("%s: no such fixture, so its section cannot run", src)
		else
			T.skip("the " .. name .. " section", "no " .. name .. " in " .. root)
		end
		return nil
	end
	local dst = scratch .. "/" .. name
	os.execute("rm -rf " .. q(dst))
	assert(os.execute("cp -r " .. q(src) .. " " .. q(dst)))
	os.execute("chmod -R u+w " .. q(dst)) -- the fixtures may be read-only
	return dst
end

local function critlua(args, env)
	return T.run((env or "") .. " " .. q(CRITLUA) .. " " .. args)
end

-- Every file of a directory (hidden ones too) -> its bytes.
local function files_of(dir)
	local out = {}
	for _, name in ipairs(crit.dir(dir)) do
		out[name] = T.read(dir .. "/" .. name)
	end
	return out
end

local function same_files(dir, before, what)
	local now = files_of(dir)
	for name, bytes in pairs(before) do
		T.check(now[name] == bytes, "%s: %s is not byte-identical", what, name)
	end
	for name in pairs(now) do
		T.check(before[name] ~= nil, "%s: %s was left behind", what, name)
	end
end

-- Every decodable image of a directory, as Lua tables.
local function decode_all(dir)
	local out = {}
	for _, name in ipairs(crit.open(dir):list()) do
		local ok, img = pcall(crit.load, dir .. "/" .. name)
		if ok then
			out[name] = img
		end
	end
	return out
end

-- The fields that differ between two values: path -> {old, new}. A sequence
-- of scalars (an address's words) counts as one field.
local function scalars(t)
	if #t == 0 then
		return false
	end
	for _, v in ipairs(t) do
		if type(v) == "table" then
			return false
		end
	end
	return true
end

local function diff(a, b, path, out)
	if type(a) == "table" and type(b) == "table" and not (scalars(a) and scalars(b)) then
		local keys = {}
		for k in pairs(a) do
			keys[k] = true
		end
		for k in pairs(b) do
			keys[k] = true
		end
		for k in pairs(keys) do
			local sub = type(k) == "number" and string.format("%s[%d]", path, k) or path .. "." .. k
			diff(a[k], b[k], sub, out)
		end
	elseif type(a) == "table" and type(b) == "table" then
		local same = #a == #b
		for i = 1, #a do
			same = same and a[i] == b[i]
		end
		if not same then
			out[path] = { a, b }
		end
	elseif a ~= b then
		out[path] = { a, b }
	end
	return out
end

-- "image: path" -> {old, new} over every image of two decoded checkpoints.
local function diff_dirs(before, after)
	local out = {}
	for name, img in pairs(before) do
		local d = diff(img.entries, after[name] and after[name].entries, "entries", {})
		for p, v in pairs(d) do
			out[name .. ": " .. p] = v
		end
	end
	return out
end

local function keys_sorted(t)
	local ks = {}
	for k in pairs(t) do
		ks[#ks + 1] = k
	end
	table.sort(ks)
	return ks
end

-- The changed fields must be exactly `want` (a list of "image: path").
local function expect_changes(got, want, what)
	local set = {}
	for _, w in ipairs(want) do
		set[w] = true
		T.check(got[w] ~= nil, "%s: %s did not change", what, w)
	end
	for _, k in ipairs(keys_sorted(got)) do
		T.check(set[k], "%s: %s changed but should not have", what, k)
	end
end

local function pages_flag(dir)
	-- the fixtures of the repository come without their pages-*.img
	for _, name in ipairs(crit.dir(dir)) do
		if name:match("^pages%-") then
			return ""
		end
	end
	return " --skip-pages"
end

local function check_passes(dir, what)
	local out, err, code = critlua("check " .. q(dir) .. pages_flag(dir))
	T.check(code == 0, "%s: check failed (%d):\n%s%s", what, code, out, err)
end

-- The lines of a --dry-run report, "object: field old -> new (image: path)"
-- (or "image: path: old -> new" where no object is known), as a set of
-- "image: path" with the entries numbered as Lua does (from 1).
local function report_fields(out)
	local set = {}
	for line in out:gmatch("[^\n]+") do
		local img, path = line:match(" %-> .*%((%S+): (%S+)%)$")
		if not img then
			img, path = line:match("^(%S+): (%S+): .* %-> ")
		end
		if img then
			-- the reports count from 0 (as jq over decode's JSON); this test
			-- names entries as Lua indexes them (img.entries[N], its own diff):
			-- every [N] of the path one up
			path = path:gsub("%[(%d+)%]", function(n)
				return "[" .. (tonumber(n) + 1) .. "]"
			end)
			set[img .. ": " .. path] = true
		end
	end
	return set
end

-- One rewrite, end to end: dry run (nothing written, the report names the
-- fields), the real run, the decoded difference, check before and after.
local function rewrite(dir, args, want, what, breaks)
	check_passes(dir, what .. " (before)")
	local before_files = files_of(dir)
	local before = decode_all(dir)
	local out, err, code = critlua((args:gsub("DIR", q(dir))) .. " --dry-run")
	T.check(code == 0, "%s --dry-run: exit %d: %s", what, code, err)
	same_files(dir, before_files, what .. " --dry-run")
	local reported = report_fields(out)
	expect_changes(reported, want, what .. " --dry-run report")
	out, err, code = critlua((args:gsub("DIR", q(dir))))
	T.check(code == 0, "%s: exit %d: %s", what, code, err)
	expect_changes(diff_dirs(before, decode_all(dir)), want, what)
	if not breaks then
		check_passes(dir, what .. " (after)")
	end
	return out, err
end

-- The fields of files.img entries, as "files.img: entries[N].FIELD".
local function f(...)
	local out = {}
	for _, s in ipairs({ ... }) do
		out[#out + 1] = "files.img: entries[" .. s
	end
	return out
end

---------------------------------------------------------------------------
-- The table diff itself

do
	local a = { entries = { { x = 1, addr = { 1, 2 }, sub = { y = "a" } } } }
	local b = { entries = { { x = 1, addr = { 1, 3 }, sub = { y = "b" }, z = true } } }
	local d = diff(a.entries, b.entries, "entries", {})
	expect_changes(d, { "entries[1].addr", "entries[1].sub.y", "entries[1].z" }, "diff helper")
end

---------------------------------------------------------------------------
-- rewrite-ports on tcp: listeners and both ends of a connection inside

local tcp = copy("tcp")
if tcp then
	-- ss before the dump: 127.0.0.1:47321 listens (entries 6) and is connected
	-- (11) to 127.0.0.1:54254 (15); [::1]:47322 listens (7), is connected (12)
	-- to [::1]:51736 (16); 127.0.0.1:47323 listens (8).
	os.execute("chmod 600 " .. q(tcp .. "/files.img"))
	rewrite(tcp, "rewrite-ports DIR 47321:9090 47322:9091",
		f("6].isk.src_port", "11].isk.src_port", "15].isk.dst_port", "7].isk.src_port", "12].isk.src_port",
			"16].isk.dst_port"), "rewrite-ports tcp")
	local p = io.popen("stat -c %a " .. q(tcp .. "/files.img"))
	T.eq(p:read("l"), "600", "rewrite-ports keeps the image's mode")
	p:close()
	-- back again, with --backup: the original stays as files.img.orig
	local before = T.read(tcp .. "/files.img")
	rewrite(tcp, "rewrite-ports DIR 9090:47321 9091:47322 --backup",
		f("6].isk.src_port", "11].isk.src_port", "15].isk.dst_port", "7].isk.src_port", "12].isk.src_port",
			"16].isk.dst_port"), "rewrite-ports tcp back")
	T.eq(T.read(tcp .. "/files.img.orig"), before, "--backup keeps the original")
	T.eq(T.read(tcp .. "/files.img"), T.read(root .. "/tcp/files.img"), "ports back: files.img as dumped")
	-- a later --backup keeps the oldest original
	critlua("rewrite-ports " .. q(tcp) .. " 47323:47324 --backup -q")
	T.eq(T.read(tcp .. "/files.img.orig"), before, "a second --backup keeps the first original")
	critlua("rewrite-ports " .. q(tcp) .. " 47324:47323 -q")
	os.remove(tcp .. "/files.img.orig")

	-- --pid: the server's sockets, and the client's view follows; the
	-- client alone holds no local 47321, and its peer inside keeps its port
	rewrite(tcp, "rewrite-ports DIR 47321:9090 --pid 24277",
		f("6].isk.src_port", "11].isk.src_port", "15].isk.dst_port"), "rewrite-ports --pid server")
	local out, err, code = critlua("rewrite-ports " .. q(tcp) .. " 54254:6000 --pid 24277 -n")
	-- nothing to change is an error (exit 1) naming why (was exit 0 before issue 19)
	T.check(code == 1 and out == "" and err:find("nothing to change", 1, true)
		and err:find("only the peer side of pid 24277's connections", 1, true),
		"--pid: a port of another process: %s%s", out, err)
	rewrite(tcp, "rewrite-ports DIR 54254:6000 --pid 24280",
		f("15].isk.src_port", "11].isk.dst_port"), "rewrite-ports --pid client")
	-- --proto udp leaves tcp sockets alone
	out, err, code = critlua("rewrite-ports " .. q(tcp) .. " 9090:47321 --proto udp -n")
	T.check(code == 1 and out == "" and err:find("used by tcp sockets only, not by udp ones", 1, true),
		"--proto udp on tcp sockets: %s%s", out, err)
	-- --local-only breaks the connection inside, and check says so
	local t = copy("tcp")
	out, err, code = critlua("rewrite-ports " .. q(t) .. " 47321:9090 --local-only")
	T.check(code == 0 and err:find("--local-only: 1 socket", 1, true), "--local-only: %d %s", code, err)
	out, err, code = critlua("check " .. q(t) .. pages_flag(t))
	T.check(code == 1 and out:find("files.img: entries[10].isk: TCP 127.0.0.1:9090 -> 127.0.0.1:54254", 1, true),
		"check after --local-only: %d\n%s", code, out)
	-- two listeners on one port: check says so
	t = copy("tcp")
	critlua("rewrite-ports " .. q(t) .. " 47323:47321 -q")
	out, err, code = critlua("check " .. q(t) .. pages_flag(t))
	T.check(code == 1 and out:find("two TCP listeners on 127.0.0.1:47321", 1, true), "check: listener clash: %s", out)

	-- a loop in the process tree (a parent edited wrongly): check names it
	t = copy("tcp")
	do
		local ck = crit.open(t)
		local e = ck:image("pstree.img").entries
		if #e >= 2 then
			e[1].ppid = e[#e].pid
			ck:save()
			out, err, code = critlua("check " .. q(t) .. pages_flag(t))
			T.check(code == 1 and out:find("loop", 1, true) and out:find("none of them reaches the root", 1, true),
				"check: a loop in the process tree: %d %s", code, out)
		end
	end

	-- peers outside: make the IPv4 connection two, each to an outside host
	-- (the accepted socket's client 10.9.9.8, the client's server 10.9.9.9);
	-- then only --peer changes the client's destination port
	t = copy("tcp")
	local files = crit.load(t .. "/files.img")
	files.entries[11].isk.dst_addr = { 0x0809090a }
	files.entries[15].isk.dst_addr = { 0x0909090a }
	files:save()
	rewrite(t, "rewrite-ports DIR 47321:9090", f("6].isk.src_port", "11].isk.src_port"), "outside peer: default")
	rewrite(t, "rewrite-ports DIR 47321:9090 --peer", f("15].isk.dst_port"), "outside peer: --peer")
	rewrite(t, "rewrite-ports DIR 9090:7000 --peer-only", f("15].isk.dst_port"), "outside peer: --peer-only")

	-- rewrite-ip, IPv4 and IPv6, connections inside follow
	t = copy("tcp")
	rewrite(t, "rewrite-ip DIR 127.0.0.1=10.0.0.1 ::1=fd00::1",
		f("6].isk.src_addr", "8].isk.src_addr", "11].isk.src_addr", "11].isk.dst_addr", "15].isk.src_addr",
			"15].isk.dst_addr", "7].isk.src_addr", "12].isk.src_addr", "12].isk.dst_addr", "16].isk.src_addr",
			"16].isk.dst_addr"), "rewrite-ip tcp")
	files = crit.load(t .. "/files.img")
	T.eq(files.entries[11].isk.src_addr[1], 0x0100000a, "10.0.0.1 in network byte order")
	T.eq(files.entries[12].isk.src_addr[1], 0xfd, "fd00::1, first word")
	T.eq(files.entries[12].isk.src_addr[4], 0x01000000, "fd00::1, last word")
	rewrite(t, "rewrite-ip DIR 10.0.0.1=10.0.0.2 --local-only --pid 24280",
		f("15].isk.src_addr"), "rewrite-ip --local-only --pid", true)
	out, err, code = critlua("check " .. q(t) .. pages_flag(t))
	T.check(code == 1 and out:find("TCP 10.0.0.2:54254 -> 10.0.0.1:47321", 1, true),
		"check after a one-sided address change: %d %s", code, out)

	-- usage errors
	for _, args in ipairs({ "rewrite-ports " .. q(tcp), "rewrite-ports " .. q(tcp) .. " 80", "rewrite-ports " .. q(tcp) .. " 0:80",
		"rewrite-ports " .. q(tcp) .. " 80:70000", "rewrite-ports " .. q(tcp) .. " 80:81 80:82",
		"rewrite-ports " .. q(tcp) .. " 80:81 --peer --local-only", "rewrite-ports " .. q(tcp) .. " 80:81 --proto sctp",
		"rewrite-ip " .. q(tcp) .. " 1.2.3.4=::1", "rewrite-ip " .. q(tcp) .. " 1.2.3=1.2.3.4",
		"rewrite-paths " .. q(tcp) .. " srv=/opt", "rewrite-paths " .. q(tcp) .. " /a=/b --only bogus",
		"check", "check " .. q(tcp) .. " " .. q(tcp) }) do
		local _, uerr, ucode = critlua(args)
		T.check(ucode == 2, "usage error expected (2) for %s: %d %s", args, ucode, uerr)
	end
end

---------------------------------------------------------------------------
-- rewrite-ports on udp: a connected socket and the bound one it talks to

local udp = copy("udp")
if udp then
	-- 127.0.0.1:47421 bound (entries 6); 127.0.0.1:35259 connected to it (7)
	rewrite(udp, "rewrite-ports DIR 47421:5000", f("6].isk.src_port", "7].isk.dst_port"), "rewrite-ports udp")
	rewrite(udp, "rewrite-ports DIR 47422:5001 --proto udp", f("8].isk.src_port"), "rewrite-ports udp v6")
	rewrite(udp, "rewrite-ports DIR 5000:47421 --local-only", f("6].isk.src_port"), "rewrite-ports udp --local-only")
	rewrite(udp, "rewrite-ip DIR 127.0.0.1=192.168.1.5",
		f("6].isk.src_addr", "7].isk.src_addr"), "rewrite-ip udp (peer not inside any more)")
end

---------------------------------------------------------------------------
-- rewrite-paths: files, unix sockets, mounts, cgroups

local usk = copy("unix-sockets")
if usk then
	rewrite(usk, "rewrite-paths DIR /srv/fixture/tmp/unix-sockets=/run/app",
		f("14].reg.name", "22].reg.name", "10].usk.name", "13].usk.name", "21].usk.name"), "rewrite-paths unix")
	local files = crit.load(usk .. "/files.img")
	T.eq(files.entries[10].usk.name, "/run/app/listen.sock\0", "unix name keeps its NUL")
	-- /srv/fixture/tmp/unix matches no path (it is not a whole component)
	local out, err, code = critlua("rewrite-paths " .. q(usk) .. " /run/ap=/x -n")
	-- nothing to change: exit 1 naming why (was exit 0 before issue 19)
	T.check(code == 1 and out == "" and err:find("no path is /run/ap or below it (/run/app/", 1, true),
		"prefix by component: %s%s", out, err)
	rewrite(usk, "rewrite-paths DIR /run/app=/srv/fixture/tmp/unix-sockets /srv/fixture/bin=/usr/local/bin --only files",
		f("1].reg.name", "14].reg.name", "22].reg.name"), "rewrite-paths --only files")
	-- the last entry of an image is walked too (in every dump it is "/", which
	-- no rewrite touches): a copy whose last file lies under the prefix
	local t = copy("unix-sockets")
	files = crit.load(t .. "/files.img")
	local n = #files.entries
	files.entries[n].reg.name = "/srv/fixture/tmp/unix-sockets/last"
	files:save()
	out, err, code = critlua("rewrite-paths " .. q(t) .. " /srv/fixture/tmp/unix-sockets=/run/app --only files -n")
	T.check(code == 0 and report_fields(out)[string.format("files.img: entries[%d].reg.name", n)],
		"rewrite-paths: the last entry of files.img is rewritten too: %d %s%s", code, out, err)
end

local mnt = copy("ns-mnt")
if mnt then
	local want = f("19].reg.name", "20].reg.name", "21].reg.name", "25].reg.name", "28].reg.name", "31].reg.name",
		"33].reg.name")
	want[#want + 1] = "mountpoints-9.img: entries[1].mountpoint"
	rewrite(mnt, "rewrite-paths DIR /srv/fixture=/opt/fx", want, "rewrite-paths ns-mnt")
	-- a mount moved out from under its parent: check says so
	local out, err, code = critlua("rewrite-paths " .. q(mnt) .. " /dev/shm=/run/shm --only mounts -q")
	T.eq(code, 0, "rewrite-paths --only mounts")
	out, err, code = critlua("check " .. q(mnt) .. pages_flag(mnt))
	T.check(code == 1 and out:find("mount 59 at /run/shm is not under its parent mount 58 at /dev", 1, true),
		"check: mount outside its parent: %s", out)
end

local cg = copy("ns-cgroup")
if cg then
	local want = {}
	for i = 1, 4 do
		want[#want + 1] = string.format("cgroup.img: entries[1].sets[%d].ctls[8].path", i)
		want[#want + 1] = string.format("cgroup.img: entries[1].sets[%d].ctls[8].cgns_prefix", i)
	end
	want[#want + 1] = "cgroup.img: entries[1].controllers[5].dirs[1].dir_name"
	rewrite(cg, "rewrite-paths DIR /system.slice=/kubepods/burstable --only cgroups", want, "rewrite-paths cgroups")
	local img = crit.load(cg .. "/cgroup.img")
	local m = img.entries[1].sets[1].ctls[8]
	T.eq(m.path, "/kubepods/burstable/fixture-svc-0123456789abc.scope", "cgroup path")
	T.eq(m.cgns_prefix, #m.path, "cgns_prefix follows the path")
	T.eq(img.entries[1].controllers[5].dirs[1].dir_name, "kubepods/burstable/fixture-svc-0123456789abc.scope", "dir_name")
end

---------------------------------------------------------------------------
-- All or nothing: a rewrite made to fail after N renames leaves every file
-- byte-identical (also with --backup); one that succeeds leaves no temporary file.

local two = copy("ns-mnt") -- /srv/fixture changes files.img and mountpoints-9.img
if two then
	local before = files_of(two)
	for n = 0, 2 do
		for _, backup in ipairs({ "", " --backup" }) do
			local what = string.format("failure after %d rename(s)%s", n, backup)
			local out, err, code = critlua("rewrite-paths " .. q(two) .. " /srv/fixture=/opt/fx" .. backup,
				"CRITLUA_FIXUP_FAIL_AFTER=" .. n)
			T.check(code == 1 and err:find("failure injected", 1, true) and err:find("as it was", 1, true),
				"%s: exit %d, %s", what, code, err)
			same_files(two, before, what)
		end
	end
	local out, err, code = critlua("rewrite-paths " .. q(two) .. " /srv/fixture=/opt/fx -q")
	T.eq(code, 0, "the same rewrite without a failure")
	local now = files_of(two)
	T.check(now["files.img"] ~= before["files.img"] and now["mountpoints-9.img"] ~= before["mountpoints-9.img"],
		"both images rewritten")
	for name in pairs(now) do
		T.check(before[name] ~= nil, "left behind after a good run: %s", name)
	end
	-- a bad value in a script's change raises before any file is touched
	local script = scratch .. "/bad.lua"
	T.write(script, [[
local fixup = require "fixup"
local txn = fixup.open(arg[1], {})
local files = txn:image("files.img")
txn:set("files.img", files.entries[1].reg, "name", "/ok", "entries[1].reg.name")
local mm = txn:image("mountpoints-9.img")
txn:set("mountpoints-9.img", mm.entries[1], "mnt_id", -5, "entries[1].mnt_id")
txn:commit()
]])
	before = files_of(two)
	out, err, code = critlua(q(script) .. " " .. q(two))
	T.check(code == 1 and err:find("out of range", 1, true), "bad value: %d %s", code, err)
	same_files(two, before, "a bad value")
end

os.execute("rm -rf " .. q(scratch))
T.done("fixup")
