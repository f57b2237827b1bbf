-- mkinc.lua DIR: make the checkpoint DIR (a copy of a real one) incremental, as
-- a dump taken --with-previous is: every other pagemap entry that has pages is
-- marked as held by the parent (PE_PARENT), its pages dropped from the pages
-- file, so that its memory is read only through parent/ (a copy of the
-- original, the pre-checkpoint). Prints a line "PID ADDRESS" (hex) per entry
-- moved out of a process's pagemap. Pagemaps whose pages file is absent (the
-- fixtures kept in the repository may lack them) are left as they are.
-- usage: critlua tests/archpod/mkinc.lua DIR
local dir = assert(arg[1], "usage: mkinc.lua DIR")
local PS = 4096

local function move(name, img, f, pages)
	local kept, off, n = {}, 0, 0
	for i = 2, #img.entries do
		local e = img.entries[i]
		-- SPEC §1.4: no flags and no in_parent: present
		local flags = e.flags or (e.in_parent and 1 or 4)
		if flags & 4 ~= 0 then
			local nr = e.nr_pages or e.compat_nr_pages
			f:seek("set", off)
			local data = f:read(nr * PS)
			off = off + nr * PS
			n = n + 1
			if n % 2 == 1 and flags == 4 then
				e.flags, e.in_parent = 1, nil
				local pid = name:match("^pagemap%-(%d+)%.img$")
				if pid then
					print(string.format("%s %x", pid, e.vaddr))
				end
			else
				kept[#kept + 1] = data
			end
		end
	end
	f:close()
	crit.save(img)
	f = assert(io.open(pages, "wb"))
	f:write(table.concat(kept))
	f:close()
end

local p = io.popen("ls '" .. dir .. "'")
for name in p:lines() do
	if name:match("^pagemap%-.*%.img$") then
		local img = crit.load(dir .. "/" .. name)
		local pages = dir .. "/pages-" .. img.entries[1].pages_id .. ".img"
		local f = io.open(pages, "rb")
		if f then
			move(name, img, f, pages)
		end
	end
end
p:close()
