-- report_test: what the fixups tell a person and a pipeline (issue 19), on scratch
-- copies of the real fixtures: change lines and --json reports name the pid, fd and
-- connection of each change (as the fixtures' `ss` listings, taken at dump time, show
-- them); nothing to change, an unknown --pid and --allow-none give the documented
-- statuses, with a reason that is so; the notes say where an old value still is
-- (a socket left as it was, a command line), and --quiet silences them, not errors.
-- usage: critlua -I tests/lua tests/fixup-report/report_test.lua FIXTURES [--repo]
-- --repo: the repository's fixtures (no pages-*.img: command lines cannot be read,
-- and the test checks the note saying so); otherwise ../shared/fixtures, whose
-- sections are skipped, said plainly, when a checkpoint is absent.

local T = require "testlib"

local root = T.fixtures_root("report_test.lua")
local repo = arg[2] == "--repo"
local CRITLUA = T.critlua()
local q = T.sh_quote
local scratch = T.tmpdir()

local function copy(name)
	local src = root .. "/" .. name
	if not T.exists(src .. "/pstree.img") then
		if repo then
			T.fail("%s: no such fixture", src)
		else
			T.skip(name, "no " .. src)
		end
		return nil
	end
	local dst = scratch .. "/" .. name
	os.execute("rm -rf " .. q(dst) .. " && cp -r " .. q(src) .. " " .. q(dst) .. " && chmod -R u+w " .. q(dst))
	return dst
end

local function critlua(args)
	return T.run(q(CRITLUA) .. " " .. args)
end

local function has_pages(dir)
	return T.exists(dir .. "/pages-1.img")
end

-- The change lines of a report: {object =, field =, old =, new =, image =, path =}.
local function lines_of(out)
	local list = {}
	for line in out:gmatch("[^\n]+") do
		local obj, field, old, new, image, path = line:match("^(.-): (%S+) (.-) %-> (.-) %((%S+): (%S+)%)$")
		if obj then
			list[#list + 1] = { object = obj, field = field, old = old, new = new, image = image, path = path,
				line = line }
		end
	end
	return list
end

-- Every change line names a process and how it holds the object, and the
-- --json report holds the same changes with the same holders.
local function check_report(dir, args, want, what)
	local out, err, code = critlua(args:gsub("DIR", q(dir)) .. " -n")
	T.check(code == 0, "%s: exit %d: %s", what, code, err)
	local lines = lines_of(out)
	T.check(#lines > 0, "%s: no change lines in:\n%s", what, out)
	for _, l in ipairs(lines) do
		T.check(l.object:match("^pid %d+ ") and (l.object:find(" fd %d+") or l.object:find(" cwd")
			or l.object:find(" root") or l.object:find(" exe") or l.object:find(" map")),
			"%s: a change line names no pid and fd: %s", what, l.line)
	end
	-- the expected lines: a part of the object and the field, from ss
	for _, w in ipairs(want) do
		local found = false
		for _, l in ipairs(lines) do
			if l.object:find(w[1], 1, true) and l.field == w[2] then
				found = true
			end
		end
		T.check(found, "%s: no change of %s on '%s' in:\n%s", what, w[2], w[1], out)
	end
	local jout, jerr, jcode = critlua(args:gsub("DIR", q(dir)) .. " -n --json")
	T.check(jcode == 0, "%s --json: exit %d: %s", what, jcode, jerr)
	local ok, doc = pcall(crit.json.decode, jout)
	T.check(ok and type(doc) == "table" and doc.changes, "%s --json: not a report: %s", what, jout)
	if not ok or type(doc) ~= "table" or not doc.changes then
		return lines, nil
	end
	T.eq(#doc.changes, #lines, what .. " --json: as many changes as the text")
	T.eq(doc.dry_run, true, what .. " --json: dry_run")
	for i, c in ipairs(doc.changes) do
		local l = lines[i]
		if l then
			T.eq(c.image, l.image, what .. " --json: image of change " .. i)
			T.eq(c.path, l.path, what .. " --json: path of change " .. i)
			T.eq(c.field, l.field, what .. " --json: field of change " .. i)
			T.check(c.old ~= nil and c.new ~= nil, "%s --json: change %d has no old or new value", what, i)
			local hs = c.object and c.object.holders or {}
			T.check(#hs > 0 and hs[1].pid, "%s --json: change %d names no holder", what, i)
			for _, h in ipairs(hs) do
				local named = h.fd and string.format("fd %d", h.fd) or h.as
				T.check(l.object:find("pid " .. h.pid, 1, true) and l.object:find(named, 1, true),
					"%s --json: holder pid %s %s is not in the line '%s'", what, tostring(h.pid), tostring(named),
					l.line)
			end
		end
	end
	return lines, doc
end

---------------------------------------------------------------------------
-- tcp: ss at dump time: 127.0.0.1:47321 LISTEN pid 24277 fd 3; ESTAB
-- 127.0.0.1:47321 <-> 127.0.0.1:54254 (pid 24277 fd 8, pid 24280 fd 3);
-- 127.0.0.1:47323 LISTEN pid 24277 fd 5; the command lines hold "47321".

local tcp = copy("tcp")
if tcp then
	check_report(tcp, "rewrite-ports DIR 47321:9090", {
		{ "pid 24277 fd 3 tcp 127.0.0.1:47321 (listening)", "src_port" },
		{ "pid 24277 fd 8 tcp 127.0.0.1:47321→127.0.0.1:54254", "src_port" },
		{ "pid 24280 fd 3 tcp 127.0.0.1:54254→127.0.0.1:47321", "dst_port" },
	}, "rewrite-ports tcp")
	check_report(tcp, "rewrite-ip DIR 127.0.0.1=10.0.0.5", {
		{ "pid 24277 fd 3 tcp", "src_addr" }, { "pid 24277 fd 5 tcp", "src_addr" },
		{ "pid 24277 fd 8 tcp", "dst_addr" }, { "pid 24280 fd 3 tcp", "src_addr" },
	}, "rewrite-ip tcp")
	check_report(tcp, "rewrite-paths DIR /srv/fixture=/opt/fx", {
		{ "pid 24277 cwd", "name" }, { "pid 24277 exe", "name" }, { "pid 24277 fd 1, fd 2", "name" },
	}, "rewrite-paths tcp")

	-- statuses: nothing to change is exit 1 with the reason; --allow-none 0
	local out, err, code = critlua("rewrite-ports " .. q(tcp) .. " 1111:2222")
	T.check(code == 1 and out == "" and err:find("rewrite-ports: nothing to change: no socket of the " ..
		"checkpoint uses port 1111", 1, true), "no match: exit %d: %s%s", code, out, err)
	out, err, code = critlua("rewrite-ports " .. q(tcp) .. " 1111:2222 --allow-none")
	T.check(code == 0 and err:find("nothing to change", 1, true), "--allow-none: exit %d: %s", code, err)
	out, err, code = critlua("rewrite-ports " .. q(tcp) .. " 1111:2222 --allow-none -q")
	T.check(code == 0 and out == "" and err == "", "--allow-none -q: exit %d, says '%s%s'", code, out, err)
	out, err, code = critlua("rewrite-ports " .. q(tcp) .. " 1111:2222 -q")
	T.check(code == 1 and err:find("nothing to change", 1, true), "-q keeps the error: exit %d: %s", code, err)
	-- an unknown --pid is an error, in grep's words, for every socket fixup
	for _, cmd in ipairs({ "rewrite-ports DIR 47321:9090 --pid 42", "rewrite-ip DIR 127.0.0.1=10.0.0.5 --pid 42",
		"rewrite-ports DIR 47321:9090 --pid 42 --allow-none" }) do
		out, err, code = critlua(cmd:gsub("DIR", q(tcp)))
		T.check(code == 1 and err:find("pid 42 is not in the checkpoint", 1, true), "%s: exit %d: %s", cmd, code, err)
	end
	local _, gerr = critlua("grep " .. q(tcp) .. " x --pid 42")
	T.check(gerr:find("pid 42 is not in the checkpoint", 1, true), "grep's message: %s", gerr)
	-- the reasons tell the truth: 127.0.0.1 is used as a peer address, but
	-- only of connections inside the checkpoint (and as a local address)
	out, err, code = critlua("rewrite-ip " .. q(tcp) .. " 127.0.0.1=10.0.0.5 --peer-only")
	T.check(code == 1 and err:find("address 127.0.0.1 is a local address (pid 24277, 24280) and the peer side " ..
		"of connections inside the checkpoint", 1, true), "--peer-only reason: %s", err)
	-- 47323 is only a local port (a listener): --peer-only says so
	out, err, code = critlua("rewrite-ports " .. q(tcp) .. " 47323:1 --peer-only")
	T.check(code == 1 and err:find("port 47323 is only a local port here (of pid 24277)", 1, true),
		"--peer-only on a listener: %s", err)
	-- 54254 is the client's port: pid 24277 holds it only as a peer port
	out, err, code = critlua("rewrite-ports " .. q(tcp) .. " 54254:1 --pid 24277")
	T.check(code == 1 and err:find("only the peer side of pid 24277's connections", 1, true),
		"--pid reason: %s", err)
	out, err, code = critlua("rewrite-ports " .. q(tcp) .. " 47321:1 --proto udp")
	T.check(code == 1 and err:find("port 47321 is used by tcp sockets only, not by udp ones", 1, true),
		"--proto reason: %s", err)
	-- a pair that matched among others that did: a note, exit 0
	out, err, code = critlua("rewrite-ports " .. q(tcp) .. " 47323:47324 1111:2222 -n")
	T.check(code == 0 and err:find("note: no socket of the checkpoint uses port 1111", 1, true),
		"a pair of two unused: exit %d: %s", code, err)

	-- residual: --local-only leaves the client's peer port; the note names it
	out, err, code = critlua("rewrite-ports " .. q(tcp) .. " 47321:9090 --local-only -n")
	T.check(code == 0 and err:find("note: port 47321 still appears in pid 24280 fd 3 tcp " ..
		"127.0.0.1:54254→127.0.0.1:47321: dst_port 47321 (files.img: entries[14].isk.dst_port)", 1, true),
		"residual in files.img: %s", err)
	local _, jerr, _ = critlua("rewrite-ports " .. q(tcp) .. " 47321:9090 --local-only -n -q")
	T.check(not jerr:find("note:", 1, true), "-q silences the notes: %s", jerr)
	local jout = critlua("rewrite-ports " .. q(tcp) .. " 47321:9090 --local-only -n --json")
	local ok, doc = pcall(crit.json.decode, jout)
	local hit = false
	for _, r in ipairs(ok and doc.residual or {}) do
		hit = hit or (r.where == "image" and r.path == "entries[14].isk.dst_port" and r.object.holders[1].pid == 24280)
	end
	T.check(hit, "--json: the residual reference in files.img: %s", jout)
	-- the command lines: `tcp READY 47321` holds the old port
	out, err, code = critlua("rewrite-ports " .. q(tcp) .. " 47321:9090 -n")
	if has_pages(tcp) then
		T.check(err:find('note: port 47321 still appears in pid 24277 argv[2] "47321"', 1, true)
			and err:find('note: port 47321 still appears in pid 24280 argv[2] "47321"', 1, true),
			"residual in the command lines: %s", err)
		jout = critlua("rewrite-ports " .. q(tcp) .. " 47321:9090 -n --json")
		ok, doc = pcall(crit.json.decode, jout)
		hit = false
		for _, r in ipairs(ok and doc.residual or {}) do
			hit = hit or (r.where == "argv" and r.pid == 24277 and r.index == 2 and r.text == "47321")
		end
		T.check(hit, "--json: the residual reference in the command line: %s", jout)
	else
		T.check(err:find("was not searched for the old value(s)", 1, true), "no pages: the note says so: %s", err)
	end
end

---------------------------------------------------------------------------
-- udp: ss: 127.0.0.1:47421 UNCONN pid 24395 fd 3; 127.0.0.1:35259 ->
-- 127.0.0.1:47421 pid 24395 fd 4

local udp = copy("udp")
if udp then
	check_report(udp, "rewrite-ports DIR 47421:5000", {
		{ "pid 24395 fd 3 udp 127.0.0.1:47421", "src_port" },
		{ "pid 24395 fd 4 udp 127.0.0.1:35259→127.0.0.1:47421", "dst_port" },
	}, "rewrite-ports udp")
end

---------------------------------------------------------------------------
-- unix-sockets: ss: listen.sock LISTEN pid 24031 fd 11, its accepted end pid
-- 24031 fd 13; dgram.sock held by pid 24035 fd 16 and pid 24031 fd 16

local usk = copy("unix-sockets")
if usk then
	local lines = check_report(usk, "rewrite-paths DIR /srv/fixture/tmp/unix-sockets=/run/app", {
		{ "pid 24031 fd 11 unix /srv/fixture/tmp/unix-sockets/listen.sock", "name" },
		{ "pid 24031 fd 13 unix /srv/fixture/tmp/unix-sockets/listen.sock", "name" },
	}, "rewrite-paths unix")
	local shared = false
	for _, l in ipairs(lines) do
		shared = shared or (l.object:find("pid 24031 fd 16", 1, true) and l.object:find("pid 24035 fd 16", 1, true)
			and l.object:find("dgram.sock", 1, true))
	end
	T.check(shared, "rewrite-paths unix: dgram.sock is held by both processes' fd 16")
end

T.done("fixup-report")
