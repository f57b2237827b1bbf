-- explore_test: the explore module and the x/stats commands beyond CRIT's goldens:
-- QP, IP and JSON encodings; checkpoints edited with critlua itself into the
-- shapes CRIT crashes on; sockets against what ss listed when each was dumped.
-- usage: critlua -I tests/lua tests/lua/explore_test.lua FIXTURES_ROOT

local T = require "testlib"
local explore = require "explore"

local root = T.fixtures_root("explore_test.lua")
local critlua = T.critlua()
local q = T.sh_quote

-- ---- encodings ----

-- Python's binascii.b2a_qp(v, istext=True), as Python printed it.
local QP = {
	{ "/srv/fixture/tmp/unix-sockets/listen.sock\0", "/srv/fixture/tmp/unix-sockets/listen.sock=00" },
	{ "\0crit-test-abstract", "=00crit-test-abstract" },
	{ "a=b", "a=3Db" }, { "ab ", "ab=20" }, { "a \nb", "a=20\nb" }, { "a\t", "a=09" },
	{ ".", "=2E" }, { ".\nx", "=2E\nx" }, { "x.", "x." }, { "\255\254 ok", "=FF=FE ok" },
	{ string.rep("a", 80), string.rep("a", 75) .. "=\naaaaa" },
	{ string.rep("a", 73) .. "==", string.rep("a", 73) .. "=\n=3D=3D" },
	{ string.rep("a", 75) .. "\nb", string.rep("a", 75) .. "\nb" },
	{ "line\r\nnext \r\n", "line\r\nnext=20\r\n" }, { "cr\ronly", "cr\ronly" },
	{ string.rep(" ", 80), string.rep(" ", 75) .. "=\n    =20" },
	{ "", "" }, { "\1\127~", "=01=7F~" },
}
for _, v in ipairs(QP) do
	T.eq(explore.qp(v[1]), v[2], string.format("qp(%q)", v[1]))
end

local function words(...) -- IPv6 groups -> the u32 words CRIU stores
	local g, w = { ... }, {}
	for i = 1, 8, 2 do
		local b = { g[i] >> 8, g[i] & 0xff, g[i + 1] >> 8, g[i + 1] & 0xff }
		w[#w + 1] = b[1] | b[2] << 8 | b[3] << 16 | b[4] << 24
	end
	return w
end
T.eq(explore.ip_string({ 0x0100007f }), "127.0.0.1", "ipv4")
T.eq(explore.ip_string(words(0, 0, 0, 0, 0, 0, 0, 1)), "::1", "ipv6 ::1")
T.eq(explore.ip_string(words(0, 0, 0, 0, 0, 0, 0, 0)), "::", "ipv6 ::")
T.eq(explore.ip_string(words(0xfd00, 0, 0, 0, 0, 0, 0, 1)), "fd00::1", "ipv6 fd00::1")
T.eq(explore.ip_string(words(1, 0, 0, 1, 0, 0, 0, 1)), "1:0:0:1::1", "longest zero run")
T.eq(explore.ip_string(words(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1)), "2001:db8::1:0:0:1", "first of equal runs")
T.eq(explore.ip_string(words(1, 2, 3, 4, 5, 6, 7, 0)), "1:2:3:4:5:6:7:0", "one zero group stays")
T.eq(explore.ip_string(words(0, 0, 0, 0, 0, 0xffff, 0x7f00, 1)), "::ffff:127.0.0.1", "v4-mapped")

T.eq(explore.json_string("a\"\\\n\1é€😀"), [["a\"\\\n\u0001\u00e9\u20ac\ud83d\ude00"]], "json string")
T.eq(explore.json_string("bad\255\192x"), [["bad\udcff\udcc0x"]], "json surrogateescape")
T.eq(explore.json({ start = -10485760, ["end"] = 1, fd = -1 }), [[{"end": 1, "fd": -1, "start": 18446744073699065856}]],
	"json: unsigned 64-bit, signed fd")
T.eq(explore.json({ a = {}, b = { 1, 2 } }), [[{"a": [], "b": [1, 2]}]], "json arrays")
T.eq(explore.human_time(999), "999 µs", "µs")
T.eq(explore.human_time(7884), "7.884 ms", "ms")
T.eq(explore.human_time(2500000), "2.500 s", "s")
T.eq(explore.human_bytes(58 * 4096), "232.0 KiB", "KiB")

-- ---- edited checkpoints ----

local tmp = T.tmpdir()
local function copy(scen)
	local d = tmp .. "/" .. scen
	os.execute("cp -r " .. q(root .. "/" .. scen) .. " " .. q(d))
	return d
end
local function x(dir, what, extra)
	return T.run(q(critlua) .. " x " .. q(dir) .. " " .. what .. (extra or ""))
end
local function golden(scen, what)
	return T.read(root .. "/expected/" .. scen .. "/x-" .. what .. ".txt")
end

if T.exists(root .. "/zombie/pstree.img") then
	-- zombie: CRIT stops at the dead child (no ids/mm images); critlua goes on.
	-- Take more away: the live child's fs, fdinfo and pagemap, the zombie's core.
	local d = copy("zombie")
	os.remove(d .. "/fs-27235.img")
	os.remove(d .. "/fdinfo-3.img")
	os.remove(d .. "/pagemap-27235.img")
	os.remove(d .. "/core-27234.img")
	for _, what in ipairs({ "ps", "fds", "mems", "rss", "sk" }) do
		local out, err, rc = x(d, what)
		T.eq(rc, 0, "zombie-cut " .. what .. " exit")
		T.check(what == "sk" or out:find("27235", 1, true), "zombie-cut %s: the live child is shown", what)
		T.check(what == "sk" or err:find("27234", 1, true), "zombie-cut %s: a note on 27234: %s", what, err)
	end
	local out, err = x(d, "fds")
	T.check(out:sub(1, #golden("zombie", "fds")) == golden("zombie", "fds"), "zombie-cut fds starts as CRIT")
	T.check(err:find("fdinfo-3.img", 1, true) and err:find("fs-27235.img", 1, true), "zombie-cut fds notes: %s", err)
	err = select(2, x(root .. "/zombie", "mems"))
	T.check(err:find("mm-27234.img", 1, true) and err:find("a zombie", 1, true), "zombie mems note: %s", err)
	out = x(d, "ps")
	T.check(out:find("27234  27230  27230       ?\n", 1, true), "zombie-cut ps: no core, comm ?: %s", out)
	local procs = explore.rss(crit.open(d))
	T.eq(#procs, 3, "zombie-cut rss: every process")
	T.eq(#procs[3].pages, 0, "zombie-cut rss: no pagemap, no pages")
	local json = T.json_decode((x(d, "fds", " --json")))
	T.eq(json.processes.n, 3, "zombie-cut fds --json: 3 processes")
	T.check(json.notes.n >= 2, "zombie-cut fds --json: notes")
end

if T.exists(root .. "/sleep/pstree.img") then
	-- A pagemap in the form CRIU wrote before 4.2: compat_nr_pages, no nr_pages, no flags.
	local d = copy("sleep")
	local name
	for _, f in ipairs(crit.dir(d)) do
		name = f:match("^pagemap%-%d+%.img$") and f or name
	end
	local img = crit.load(d .. "/" .. name)
	for i = 2, #img.entries do
		local e = img.entries[i]
		e.compat_nr_pages, e.nr_pages, e.flags = e.nr_pages, nil, nil
	end
	crit.save(img, d .. "/" .. name)
	local out, err, rc = x(d, "rss")
	T.eq(rc, 0, "pre-4.2 rss exit")
	T.eq(out, golden("sleep", "rss"), "pre-4.2 rss text as CRIT's on the 4.2 form")
	T.check(err:find("before 4.2", 1, true), "pre-4.2 rss note: %s", err)
	local procs = explore.rss(crit.open(d))
	T.eq(procs[1].pages[1].flags, 4, "pre-4.2: no flags means PE_PRESENT")
	T.eq(procs[1].pages[1].present, true, "pre-4.2: present")

	-- Not a checkpoint.
	os.remove(d .. "/pstree.img")
	out, err, rc = x(d, "ps")
	T.eq(rc, 1, "no pstree.img: exit 1")
	T.eq(out, "", "no pstree.img: no output")
	T.check(err:find("not a checkpoint", 1, true), "no pstree.img: says so: %s", err)
end

if T.exists(root .. "/pipes/pstree.img") then
	-- The images CRIU wrote before files.img: reg-files.img and pipes.img.
	local d = copy("pipes")
	local files = crit.load(d .. "/files.img")
	local legacy = { REG = { "REG_FILES", "reg-files.img", "reg" }, PIPE = { "PIPES", "pipes.img", "pipe" } }
	local imgs = {}
	for _, f in ipairs(files.entries) do
		local l = legacy[f.type]
		if l then
			imgs[l[2]] = imgs[l[2]] or { magic = l[1], entries = {} }
			table.insert(imgs[l[2]].entries, f[l[3]])
		end
	end
	for name, img in pairs(imgs) do
		crit.save(img, d .. "/" .. name)
	end
	os.remove(d .. "/files.img")
	for _, what in ipairs({ "fds", "mems", "rss" }) do
		local out, err, rc = x(d, what)
		T.eq(rc, 0, "legacy " .. what .. " exit")
		T.eq(out, golden("pipes", what), "legacy images: " .. what .. " as CRIT's with files.img")
	end
end

if T.exists(root .. "/pipes/pstree.img") then
	-- Two roots, then a parent that is not in the dump.
	local d = copy("pipes")
	local img = crit.load(d .. "/pstree.img")
	local n = #img.entries
	local second = img.entries[2]
	second.ppid = 0
	crit.save(img, d .. "/pstree.img")
	local out, err, rc = x(d, "ps")
	T.eq(rc, 0, "two roots: exit 0")
	local lines = {}
	for l in out:gmatch("[^\n]+") do
		lines[#lines + 1] = l
	end
	T.eq(#lines, n + 1, "two roots: every process once")
	-- CRIT shows the last root's tree: it comes first.
	T.check(lines[2]:match("^%s*(%d+)") == tostring(second.pid), "two roots: the last root first: %s", out)
	T.check(err:find("several roots", 1, true), "two roots: a note: %s", err)

	second.ppid = 4242424
	crit.save(img, d .. "/pstree.img")
	out, err, rc = x(d, "ps")
	T.eq(rc, 0, "missing parent: exit 0")
	T.eq(select(2, out:gsub("\n", "")), n + 1, "missing parent: every process once")
	T.check(err:find("4242424", 1, true), "missing parent: a note: %s", err)
	local procs = explore.ps(crit.open(d))
	T.eq(#procs, n, "missing parent: ps() has every process")

	-- A loop: the root made a child of a process below it.
	second.ppid = img.entries[1].pid
	img.entries[1].ppid = img.entries[n].pid
	crit.save(img, d .. "/pstree.img")
	out, err, rc = x(d, "ps")
	T.eq(rc, 0, "loop: exit 0")
	T.eq(select(2, out:gsub("\n", "")), n + 1, "loop: every process once")
	T.check(err:find("loops", 1, true), "loop: a note: %s", err)
end

-- ---- sockets against ss ----

local SS_TYPES = { u_str = "STREAM", u_dgr = "DGRAM", u_seq = "SEQPACKET", tcp = "STREAM",
	udp = "DGRAM", p_raw = "RAW", p_dgr = "DGRAM" }

local function check_ss(scen)
	local d = root .. "/" .. scen
	local exp = root .. "/expected/" .. scen .. "/at-dump/"
	if not T.exists(d .. "/pstree.img") or not T.exists(exp .. "ss") then
		return
	end
	local socks = explore.sockets(crit.open(d))
	local byfd = {}
	for _, s in ipairs(socks) do
		byfd[s.pid .. "/" .. s.fd] = s
	end
	local text = T.read(exp .. "ss") .. (T.exists(exp .. "ss-other") and T.read(exp .. "ss-other") or "")
	local seen = 0
	for line in text:gmatch("[^\n]+") do
		local f = {}
		for w in line:gmatch("%S+") do
			f[#f + 1] = w
		end
		local netid = f[1]
		if SS_TYPES[netid] and line:find("users:", 1, true) then
			local l_addr, l_port, p_addr, p_port
			if netid:match("^u_") then
				l_addr, l_port, p_addr, p_port = f[5], f[6], f[7], f[8]
			else
				l_addr, p_addr = f[5], f[6]
			end
			for pid, fd in line:gmatch("pid=(%d+),fd=(%d+)") do
				seen = seen + 1
				local s = byfd[pid .. "/" .. fd]
				local what = scen .. " " .. pid .. "/" .. fd
				if T.check(s, "%s: ss lists it, x sk does not", what) then
					T.eq(s.type, SS_TYPES[netid], what .. " type")
					if netid:match("^u_") then
						T.eq(s["local"], l_addr .. " " .. l_port, what .. " local")
						T.eq(tostring(s.peer_ino), p_port, what .. " peer inode")
						T.eq(s.state, f[2], what .. " state")
					elseif netid:match("^p_") then
						local proto, ifn = l_addr:match("^(.-):(.*)$")
						if proto == "*" then
							T.eq(s.proto, "ALL", what .. " protocol")
						else
							T.eq(tostring(s.ethertype), proto:match("%d+"), what .. " ethertype")
						end
						T.eq(s.ifname or "*", ifn, what .. " interface")
					else
						T.eq(s["local"], l_addr, what .. " local")
						T.eq(s.peer, p_addr, what .. " peer")
						T.eq(s.state, f[2], what .. " state")
					end
				end
			end
		end
	end
	T.check(seen > 0, "%s: ss listed sockets", scen)
	local out, _, rc = x(d, "sk")
	T.eq(rc, 0, scen .. " x sk exit")
	T.check(out:match("^%s*PID%s+FD%s+FAMILY"), "%s: x sk header", scen)
end
for _, scen in ipairs({ "tcp", "udp", "unix-sockets", "unix-scm", "ns-net" }) do
	check_ss(scen)
end

-- ---- stats ----

if T.exists(root .. "/sleep/stats-dump") then
	local out, _, rc = T.run(q(critlua) .. " stats " .. q(root .. "/sleep"))
	T.eq(rc, 0, "stats exit")
	T.check(out:find("Freezing time:", 1, true) and out:find("Memory pages written:", 1, true), "stats text: %s", out)
	local j = T.json_decode((T.run(q(critlua) .. " stats --json " .. q(root .. "/sleep"))))
	T.check(j.dump and j.dump.pages_scanned and j.restore == nil, "stats --json shape")
end
if T.exists(root .. "/cpuinfo/.") then
	local out, _, rc = T.run(q(critlua) .. " stats " .. q(root .. "/cpuinfo"))
	T.eq(rc, 0, "no stats: exit 0")
	T.check(out:find("no statistics", 1, true), "no stats: says so: %s", out)
end

os.execute("rm -rf " .. q(tmp))
T.done("explore_test")
