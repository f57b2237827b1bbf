-- corefile: ck:coredump(pid, path) writes an ELF core file of an x86_64
-- process of the checkpoint (crit.coredump, src/core/coredump.c): every
-- thread's registers from core-TID.img, prpsinfo, auxv from mm-PID.img, the
-- file mappings (NT_FILE) and the memory the checkpoint stores. See docs/MEMORY.md.

local crit = require "crit"
local memdiff = require "memdiff"

local M = {}

-- user_x86_regs_entry's fields in the order of the kernel's user_regs_struct
local REGS = { "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di",
	"orig_ax", "ip", "cs", "flags", "sp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs" }

-- task_state (CRIU's TASK_*) -> ps's letter
local STATE = { [1] = "S", [2] = "X", [3] = "T", [6] = "Z" }

-- Mappings whose pages CRIU leaves out when unchanged, or that are the
-- kernel's: what the checkpoint does not hold of them is not zeros.
local NOT_ZERO = { vdso = true, vvar = true, vsyscall = true, aioring = true, packet = true }

local ZEROS24 = {}
for i = 1, 24 do
	ZEROS24[i] = 0
end

local function core_of(ck, tid)
	local name = string.format("core-%d.img", tid)
	local img = ck:image(name)
	local e = img and img.entries[1]
	if not e then
		error(string.format("%s: no %s (thread %d)", ck.dir, name, tid), 0)
	end
	return e, name
end

-- The registers of one thread, checking that it is an x86_64 one.
local function thread(ck, pid, tid)
	local e, name = core_of(ck, tid)
	if e.mtype ~= "X86_64" then
		error(string.format("%s: process %d is an %s process (%s): critlua writes x86_64 core files only", ck.dir,
			pid, tostring(e.mtype), name), 0)
	end
	local ti = e.thread_info
	local gp = ti and ti.gpregs
	if not gp then
		error(string.format("%s: %s has no thread_info.gpregs", ck:path(name), name), 0)
	end
	if gp.mode == "COMPAT" then
		error(string.format("%s: process %d is an ia32 (32-bit compat mode) process (%s): critlua writes x86_64 "
			.. "core files only", ck.dir, pid, name), 0)
	end
	local regs = {}
	for i, r in ipairs(REGS) do
		regs[i] = gp[r] or 0
	end
	local t = { tid = tid, regs = regs }
	local fp = ti.fpregs
	if fp and #(fp.st_space or {}) == 32 and #(fp.xmm_space or {}) == 64 then
		t.fp = {
			cwd = fp.cwd, swd = fp.swd, twd = fp.twd, fop = fp.fop, rip = fp.rip, rdp = fp.rdp, mxcsr = fp.mxcsr,
			mxcsr_mask = fp.mxcsr_mask, st_space = fp.st_space, xmm_space = fp.xmm_space,
			padding = #(fp.padding or {}) == 24 and fp.padding or ZEROS24,
		}
	end
	local tc = e.thread_core
	t.sigblocked = (tc and tc.blk_sigset) or (e.tc and e.tc.blk_sigset) or 0
	return t, e
end

-- ck:coredump(pid, path): write the core; raises on what cannot be written
-- (a pid that is not a process, another architecture, a zombie, a broken
-- image); path is untouched then.
function M.coredump(ck, pid, path)
	local vmas = ck:vmas(pid) -- raises unless pid is a process
	local entry
	for _, e in ipairs(ck:image("pstree.img").entries) do
		if e.pid == pid then
			entry = e
		end
	end
	local mem, why = ck:memory(pid)
	if not mem then
		error("cannot write a core file: " .. why, 0)
	end
	-- every stored page is copied, but pages outside the VMAs are not read:
	-- a pagemap pointing past its pages file is refused before anything is written
	local pm = string.format("pagemap-%d.img", pid)
	local complete, missing = memdiff.check_pages_file(ck, mem, pm)
	if not complete then
		error("cannot write a core file: " .. missing:gsub("^pages not compared: ", ""), 0)
	end
	local threads = { (thread(ck, pid, pid)) }
	local main = select(2, core_of(ck, pid))
	for _, tid in ipairs(entry.threads or {}) do
		if tid ~= pid then
			threads[#threads + 1] = thread(ck, pid, tid)
		end
	end
	local mm = ck:image(string.format("mm-%d.img", pid))
	local auxv = mm and mm.entries[1] and mm.entries[1].mm_saved_auxv or {}
	local creds = main.thread_core and main.thread_core.creds
	local argv = ck:cmdline(pid)
	local comm = main.tc and main.tc.comm or (main.thread_core and main.thread_core.comm) or ""
	local spec = {
		pid = pid, ppid = entry.ppid, pgid = entry.pgid, sid = entry.sid, uid = creds and creds.uid or 0,
		gid = creds and creds.gid or 0, state = STATE[main.tc and main.tc.task_state] or "S", comm = comm,
		psargs = argv and table.concat(argv, " ") or comm, page_size = mem:page_size(), auxv = auxv,
		threads = threads, vmas = {},
	}
	local checked = {}
	for i, v in ipairs(vmas) do
		local r = { start = v.start, ["end"] = v["end"], prot = v.prot, pgoff = v.pgoff }
		if v.shmid then
			r.mem, r.base, r.zero_holes = ck:shmem(v.shmid), v.pgoff, true
			if r.mem and not checked[v.shmid] then
				checked[v.shmid] = true
				local ok, why = memdiff.check_pages_file(ck, r.mem, string.format("pagemap-shmem-%d.img", v.shmid))
				if not ok then
					error("cannot write a core file: " .. why:gsub("^pages not compared: ", ""), 0)
				end
			end
		else
			r.mem, r.base = mem, v.start
			r.zero_holes = v.kind ~= "file" and not NOT_ZERO[v.kind]
		end
		if v.kind == "file" then
			r.path = v.path or v.name
		end
		spec.vmas[i] = r
	end
	local ok, err = crit.coredump(spec, path)
	if not ok then
		error(err, 0)
	end
	return true
end

crit.add_checkpoint_methods(M, { "coredump" })

return M
