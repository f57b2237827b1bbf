-- queues_test: x sk's RECV-Q and SEND-Q against the `ss -tuxanpe` listings taken
-- when the fixtures were dumped (not against critlua's own output). Where ss shows a
-- number critlua can know from the checkpoint it must be the same: TCP's unread and
-- unacknowledged bytes (tcp-stream-INO.img), a listener's backlog, a unix socket's
-- queued bytes (sk-queues.img). What CRIU does not save is "-" (nil in --json): a UDP
-- socket's queues, a unix socket's unread sent bytes (ss's Send-Q: they are in the
-- peer's queue). The listings: FIXTURES/expected/NAME/at-dump/ss (the repository's
-- fixtures) or the README.md of FIXTURES (../shared/fixtures), section "### NAME".
-- usage: critlua -I tests/lua tests/sk-queues/queues_test.lua FIXTURES [NAME,...]
-- (the scenarios; default tcp,udp,unix-sockets,unix-scm: one absent is skipped, said so)

local T = require "testlib"
local explore = require "explore"

local root = T.fixtures_root("queues_test.lua")
local CRITLUA = T.critlua()
local q = T.sh_quote

-- The ss lines of scenario `name`, or nil.
local function ss_of(name)
	local f = root .. "/expected/" .. name .. "/at-dump/ss"
	if T.exists(f) then
		return T.read(f)
	end
	if not T.exists(root .. "/README.md") then
		return nil
	end
	local readme = T.read(root .. "/README.md")
	local s = readme:find("\n### " .. name .. "\n", 1, true)
	if not s then
		return nil
	end
	local e = readme:find("\n### ", s + 5, true) or #readme
	local section = readme:sub(s, e)
	local listing = section:match("`ss %-tuxanpe` before the dump[^\n]*\n\n```\n(.-)```")
	return listing
end

local compared = 0
for name in (arg[2] or "tcp,udp,unix-sockets,unix-scm"):gmatch("[^,]+") do
	local dir = root .. "/" .. name
	local ss = ss_of(name)
	if not T.exists(dir .. "/pstree.img") or not ss then
		T.skip(name, "no checkpoint or no ss listing for it in " .. root)
	else
		local socks = explore.sockets(crit.open(dir))
		local byfd = {}
		for _, s in ipairs(socks) do
			byfd[s.pid .. "/" .. s.fd] = s
		end
		for line in ss:gmatch("[^\n]+") do
			local netid, state, rq, sq = line:match("^(%S+)%s+(%S+)%s+(%d+)%s+(%d+)")
			if netid and line:find("users:", 1, true) then
				for pid, fd in line:gmatch("pid=(%d+),fd=(%d+)") do
					local s = byfd[pid .. "/" .. fd]
					local what = string.format("%s %s pid %s fd %s", name, netid, pid, fd)
					if T.check(s, "%s: ss lists it, x sk does not", what) then
						rq, sq = tonumber(rq), tonumber(sq)
						compared = compared + 1
						if netid == "tcp" then
							T.eq(s.recv_q, rq, what .. " Recv-Q")
							T.eq(s.send_q, sq, what .. " Send-Q")
						elseif netid == "udp" then
							T.eq(s.recv_q, nil, what .. " Recv-Q (not saved)")
							T.eq(s.send_q, nil, what .. " Send-Q (not saved)")
						elseif netid:match("^u_") then
							T.eq(s.recv_q, rq, what .. " Recv-Q")
							if state == "LISTEN" then
								T.eq(s.send_q, sq, what .. " Send-Q (the backlog)")
							else
								T.eq(s.send_q, nil, what .. " Send-Q (in the peer's queue)")
							end
						end
					end
				end
			end
		end
		-- the text and --json views show the same numbers
		local out, err, code = T.run(q(CRITLUA) .. " x " .. q(dir) .. " sk")
		T.check(code == 0 and out:match("^%s*PID%s+FD%s+FAMILY%s+TYPE%s+PROTO%s+STATE%s+RECV%-Q%s+SEND%-Q%s+LOCAL"),
			"%s: x sk header: %s%s", name, out, err)
		local rows = {}
		for l in out:gmatch("[^\n]+") do
			rows[#rows + 1] = l
		end
		for i, s in ipairs(socks) do
			local r = rows[i + 1] or ""
			local want = string.format("%s  %s  ", s.recv_q and tostring(s.recv_q) or "-",
				s.send_q and tostring(s.send_q) or "-")
			T.check(r:find(" " .. s.state .. "%s+" .. want:gsub("%s+$", ""):gsub("  ", "%%s+"):gsub("%-", "%%-")),
				"%s: row %d shows the queues %s: %s", name, i, want, r)
		end
		local jout = T.run(q(CRITLUA) .. " x " .. q(dir) .. " sk --json")
		local ok, doc = pcall(crit.json.decode, jout)
		T.check(ok and doc.sockets and #doc.sockets == #socks, "%s: x sk --json", name)
		for i, s in ipairs(ok and doc.sockets or {}) do
			T.eq(s.recv_q, socks[i].recv_q, name .. " --json recv_q " .. i)
			T.eq(s.send_q, socks[i].send_q, name .. " --json send_q " .. i)
			T.check(not s.recv_q or jout:find('"state": "[^"]*", "recv_q": ' .. s.recv_q), "%s: --json key order", name)
		end
	end
end
T.check(compared > 0 or #T.skips > 0, "no socket was compared")
T.done("sk-queues")
