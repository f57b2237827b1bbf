-- grep: search a checkpoint for a string or a Lua pattern: the memory of its processes and every other byte stream it stores
-- usage: critlua grep DIR STRING [--memory-only | --source KIND[,KIND]...] [--pid PID]... [--prot P] [--kind K] [--range A-B] [--context N] [--pattern] [--window N] [--page-size N] [--json]
-- DIR may also be a container checkpoint archive (.tar, .tar.gz, .tar.zst with
-- the images under checkpoint/), read in place, or a container of a pod
-- checkpoint, POD.tar//NAME: see docs/ARCHIVES.md.
-- What is searched, by kind (--source): memory (the processes' memory), pipe
-- and fifo (the bytes in a pipe's or FIFO's buffer), tcp (a connection's
-- receive and send queues), unix (a unix socket's receive queue), tty (input
-- queued in a terminal), ghost (a deleted file kept open), memfd, sysvshm (a
-- SysV shared memory segment), sysvmsg (a SysV message queue's messages),
-- tmpfs (the files of a tmpfs mount, decompressed as a stream). A memfd or
-- SysV segment mapped by a process searched is found in its memory (by
-- address), not again on its own.
-- One line per match, fields separated by tabs. In memory: PID, the address
-- (0x hex), the name of the VMA it is in ([anon] for anonymous memory), and
-- the match with up to N bytes of context on each side, in double quotes,
-- escaped: printable ASCII as is, \\ \" \n \r \t, any other byte as \xNN.
-- Elsewhere: KIND, the source as a person looks for it, +OFFSET (decimal,
-- from the start of that stream), and the match in the same quotes:
--   tcp<TAB>pid 6509 fd 7 tcp 127.0.0.1:51234 → 127.0.0.1:48328 recv queue<TAB>+4<TAB>"..."
--   pipe<TAB>pid 12 fd 1; pid 13 fd 0 pipe:[123456] buffer<TAB>+0<TAB>"..."
--   ghost<TAB>pid 12 fd 8 ghost file /tmp/x.log<TAB>+17<TAB>"..."
--   sysvshm<TAB>SysV shm key 0x1234 id 0<TAB>+4096<TAB>"..."
--   tmpfs<TAB>tmpfs /mnt/t/dir/file.txt<TAB>+0<TAB>"..."
-- Memory comes first: per process (pstree order), in address order within
-- its private memory, then in its shared mappings (SysV shm, shared
-- anonymous memory, memfd); then the other sources, kind by kind in the
-- order above.
--   --memory-only search the processes' memory only
--   --source K    search only these kinds (repeatable, or comma-separated)
--   --pid PID     only this process (repeatable): its memory, the streams it
--                 holds through its fds (also cwd, exe, mappings), and the
--                 SysV IPC objects and tmpfs mounts of its namespaces
--   --prot P      only matches in VMAs with these permissions: r-x, rw-, rw-p
--                 exactly; rw, x: at least these
--   --kind K      only matches in VMAs of these kinds (comma-separated): heap,
--                 stack, anon, file, shmem, sysvipc, vdso, vvar, growsdown, ...
--   --range A-B   only matches starting at an address from A up to B
--                 (--prot, --kind and --range are about memory: without
--                 --source they make the search memory-only; only the
--                 memory they select is read)
--   --context N   bytes of context on each side (default 16)
--   --pattern     STRING is a Lua pattern (%d, %a, [...], -, *, +, ?);
--                 matches up to --window bytes long (default 256) are found
--                 whole, across page and chunk boundaries (longer ones may
--                 be cut short or missed); no ^ or $ anchors
--   --page-size N the page size of the machine that was dumped (4096)
--   --json        one JSON document: {"matches": [...], "notes": [...]}, each
--                 match {"source": "memory", "pid", "address", "vma", "match",
--                 "before", "after"} or {"source": KIND, "name", "image",
--                 "pids", "offset", "match", "before", "after"} (bytes that
--                 are not UTF-8 as lone surrogates \udcNN, as decode does)
-- Overlapping matches of a plain STRING are all reported; pattern matches do
-- not overlap. The search streams: memory use does not grow with the pages
-- files, ghost files or archives, and each is read once. What could not be
-- searched (a zombie, lazy pages, pages in a missing parent/) is said on
-- stderr, as is an image that cannot be read (its file, entry and offset).
-- Exit status: 0 when something matched, 1 when nothing did or on an error,
-- 2 on a usage error.

local cli = require "cli"
local memory = require "memory"
local memselect = require "memselect"
local datasrc = require "datasrc"

local args = cli.parse(arg, { "--pid=PID...", "--context=N", "--pattern", "--window=N", "--page-size=N",
	"--prot=PERMS", "--kind=KINDS", "--range=A-B", "--memory-only", "--source=KIND...", "--json" })
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

-- Which kinds are searched.
local kinds
if args.memory_only and args.source then
	cli.usage_error("--memory-only and --source: give one of them")
elseif args.memory_only or (sel and not args.source) then
	kinds = { memory = true }
elseif args.source then
	kinds = {}
	for _, list in ipairs(args.source) do
		for k in (list .. ","):gmatch("([^,]*),") do
			if k ~= "memory" and not datasrc.known[k] then
				cli.usage_error("--source: '" .. k .. "' is not a kind of source (one of: memory, "
					.. table.concat(datasrc.kinds, ", ") .. ")")
			end
			kinds[k] = true
		end
	end
else
	kinds = { memory = true }
	for _, k in ipairs(datasrc.kinds) do
		kinds[k] = true
	end
end
local other_kinds
for k in pairs(kinds) do
	if k ~= "memory" then
		other_kinds = other_kinds or {}
		other_kinds[k] = true
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
local given_pids = pids
if given_pids then
	for _, p in ipairs(given_pids) do
		memory.check_pid(ck, p) -- a pid not there: one message, before anything is searched
	end
end
if kinds.memory then
	pids = pids or ck:pids()
end

local out = io.stdout
local found, failed = 0, false

-- --json: one document, {"matches": [...], "notes": [...]}, written as the
-- matches come (memory use does not grow with their number).
local json_notes = {}
local first_match = true
local function js(v)
	return crit.json.encode(v)
end
local unsigned = require("explore").unsigned -- an address or offset as JSON's unsigned integer
local function json_match(fields)
	out:write(first_match and "\n" or ",\n", "{", table.concat(fields, ", "), "}")
	first_match = false
end
local function note(msg)
	if args.json then
		json_notes[#json_notes + 1] = msg
	else
		io.stderr:write("critlua: grep: ", msg, "\n")
	end
end
if args.json then
	out:write('{"matches": [')
end
local opts = { context = context, pattern = args.pattern, window = window }
local progress = crit.progress
progress.start("grep", 0)
for i, pid in ipairs(kinds.memory and pids or {}) do
	progress.label(string.format("grep: process %d (%d of %d)", pid, i, #pids))
	local selected = 0
	-- the filters narrow what is read, not only what is printed
	opts.only = nil
	if sel then
		local ok_v, vmas = pcall(ck.vmas, ck, pid)
		if ok_v then
			opts.only = memselect.spans(sel, vmas)
		end
	end
	local ok, n, notes = pcall(ck.search, ck, pid, needle, opts, function(m)
		if sel and not sel:addr(m.addr, m.vma) then
			return
		end
		selected = selected + 1
		progress.clear()
		local vname = m.name and m.name ~= "" and m.name or (m.vma and "[anon]" or "[no vma]")
		if args.json then
			json_match({ '"source": "memory"', '"pid": ' .. m.pid, '"address": ' .. unsigned(m.addr),
				'"vma": ' .. js(vname), '"match": ' .. js(m.match), '"before": ' .. js(m.before),
				'"after": ' .. js(m.after) })
			return
		end
		out:write(string.format("%d\t0x%x\t%s\t\"%s\"\n", m.pid, m.addr, memory.escape(vname, true),
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
		for _, n_ in ipairs(notes) do
			note(n_)
		end
	end
	ck:close_memory(pid)
end
-- The other byte streams: each source on its own, so that one that cannot
-- be read is said and the others are still searched.
if other_kinds then
	progress.label("grep: other data")
	local sources, errors = ck:data_sources({ kinds = other_kinds, pids = given_pids })
	for _, err in ipairs(errors) do
		progress.clear()
		io.stderr:write("critlua: grep: ", err, "\n")
		failed = true
	end
	-- segments a searched process maps were searched as its memory
	local skip = {}
	for _, src in ipairs(sources) do
		if src.shmid and kinds.memory then
			skip = datasrc.mapped_segments(ck, pids)
			break
		end
	end
	for _, src in ipairs(sources) do
		progress.label("grep: " .. src.kind .. " " .. (src.image or ""))
		local ok, err = pcall(ck.search_data, ck, needle, { sources = { src }, context = context,
			pattern = args.pattern, window = window, skip_shmids = skip }, function(m)
			found = found + 1
			progress.clear()
			if args.json then
				local pl = {}
				for i, p in ipairs(src.pids or {}) do
					pl[i] = tostring(p)
				end
				json_match({ '"source": ' .. js(m.kind), '"name": ' .. js(m.name),
					'"image": ' .. (src.image and js(src.image) or "null"), '"pids": [' .. table.concat(pl, ", ") .. "]",
					'"offset": ' .. unsigned(m.offset), '"match": ' .. js(m.match), '"before": ' .. js(m.before),
					'"after": ' .. js(m.after) })
				return
			end
			out:write(string.format("%s\t%s\t+%d\t\"%s\"\n", m.kind, memory.escape(m.name, true), m.offset,
				memory.escape(m.before .. m.match .. m.after)))
		end)
		if not ok then
			out:flush()
			progress.clear()
			io.stderr:write("critlua: grep: ", src.name, ": ", tostring(err), "\n")
			failed = true
		end
	end
	ck:close_memory()
end
progress.stop()
if args.json then
	local nl = {}
	for i, n_ in ipairs(json_notes) do
		nl[i] = js(n_)
	end
	out:write(first_match and "" or "\n", '], "notes": [', table.concat(nl, ", "), "]}\n")
end
out:flush()
if failed or found == 0 then
	os.exit(1)
end
