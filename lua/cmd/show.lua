-- show: print an image as indented JSON
-- usage: critlua show IN [--nopl] [--raw]
-- The same as `critlua decode --pretty -i IN`, to stdout, as CRIT's
-- `crit show` does.
-- --nopl  payloads become "... <SIZE>" (ghost file data is left out).
-- --raw   print the messages in wire form (field numbers, wire types,
--         values; field names where the schema knows them), for images
--         whose magic or fields critlua does not know.
-- Exit status: 0 done; 1 an error (the message on stderr; --raw too: what
-- it printed before a damaged message stays on stdout); 2 a usage mistake.

local cli = require "cli"

local args = cli.parse(arg, { "--nopl", "--raw" })
if #args ~= 1 then
	cli.usage_error(#args == 0 and "give an image file" or "too many arguments: give one image file")
end

if args.raw then
	-- the wire form of a damaged image too (the damage shown in place), and
	-- then the damage as the error: on stderr, exit 1
	local text, damage = crit._raw(args[1])
	io.stdout:write(text)
	if damage then
		io.stdout:flush()
		error(damage, 0)
	end
	return
end

local ok, err = crit._decode_file(args[1], nil, { pretty = true, nopl = args.nopl })
if not ok then
	error(err, 0)
end
