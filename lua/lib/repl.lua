-- repl: `critlua -i [DIR|ARCHIVE]`, an interactive Lua session with the
-- checkpoint opened as `ck`: the read-eval-print loop, its printing and its
-- completion (the terminal itself is src/lua/lreadline.c). docs/REPL.md.

local crit = require "crit"
local host = require "critlua"

local M = {}

local HISTORY_MAX = 1000 -- entries kept in the history file
local MAX_ROWS = 50      -- rows of a list printed, then "... N more"
local MAX_ITEMS = 30     -- entries of one table printed
local MAX_DEPTH = 4      -- nesting printed
local MAX_LINES = 200    -- lines of one printed value
local MAX_CHARS = 4000   -- characters of a message printed as JSON
local MAX_CELL = 30      -- characters of one cell of a table
local MAX_COLUMNS = 14   -- columns of a table
local INLINE = 100       -- a table shorter than this prints on one line

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
	repeat return then true until while]]):gmatch("%a+") do
	KEYWORDS[w] = true
end

local HELP = [[
Commands:
  :help            this text
  :q               leave (Ctrl-D too); Ctrl-C cancels the line, or stops running code
Input is Lua: a statement, or an expression whose values are printed (=expr too);
an incomplete chunk continues on the next line (>> prompt). TAB completes names:
globals, table keys and methods after '.' and ':' (ck:, crit.json.), the fields
of a message (ck:image("pstree.img").entries[1].pg<TAB>).
Printing: a message or image as compact JSON, a list of records as a table,
other tables bounded; print(v) prints as scripts do.

The checkpoint (when one was given): ck = crit.open(DIR|ARCHIVE)
  ck:list()                  image files        ck:image(name), ck.images[name]
  ck:ps() ck:fds() ck:mems() ck:rss() ck:sockets() ck:stats()   the x views
  ck:memory(pid) ck:regions(pid) ck:cmdline(pid) ck:environ(pid) ck:search(pid, s)
  ck:set(name, img) ck:save()   write back (one transaction; ck:lock() first)
The crit module, as in scripts:
  crit.open(path) crit.load(path) crit.decode(bytes) crit.encode(img) crit.new(type)
  crit.typeof(v) crit.schema() crit.magics() crit.json.encode(v) crit.json.decode(s)
Reference: docs/LUA-API.md, docs/REPL.md.]]

---------------------------------------------------------------------------
-- Printing values

local function is_identifier(s)
	return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not KEYWORDS[s]
end

local function cut(s, n)
	if #s > n then
		return s:sub(1, n - 3) .. "..."
	end
	return s
end

-- A typed message or image as compact JSON; nil when it cannot be encoded
-- (a value a script put there that encode refuses).
local function json_of(v)
	if not crit.typeof(v) then
		return nil
	end
	local ok, s = pcall(crit.json.encode, v)
	return ok and s or nil
end

local function scalar(v)
	local t = type(v)
	if t == "string" then
		return (string.format("%q", v):gsub("\\\n", "\\n"))
	end
	return tostring(v)
end

-- An object that says what it is (the checkpoint: "crit.checkpoint: DIR").
local function has_tostring(v)
	local mt = getmetatable(v)
	return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

-- Keys of a table in printing order: 1..n, then the others by type and name.
local function sorted_keys(t)
	local n = #t
	local keys = {}
	for k in pairs(t) do
		if not (math.type(k) == "integer" and k >= 1 and k <= n) then
			keys[#keys + 1] = k
		end
	end
	table.sort(keys, function(a, b)
		local ta, tb = type(a), type(b)
		if ta ~= tb then
			return ta < tb
		end
		if ta == "number" or ta == "string" then
			return a < b
		end
		return tostring(a) < tostring(b)
	end)
	return n, keys
end

local function key_text(k)
	if is_identifier(k) then
		return k
	end
	return "[" .. scalar(k) .. "]"
end

-- A table in one line (nil when it exceeds `room` characters).
local function inline(v, room, depth, seen)
	if type(v) ~= "table" or has_tostring(v) then
		return type(v) == "string" and scalar(v) or tostring(v)
	end
	local j = json_of(v)
	if j then
		return #j <= room and j or nil
	end
	if seen[v] then
		return "<cycle>"
	end
	if depth > MAX_DEPTH then
		return "{...}"
	end
	seen[v] = true
	local n, keys = sorted_keys(v)
	local parts, len = {}, 2
	local function add(s)
		if not s then
			return false
		end
		len = len + #s + 2
		parts[#parts + 1] = s
		return len <= room
	end
	local ok = true
	for i = 1, n do
		if i > MAX_ITEMS then
			ok = add("... " .. (n - MAX_ITEMS) .. " more")
			break
		end
		ok = add(inline(v[i], room - len, depth + 1, seen))
		if not ok then
			break
		end
	end
	for i, k in ipairs(keys) do
		if not ok then
			break
		end
		if n + i > MAX_ITEMS then
			ok = add("... " .. (#keys - i + 1) .. " more")
			break
		end
		local val = inline(v[k], room - len, depth + 1, seen)
		ok = add(val and (key_text(k) .. " = " .. val))
	end
	seen[v] = nil
	if not ok then
		return nil
	end
	return "{" .. table.concat(parts, ", ") .. "}"
end

-- A table over several lines, each entry inline when it fits.
local function block(v, indent, depth, seen, out)
	local one = inline(v, INLINE - #indent, depth, {})
	if one then
		out[#out + 1] = one
		return
	end
	if seen[v] then
		out[#out + 1] = "<cycle>"
		return
	end
	local n, keys = sorted_keys(v)
	local inner = indent .. "  "
	if #keys == 0 and n > 0 then
		local flat, lines, cur = true, {}, nil
		for i = 1, math.min(n, MAX_ITEMS * 10) do
			if type(v[i]) == "table" then
				flat = false
				break
			end
			local item = cut(scalar(v[i]), INLINE) .. ","
			if cur and #cur + 1 + #item > INLINE then
				lines[#lines + 1] = cur
				cur = nil
			end
			cur = cur and cur .. " " .. item or inner .. item
		end
		if flat then
			lines[#lines + 1] = cur
			if n > MAX_ITEMS * 10 then
				lines[#lines + 1] = inner .. "... " .. (n - MAX_ITEMS * 10) .. " more"
			end
			out[#out + 1] = "{\n" .. table.concat(lines, "\n") .. "\n" .. indent .. "}"
			return
		end
	end
	seen[v] = true
	local lines = { "{" }
	local function entry(prefix, val)
		if #out + #lines > MAX_LINES then
			return false
		end
		if type(val) == "table" and depth < MAX_DEPTH and not json_of(val) then
			local sub = {}
			block(val, inner, depth + 1, seen, sub)
			lines[#lines + 1] = inner .. prefix .. table.concat(sub, "\n") .. ","
		else
			local s = inline(val, 10 * INLINE, depth + 1, {}) or (json_of(val) or "{...}")
			lines[#lines + 1] = inner .. prefix .. cut(s, MAX_CHARS) .. ","
		end
		return true
	end
	local shown = 0
	for i = 1, n do
		if shown == MAX_ITEMS or not entry("", v[i]) then
			break
		end
		shown = shown + 1
	end
	for _, k in ipairs(keys) do
		if shown == MAX_ITEMS or not entry(key_text(k) .. " = ", v[k]) then
			break
		end
		shown = shown + 1
	end
	if shown < n + #keys then
		lines[#lines + 1] = inner .. "... " .. (n + #keys - shown) .. " more"
	end
	lines[#lines + 1] = indent .. "}"
	seen[v] = nil
	out[#out + 1] = table.concat(lines, "\n")
end

-- The columns of a list of records: identity first, long text last, the
-- others by name. nil when the list is not one of records.
local FIRST = { "pid", "ppid", "pgid", "sid", "tid", "fd", "id", "ino", "type", "family", "state" }
local LAST = { "comm", "name", "path", "exe", "local", "peer" }
local function record_columns(list)
	local n = #list
	if n == 0 then
		return nil
	end
	local count = 0
	for _ in pairs(list) do
		count = count + 1
		if count > n then
			return nil -- other keys besides 1..n
		end
	end
	local seen, scalars = {}, 0
	for i = 1, math.min(n, MAX_ROWS) do
		local r = list[i]
		if type(r) ~= "table" then
			return nil
		end
		for k, v in pairs(r) do
			if type(k) ~= "string" then
				return nil
			end
			if not seen[k] then
				seen[k] = true
				if type(v) ~= "table" then
					scalars = scalars + 1
				end
			end
		end
	end
	local names = {}
	for k in pairs(seen) do
		names[#names + 1] = k
	end
	if scalars == 0 then
		return nil
	end
	local rank = {}
	for i, k in ipairs(FIRST) do
		rank[k] = i - 100
	end
	for i, k in ipairs(LAST) do
		rank[k] = 100 + i
	end
	table.sort(names, function(a, b)
		local ra, rb = rank[a] or 0, rank[b] or 0
		if ra ~= rb then
			return ra < rb
		end
		return a < b
	end)
	local hidden = {}
	while #names > MAX_COLUMNS do -- the last ones go, named under the table
		hidden[#hidden + 1] = table.remove(names, MAX_COLUMNS - #LAST)
	end
	return names, hidden
end

local function records_table(list, cols, hidden)
	local rows, widths, right = {}, { #"#" }, { true }
	for c, k in ipairs(cols) do
		widths[c + 1] = #k
		right[c + 1] = true
	end
	local shown = math.min(#list, MAX_ROWS)
	for i = 1, shown do
		local row = { tostring(i) }
		widths[1] = math.max(widths[1], #row[1])
		for c, k in ipairs(cols) do
			local v = list[i][k]
			local s
			if v == nil then
				s = ""
			elseif type(v) == "string" then
				s = v:gsub("[%c]", "?")
			elseif type(v) == "table" then
				local count = 0
				for _ in pairs(v) do
					count = count + 1
				end
				s = inline(v, MAX_CELL, 1, {}) or string.format("{%d items}", count)
			else
				s = tostring(v)
			end
			if v ~= nil and math.type(v) == nil then
				right[c + 1] = false
			end
			s = cut(s, MAX_CELL)
			row[c + 1] = s
			widths[c + 1] = math.max(widths[c + 1], #s)
		end
		rows[i] = row
	end
	local function line(cells)
		local out = {}
		for c, s in ipairs(cells) do
			local pad = string.rep(" ", widths[c] - #s)
			out[c] = right[c] and pad .. s or (c == #cells and s or s .. pad)
		end
		return table.concat(out, "  ")
	end
	local header = { "#" }
	for c, k in ipairs(cols) do
		header[c + 1] = k
	end
	local out = { line(header) }
	for _, row in ipairs(rows) do
		out[#out + 1] = line(row)
	end
	if #list > shown then
		out[#out + 1] = string.format("... %d more (%d in all)", #list - shown, #list)
	end
	if #hidden > 0 then
		out[#out + 1] = "(not shown: " .. table.concat(hidden, ", ") .. ")"
	end
	return table.concat(out, "\n")
end

-- A value as the REPL prints it.
function M.format(v)
	if type(v) == "string" then
		return v
	elseif type(v) ~= "table" then
		return tostring(v)
	end
	local j = json_of(v)
	if j then
		if #j > MAX_CHARS then
			return j:sub(1, MAX_CHARS) .. string.format(
				"... (%d more characters; print(crit.json.encode(v)) prints it all)", #j - MAX_CHARS)
		end
		return j
	end
	if has_tostring(v) then
		return tostring(v)
	end
	local cols, hidden = record_columns(v)
	if cols then
		return records_table(v, cols, hidden)
	end
	local out = {}
	block(v, "", 1, {}, out)
	local s = out[1]
	-- bound the whole, whatever the nesting made of it
	local lines, pos = 0, 0
	for nl in s:gmatch("()\n") do
		lines = lines + 1
		if lines == MAX_LINES then
			pos = nl
			break
		end
	end
	if pos > 0 then
		s = s:sub(1, pos) .. "... (cut at " .. MAX_LINES .. " lines)"
	end
	return s
end

-- The results of one evaluation: scalars side by side, as lua -i does;
-- tables each in its own form.
function M.print_results(res, write)
	if res.n == 0 then
		return
	end
	local all_scalar = true
	for i = 1, res.n do
		if type(res[i]) == "table" then
			all_scalar = false
		end
	end
	local parts = {}
	for i = 1, res.n do
		parts[i] = M.format(res[i])
	end
	write(table.concat(parts, all_scalar and "\t" or "\n") .. "\n")
end

---------------------------------------------------------------------------
-- Completion

-- The checkpoint methods completion may call to know what a value holds:
-- they read and never change anything.
local SAFE_METHODS = {}
for w in ([[image list read size has path current ps fds mems rss sockets stats memory shmem
	vmas regions memory_summary cmdline environ pids read_memory]]):gmatch("[%w_]+") do
	SAFE_METHODS[w] = true
end

local fields_by_type
local function schema_fields(typename)
	if not fields_by_type then
		fields_by_type = {}
		for _, m in ipairs(crit.schema().messages) do
			local names = {}
			for i, f in ipairs(m.fields) do
				names[i] = f.name
			end
			fields_by_type[m.name] = names
		end
	end
	return fields_by_type[typename] or {}
end

-- Where a bracket closing at position i opens (nil when it does not).
local function opening(s, i)
	local close = s:sub(i, i)
	local open = close == ")" and "(" or "["
	local level = 0
	while i > 0 do
		local c = s:sub(i, i)
		if c == '"' or c == "'" then -- skip a string, backwards
			local j = i - 1
			while j > 0 and not (s:sub(j, j) == c and s:sub(j - 1, j - 1) ~= "\\") do
				j = j - 1
			end
			i = j
		elseif c == close then
			level = level + 1
		elseif c == open then
			level = level - 1
			if level == 0 then
				return i
			end
		end
		i = i - 1
	end
	return nil
end

-- The expression that ends s: a name followed by .name, [key], :name(args).
local function trailing_expression(s)
	local i = #s
	while i > 0 do
		local c = s:sub(i, i)
		if c:match("[%w_]") then
			while i > 0 and s:sub(i, i):match("[%w_]") do
				i = i - 1
			end
		elseif c == ")" or c == "]" then
			local j = opening(s, i)
			if not j then
				return nil
			end
			i = j - 1
		else
			break
		end
		local p = s:sub(i, i)
		if p == "." or p == ":" then
			i = i - 1
		elseif not (p:match("[%w_%)%]]")) then
			break
		end
	end
	return s:sub(i + 1)
end

-- An argument list or key made of literals and global names only: nothing
-- that calls a function runs because of a TAB.
local function literal_value(src)
	local bare = src:gsub('"[^"]*"', '""'):gsub("'[^']*'", "''")
	if bare:find("[%(%){}:]") or bare:find("function") then
		return false
	end
	local f = load("return " .. src, "=completion", "t", setmetatable({}, { __index = _G }))
	if not f then
		return false
	end
	return pcall(f)
end

-- The value of a trailing expression, evaluated step by step; nil, false
-- when a step is not safe or fails.
local function evaluate(expr)
	local pos = 1
	local name = expr:match("^[%a_][%w_]*", pos)
	if not name then
		return nil, false
	end
	local v = _G[name]
	pos = pos + #name
	while pos <= #expr do
		local c = expr:sub(pos, pos)
		local ok
		if c == "." then
			local k = expr:match("^[%a_][%w_]*", pos + 1)
			if not k then
				return nil, false
			end
			ok, v = pcall(function() return v[k] end)
			pos = pos + 1 + #k
		elseif c == "[" then
			local j -- the matching ] (a key may hold brackets in a string)
			for e = pos, #expr do
				if expr:sub(e, e) == "]" and opening(expr:sub(1, e), e) == pos then
					j = e
					break
				end
			end
			if not j then
				return nil, false
			end
			local kok, key = literal_value(expr:sub(pos + 1, j - 1))
			if not kok then
				return nil, false
			end
			ok, v = pcall(function() return v[key] end)
			pos = j + 1
		elseif c == ":" then
			local m = expr:match("^[%a_][%w_]*", pos + 1)
			local open = m and pos + 1 + #m
			if not m or expr:sub(open, open) ~= "(" or getmetatable(v) ~= crit.Checkpoint
				or not SAFE_METHODS[m] then
				return nil, false
			end
			local close
			for e = open, #expr do
				if expr:sub(e, e) == ")" and opening(expr:sub(1, e), e) == open then
					close = e
					break
				end
			end
			if not close then
				return nil, false
			end
			local args = table.pack(literal_value("nil, " .. expr:sub(open + 1, close - 1)))
			if expr:sub(open + 1, close - 1):match("^%s*$") then
				args = { true, n = 1 }
			elseif not args[1] then
				return nil, false
			end
			ok, v = pcall(v[m], v, table.unpack(args, 3, args.n))
			pos = close + 1
		else
			return nil, false
		end
		if not ok then
			return nil, false
		end
	end
	return v, true
end

-- The names after `v.` (fields, functions) or `v:` (methods).
local function names_of(v, methods)
	local out = {}
	local function add(k, val)
		if is_identifier(k) and (not methods or type(val) == "function") then
			out[k] = true
		end
	end
	if type(v) == "string" then
		v = string
	end
	if type(v) ~= "table" then
		return out
	end
	local typ = crit.typeof(v)
	if typ and typ ~= "image" and not methods then
		for _, f in ipairs(schema_fields(typ)) do
			out[f] = true
		end
	end
	-- a missing key loads what adds methods (the checkpoint's modules)
	pcall(function() return v["\0"] end)
	local t, depth = v, 0
	while type(t) == "table" and depth < 8 do
		for k, val in pairs(t) do
			add(k, val)
		end
		local mt = getmetatable(t)
		if type(mt) ~= "table" or rawget(mt, "__index") == nil then
			break
		end
		local index = rawget(mt, "__index")
		if type(index) == "function" then
			-- a class whose __index is a function: its methods sit in it
			for k, val in pairs(mt) do
				if type(k) == "string" and k:sub(1, 2) ~= "__" then
					add(k, val)
				end
			end
			break
		end
		t, depth = index, depth + 1
	end
	return out
end

local COMMANDS = { "help", "q", "quit" }

-- Does s end inside a quoted string (or a comment)?
local function in_string(s)
	local i, quote = 1, nil
	while i <= #s do
		local c = s:sub(i, i)
		if quote then
			if c == "\\" then
				i = i + 1
			elseif c == quote then
				quote = nil
			end
		elseif c == '"' or c == "'" then
			quote = c
		elseif s:sub(i, i + 1) == "--" then
			return true
		end
		i = i + 1
	end
	return quote ~= nil
end

-- The checkpoint methods whose first argument is the name of one of its files.
local NAME_METHODS = { image = true, read = true, size = true, has = true, path = true,
	current = true, set = true, forget = true, select = true }

-- Inside the string of ck:image("..." or ck.images["...": the checkpoint's
-- file names. The word readline replaces is only the end of the name (a "."
-- or "-" breaks words), so what the string already holds before it is cut off
-- the names. nil when the line does not end in such a string.
local function image_names(word, before)
	local expr, typed = before:match("^(.*)%s*:%s*[%a_][%w_]*%s*%(%s*[\"']([^\"']*)$")
	local method = before:match(":%s*([%a_][%w_]*)%s*%(%s*[\"'][^\"']*$")
	if not (expr and NAME_METHODS[method]) then
		expr, typed = before:match("^(.*)%s*%.%s*images%s*%[%s*[\"']([^\"']*)$")
	end
	if not expr then
		return nil
	end
	local v, ok = evaluate(trailing_expression(expr) or "")
	if not ok or getmetatable(v) ~= crit.Checkpoint then
		return nil
	end
	local lok, names = pcall(v.list, v)
	if not lok then
		return {}
	end
	local out, partial = {}, typed .. word
	for _, name in ipairs(names) do
		if name:sub(1, #partial) == partial then
			out[#out + 1] = name:sub(#typed + 1)
		end
	end
	return out
end

-- complete(word, before) -> the words that may replace `word`, the
-- identifier being typed (or the end of a file name in ck:image("...");
-- before: the line up to it.
function M.complete(word, before)
	local files = image_names(word, before)
	if files then
		return files
	end
	if in_string(before) then -- no names inside a string
		return {}
	end
	local names = {}
	local sep = before:sub(-1)
	if sep == ":" and before:match("^%s*:$") then
		for _, c in ipairs(COMMANDS) do
			names[c] = true
		end
	elseif sep == "." or sep == ":" then
		local expr = trailing_expression(before:sub(1, -2))
		if not expr or expr == "" then
			return {}
		end
		local v, ok = evaluate(expr)
		if not ok then
			return {}
		end
		names = names_of(v, sep == ":")
		if word:sub(1, 1) ~= "_" then -- private (ck:_write_archive) unless asked for
			for k in pairs(names) do
				if k:sub(1, 1) == "_" then
					names[k] = nil
				end
			end
		end
	else
		for k in pairs(_G) do
			if is_identifier(k) then
				names[k] = true
			end
		end
		for k in pairs(KEYWORDS) do
			names[k] = true
		end
	end
	local out = {}
	for k in pairs(names) do
		if k:sub(1, #word) == word then
			out[#out + 1] = k
		end
	end
	table.sort(out)
	return out
end

---------------------------------------------------------------------------
-- The loop

-- Where the history is kept: $CRITLUA_HISTORY (empty: nowhere), else
-- $XDG_STATE_HOME/critlua_history, else ~/.critlua_history.
function M.history_path()
	local p = os.getenv("CRITLUA_HISTORY")
	if p then
		return p ~= "" and p or nil
	end
	local state = os.getenv("XDG_STATE_HOME")
	if state and state ~= "" then
		return state .. "/critlua_history"
	end
	local home = os.getenv("HOME")
	if home and home ~= "" then
		return home .. "/.critlua_history"
	end
	return nil
end

-- The text of an error object, with a traceback under -d.
local function message(err)
	if type(err) == "table" and getmetatable(err) and getmetatable(err).__name == "critlua.usage_error" then
		err = err.msg
	end
	local s = type(err) == "string" and err or nil
	if not s then
		local ok, t = pcall(tostring, err)
		s = ok and t or "(error object is a " .. type(err) .. " value)"
	end
	if host.debug then
		return debug.traceback(s, 2)
	end
	return s
end

-- A chunk of input as lua.c compiles it: as an expression whose values are
-- printed first, else as statements.
local function compile(src)
	src = src:gsub("^%s*=", "return ", 1)
	local f = load("return " .. src, "=stdin", "t")
	if f then
		return f
	end
	return load(src, "=stdin", "t")
end

-- main(target) -> exit status: the session over crit.open(target) (when
-- given), reading from the terminal with editing, or from a pipe without
-- prompts. A chunk that fails is reported and the session goes on; input
-- that was not a terminal and had an error ends with status 1.
function M.main(target)
	local rl = host.readline
	local tty = rl.isatty(0)
	local editing = tty and rl.available
	if target then
		_G.ck = crit.open(target)
	end
	local out, err = io.stdout, io.stderr
	local function write(s)
		out:write(s)
		out:flush()
	end
	local function report(msg)
		out:flush()
		err:write(msg, "\n")
		err:flush()
	end
	local history
	if editing then
		history = M.history_path()
		if history then
			local ok, msg = rl.history_load(history, HISTORY_MAX)
			if not ok then
				report("critlua: history not kept: " .. msg)
				history = nil
			end
		end
		rl.set_completer(M.complete)
		rl.catch_interrupt()
	end
	if tty then
		write(string.format("critlua %s (%s)%s; :help for help, :q to leave\n", host.version,
			_VERSION, target and ": ck = crit.open(" .. string.format("%q", target) .. ")" or ""))
		if not rl.available then
			write("(built without readline: no line editing, history or completion)\n")
		end
	end
	-- a chunk or command entered: into the history, and its file
	local function remember(text)
		if not editing or not text:match("%S") then
			return
		end
		rl.add_history(text)
		if history then
			local ok, msg = rl.history_append(history, HISTORY_MAX)
			if not ok then
				report("critlua: history not kept: " .. msg)
				history = nil
			end
		end
	end
	local failed, buf = false, nil
	while true do
		local prompt = buf and ">> " or "> "
		local line
		if editing then
			line = rl.readline(prompt)
		else
			if tty then
				write(prompt)
			end
			line = io.read("l")
		end
		if line == false then -- Ctrl-C: the chunk is dropped
			buf = nil
		elseif line == nil then
			if buf then
				report("stdin: unfinished chunk at the end of the input")
				failed = true
			end
			if tty then
				write("\n")
			end
			break
		elseif not buf and line:match("^%s*:[%a]") and not line:match("^%s*::") then
			local cmd = line:match("^%s*:(%a+)%s*$")
			remember(line)
			if cmd == "q" or cmd == "quit" then
				break
			elseif cmd == "help" or cmd == "h" then
				write(HELP .. "\n")
			else
				report("unknown command '" .. line:match("^%s*(.-)%s*$") .. "' (:help lists them)")
				failed = true
			end
		else
			buf = buf and buf .. "\n" .. line or line
			local f, msg = compile(buf)
			if f or msg:sub(-5) ~= "<eof>" then
				remember(buf)
				buf = nil
				if not f then
					report(msg)
					failed = true
				else
					if editing then
						rl.interruptible(true)
					end
					local res = table.pack(xpcall(f, message))
					if editing then
						rl.interruptible(false)
					end
					if res[1] then
						local ok, perr = pcall(M.print_results, table.pack(table.unpack(res, 2, res.n)), write)
						if not ok then
							report("cannot print the result: " .. tostring(perr))
						end
					else
						-- after the ^C the terminal echoed, on a line of its own
						report((tty and res[2]:find("interrupted!$") and "\n" or "") .. res[2])
						failed = true
					end
				end
			end
		end
	end
	return (failed and not tty) and 1 or 0
end

return M
