-- cli: what every critlua command shares: option parsing, --help from the
-- script's own header, usage errors (exit 2), and finding commands.

local host = require "critlua"
local crit = require "crit"

local cli = {}

-- A usage error is an error object critlua recognises by its type name: it
-- prints the message and a hint, and exits with status 2.
local UsageError = {
	__name = "critlua.usage_error",
	__tostring = function(e)
		return e.msg
	end,
}

function cli.usage_error(msg)
	error(setmetatable({ msg = msg }, UsageError), 0)
end

-- The header of a script: the comment lines at its top (after a #! line).
-- "-- NAME: summary" first, "-- usage: ..." among them makes it a command.
-- Returns {name=, summary=, usage=, text=} or nil.
function cli.header(source)
	local lines = {}
	for line in (source .. "\n"):gmatch("([^\n]*)\n") do
		if #lines == 0 and line:match("^#!") then
			-- skip the interpreter line
		elseif line:match("^%-%-") then
			lines[#lines + 1] = line:gsub("^%-%- ?", "")
		else
			break
		end
	end
	if #lines == 0 then
		return nil
	end
	local h = { text = {} }
	h.name, h.summary = lines[1]:match("^([%w_.%-]+):%s*(.*)$")
	for i, line in ipairs(lines) do
		local usage = line:match("^usage:%s*(.*)$")
		if usage then
			h.usage = usage
		elseif i > 1 then
			h.text[#h.text + 1] = line
		end
	end
	return h
end

-- Every command: {name=, summary=, usage=, text=, path= or embedded=true},
-- sorted by name; a user script hides an embedded one of the same name.
function cli.commands()
	local by_name, list = {}, {}
	local function add(name, source, path)
		if by_name[name] then
			return
		end
		local h = cli.header(source)
		if not (h and h.usage) then
			return -- a module, not a command
		end
		h.name = name
		h.path = path
		h.embedded = path == nil
		by_name[name] = h
		list[#list + 1] = h
	end
	for _, dir in ipairs(host.script_dirs) do
		local ok, names = pcall(crit.dir, dir)
		for _, file in ipairs(ok and names or {}) do
			local name = file:match("^(.+)%.lua$")
			if name then
				local f = io.open(dir .. "/" .. file, "rb")
				if f then
					local head = f:read(4096) or ""
					f:close()
					add(name, head, dir .. "/" .. file)
				end
			end
		end
	end
	for name, source in pairs(host.embedded) do
		add(name, source)
	end
	table.sort(list, function(a, b)
		return a.name < b.name
	end)
	return list
end

local function distance(a, b)
	local prev = {}
	for j = 0, #b do
		prev[j] = j
	end
	for i = 1, #a do
		local cur = { [0] = i }
		for j = 1, #b do
			local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
			cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
		end
		prev = cur
	end
	return prev[#b]
end

-- The candidate closest to word, if it is close enough to be a likely typo.
function cli.nearest(word, candidates)
	local best, bestd = nil, math.max(2, #word // 3)
	for _, c in ipairs(candidates) do
		local d = distance(word, c)
		if d <= bestd and (not best or d < bestd) then
			best, bestd = c, d
		end
	end
	return best
end

-- The message critlua prints for a command name that matches nothing.
function cli.unknown_command(name)
	local names = {}
	for _, c in ipairs(cli.commands()) do
		names[#names + 1] = c.name
	end
	local msg = string.format("unknown command or script '%s'", name)
	local near = cli.nearest(name, names)
	if near then
		msg = msg .. string.format(" (did you mean '%s'?)", near)
	end
	return msg .. "; 'critlua help' lists the commands"
end

-- The source of the running script (for its --help).
function cli.script_source()
	if host.script_path then
		local f = io.open(host.script_path, "rb")
		if f then
			local s = f:read("a")
			f:close()
			return s
		end
	end
	return host.embedded[host.script_name or ""] or ""
end

-- The help text of a header, as `critlua help CMD` and `CMD --help` print it.
function cli.format_help(h)
	local out = {}
	if h.usage then
		out[#out + 1] = "usage: " .. h.usage
	end
	if h.summary and h.summary ~= "" then
		out[#out + 1] = ""
		out[#out + 1] = h.summary:sub(1, 1):upper() .. h.summary:sub(2) .. "."
	end
	if #h.text > 0 then
		out[#out + 1] = ""
		for _, line in ipairs(h.text) do
			out[#out + 1] = line
		end
	end
	return table.concat(out, "\n") .. "\n"
end

-- Print the running script's header help.
function cli.help()
	local h = cli.header(cli.script_source()) or { text = {} }
	io.stdout:write(cli.format_help(h))
end

-- Parse arguments against option specs such as
--   { "-i, --input=FILE", "-o, --output=FILE", "--pretty", "-v, --verbose" }
-- "=NAME" marks an option that takes a value; "=NAME..." one that may repeat
-- (its values gather in a list). The result is keyed by the long name (or
-- the short one) with '-' as '_'; positional arguments are its sequence part.
-- "-h"/"--help" prints the script's help and exits; "--" ends the options;
-- "-" alone is positional. Mistakes raise usage errors.
function cli.parse(args, specs, opts)
	opts = opts or {}
	local byflag, known = {}, { "--help" }
	for _, spec in ipairs(specs or {}) do
		-- "--wait[=S]": a flag that may take a value (--wait, --wait=5)
		local optional = spec:match("%[=[^%]]*%]$") ~= nil
		local names, value = spec:gsub("%[=[^%]]*%]$", ""):match("^([^=]+)=?(.*)$")
		local o = { value = value ~= "" and value:gsub("%.%.%.$", "") or nil, optional = optional }
		o.multi = value:match("%.%.%.$") ~= nil
		for flag in names:gmatch("[^,%s]+") do
			byflag[flag] = o
			known[#known + 1] = flag
			if flag:match("^%-%-") or not o.key then
				o.key = flag:gsub("^%-+", ""):gsub("%-", "_")
			end
		end
	end
	local out, i, n = {}, 1, #args
	local function set(o, flag, v)
		if o.multi then
			out[o.key] = out[o.key] or {}
			table.insert(out[o.key], v)
		else
			out[o.key] = v
		end
		if v == nil then
			cli.usage_error("option " .. flag .. " needs a value")
		end
	end
	local function unknown(flag)
		local near = cli.nearest(flag, known)
		cli.usage_error("unknown option '" .. flag .. "'" .. (near and " (did you mean '" .. near .. "'?)" or ""))
	end
	while i <= n do
		local a = args[i]
		if a == "--" then
			for k = i + 1, n do
				out[#out + 1] = args[k]
			end
			break
		elseif (a == "-h" or a == "--help") and not byflag[a] then
			cli.help()
			os.exit(0)
		elseif a:match("^%-%-.") then
			local flag, v = a:match("^(%-%-[^=]+)=(.*)$")
			flag = flag or a
			local o = byflag[flag] or unknown(flag)
			if o.value then
				if not v then
					i = i + 1
					v = args[i]
				end
				set(o, flag, v)
			elseif o.optional then
				out[o.key] = v or true
			elseif v then
				cli.usage_error("option " .. flag .. " takes no value")
			else
				out[o.key] = true
			end
		elseif a:match("^%-.") and not opts.no_short then
			-- -abc: flags together; -ofile / -o file: a value
			local k = 2
			while k <= #a do
				local flag = "-" .. a:sub(k, k)
				local o = byflag[flag] or unknown(flag)
				if o.value then
					local v = a:sub(k + 1)
					if v == "" then
						i = i + 1
						v = args[i]
					end
					set(o, flag, v)
					break
				end
				out[o.key] = true
				k = k + 1
			end
		else
			out[#out + 1] = a
			if opts.stop_at_positional then
				for k = i + 1, n do
					out[#out + 1] = args[k]
				end
				break
			end
		end
		i = i + 1
	end
	return out
end

return cli
