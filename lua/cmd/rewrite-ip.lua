-- rewrite-ip: change the IP addresses of sockets in a checkpoint before restoring it
-- usage: critlua rewrite-ip DIR OLD=NEW... [--dry-run] [--backup] [--wait[=SECONDS]] [--local-only|--peer|--peer-only] [--proto tcp|udp] [--pid PID] [--quiet] [--json] [--allow-none]
-- DIR may also be a container checkpoint archive (.tar, .tar.gz, .tar.zst): a
-- new archive is written beside it and renamed over it (--backup keeps the
-- old one as ARCHIVE.orig); see docs/ARCHIVES.md.
-- Changes the addresses of inet sockets (files.img, and inetsk.img of old
-- dumps), IPv4 and IPv6 (OLD and NEW of the same family; an IPv4 pair also
-- changes that address where an IPv6 socket holds it as ::ffff:a.b.c.d).
-- Which sides change follows rewrite-ports: local addresses, and peer addresses
-- where the peer socket is in the checkpoint too (its local address changed);
-- a connection to an outside host keeps its real peer address.
--   --local-only   change local addresses only
--   --peer         also change peer addresses where the peer is outside
--   --peer-only    change peer addresses (outside peers) only: a remote host moved
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
local explore = require "explore"

local o, selection = fixup.socket_args(arg, "OLD=NEW address pair")

-- key: the address as fixup.addr_bytes gives it (IPv4-mapped ones as IPv4)
local map, used, names, map_old = {}, {}, {}, {}
for i = 2, #o do
	local old, new = o[i]:match("^([^=]*)=([^=]*)$")
	if not old then
		cli.usage_error(string.format("'%s' is not an OLD=NEW address pair", o[i]))
	end
	local ow, err = fixup.parse_ip(old)
	local nw, err2 = fixup.parse_ip(new)
	if not ow or not nw then
		cli.usage_error(err or err2)
	end
	if #ow ~= #nw then
		cli.usage_error(string.format("'%s': both addresses must be IPv4, or both IPv6", o[i]))
	end
	local key = fixup.addr_bytes(ow)
	if #ow == 4 and #key == 4 then
		cli.usage_error(string.format("'%s': write an IPv4-mapped address as IPv4 (%s)", o[i],
			explore.ip_string({ ow[4] })))
	end
	if map[key] then
		cli.usage_error(string.format("address %s is given twice", old))
	end
	map[key], names[key], map_old[key] = nw, old, ow
end

local MAPPED = 0xffff0000 -- the third word of ::ffff:a.b.c.d

-- An address as a socket of the other family holds it, or nil.
local function as_family(words, n)
	if #words == n then
		return words
	elseif n == 4 and #words == 1 then
		return { 0, 0, MAPPED, words[1] }
	elseif n == 1 and #words == 4 and words[1] == 0 and words[2] == 0 and words[3] == MAPPED then
		return { words[4] }
	end
	return nil
end

local function show(words)
	return words and explore.ip_string(words) or "(none)"
end

local txn = fixup.open(o[1], { dry_run = o.dry_run, backup = o.backup, quiet = o.quiet, wait = o.wait,
	json = o.json, allow_none = o.allow_none })
fixup.rewrite_inet(txn, {
	src = "src_addr", dst = "dst_addr", raw = true, show = show,
	map = function(words)
		local key = fixup.addr_bytes(words)
		local new = map[key]
		if not new or #words == 0 then
			return nil
		end
		used[key] = true
		return as_family(new, #words)
	end,
	follow = function(words, _, to)
		return as_family(words, #(to.e.dst_addr or {}))
	end,
}, selection)

local keys = {}
for key in pairs(map) do
	keys[#keys + 1] = key
end
table.sort(keys)
for _, key in ipairs(keys) do
	local function match(v)
		return #v > 0 and fixup.addr_bytes(v) == key
	end
	if not used[key] then
		txn:none("%s", fixup.why_none(txn, "address " .. names[key], match))
	else
		-- where the old address is still written: sockets left as they were,
		-- and the processes' command lines and environments (as text)
		local text = explore.ip_string(map_old[key])
		txn:residual({ value = "address " .. names[key], fields = { inet_sk_entry = { "src_addr", "dst_addr" } },
			match = match, show = show,
			mem = function(s)
				return fixup.holds_word(s, text, #key == 4 and "[%d.]" or "[%x:.]")
			end })
	end
end
txn:finish("rewrite-ip")
