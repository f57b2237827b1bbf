-- rewrite-paths: move a path prefix in a checkpoint before restoring it
-- usage: critlua rewrite-paths DIR OLD=NEW... [--only KIND,...] [--dry-run] [--backup] [--wait[=SECONDS]] [--quiet] [--json] [--allow-none]
-- DIR may also be a container checkpoint archive (.tar, .tar.gz, .tar.zst): a
-- new archive is written beside it and renamed over it (--backup keeps the
-- old one as ARCHIVE.orig); see docs/ARCHIVES.md.
-- Replaces the prefix OLD by NEW in every path the checkpoint holds, where
-- OLD is the whole path or is followed by '/' (/srv/app matches /srv/app and
-- /srv/app/x, not /srv/apple). Both are absolute; NEW may contain '='.
-- The first matching pair applies (the longest OLD first), once. KINDs:
--   files    open, memory-mapped and executable files, cwd and root (all are
--            reg_file_entry.name), ghost and linked-remap files, fsnotify
--            and irmap paths, symlink targets of ghost files, binfmt_misc
--            interpreters
--   unix     unix socket names and the directory of relative ones
--   mounts   mount points, mount roots and sources
--   cgroups  cgroup paths of processes and the dumped cgroup directories
-- All kinds by default.
--   --dry-run  print the changes, write nothing
--   --backup   keep each replaced image as NAME.orig
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

local o = cli.parse(arg, { "-n, --dry-run", "--backup", "--wait[=SECONDS]", "--only=KIND", "-q, --quiet", "--json",
	"--allow-none" })
if #o < 2 then
	cli.usage_error("give a checkpoint directory and at least one OLD=NEW path pair")
end

-- The string fields holding paths, by kind and message type.
local KINDS = {
	files = {
		reg_file_entry = { "name" }, fh_entry = { "path" }, irmap_cache_entry = { "path" },
		fanotify_mount_mark_entry = { "path" }, ghost_file_entry = { "symlnk_target" },
		binfmt_misc_entry = { "interpreter" },
	},
	unix = { unix_sk_entry = { "name", "name_dir" } },
	mounts = { mnt_entry = { "mountpoint", "root", "source" } },
	cgroups = { cg_member_entry = { "path" }, cg_controller_entry = {} }, -- dirs: see below
}

local kinds = {}
for k in (o.only or "files,unix,mounts,cgroups"):gmatch("[^,]+") do
	if not KINDS[k] then
		cli.usage_error(string.format("--only: unknown kind '%s' (files, unix, mounts, cgroups)", k))
	end
	kinds[k] = true
end

local function trim(p)
	return p ~= "/" and p:gsub("/+$", "") or p
end

local pairs_ = {}
for i = 2, #o do
	local old, new = o[i]:match("^([^=]*)=(.*)$")
	if not old or old:sub(1, 1) ~= "/" or new:sub(1, 1) ~= "/" then
		cli.usage_error(string.format("'%s' is not an OLD=NEW pair of absolute paths", o[i]))
	end
	old, new = trim(old), trim(new)
	for _, p in ipairs(pairs_) do
		if p.old == old then
			cli.usage_error(string.format("%s is given twice", old))
		end
	end
	pairs_[#pairs_ + 1] = { old = old, new = new, used = false }
end
table.sort(pairs_, function(a, b)
	return #a.old > #b.old
end)

-- value with its prefix moved, and the pair used; nil when none matches.
-- Unix socket names end in NUL bytes, which also end a path there.
local function moved(value)
	if type(value) ~= "string" or value:sub(1, 1) ~= "/" then
		return nil
	end
	for _, p in ipairs(pairs_) do
		local rest
		if p.old == "/" then
			rest = value:sub(2)
			rest = rest ~= "" and "/" .. rest or ""
		elseif value:sub(1, #p.old) == p.old then
			rest = value:sub(#p.old + 1)
			local c = rest:sub(1, 1)
			if c ~= "" and c ~= "/" and c ~= "\0" then
				rest = nil
			end
		end
		if rest then
			p.used = true
			if p.new == "/" then
				return rest:sub(1, 1) == "/" and rest or "/" .. rest, p
			end
			return p.new .. rest, p
		end
	end
	return nil
end

local txn = fixup.open(o[1], { dry_run = o.dry_run, backup = o.backup, quiet = o.quiet, wait = o.wait,
	json = o.json, allow_none = o.allow_none })

local fields, types = {}, {}
for k in pairs(kinds) do
	for t, list in pairs(KINDS[k]) do
		fields[t] = list
		types[t] = true
	end
end

local UNIX_PATH_MAX = 108

-- A cgroup member path, and the length of its cgroup namespace's part.
local function cg_member(name, m, label)
	local new, p = moved(m.path)
	if not new then
		return
	end
	local ns = m.cgns_prefix
	if ns and ns > 0 then
		if ns >= #p.old then
			txn:set(name, m, "cgns_prefix", ns + #new - #m.path, label .. ".cgns_prefix")
		elseif new:sub(1, ns) ~= m.path:sub(1, ns) then
			error(string.format("%s: %s.path: %s is inside its cgroup namespace (%s): cannot move it", name,
				label, fixup.show(m.path), fixup.show(m.path:sub(1, ns))), 0)
		end
	end
	txn:set(name, m, "path", new, label .. ".path")
end

local function join(parent, name)
	if name == "" then
		return parent
	end
	return (parent == "/" and "" or parent) .. "/" .. name
end

-- The dumped cgroup directories: dir_name is relative to the parent
-- directory (to the controller's root at the top), so the full path is
-- rebuilt, moved, and made relative to the parent's new path again.
local function cg_dirs(name, dirs, old_parent, new_parent, label)
	for i, d in ipairs(dirs or {}) do
		local l = string.format("%s[%d]", label, i - 1)
		local old_full = join(old_parent, d.dir_name)
		local new_full = moved(old_full) or join(new_parent, d.dir_name)
		local rel
		if new_full == new_parent then
			rel = ""
		elseif new_parent == "/" then
			rel = new_full:sub(2)
		elseif new_full:sub(1, #new_parent + 1) == new_parent .. "/" then
			rel = new_full:sub(#new_parent + 2)
		else
			error(string.format("%s: %s.dir_name: %s would move out of its parent directory %s",
				name, l, fixup.show(old_full), fixup.show(new_parent)), 0)
		end
		txn:set(name, d, "dir_name", rel, l .. ".dir_name")
		cg_dirs(name, d.children, old_full, new_full, l .. ".children")
	end
end

for _, name in ipairs(fixup.images_holding(txn.ck, types)) do
	local img = txn:image(name)
	fixup.walk(img, function(msg, t, label)
		if t == "cg_member_entry" then
			cg_member(name, msg, label)
		elseif t == "cg_controller_entry" then
			cg_dirs(name, msg.dirs, "/", "/", label .. ".dirs")
		elseif fields[t] then
			for _, f in ipairs(fields[t]) do
				local new = moved(msg[f])
				if new then
					txn:set(name, msg, f, new, label .. "." .. f)
					if t == "unix_sk_entry" and f == "name" and #new:gsub("%z+$", "") >= UNIX_PATH_MAX then
						txn:note("%s: %s.name: %d bytes, too long for a unix socket address (%d)", name,
							label, #new:gsub("%z+$", ""), UNIX_PATH_MAX - 1)
					end
				end
			end
		end
	end)
end

-- Whether value is the path old or below it (as moved matches), and whether
-- it only begins with the same letters (/srv/apple for /srv/app).
local function under(value, old)
	if type(value) ~= "string" or value:sub(1, #old) ~= old then
		return false, false
	end
	local c = value:sub(#old + 1, #old + 1)
	return old == "/" or c == "" or c == "/" or c == "\0", true
end

-- Why pair p matched nothing: the paths of the kinds --only left out, or
-- ones that merely begin with the same letters.
local function why_none(p)
	local other, letters = {}, nil
	local all = {}
	for _, list in pairs(KINDS) do
		for t in pairs(list) do
			all[t] = true
		end
	end
	for _, name in ipairs(fixup.images_holding(txn.ck, all)) do
		fixup.walk(txn:image(name), function(msg, t)
			for k, list in pairs(KINDS) do
				for _, f in ipairs(list[t] or {}) do
					local yes, begins = under(msg[f], p.old)
					if yes and not kinds[k] then
						other[k] = true
					elseif begins and not yes then
						letters = letters or msg[f]:gsub("%z+$", "")
					end
				end
			end
		end)
	end
	local list = {}
	for k in pairs(other) do
		list[#list + 1] = k
	end
	table.sort(list)
	if #list > 0 then
		return string.format("no path of the kinds chosen is %s or below it; paths of kind %s are " ..
			"(--only leaves them out)", p.old, table.concat(list, ", "))
	elseif letters then
		return string.format("no path is %s or below it (%s only begins with the same letters)", p.old, letters)
	end
	return string.format("no path of the checkpoint is %s or below it", p.old)
end

for _, p in ipairs(pairs_) do
	if not p.used then
		txn:none("%s", why_none(p))
	else
		-- where the old path is still written: other fields of the images (of
		-- kinds not chosen, or not paths of a kind), command lines, environments
		txn:residual({ value = p.old, fields = true,
			match = function(v)
				return type(v) == "string" and fixup.holds_word(v, p.old, "[%w._%-]") and not v:find(p.new, 1, true)
			end,
			mem = function(str)
				return fixup.holds_word(str, p.old, "[%w._%-]")
			end })
	end
end
txn:finish("rewrite-paths")
