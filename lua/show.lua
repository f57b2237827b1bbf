-- show: print an image as indented JSON
-- usage: critlua show IN [--nopl]
-- The same as `critlua decode --pretty -i IN`, to stdout, as CRIT's
-- `crit show` does.
-- --nopl  payloads become "... <SIZE>" (ghost file data is left out).

local cli = require "cli"

local args = cli.parse(arg, { "--nopl" })
if #args ~= 1 then
	cli.usage_error(#args == 0 and "give an image file" or "too many arguments: give one image file")
end

local ok, err = crit._decode_file(args[1], nil, { pretty = true, nopl = args.nopl })
if not ok then
	error(err, 0)
end
