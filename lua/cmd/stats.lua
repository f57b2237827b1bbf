-- stats: show a checkpoint's dump and restore statistics
-- usage: critlua stats DIR [--json]
-- DIR may also be a container checkpoint archive (.tar, .tar.gz, .tar.zst with
-- the images under checkpoint/), read in place, or a container of a pod
-- checkpoint, POD.tar//NAME: see docs/ARCHIVES.md.
-- Reads stats-dump (written by criu dump) and stats-restore (criu restore),
-- as `criu --display-stats` shows them, in human units: times (CRIU counts
-- microseconds) in µs, ms or s; page counts with their size in bytes (4 KiB
-- pages). A checkpoint without either file gets a message saying so (exit 0);
-- a directory that is not a checkpoint at all is an error.
-- --json  one JSON object on one line: {"dump": {...}, "restore": {...},
--   "notes": [...]}, "dump" and "restore" present when their file is, with
--   CRIU's field names and raw values (times in µs, counts in pages):
--   dump: freezing_time, frozen_time, memdump_time, memwrite_time,
--   irmap_resolve, pages_scanned, pages_skipped_parent, pages_written,
--   pages_lazy, page_pipes, page_pipe_bufs, shpages_scanned,
--   shpages_skipped_parent, shpages_written; restore: pages_compared,
--   pages_skipped_cow, pages_restored, forking_time, restore_time (fields
--   CRIU did not write are absent). See docs/EXPLORE.md.
-- Exit status: 0 done; 1 an error (the message on stderr, nothing half
-- written); 2 a usage mistake.

local cli = require "cli"
local explore = require "explore"

local args = cli.parse(arg, { "--json" })
if #args ~= 1 then
	cli.usage_error(#args == 0 and "give a checkpoint directory" or "too many arguments")
end
local dir = args[1]

local ck = crit.open(dir)
local stats, notes = explore.stats(ck)
if not stats.dump and not stats.restore and #ck:list() == 0 then
	error(dir .. ": not a checkpoint directory: it holds no image", 0)
end
if not stats.dump and not stats.restore then
	notes[#notes + 1] = "no statistics in " .. dir .. ": neither stats-dump nor stats-restore is there"
end
if args.json then
	stats.notes = notes
	io.stdout:write(explore.json(stats), "\n")
	return
end
if stats.dump or stats.restore then
	explore.render_stats(stats, function(s)
		io.stdout:write(s)
	end)
	for _, n in ipairs(notes) do
		io.stderr:write("critlua: stats: ", n, "\n")
	end
else
	io.stdout:write(notes[#notes], "\n")
end
