-- memselect: the --prot, --kind and --range filters of `mem` and `grep`: which
-- VMAs (and which addresses) of a process's memory a command shows.
--
-- --prot PERMS   "r-x", "rw-", "rw-p": exactly these permissions (a 4th letter p/s:
--                private or shared); "rw", "x": at least these (letters only)
-- --kind K[,K]   the VMA kinds of explore.lua (heap, stack, anon, file, shmem, ...);
--                stack takes growsdown too: the [stack] of a process is one
-- --range A-B    addresses from A up to B (0x hex or decimal); a VMA is selected
--                when it overlaps the range, a match when it starts inside it

local explore = require "explore"
local memory = require "memory"

local M = {}

local ult = math.ult

local KNOWN = {}
for _, k in ipairs(explore.vma_kinds) do
	KNOWN[k] = true
end

local Sel = {}
Sel.__index = Sel

-- perms is a VMA's "rw-p"
local function prot_test(text)
	local exact, share = text:match("^([r%-][w%-][x%-])([ps]?)$")
	if exact then
		return function(perms)
			return perms:sub(1, 3) == exact and (share == "" or perms:sub(4, 4) == share)
		end
	end
	local letters
	letters, share = text:match("^([rwx]+)([ps]?)$")
	if letters and not letters:find("(.).*%1") then
		return function(perms)
			for c in letters:gmatch(".") do
				if not perms:sub(1, 3):find(c, 1, true) then
					return false
				end
			end
			return share == "" or perms:sub(4, 4) == share
		end
	end
	return nil
end

-- M.parse(args, usage_error) -> a selection, or nil when no filter is given.
-- args: the parsed options (prot, kind, range); usage_error(msg) raises.
function M.parse(args, usage_error)
	if not args.prot and not args.kind and not args.range then
		return nil
	end
	local sel = setmetatable({}, Sel)
	if args.prot then
		sel.prot = prot_test(args.prot)
		if not sel.prot then
			usage_error("--prot: '" .. args.prot .. "' is not a protection: r, w, x or - in that order "
				.. "(r-x, rw-, optionally p or s after), or the letters that must be there (rw, x)")
		end
	end
	if args.kind then
		sel.kinds = {}
		for k in (args.kind .. ","):gmatch("([^,]*),") do
			if not KNOWN[k] then
				usage_error("--kind: '" .. k .. "' is not a kind of mapping (one of: "
					.. table.concat(explore.vma_kinds, ", ") .. ")")
			end
			sel.kinds[k] = true
			if k == "stack" then
				-- a main thread's [stack] is a growsdown VMA without VMA_AREA_STACK
				sel.kinds.growsdown = true
			end
		end
	end
	if args.range then
		local a, b = args.range:match("^([^-]+)%-([^-]+)$")
		a, b = memory.parse_int(a), memory.parse_int(b)
		if not a or not b or not ult(a, b) then
			usage_error("--range: '" .. args.range .. "' is not a range A-B of addresses (0x hex or decimal, A below B)")
		end
		sel.lo, sel.hi = a, b
	end
	return sel
end

-- --prot and --kind over a VMA's perms and kind (none: nothing passes them).
function Sel:_mapping(v)
	if (self.prot or self.kinds) and not (v and v.perms) then
		return false
	end
	if self.prot and not self.prot(v.perms) then
		return false
	end
	return not self.kinds or self.kinds[v.kind] == true
end

-- Whether a VMA ({start, end, perms, kind}) is selected. A piece of memory
-- outside every VMA (v = {start, end} alone) passes only a --range filter.
function Sel:vma(v)
	if not self:_mapping(v) then
		return false
	end
	if self.lo and not (ult(v.start, self.hi) and ult(self.lo, v["end"])) then
		return false
	end
	return true
end

-- Whether an address in VMA v (nil: in none) is selected.
function Sel:addr(a, v)
	if self.lo and (ult(a, self.lo) or not ult(a, self.hi)) then
		return false
	end
	return self:_mapping(v)
end

-- The address spans of a process (its VMAs in address order) where a
-- selection lets matches start: the selected VMAs clipped to --range, or the
-- range alone when only --range is given (memory outside every VMA passes it).
function M.spans(sel, vmas)
	if not sel.prot and not sel.kinds then
		return { { start = sel.lo, ["end"] = sel.hi } }
	end
	local out = {}
	for _, v in ipairs(vmas) do
		if sel:vma(v) then
			local s, e = v.start, v["end"]
			if sel.lo and ult(s, sel.lo) then
				s = sel.lo
			end
			if sel.hi and ult(sel.hi, e) then
				e = sel.hi
			end
			local last = out[#out]
			if last and last["end"] == s then
				last["end"] = e
			else
				out[#out + 1] = { start = s, ["end"] = e }
			end
		end
	end
	return out
end

return M
