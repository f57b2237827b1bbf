-- memwrite: writing a process's memory in a checkpoint (ck:write_memory,
-- ck:memory_location): bytes at a virtual address become patches of the pages
-- file that stores them, saved with the images by ck:save(). See docs/MEMORY.md.
--
-- The address is mapped to a file offset by the reader itself (memory.lua's
-- VMAs and shared segments, mem.c's pagemap: m:locate), so reading and writing
-- agree on where every byte lives.

local crit = require "crit"
local memory = require "memory"

local M = {}

local ult = math.ult

-- Checkpoints whose memory objects are dropped after a save (they hold the
-- old pages files open).
local HOOKED = setmetatable({}, { __mode = "k" })

local function vma_text(v)
	return string.format("VMA %x-%x %s%s", v.start, v["end"], v.perms, v.name ~= "" and " " .. v.name or "")
end

-- ck:memory_location(pid, addr, len) -> the pieces of the pages files that hold
-- those bytes, in address order: {addr, len, file ("pages-N.img"), offset, vma,
-- shmid (a shared segment, or nil)}; or nil, message naming the address and the
-- reason when some byte is outside any VMA, not stored (a hole, file-backed
-- pages CRIU left out), held only by the parent checkpoint, or lazy. A pid that
-- is no process of the checkpoint raises.
function M.memory_location(ck, pid, addr, len)
	local vmas = ck:vmas(pid)
	pid = math.tointeger(pid) or tonumber(pid)
	if math.type(addr) ~= "integer" then
		error("bad argument #2 to 'memory_location' (an integer address expected)", 2)
	end
	if math.type(len) ~= "integer" or len < 0 or len > (1 << 30) then
		error("bad argument #3 to 'memory_location' (a length between 0 and 1 GiB expected)", 2)
	end
	if len > 0 and ult(-1 - (len - 1), addr) then
		return nil, string.format("%s: process %d: %d bytes at address 0x%x run past the end of the address space",
			ck.dir, pid, len, addr)
	end
	local out = {}
	local cur, left = addr, len
	while left > 0 do
		local v = memory.vma_at(vmas, cur)
		if not v then
			return nil, string.format("%s: process %d: address 0x%x is outside any VMA: nothing is mapped there",
				ck.dir, pid, cur)
		end
		local n = v["end"] - cur
		if ult(left, n) then
			n = left
		end
		local obj, why, at
		if v.shmid then
			obj, why = ck:shmem(v.shmid)
			at = v.pgoff + (cur - v.start)
		else
			obj, why = ck:memory(pid)
			at = cur
		end
		if not obj then
			return nil, string.format("%s (process %d, address 0x%x, in %s)", why, pid, cur, vma_text(v))
		end
		local spans, err = obj:locate(at, n)
		if not spans then
			local ctx
			if v.shmid then
				ctx = string.format("process %d maps shared segment %d at 0x%x, in %s", pid, v.shmid,
					v.start - v.pgoff, vma_text(v))
			elseif err:find("no pagemap entry", 1, true) then
				ctx = memory.where(vmas, tonumber(err:match("address 0x(%x+)"), 16) or cur)
			else
				ctx = "in " .. vma_text(v)
			end
			return nil, err .. " (" .. ctx .. ")"
		end
		local file = string.format("pages-%d.img", obj:pages_id())
		for _, s in ipairs(spans) do
			out[#out + 1] = {
				addr = cur + (s.addr - at), len = s.len, file = file, offset = s.offset, vma = v, shmid = v.shmid,
			}
		end
		cur, left = cur + n, left - n
	end
	return out
end

-- ck:write_memory(pid, addr, bytes) -> the pieces written (as memory_location
-- gives them), or nil, message (and nothing recorded) when some byte cannot be
-- written. The change is made by the next ck:save(), with the other changed
-- images, all at once; until then ck:read_memory reads the old bytes.
function M.write_memory(ck, pid, addr, bytes)
	if type(bytes) ~= "string" then
		error("bad argument #3 to 'write_memory' (a string of bytes expected)", 2)
	end
	if math.type(addr) ~= "integer" then
		error("bad argument #2 to 'write_memory' (an integer address expected)", 2)
	end
	if #bytes > (1 << 30) then
		error("bad argument #3 to 'write_memory' (at most 1 GiB)", 2)
	end
	local pieces, err = M.memory_location(ck, pid, addr, #bytes)
	if not pieces then
		return nil, err
	end
	for _, p in ipairs(pieces) do
		local from = p.addr - addr + 1
		ck:patch(p.file, p.offset, bytes:sub(from, from + p.len - 1))
	end
	if not HOOKED[ck] then
		HOOKED[ck] = true
		ck:on_save(function(c)
			c:close_memory() -- reopened on the next read, over the new pages files
		end)
	end
	return pieces
end

crit.add_checkpoint_methods(M, { "memory_location", "write_memory" })

return M
