-- make-job-control.lua: how tests/fixtures/job-control was made (kept so it can be
-- made again): the pipes checkpoint without its data (pages, pipe and fifo
-- contents), with the process groups of a shell running two jobs, so that PGID,
-- SID and PID all differ somewhere.
-- usage: critlua tests/explore/make-job-control.lua tests/fixtures/pipes tests/fixtures/job-control
local src, dst = assert(arg[1], "give the pipes fixture"), assert(arg[2], "give the output directory")
for _, name in ipairs(crit.dir(src)) do
	if name:match("%.img$") and not name:match("^pages%-") and name ~= "pipes-data.img" and
		name ~= "fifo-data.img" then
		crit.save(crit.load(src .. "/" .. name), dst .. "/" .. name)
	end
end
-- bash 23947 leads the session; job 1 is `sleep | sleep` (group 23951), job 2
-- is pipes and its child (group 23953)
local pgid = { [23947] = 23947, [23951] = 23951, [23952] = 23951, [23953] = 23953, [23954] = 23953 }
local img = crit.load(dst .. "/pstree.img")
for _, e in ipairs(img.entries) do
	e.pgid = assert(pgid[e.pid], "the pipes fixture changed")
	assert(e.sid == 23947)
end
crit.save(img, dst .. "/pstree.img")
