-- rewrite-ports: change TCP/UDP ports in a checkpoint before restoring it
-- usage: critlua rewrite-ports DIR OLD:NEW... [--dry-run] [--backup] [--wait[=SECONDS]] [--local-only|--peer|--peer-only] [--proto tcp|udp] [--pid PID] [--quiet] [--json] [--allow-none]
-- DIR may also be a container checkpoint archive (.tar, .tar.gz, .tar.zst): a
-- new archive is written beside it and renamed over it (--backup keeps the
-- old one as ARCHIVE.orig); see docs/ARCHIVES.md.
-- Changes the ports of inet sockets (files.img, and inetsk.img of old dumps),
-- IPv4 and IPv6, listening and connected. By default a socket's local port
-- changes, and a peer port only where the peer socket is in the checkpoint too,
-- so a connection between two of its processes stays consistent while one to
-- an outside host keeps its real peer port. Pairs apply at once (80:81 81:80 swaps).
--   --local-only   change local ports only, even where the peer is inside
--   --peer         also change peer ports where the peer is outside
--   --peer-only    change peer ports (outside peers) only: a remote service moved
--   --proto P      only tcp or udp sockets
--   --pid PID      only the sockets PID has open (peers inside still follow);
--                  a PID that is no process of the checkpoint is an error
--   --dry-run      print the changes, write nothing
--   --backup       keep each replaced image as NAME.orig
--   --wait[=S]     wait for another writer of the checkpoint (without limit, or S
--                  seconds; default 10) instead of failing
--   --json         the report as one JSON document on stdout: {command, dry_run,
--                  changes: [{image, path, field, old, new, object: {kind, id,
--                  name, holders: [{pid, fd} or {pid, as: cwd|root|exe|map}],
--                  local, peer, text}, line}], written, residual, notes}
--   --allow-none   changing nothing is no error (exit 0)
--   -q, --quiet    no report and no notes; errors are still said
-- Each change is one line: OBJECT: FIELD OLD -> NEW (IMAGE: PATH), the object as
-- a person knows it ("pid 24277 fd 8 tcp 127.0.0.1:47321→127.0.0.1:54254").
-- Notes on stderr say where an old value still appears once the change is made
-- (a socket left as it was, a process's command line or environment, another
-- image's field): the restored program may read it again.
-- Exit status: 0 changes made (or shown by --dry-run); 1 an error, nothing
-- changed: also when nothing matched (the reason is said; --allow-none makes it
-- 0) and for a --pid that is no process of the checkpoint; 2 a usage mistake.
-- All changed images are replaced together or not at all (docs/FIXUPS.md).

local cli = require "cli"
local fixup = require "fixup"

local o, selection = fixup.socket_args(arg, "OLD:NEW port pair")

local function port(s, pair)
	local n = s:match("^%d+$") and tonumber(s)
	if not n or n < 1 or n > 65535 then
		cli.usage_error(string.format("'%s': '%s' is not a port (1..65535)", pair, s))
	end
	return n
end

local map, used = {}, {}
for i = 2, #o do
	local old, new = o[i]:match("^([^:]*):([^:]*)$")
	if not old then
		cli.usage_error(string.format("'%s' is not an OLD:NEW port pair", o[i]))
	end
	old, new = port(old, o[i]), port(new, o[i])
	if map[old] then
		cli.usage_error(string.format("port %d is given twice", old))
	end
	map[old] = new
end

local txn = fixup.open(o[1], { dry_run = o.dry_run, backup = o.backup, quiet = o.quiet, wait = o.wait,
	json = o.json, allow_none = o.allow_none })
fixup.rewrite_inet(txn, {
	src = "src_port", dst = "dst_port",
	map = function(p)
		if map[p] then
			used[p] = true
		end
		return map[p]
	end,
}, selection)

local olds = {}
for old in pairs(map) do
	olds[#olds + 1] = old
end
table.sort(olds)
for _, old in ipairs(olds) do
	if not used[old] then
		txn:none("%s", fixup.why_none(txn, "port " .. old, function(v)
			return v == old
		end))
	else
		-- where the old port is still written: sockets left as they were, and
		-- the processes' command lines and environments
		txn:residual({ value = "port " .. old, fields = { inet_sk_entry = { "src_port", "dst_port" } },
			match = function(v)
				return v == old
			end,
			mem = function(s)
				return fixup.holds_word(s, tostring(old), "%d")
			end })
	end
end
txn:finish("rewrite-ports")
