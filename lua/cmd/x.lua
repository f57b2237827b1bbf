-- x: explore a checkpoint: process tree, open files, memory maps, resident pages, sockets
-- usage: critlua x DIR ps|fds|mems|rss|sk [--json] [--cmdline] [--env]
-- DIR may also be a container checkpoint archive (.tar, .tar.gz, .tar.zst with
-- the images under checkpoint/), read in place, or a container of a pod
-- checkpoint, POD.tar//NAME: see docs/ARCHIVES.md.
-- ps, fds, mems and rss print what CRIT's `crit x DIR ...` prints, byte for byte;
-- where CRIT stops (a zombie without ids or mm images, a pagemap older than
-- CRIU 4.2, several roots, a missing parent) critlua goes on, and says on
-- stderr what was missing.
--   ps    the process tree: PID, PGID, SID, COMM indented by depth
--         --cmdline: the full command line (read from the process's memory)
--         instead of COMM; --env: each process's environment below it
--   fds   per process its fds with file names, then cwd and root
--   mems  per process its exe and VMAs: range, rwx, backing file or kind
--   rss   per process its pagemap entries with the VMAs they fall in
--   sk    one line per socket per process: PID, FD, FAMILY, TYPE, PROTO,
--         STATE (as ss names it), RECV-Q and SEND-Q (as ss shows them, from
--         the saved TCP streams and unix socket queues; - where CRIU saves
--         none), LOCAL and PEER (address:port; for unix sockets the name,
--         @abstract or *, then the inode), SNDBUF, RCVBUF (bytes)
--   --json  the same data as one JSON object on one line:
--         {"processes": [...], "notes": [...]} for ps, fds, mems and rss,
--         {"sockets": [...], "notes": [...]} for sk; docs/EXPLORE.md
--         describes the records. Addresses are integers (unsigned 64-bit).
-- Scripts get the same data as Lua tables: require "explore", then
-- crit.open(DIR):ps() (and :fds(), :mems(), :rss(), :sockets(), :stats()).
-- Exit status: 0 done; 1 an error (the message on stderr, nothing half
-- written); 2 a usage mistake.

local cli = require "cli"

local VIEWS = {
	ps = { "ps", "render_ps", "processes" },
	fds = { "fds", "render_fds", "processes" },
	mems = { "mems", "render_mems", "processes" },
	rss = { "rss", "render_rss", "processes" },
	sk = { "sockets", "render_sockets", "sockets" },
}

local args = cli.parse(arg, { "--json", "--cmdline", "--env" })
if #args ~= 2 then
	cli.usage_error(#args < 2 and "give a checkpoint directory and what to show (ps, fds, mems, rss or sk)"
		or "too many arguments")
end
local dir, what = args[1], args[2]
local view = VIEWS[what]
if not view then
	local near = cli.nearest(what, { "ps", "fds", "mems", "rss", "sk" })
	cli.usage_error("unknown view '" .. what .. "': ps, fds, mems, rss or sk" ..
		(near and " (did you mean '" .. near .. "'?)" or ""))
end

if (args.cmdline or args.env) and what ~= "ps" then
	cli.usage_error((args.cmdline and "--cmdline" or "--env") .. " goes with ps")
end

local ck = crit.open(dir)
if not ck:has("pstree.img") then
	error(dir .. ": not a checkpoint directory: there is no pstree.img", 0)
end

local explore = require "explore"
local function write(s)
	io.stdout:write(s)
end
local notes
if what == "fds" or what == "mems" or what == "rss" then
	-- A process at a time: the view keeps no record, so memory is that of
	-- the largest process, not of the checkpoint; the bytes are those of
	-- rendering (or encoding) the whole list at once.
	local put, done = nil, function() end
	if args.json then
		local sep = ""
		write('{"' .. view[3] .. '": [')
		put = function(r)
			write(sep .. explore.json(r))
			sep = ", "
		end
	elseif what == "fds" then
		put, done = explore.text_writer(what, write)
	end
	if put then
		notes = select(2, explore[view[1]](ck, put))
		done()
	else
		-- the text of render_mems or render_rss, without a record per VMA
		notes = explore[what .. "_text"](ck, write)
	end
	if args.json then
		write('], "notes": ' .. explore.json(notes) .. "}\n")
	end
else
	local data, render
	data, notes = explore[view[1]](ck)
	render = explore[view[2]]
	if args.cmdline or args.env then
		local memory = require "memory"
		local opts = { cmdline = args.cmdline, env = args.env }
		memory.annotate_ps(ck, data, notes, opts)
		render = function(procs, write)
			memory.render_ps(procs, write, opts)
		end
	end
	if args.json then
		write(explore.json(explore.result(view[3], data, notes)) .. "\n")
	else
		render(data, write)
	end
end
for _, n in ipairs(notes) do
	io.stderr:write("critlua: x ", what, ": ", n, "\n")
end
