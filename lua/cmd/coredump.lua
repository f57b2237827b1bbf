-- coredump: write an ELF core file of a checkpointed process, for gdb -c
-- usage: critlua coredump DIR PID -o FILE [--page-size N]
-- DIR may also be a container checkpoint archive (docs/ARCHIVES.md). FILE
-- gets an ELF64 x86_64 core: a PT_NOTE with NT_PRSTATUS (and NT_FPREGSET)
-- per thread from its core-TID.img, NT_PRPSINFO (command name and line, pid,
-- ppid, ...), NT_AUXV from mm-PID.img and NT_FILE (the file mappings and
-- their paths); then one PT_LOAD per run of each VMA: the pages the
-- checkpoint stores (parent/ chains followed) and the untouched pages of
-- anonymous memory (zeros, as file holes) are in the file; what it does not
-- hold (a file's unchanged pages, lazy pages, [vvar]) is a PT_LOAD with
-- p_filesz 0, as the kernel leaves them out. `gdb -c FILE` (with the program:
-- `gdb PROGRAM FILE`) opens it. FILE is written whole or not at all (a
-- temporary file beside it, renamed at the end).
--   -o, --output FILE  where to write the core (required)
--   --page-size N      the page size of the machine that was dumped (4096)
-- Only x86_64 processes: another architecture or a 32-bit (ia32) process is
-- an error, as is a zombie (it has no memory). See docs/MEMORY.md.

local cli = require "cli"
local crit = require "crit"
local memory = require "memory"

local args = cli.parse(arg, { "-o, --output=FILE", "--page-size=N" })
if #args ~= 2 then
	cli.usage_error(#args < 2 and "give a checkpoint directory and a pid" or "too many arguments")
end
local pid = memory.parse_int(args[2])
if not pid or pid <= 0 then
	cli.usage_error("'" .. args[2] .. "' is not a pid")
end
if not args.output then
	cli.usage_error("give the core file to write with -o FILE")
end
local ck, bad_size = memory.open(args[1], args.page_size)
if not ck then
	cli.usage_error(bad_size)
end
crit.progress.start("coredump", 0)
local ok, err = pcall(ck.coredump, ck, pid, args.output)
crit.progress.stop()
if not ok then
	error(err, 0)
end
