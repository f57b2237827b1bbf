-- decode: convert an image to CRIT's JSON
-- usage: critlua decode [-i IN] [-o OUT] [--pretty] [--nopl]
-- Writes {"magic": NAME, "entries": [...]} byte for byte as CRIT's
-- `crit decode` does. IN defaults to stdin, OUT to stdout (which gets a
-- final newline; a file is written atomically, without one).
-- --pretty  indent 4 and the (criu) field options: hex numbers, "major:minor"
--           devices, flag names, socket constants, IP addresses.
-- --nopl    payloads become "... <SIZE>" (ghost file data is left out); such
--           JSON cannot be encoded back.
-- Strings that are not valid UTF-8 keep their bytes: each stray byte 0xXX
-- is written as the escape \udcXX (Python's "surrogateescape"); fields a
-- newer CRIU wrote that the schema does not know travel under the key
-- "(unknown)" as the base64 of their protobuf wire bytes.
-- Exit status: 0 done; 1 an error (the message on stderr, nothing half
-- written); 2 a usage mistake.

local cli = require "cli"

local args = cli.parse(arg, { "-i, --in=IN", "-o, --out=OUT", "--pretty", "--nopl" })
if #args > 0 then
	cli.usage_error("unexpected argument '" .. args[1] .. "' (the input is given with -i IN)")
end

local ok, err = crit._decode_file(args["in"], args.out, { pretty = args.pretty, nopl = args.nopl })
if not ok then
	error(err, 0)
end
