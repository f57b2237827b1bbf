-- rewrite-string: replace a string by another of the same length in a process's memory
-- usage: critlua rewrite-string DIR OLD NEW --pid PID [--prot P] [--kind K] [--range A-B] [--dry-run] [--backup] [--wait[=SECONDS]] [--quiet] [--json] [--allow-none] [--page-size N]
-- Every occurrence of the bytes OLD in the memory of process PID (its private
-- memory and the shared segments it maps, as `critlua grep` finds them) becomes
-- NEW, in the pages files that store them. Overlapping occurrences: the first
-- one wins (as sed does). OLD and NEW must be of the same length: a string in
-- memory cannot grow or shrink, since the bytes after it and every pointer into
-- them would have to move; pad NEW (with spaces, or the end of a path with /)
-- to keep the length.
--   --pid PID      the process (required: memory is per process)
--   --prot P, --kind K, --range A-B  only occurrences in the VMAs (addresses)
--                  these select, as in `critlua grep`
--   --dry-run      list every occurrence (file, address, its mapping, and 16
--                  bytes of context each side) and write nothing
--   --backup       keep each replaced file as NAME.orig
--   --wait[=S]     wait for another writer of the checkpoint (without limit, or S
--                  seconds; default 10) instead of failing
--   --quiet        no report of the changes, no notes
--   --json         the report as JSON (as the other fixups)
--   --allow-none   no occurrence is no error (exit 0)
--   --page-size N  the page size of the machine that was dumped (4096)
-- An occurrence the checkpoint cannot change (pages held only by the parent
-- checkpoint) is an error: nothing is changed. All the changed files are
-- replaced together or not at all (docs/FIXUPS.md). Exit status: 0 done; 1
-- an error, nothing changed: also when nothing matched (the reason is said;
-- --allow-none makes that exit 0); 2 a usage mistake.

local cli = require "cli"
local fixup = require "fixup"
local memory = require "memory"
local memselect = require "memselect"

local o = cli.parse(arg, { "-n, --dry-run", "--backup", "--wait[=SECONDS]", "-q, --quiet", "--json", "--allow-none",
	"--pid=PID",
	"--page-size=N", "--prot=PERMS", "--kind=KINDS", "--range=A-B" })
if #o ~= 3 then
	cli.usage_error(#o < 3 and "give a checkpoint directory, the string to replace and its replacement"
		or "too many arguments")
end
local old, new = o[2], o[3]
if not o.pid then
	cli.usage_error("--pid is required: memory belongs to one process")
end
local pid = memory.parse_int(o.pid)
if not pid or pid <= 0 then
	cli.usage_error("--pid: '" .. o.pid .. "' is not a pid")
end
if old == "" then
	cli.usage_error("the string to replace is empty")
end
if #old ~= #new then
	cli.usage_error(string.format("'%s' is %d bytes and '%s' %d: a string in a process's memory keeps its "
		.. "length (the bytes after it, and every pointer into them, cannot move); give a replacement of %d bytes",
		old, #old, new, #new, #old))
end
if old == new then
	cli.usage_error("the replacement is the string itself: nothing would change")
end
local sel = memselect.parse(o, cli.usage_error)

local txn = fixup.open(o[1], { dry_run = o.dry_run, backup = o.backup, quiet = o.quiet, wait = o.wait,
	json = o.json, allow_none = o.allow_none })
local ck = txn.ck
if o.page_size then
	local ps = memory.parse_int(o.page_size)
	if not ps or ps < 1 or ps & (ps - 1) ~= 0 then
		cli.usage_error("--page-size: '" .. o.page_size .. "' is not a power of two")
	end
	ck.page_size = ps
end

local function show(s)
	return '"' .. memory.escape(s) .. '"'
end

local matches, notes = ck:search(pid, old, { context = 16 })
for _, n in ipairs(notes) do
	txn:note("%s", n)
end
local last_end
for _, m in ipairs(matches) do
	-- overlapping occurrences: the first one wins
	if (not last_end or not math.ult(m.addr, last_end)) and (not sel or sel:addr(m.addr, m.vma)) then
		last_end = m.addr + #old
		local pieces, err = ck:write_memory(pid, m.addr, new)
		if not pieces then
			error(err .. "; nothing was changed", 0)
		end
		local v, p = m.vma, pieces[1]
		local label = string.format("pid %d 0x%x in %x-%x %s%s, offset 0x%x", pid, m.addr, v.start, v["end"],
			v.perms, v.name ~= "" and " " .. memory.escape(v.name, true) or "", p.offset)
		txn:record(p.file, label, m.before .. old .. m.after, m.before .. new .. m.after, show)
	end
end
txn:finish("rewrite-string")
