-- mem: show what a checkpoint holds of a process's memory, dump part of it, or write into it
-- usage: critlua mem DIR PID [--prot P] [--kind K] [--range A-B] [--dump] | --addr ADDR [--len N] [--raw] | --addr ADDR --write HEX|--write-string S [--dry-run] [--wait[=S]] [--page-size N]
-- DIR may also be a container checkpoint archive (.tar, .tar.gz, .tar.zst with
-- the images under checkpoint/), read in place, or a container of a pod
-- checkpoint, POD.tar//NAME: see docs/ARCHIVES.md.
-- Without --addr: one row per VMA in address order: its range, permissions
-- (rwx, then p private or s shared), size, the pages of it the checkpoint
-- holds (PAGES, and BYTES), and its name (a path, [heap], [stack], [vdso],
-- memfd:NAME, [sysv shm ID], [shmem ID], or empty for anonymous memory).
-- Columns PARENT and LAZY appear when some pages are in the parent checkpoint
-- (parent/) or were left to a lazy-pages server. A total line ends the table.
--   --prot P     only VMAs with these permissions: r-x, rw-, rw-p exactly; rw, x:
--                at least these
--   --kind K     only VMAs of these kinds (comma-separated): heap, stack, anon,
--                file, shmem, sysvipc, vdso, vvar, vsyscall, growsdown, aioring,
--                packet (stack takes growsdown too: a main [stack] is one)
--   --range A-B  only VMAs overlapping the addresses A up to B
--   --dump       instead of the table, a hexdump of all the memory the
--                checkpoint holds for the process (of the selected VMAs): each
--                run of pages within one VMA (its own or in parent/; lazy
--                pages are not in it) after a line with its range, perms,
--                name and page count, dumped as --addr dumps it
--   --addr ADDR  dump memory from ADDR (0x hex or decimal) as `hexdump -C`
--                does, rows of 16 bytes, repeated rows collapsed into `*`
--   --len N      how many bytes (default 256)
--   --raw        write the bytes themselves instead of a hexdump
--   --write HEX  write these bytes (hex digits, spaces allowed) at ADDR
--   --write-string S  write the bytes of S at ADDR (no NUL added)
--   --dry-run    say where the bytes would go (file, offset, old and new
--                bytes) and write nothing
--   --wait[=S]   wait for another writer of the checkpoint (without limit, or S
--                seconds; default 10) instead of failing
--   --page-size N  the page size of the machine that was dumped (4096)
-- Shared memory (SysV shm, shared anonymous memory, memfd) is read from the
-- checkpoint's pagemap-shmem-*.img at the place the VMA maps it. An address
-- the checkpoint does not hold (never touched, or file-backed and unchanged:
-- CRIU leaves those out), lazy pages, and pages in a missing parent/ are
-- errors (exit 1) that say which. A write goes into the pages file that
-- stores the bytes (pages-N.img, the checkpoint's own: pages held only by
-- the parent checkpoint are an error) and replaces it through the one write
-- path: all or nothing, even under kill -9 (docs/TRANSACTIONS.md). See
-- docs/MEMORY.md.
-- Exit status: 0 done; 1 an error (what it is on stderr); 2 a usage mistake.

local cli = require "cli"
local explore = require "explore"
local memory = require "memory"
local memselect = require "memselect"

local args = cli.parse(arg, { "--addr=ADDR", "--len=N", "--raw", "--dump", "--page-size=N", "--write=HEX",
	"--write-string=S", "-n, --dry-run", "--wait[=SECONDS]", "--prot=PERMS", "--kind=KINDS", "--range=A-B" })
if #args ~= 2 then
	cli.usage_error(#args < 2 and "give a checkpoint directory and a pid" or "too many arguments")
end
local dir = args[1]
local pid = memory.parse_int(args[2])
if not pid or pid <= 0 then
	cli.usage_error("'" .. args[2] .. "' is not a pid")
end
if (args.len or args.raw) and not args.addr then
	cli.usage_error((args.len and "--len" or "--raw") .. " goes with --addr")
end
local writing = args.write or args.write_string
if args.write and args.write_string then
	cli.usage_error("give --write or --write-string, not both")
end
if writing and not args.addr then
	cli.usage_error((args.write and "--write" or "--write-string") .. " goes with --addr")
end
if writing and (args.len or args.raw) then
	cli.usage_error((args.len and "--len" or "--raw") .. " does not go with a write: its length is that of the bytes")
end
if (args.dry_run or args.wait) and not writing then
	cli.usage_error((args.dry_run and "--dry-run" or "--wait") .. " goes with --write or --write-string")
end
if args.dump and (args.addr or writing) then
	cli.usage_error("--dump shows all the memory the checkpoint holds: it does not go with " ..
		(args.addr and "--addr" or args.write and "--write" or "--write-string"))
end
local sel = memselect.parse(args, cli.usage_error)
if sel and args.addr then
	cli.usage_error("--prot, --kind and --range select VMAs of the table: they do not go with --addr")
end
local bytes
if args.write then
	local hex = args.write:gsub("%s", ""):gsub("^0[xX]", "")
	if hex == "" or #hex % 2 ~= 0 or hex:find("%X") then
		cli.usage_error("--write: '" .. args.write .. "' is not bytes in hex (an even number of hex digits)")
	end
	bytes = hex:gsub("%x%x", function(h)
		return string.char(tonumber(h, 16))
	end)
elseif args.write_string then
	bytes = args.write_string
	if bytes == "" then
		cli.usage_error("--write-string: the string is empty: nothing to write")
	end
end
local addr, len
if args.addr then
	addr = memory.parse_int(args.addr)
	if not addr then
		cli.usage_error("--addr: '" .. args.addr .. "' is not an address (0x hex or decimal)")
	end
	len = 256
	if args.len then
		len = memory.parse_int(args.len)
		if not len or len < 0 then
			cli.usage_error("--len: '" .. args.len .. "' is not a byte count")
		end
	end
end

-- a write takes the checkpoint's lock before anything is read (a dry run only reads)
local ck, bad_size = memory.open(dir, args.page_size,
	writing and not args.dry_run and { lock = true, wait = args.wait } or nil)
if not ck then
	cli.usage_error(bad_size)
end

local function fail(msg)
	error(msg, 0)
end

---------------------------------------------------------------------------
-- write

if writing then
	local pieces, err = ck:memory_location(pid, addr, #bytes)
	if not pieces then
		fail(err)
	end
	local old = ck:read_memory(pid, addr, #bytes)
	local out = {}
	for _, p in ipairs(pieces) do
		local v = p.vma
		local from = p.addr - addr + 1
		out[#out + 1] = string.format("0x%x: %d bytes in VMA %x-%x %s%s: %s at offset 0x%x%s\n", p.addr, p.len,
			v.start, v["end"], v.perms, v.name ~= "" and " " .. memory.escape(v.name, true) or "", p.file, p.offset,
			p.shmid and string.format(" (shared segment %d)", p.shmid) or "")
		out[#out + 1] = string.format("  old: \"%s\"\n  new: \"%s\"\n",
			old and memory.escape(old:sub(from, from + p.len - 1)) or "?",
			memory.escape(bytes:sub(from, from + p.len - 1)))
	end
	io.stdout:write(table.concat(out))
	if args.dry_run then
		io.stdout:write("dry run: nothing written\n")
		return
	end
	assert(ck:write_memory(pid, addr, bytes))
	local written, note = ck:save()
	if note then
		io.stderr:write("critlua: ", note, "\n")
	end
	io.stdout:write(string.format("wrote %d bytes at 0x%x of process %d into %s\n", #bytes, addr, pid,
		table.concat(written, ", ")))
	return
end

---------------------------------------------------------------------------
-- hexdump

local PIECE = 64 << 10
local SMALL = 16 << 20 -- read whole first, so that an error comes before any output
local out = io.stdout

-- The bytes from..from+n as pieces: reader() returns the next or nil at the end.
local function reader(from, n)
	if n <= SMALL then
		local data, err = ck:read_memory(pid, from, n)
		if not data then
			fail(err)
		end
		local done = false
		return function()
			if done then
				return nil
			end
			done = true
			return data
		end
	end
	local at, left = from, n
	return function()
		if left == 0 then
			return nil
		end
		local k = left < PIECE and left or PIECE
		local data, err = ck:read_memory(pid, at, k)
		if not data then
			out:flush()
			fail(err)
		end
		at, left = at + k, left - k
		return data
	end
end

-- A full row's 16 bytes in hex, split in two halves as hexdump -C does.
local HEX16 = string.rep("%02x ", 8) .. " " .. string.rep("%02x ", 8)

-- hexdump -C of the bytes from..from+n, with their addresses, after the line
-- head (if any) once the first bytes are read.
local function hexdump(from, n, head)
	local next_piece = reader(from, n)
	if head then
		out:write(head)
	end
	local last = from + n
	local afmt = "%0" .. math.max(8, #string.format("%x", last)) .. "x"
	local full_row = afmt .. "  %s |%s|\n"
	local prev, starred = nil, false
	local buf = {}
	local at = from
	local pending = ""
	local function row(bytes)
		if bytes == prev and #bytes == 16 then
			if not starred then
				buf[#buf + 1] = "*\n"
				starred = true
			end
		else
			starred = false
			prev = bytes
			local ascii = bytes:gsub("[^\32-\126]", ".")
			if #bytes == 16 then -- the 16 bytes in one format, not one each
				buf[#buf + 1] = string.format(full_row, at, string.format(HEX16, bytes:byte(1, 16)), ascii)
			else
				local hex = bytes:gsub(".", function(c)
					return string.format("%02x ", c:byte())
				end)
				if #bytes > 8 then
					hex = hex:sub(1, 24) .. " " .. hex:sub(25)
				end
				buf[#buf + 1] = string.format(afmt, at) .. "  " .. hex .. string.rep(" ", 49 - #hex) .. " |" ..
					ascii .. "|\n"
			end
		end
		at = at + #bytes
		if #buf >= 1024 then
			out:write(table.concat(buf))
			buf = {}
		end
	end
	for data in next_piece do
		data = pending .. data
		local whole = #data - #data % 16
		for i = 1, whole, 16 do
			row(data:sub(i, i + 15))
		end
		pending = data:sub(whole + 1)
	end
	if #pending > 0 then
		row(pending)
	end
	if n > 0 then
		buf[#buf + 1] = string.format(afmt, last) .. "\n"
	end
	out:write(table.concat(buf))
end

if addr then
	if args.raw then
		for data in reader(addr, len) do
			out:write(data)
		end
		return
	end
	hexdump(addr, len)
	return
end

if args.dump then
	-- every run of pages the checkpoint holds, within one VMA: its own pages
	-- and its parent's (lazy ones are not in it); the runs of one process
	-- read through one opening of the checkpoint, not one command per run
	local regions, why = ck:regions(pid)
	if not regions then
		fail(why)
	end
	local runs = {}
	for _, r in ipairs(regions) do
		if (r.present or r.parent) and (not sel or sel:vma(r.vma or r)) then
			local last = runs[#runs]
			if last and last["end"] == r.start and last.vma == r.vma then
				last["end"] = r["end"]
			else
				runs[#runs + 1] = { start = r.start, ["end"] = r["end"], vma = r.vma }
			end
		end
	end
	local ps = ck:memory(pid):page_size()
	for i, r in ipairs(runs) do
		local v, pages = r.vma, (r["end"] - r.start) // ps
		hexdump(r.start, r["end"] - r.start, string.format("%s%x-%x %s%s: %d page%s\n", i > 1 and "\n" or "",
			r.start, r["end"], v and v.perms or "----", v and v.name ~= "" and " " .. memory.escape(v.name, true) or
			(v and "" or " (not in any VMA)"), pages, pages == 1 and "" or "s"))
	end
	return
end

---------------------------------------------------------------------------
-- the per-VMA table

local rows, total = ck:memory_summary(pid)
if not rows then
	fail(total)
end
if sel then
	local kept = {}
	total = { size = 0, present_pages = 0, parent_pages = 0, lazy_pages = 0, present_bytes = 0 }
	for _, r in ipairs(rows) do
		if sel:vma(r) then
			kept[#kept + 1] = r
			for k in pairs(total) do
				total[k] = total[k] + r[k]
			end
		end
	end
	rows = kept
end
local mem = ck:memory(pid)
local ps = mem:page_size()
local comm
do
	local core = ck:image(string.format("core-%d.img", pid))
	comm = core and core.entries[1] and core.entries[1].tc and core.entries[1].tc.comm
end

local show_parent, show_lazy = total.parent_pages > 0, total.lazy_pages > 0
local cols = { { "RANGE" }, { "PERMS" }, { "SIZE", true }, { "PAGES", true }, { "BYTES", true } }
if show_parent then
	cols[#cols + 1] = { "PARENT", true }
end
if show_lazy then
	cols[#cols + 1] = { "LAZY", true }
end
cols[#cols + 1] = { "NAME" }

local cells = {}
for i, r in ipairs(rows) do
	local c = {
		string.format("%08x-%08x", r.start, r["end"]), r.perms or "----", explore.human_bytes(r.size),
		tostring(r.present_pages), explore.human_bytes(r.present_bytes),
	}
	if show_parent then
		c[#c + 1] = tostring(r.parent_pages)
	end
	if show_lazy then
		c[#c + 1] = tostring(r.lazy_pages)
	end
	c[#c + 1] = memory.escape(r.name or "", true)
	cells[i] = c
end
local width = {}
for k, col in ipairs(cols) do
	width[k] = #col[1]
	for _, c in ipairs(cells) do
		width[k] = math.max(width[k], #c[k])
	end
end
local function line(c)
	local parts = {}
	for k, col in ipairs(cols) do
		local s = c[k]
		if k == #cols then
			parts[k] = s
		elseif col[2] then
			parts[k] = string.rep(" ", width[k] - #s) .. s
		else
			parts[k] = s .. string.rep(" ", width[k] - #s)
		end
	end
	return (table.concat(parts, "  "):gsub("%s+$", "")) .. "\n"
end

local out = {}
out[1] = string.format("process %d%s: %s, pages-%d.img, page size %d\n", pid,
	comm and " (" .. memory.escape(comm, true) .. ")" or "", string.format("pagemap-%d.img", pid),
	mem:pages_id(), ps)
local head = {}
for k, col in ipairs(cols) do
	head[k] = col[1]
end
out[#out + 1] = line(head)
for _, c in ipairs(cells) do
	out[#out + 1] = line(c)
end
local extra = {}
if show_parent then
	extra[#extra + 1] = string.format("%d in the parent checkpoint", total.parent_pages)
end
if show_lazy then
	extra[#extra + 1] = string.format("%d lazy (not in the checkpoint)", total.lazy_pages)
end
out[#out + 1] = string.format("total%s: %d VMAs, %s mapped; %d pages (%s) in the checkpoint%s\n",
	sel and " (selected)" or "", #rows, explore.human_bytes(total.size), total.present_pages, explore.human_bytes(total.present_bytes),
	#extra > 0 and "; " .. table.concat(extra, ", ") or "")
io.stdout:write(table.concat(out))

-- The pages file must hold what the pagemap says it does.
local want = 0
for _, r in ipairs(mem:regions()) do
	if r.present then
		want = want + r.size
	end
end
local pages_name = string.format("pages-%d.img", mem:pages_id())
local pages = ck:path(pages_name)
local size = ck:size(pages_name)
if not size then
	if want > 0 then
		io.stderr:write("critlua: mem: ", pages, " is missing: the memory cannot be read\n")
	end
else
	if size ~= want then
		io.stderr:write(string.format("critlua: mem: %s holds %d bytes, pagemap-%d.img describes %d " ..
			"(a different page size? a truncated or corrupt file?)\n", pages, size, pid, want))
	end
end
