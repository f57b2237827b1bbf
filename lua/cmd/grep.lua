-- grep: search the memory of a checkpoint's processes for a string or a Lua pattern
-- usage: critlua grep DIR STRING [--pid PID]... [--prot P] [--kind K] [--range A-B] [--context N] [--pattern] [--window N] [--page-size N]
-- DIR may also be a container checkpoint archive (.tar, .tar.gz, .tar.zst with
-- the images under checkpoint/), read in place, or a container of a pod
-- checkpoint, POD.tar//NAME: see docs/ARCHIVES.md.
-- One line per match: PID, the address (0x hex), the name of the VMA it is in
-- ([anon] for anonymous memory), and the match with up to N bytes of context
-- on each side, in double quotes, escaped: printable ASCII as is, \\ \" \n \r
-- \t, any other byte as \xNN. Fields are separated by tabs. Matches come per
-- process (pstree order), in address order within its private memory, then
-- in its shared mappings (SysV shm, shared anonymous memory, memfd).
--   --pid PID     search only this process (repeatable)
--   --prot P      only matches in VMAs with these permissions: r-x, rw-, rw-p
--                 exactly; rw, x: at least these
--   --kind K      only matches in VMAs of these kinds (comma-separated): heap,
--                 stack, anon, file, shmem, sysvipc, vdso, vvar, growsdown, ...
--   --range A-B   only matches starting at an address from A up to B
--   --context N   bytes of context on each side (default 16)
--   --pattern     STRING is a Lua pattern (%d, %a, [...], -, *, +, ?);
--                 matches up to --window bytes long (default 256) are found
--                 whole, across page and chunk boundaries (longer ones may
--                 be cut short or missed); no ^ or $ anchors
--   --page-size N the page size of the machine that was dumped (4096)
-- Overlapping matches of a plain STRING are all reported; pattern matches do
-- not overlap. The search streams: memory use does not grow with the pages
-- files, and each is read once. What could not be searched (a zombie, lazy
-- pages, pages in a missing parent/) is said on stderr. Exit status: 0 when
-- something matched, 1 when nothing did or on an error, 2 on a usage error.

local cli = require "cli"
local memory = require "memory"
local memselect = require "memselect"

local args = cli.parse(arg, { "--pid=PID...", "--context=N", "--pattern", "--window=N", "--page-size=N",
	"--prot=PERMS", "--kind=KINDS", "--range=A-B" })
local sel = memselect.parse(args, cli.usage_error)
if #args ~= 2 then
	cli.usage_error(#args < 2 and "give a checkpoint directory and a string to look for" or "too many arguments")
end
local dir, needle = args[1], args[2]
if needle == "" then
	cli.usage_error("the string to look for is empty")
end
local function count_opt(name, v, min)
	if v == nil then
		return nil
	end
	local n = memory.parse_int(v)
	if not n or n < min then
		cli.usage_error("--" .. name .. ": '" .. v .. "' is not a byte count" .. (min > 0 and " above 0" or ""))
	end
	return n
end
local context = count_opt("context", args.context, 0) or 16
local window = count_opt("window", args.window, 1)
if window and not args.pattern then
	cli.usage_error("--window goes with --pattern")
end
local pids
if args.pid then
	pids = {}
	for i, p in ipairs(args.pid) do
		pids[i] = memory.parse_int(p)
		if not pids[i] or pids[i] <= 0 then
			cli.usage_error("--pid: '" .. p .. "' is not a pid")
		end
	end
end

local ck, bad_size = memory.open(dir, args.page_size)
if not ck then
	cli.usage_error(bad_size)
end
if args.pattern then
	local ok, err = pcall(memory.check_pattern, needle)
	if not ok then
		cli.usage_error(tostring(err))
	end
end
pids = pids or ck:pids()

local out = io.stdout
local found, failed = 0, false
local opts = { context = context, pattern = args.pattern, window = window }
local progress = crit.progress
progress.start("grep", 0)
for i, pid in ipairs(pids) do
	progress.label(string.format("grep: process %d (%d of %d)", pid, i, #pids))
	local selected = 0
	local ok, n, notes = pcall(ck.search, ck, pid, needle, opts, function(m)
		if sel and not sel:addr(m.addr, m.vma) then
			return
		end
		selected = selected + 1
		progress.clear()
		out:write(string.format("%d\t0x%x\t%s\t\"%s\"\n", m.pid, m.addr,
			m.name and m.name ~= "" and memory.escape(m.name, true) or (m.vma and "[anon]" or "[no vma]"),
			memory.escape(m.before .. m.match .. m.after)))
	end)
	if not ok then
		local msg = tostring(n)
		if msg:find("is not in the checkpoint", 1, true) or msg:find("is a thread of", 1, true) then
			error(msg, 0) -- the pid given is wrong: nothing else to do
		end
		out:flush()
		progress.clear()
		io.stderr:write("critlua: grep: ", pid, ": ", msg, "\n")
		failed = true
	else
		found = found + (sel and selected or n)
		progress.clear()
		for _, note in ipairs(notes) do
			io.stderr:write("critlua: grep: ", note, "\n")
		end
	end
	ck:close_memory(pid)
end
progress.stop()
out:flush()
if failed or found == 0 then
	os.exit(1)
end
