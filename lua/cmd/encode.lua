-- encode: convert CRIT's JSON back to an image
-- usage: critlua encode [-i IN] [-o OUT]
-- Reads {"magic": NAME, "entries": [...]} as `decode` (with or without
-- --pretty) or CRIT writes it, from IN (default: stdin), and writes the
-- image to OUT (default: stdout) atomically, in the form CRIU 4.2 writes
-- (an old v1 image comes back with its head, as CRIT's encode does).
-- Integers may be numbers or strings such as "0x1f", "0o17", "0b101",
-- "1_000"; flags as names and/or numbers joined by "|"; sk and task_state
-- names; devices as "major:minor"; addresses as ["10.0.0.1"] or ["::1"];
-- enums by name or number; go-criu's camelCase field names.
-- Strict where CRIT is lax: an unknown key, a missing required field, a
-- value of the wrong type or out of range, or a --nopl placeholder is an
-- error naming its path (entries[3].vmas[2].prot), and nothing is written.
-- Exit status: 0 done; 1 an error (the message on stderr, nothing half
-- written); 2 a usage mistake.

local cli = require "cli"

local args = cli.parse(arg, { "-i, --input=FILE", "-o, --output=FILE" })
if #args > 0 then
	cli.usage_error("unexpected argument '" .. args[1] .. "' (give the input with -i)")
end
crit._encode_file(args.input, args.output)
