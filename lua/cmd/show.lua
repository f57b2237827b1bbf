-- show: print an image as indented JSON
-- usage: critlua show IN [--nopl] [--raw]
-- The same as `critlua decode --pretty -i IN`, to stdout, as CRIT's
-- `crit show` does.
-- --nopl  payloads become "... <SIZE>" (ghost file data is left out).
-- --raw   print the messages in wire form (field numbers, wire types,
--         values; field names where the schema knows them), for images
--         whose magic or fields critlua does not know.

local cli = require "cli"

local args = cli.parse(arg, { "--nopl", "--raw" })
if #args ~= 1 then
	cli.usage_error(#args == 0 and "give an image file" or "too many arguments: give one image file")
end

if args.raw then
	io.stdout:write(crit._raw(args[1]))
	return
end

local ok, err = crit._decode_file(args[1], nil, { pretty = true, nopl = args.nopl })
if not ok then
	error(err, 0)
end
