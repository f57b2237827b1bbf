-- roundtrip: every image with a CRIU magic under a fixtures root loads into
-- Lua tables that agree with CRIT's plain JSON golden field by field, and
-- saves back byte for byte (crit.encode, crit.save and crit.decode alike).
-- usage: critlua -I tests/lua tests/lua/roundtrip.lua FIXTURES_ROOT

local T = require "testlib"

local root = T.fixtures_root("roundtrip.lua")

-- Field facts by message and name, from the compiled schema.
local fields = {}
for _, m in ipairs(crit.schema().messages) do
	local f = {}
	for _, fd in ipairs(m.fields) do
		f[fd.name] = fd
	end
	fields[m.name] = f
end

local function is_array(v)
	return getmetatable(v) == T.Array
end

local compare

-- One scalar of field fd: Lua value lv against JSON value jv.
local function compare_scalar(lv, jv, fd, path)
	local t = fd.type
	if t == "message" then
		return compare(lv, jv, fd.type_name, path)
	elseif t == "bytes" and fd.criu and fd.criu.conv == "unix_name" then
		return T.check(type(jv) == "string" and lv == T.qpdecode(jv), "%s: bytes differ", path)
	elseif t == "bytes" then
		return T.check(type(jv) == "string" and lv == T.b64decode(jv), "%s: bytes differ", path)
	elseif t == "string" then
		return T.check(lv == jv, "%s: %q vs golden %q", path, tostring(lv), tostring(jv))
	elseif t == "bool" then
		return T.check(lv == jv, "%s: %s vs golden %s", path, tostring(lv), tostring(jv))
	elseif t == "enum" then
		local want = getmetatable(jv) == T.Num and math.tointeger(tonumber(jv.text)) or jv
		return T.check(lv == want, "%s: %s vs golden %s", path, tostring(lv), tostring(jv))
	else
		local text = (t == "uint64" or t == "fixed64") and T.udec(lv) or tostring(lv)
		return T.check(math.type(lv) == "integer" and getmetatable(jv) == T.Num and text == jv.text,
			"%s: %s vs golden %s", path, text, tostring(jv))
	end
end

local function compare_extra(lv, jv, magic, path)
	if magic == "TCP_STREAM" then
		T.check(type(lv) == "table" and lv.inq == T.b64decode(jv.inq) and lv.outq == T.b64decode(jv.outq),
			"%s: tcp queues differ", path)
	elseif magic == "IPCNS_SEM" then
		T.check(type(lv) == "table" and #lv == jv.n, "%s: %d values vs golden %d", path, #lv, jv.n)
		for i = 1, jv.n do
			T.check(lv[i] == math.tointeger(tonumber(jv[i].text)), "%s[%d] differs", path, i)
		end
	elseif magic == "IPCNS_MSG" then
		T.check(#lv * 2 == jv.n, "%s: %d messages vs golden %d items", path, #lv, jv.n)
		for i, item in ipairs(lv) do
			compare(item.msg, jv[2 * i - 1], "ipc_msg", path .. "[" .. i .. "].msg")
			T.check(item.data == T.b64decode(jv[2 * i]), "%s[%d].data differs", path, i)
		end
	else
		T.check(lv == T.b64decode(jv), "%s: payload differs (%d bytes)", path, #tostring(lv))
	end
end

-- A typed table against a JSON object, both ways.
function compare(lt, jt, typename, path, magic)
	if not T.check(crit.typeof(lt) == typename, "%s: type %s, want %s", path, tostring(crit.typeof(lt)), typename) then
		return
	end
	local fs = fields[typename]
	for k, jv in pairs(jt) do
		local p = path .. "." .. k
		local lv = lt[k]
		if k == "extra" then
			compare_extra(lv, jv, magic, p)
		elseif not fs[k] then
			T.fail("%s: golden has a field the schema lacks", p)
		elseif lv == nil then
			T.fail("%s: missing in Lua", p)
		elseif fs[k].label == "repeated" then
			if T.check(is_array(jv) and type(lv) == "table" and #lv == jv.n, "%s: %d items vs golden %s", p,
				type(lv) == "table" and #lv or -1, tostring(jv.n)) then
				for i = 1, jv.n do
					compare_scalar(lv[i], jv[i], fs[k], p .. "[" .. i .. "]")
				end
			end
		else
			compare_scalar(lv, jv, fs[k], p)
		end
	end
	for k in pairs(lt) do
		if jt[k] == nil then
			T.fail("%s.%s: in Lua, not in the golden", path, k)
		end
	end
end

local function first_diff(a, b)
	for i = 1, math.max(#a, #b) do
		if a:byte(i) ~= b:byte(i) then
			return i - 1
		end
	end
	return nil
end

local tmp = T.tmpdir()
local images, raw, goldens = 0, 0, 0

for _, scenario in ipairs(crit.dir(root)) do
	local dir = root .. "/" .. scenario
	if scenario ~= "expected" and T.exists(dir .. "/.") then
		for _, name in ipairs(crit.dir(dir)) do
			local path = dir .. "/" .. name
			local ok, img = pcall(crit.load, path)
			if not ok then
				-- raw files (pages, tmpfs tarballs, ip dumps, empty files) have no magic
				if T.check(img:find("no magic", 1, true) or img:find("is empty", 1, true),
					"%s: %s", path, img) then
					raw = raw + 1
				end
			else
				images = images + 1
				local bytes = T.read(path)
				local out = crit.encode(img)
				T.check(out == bytes, "%s: encode differs at byte %s (%d vs %d bytes)", path,
					tostring(first_diff(out, bytes)), #out, #bytes)
				local copy = tmp .. "/" .. name
				crit.save(img, copy)
				T.check(T.read(copy) == bytes, "%s: saved copy differs", path)
				os.remove(copy)
				local again = crit.decode(bytes)
				T.check(crit.encode(again) == bytes and #again.entries == #img.entries,
					"%s: decode(bytes) differs from load", path)
				local golden = root .. "/expected/" .. scenario .. "/" .. name .. ".json"
				if T.exists(golden) then
					goldens = goldens + 1
					local j = T.json_decode(T.read(golden))
					T.eq(img.magic, j.magic, path .. ": magic")
					if T.check(#img.entries == j.entries.n, "%s: %d entries vs golden %d", path,
						#img.entries, j.entries.n) then
						for i, e in ipairs(img.entries) do
							compare(e, j.entries[i], crit.typeof(e), name .. ": entries[" .. i .. "]", img.magic)
						end
					end
				end
			end
		end
	end
end
os.execute("rm -rf " .. T.sh_quote(tmp))
print(string.format("%s: %d images round-tripped, %d compared with goldens, %d raw files skipped",
	root, images, goldens, raw))
T.check(images > 0, "no images found under %s", root)
T.done("roundtrip")
