-- testlib: what the Lua tests share: checks that count failures, a small JSON
-- reader that keeps numbers exact, base64, and running critlua as a process.

local T = { failures = 0, checks = 0 }

function T.fail(fmt, ...)
	T.failures = T.failures + 1
	io.stderr:write("FAIL: ", string.format(fmt, ...), "\n")
end

function T.check(cond, fmt, ...)
	T.checks = T.checks + 1
	if not cond then
		T.fail(fmt, ...)
	end
	return cond
end

function T.eq(got, want, what)
	return T.check(got == want, "%s: got %s, want %s", what, tostring(got), tostring(want))
end

-- fn must raise an error whose message contains `want` (plain text).
function T.raises(want, fn, ...)
	local ok, err = pcall(fn, ...)
	T.checks = T.checks + 1
	if ok then
		T.fail("no error, want one with %q", want)
		return nil
	end
	err = tostring(err)
	if not err:find(want, 1, true) then
		T.fail("error %q does not contain %q", err, want)
	end
	return err
end

-- A part of a test that could not run (its fixture is absent): said plainly,
-- and counted, so that T.done reports the test as skipped rather than passed.
T.skips = {}
function T.skip(what, why)
	T.skips[#T.skips + 1] = what
	print(string.format("SKIPPED: %s: %s", what, why))
end

-- Exit: 1 when a check failed or none ran (a test that checks nothing proves
-- nothing), 77 (skipped) when a part was skipped, else 0; print a summary.
function T.done(name)
	T.finished = true
	if T.checks == 0 then
		T.fail("%s: no checks ran", name)
	end
	local skipped = ""
	if #T.skips > 0 then
		skipped = string.format(", %d part(s) skipped (%s)", #T.skips, table.concat(T.skips, ", "))
	end
	print(string.format("%s: %d checks, %d failures%s", name, T.checks, T.failures, skipped))
	if T.failures > 0 then
		os.exit(1)
	end
	os.exit(#T.skips > 0 and 77 or 0)
end

-- A test that ends without T.done (it forgot it, or returned early) fails:
-- this object is collected when critlua closes the Lua state at the end.
T.sentinel = setmetatable({}, { __gc = function()
	if not T.finished then
		io.stderr:write("FAIL: the test ended without T.done (its checks were never reported)\n")
		os.exit(1, false)
	end
end })

function T.read(path)
	local f = assert(io.open(path, "rb"))
	local s = f:read("a")
	f:close()
	return s
end

function T.write(path, data)
	local f = assert(io.open(path, "wb"))
	f:write(data)
	f:close()
end

function T.exists(path)
	local f = io.open(path, "rb")
	if f then
		f:close()
	end
	return f ~= nil
end

-- The fixtures root a test is given (arg[1]); when it is not there the test
-- says so and exits 77, which ctest counts as skipped.
function T.fixtures_root(script)
	local root = arg[1] or error("usage: " .. script .. " FIXTURES_ROOT", 0)
	if not T.exists(root .. "/.") then
		print("SKIPPED: " .. root .. " not found")
		os.exit(77)
	end
	return root
end

function T.tmpdir()
	local p = io.popen("mktemp -d /tmp/critlua-test.XXXXXX")
	local d = p:read("l")
	p:close()
	return d
end

function T.sh_quote(s)
	return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The critlua binary running this test (argv[0] of the process).
function T.critlua()
	local i = -1
	while arg[i - 1] do
		i = i - 1
	end
	local bin = arg[i]
	if bin:find("/", 1, true) and bin:sub(1, 1) ~= "/" then
		local p = io.popen("pwd")
		bin = p:read("l") .. "/" .. bin
		p:close()
	end
	return bin
end

-- Run a shell command line; returns stdout, stderr, exit status.
function T.run(cmdline)
	local dir = T.tmpdir()
	local ok, how, code = os.execute(cmdline .. " >" .. dir .. "/out 2>" .. dir .. "/err")
	local out, err = T.read(dir .. "/out"), T.read(dir .. "/err")
	os.execute("rm -rf " .. T.sh_quote(dir))
	if how == "signal" then
		code = 128 + code
	end
	return out, err, ok and 0 or code
end

-- Run the critlua binary of this test with a shell-quoted argument string.
function T.run_critlua(args)
	return T.run(T.sh_quote(T.critlua()) .. " " .. args)
end

-- A fresh copy of directory src at dest (dest replaced first); returns dest.
function T.copy_dir(src, dest)
	assert(os.execute("rm -rf " .. T.sh_quote(dest) .. " && cp -a " .. T.sh_quote(src) .. " " .. T.sh_quote(dest)))
	return dest
end

-- The absolute path of an existing directory.
function T.abspath(path)
	local p = io.popen("cd " .. T.sh_quote(path) .. " && pwd")
	local a = p:read("l")
	p:close()
	return a
end

function T.hex(n)
	return string.format("0x%x", n)
end

-- ---- JSON (numbers are kept as their text, in a T.Num box) ----

T.Num = {}
T.Num.__index = T.Num
T.Num.__tostring = function(n)
	return n.text
end

function T.json_decode(s)
	local pos = 1
	local function err(msg)
		error(string.format("JSON: %s at byte %d", msg, pos), 0)
	end
	local function ws()
		pos = s:find("[^ \t\r\n]", pos) or #s + 1
	end
	local value
	local function utf8_of(cp)
		return utf8.char(cp)
	end
	local function str()
		local out = {}
		pos = pos + 1
		while true do
			local c = s:sub(pos, pos)
			if c == "" then
				err("unterminated string")
			elseif c == '"' then
				pos = pos + 1
				return table.concat(out)
			elseif c == "\\" then
				local e = s:sub(pos + 1, pos + 1)
				local map = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/" }
				if map[e] then
					out[#out + 1] = map[e]
					pos = pos + 2
				elseif e == "u" then
					local cp = tonumber(s:sub(pos + 2, pos + 5), 16)
					pos = pos + 6
					if cp >= 0xd800 and cp < 0xdc00 and s:sub(pos, pos + 1) == "\\u" then
						local lo = tonumber(s:sub(pos + 2, pos + 5), 16)
						if lo >= 0xdc00 and lo < 0xe000 then
							cp = 0x10000 + (cp - 0xd800) * 0x400 + (lo - 0xdc00)
							pos = pos + 6
						end
					end
					out[#out + 1] = utf8_of(cp)
				else
					err("bad escape")
				end
			else
				local j = s:find('["\\]', pos) or #s + 1
				out[#out + 1] = s:sub(pos, j - 1)
				pos = j
			end
		end
	end
	function value()
		ws()
		local c = s:sub(pos, pos)
		if c == "{" then
			local t = {}
			pos = pos + 1
			ws()
			if s:sub(pos, pos) == "}" then
				pos = pos + 1
				return t
			end
			while true do
				ws()
				if s:sub(pos, pos) ~= '"' then
					err("key expected")
				end
				local k = str()
				ws()
				if s:sub(pos, pos) ~= ":" then
					err("':' expected")
				end
				pos = pos + 1
				t[k] = value()
				ws()
				local d = s:sub(pos, pos)
				pos = pos + 1
				if d == "}" then
					return t
				elseif d ~= "," then
					err("',' or '}' expected")
				end
			end
		elseif c == "[" then
			local t = { n = 0 }
			pos = pos + 1
			ws()
			if s:sub(pos, pos) == "]" then
				pos = pos + 1
				return setmetatable(t, T.Array)
			end
			while true do
				t.n = t.n + 1
				t[t.n] = value()
				ws()
				local d = s:sub(pos, pos)
				pos = pos + 1
				if d == "]" then
					return setmetatable(t, T.Array)
				elseif d ~= "," then
					err("',' or ']' expected")
				end
			end
		elseif c == '"' then
			return str()
		elseif s:sub(pos, pos + 3) == "true" then
			pos = pos + 4
			return true
		elseif s:sub(pos, pos + 4) == "false" then
			pos = pos + 5
			return false
		elseif s:sub(pos, pos + 3) == "null" then
			pos = pos + 4
			return T.null
		else
			local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
			if not num or num == "" then
				err("value expected")
			end
			pos = pos + #num
			return setmetatable({ text = num }, T.Num)
		end
	end
	local v = value()
	ws()
	if pos <= #s then
		err("trailing data")
	end
	return v
end
T.Array = {}
T.null = setmetatable({}, { __tostring = function()
	return "null"
end })

-- ---- base64 (with or without line breaks) ----

local b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local b64val = {}
for i = 1, #b64 do
	b64val[b64:sub(i, i)] = i - 1
end

function T.b64decode(s)
	s = s:gsub("[%s=]", "")
	local out = {}
	for i = 1, #s, 4 do
		local chunk = s:sub(i, i + 3)
		local n, bits = 0, 0
		for k = 1, #chunk do
			n = n << 6 | assert(b64val[chunk:sub(k, k)], "bad base64")
			bits = bits + 6
		end
		local bytes = bits // 8
		n = n >> (bits - bytes * 8)
		for k = bytes - 1, 0, -1 do
			out[#out + 1] = string.char((n >> (8 * k)) & 0xff)
		end
	end
	return table.concat(out)
end

-- Quoted-printable as Python's binascii.b2a_qp writes it.
function T.qpdecode(s)
	s = s:gsub("=\n", "")
	return (s:gsub("=(%x%x)", function(h)
		return string.char(tonumber(h, 16))
	end))
end

-- The decimal text of a 64-bit integer read as unsigned.
function T.udec(v)
	if v >= 0 then
		return tostring(v)
	end
	local q = (v >> 1) // 5
	return tostring(q) .. tostring(v - q * 10)
end

return T
