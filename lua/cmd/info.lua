-- info: print an image's type and number of entries
-- usage: critlua info IN
-- Prints {"magic": NAME, "count": N} as CRIT's `crit info` does. N is the
-- number of entries `decode` prints, except for PAGEMAP, whose head entry
-- is not counted (CRIT miscounts payload images; this does not).
-- Exit status: 0 done; 1 an error (the message on stderr, nothing half
-- written); 2 a usage mistake.

local cli = require "cli"

local args = cli.parse(arg, {})
if #args ~= 1 then
	cli.usage_error(#args == 0 and "give an image file" or "too many arguments: give one image file")
end

local text, err = crit._info(args[1])
if not text then
	error(err, 0)
end
io.stdout:write(text, "\n")
