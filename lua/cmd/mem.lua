-- mem: show what a checkpoint holds of a process's memory, or dump part of it
-- usage: critlua mem DIR PID [--addr ADDR [--len N] [--raw]] [--page-size N]
-- DIR may also be a container checkpoint archive (.tar, .tar.gz, .tar.zst with
-- the images under checkpoint/), read in place: see docs/ARCHIVES.md.
-- Without --addr: one row per VMA in address order: its range, permissions
-- (rwx, then p private or s shared), size, the pages of it the checkpoint
-- holds (PAGES, and BYTES), and its name (a path, [heap], [stack], [vdso],
-- memfd:NAME, [sysv shm ID], [shmem ID], or empty for anonymous memory).
-- Columns PARENT and LAZY appear when some pages are in the parent checkpoint
-- (parent/) or were left to a lazy-pages server. A total line ends the table.
--   --addr ADDR  dump memory from ADDR (0x hex or decimal) as `hexdump -C`
--                does, rows of 16 bytes, repeated rows collapsed into `*`
--   --len N      how many bytes (default 256)
--   --raw        write the bytes themselves instead of a hexdump
--   --page-size N  the page size of the machine that was dumped (4096)
-- Shared memory (SysV shm, shared anonymous memory, memfd) is read from the
-- checkpoint's pagemap-shmem-*.img at the place the VMA maps it. An address
-- the checkpoint does not hold (never touched, or file-backed and unchanged:
-- CRIU leaves those out), lazy pages, and pages in a missing parent/ are
-- errors (exit 1) that say which. See docs/MEMORY.md.
-- Exit status: 0 done; 1 an error (what it is on stderr); 2 a usage mistake.

local cli = require "cli"
local explore = require "explore"
local memory = require "memory"

local args = cli.parse(arg, { "--addr=ADDR", "--len=N", "--raw", "--page-size=N" })
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

local ck, bad_size = memory.open(dir, args.page_size)
if not ck then
	cli.usage_error(bad_size)
end

local function fail(msg)
	error(msg, 0)
end

---------------------------------------------------------------------------
-- hexdump

local PIECE = 64 << 10
local SMALL = 16 << 20 -- read whole first, so that an error comes before any output

if addr then
	local out = io.stdout
	local last = addr + len
	local function reader()
		if len <= SMALL then
			local data, err = ck:read_memory(pid, addr, len)
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
		local at, left = addr, len
		return function()
			if left == 0 then
				return nil
			end
			local n = left < PIECE and left or PIECE
			local data, err = ck:read_memory(pid, at, n)
			if not data then
				out:flush()
				fail(err)
			end
			at, left = at + n, left - n
			return data
		end
	end
	local next_piece = reader()
	if args.raw then
		for data in next_piece do
			out:write(data)
		end
		return
	end
	local width = math.max(8, #string.format("%x", last))
	local afmt = "%0" .. width .. "x"
	local prev, starred = nil, false
	local buf = {}
	local at = addr
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
			local hex = bytes:gsub(".", function(c)
				return string.format("%02x ", c:byte())
			end)
			if #bytes > 8 then
				hex = hex:sub(1, 24) .. " " .. hex:sub(25)
			end
			local ascii = bytes:gsub("[^\32-\126]", ".")
			buf[#buf + 1] = string.format(afmt, at) .. "  " .. hex .. string.rep(" ", 49 - #hex) .. " |" ..
				ascii .. "|\n"
		end
		at = at + #bytes
		if #buf >= 1024 then
			out:write(table.concat(buf))
			buf = {}
		end
	end
	for data in next_piece do
		data = pending .. data
		local full = #data - #data % 16
		for i = 1, full, 16 do
			row(data:sub(i, i + 15))
		end
		pending = data:sub(full + 1)
	end
	if #pending > 0 then
		row(pending)
	end
	if len > 0 then
		buf[#buf + 1] = string.format(afmt, last) .. "\n"
	end
	out:write(table.concat(buf))
	return
end

---------------------------------------------------------------------------
-- the per-VMA table

local rows, total = ck:memory_summary(pid)
if not rows then
	fail(total)
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
out[#out + 1] = string.format("total: %d VMAs, %s mapped; %d pages (%s) in the checkpoint%s\n", #rows,
	explore.human_bytes(total.size), total.present_pages, explore.human_bytes(total.present_bytes),
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
