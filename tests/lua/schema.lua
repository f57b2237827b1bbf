-- schema: crit.schema(), read off the compiled descriptors and the (criu)
-- options table, states exactly the facts of criu-schema.json: every message
-- (nested ones too), field, number, label, type, type name, default, option,
-- and every enum with its values.
-- usage: critlua -I tests/lua tests/lua/schema.lua tests/data/criu-schema.json

local T = require "testlib"

local facts = T.json_decode(T.read(arg[1] or error("usage: schema.lua criu-schema.json", 0)))
local got = crit.schema()

local messages, enums = {}, {}
for _, m in ipairs(got.messages) do
	T.check(not messages[m.name], "message %s listed twice", m.name)
	messages[m.name] = m
end
for _, e in ipairs(got.enums) do
	T.check(not enums[e.name], "enum %s listed twice", e.name)
	enums[e.name] = e
end

local function num(v)
	return getmetatable(v) == T.Num and math.tointeger(tonumber(v.text)) or v
end

local seen_messages, seen_enums = 0, 0

local function check_enum(e, full)
	seen_enums = seen_enums + 1
	local g = enums[full]
	if not T.check(g, "enum %s missing", full) then
		return
	end
	local values = {}
	for _, v in ipairs(g.values) do
		values[v.name] = v.number
	end
	T.eq(#g.values, e.values.n, full .. ": number of values")
	for i = 1, e.values.n do
		local v = e.values[i]
		T.eq(values[v.name], num(v.number), full .. "." .. v.name)
	end
end

local function check_message(m, prefix)
	seen_messages = seen_messages + 1
	local full = m.full_name or (prefix .. m.name)
	local g = messages[full]
	if not T.check(g, "message %s missing", full) then
		return
	end
	local fields = {}
	for _, f in ipairs(g.fields) do
		fields[f.name] = f
	end
	T.eq(#g.fields, m.fields.n, full .. ": number of fields")
	for i = 1, m.fields.n do
		local f = m.fields[i]
		local p = full .. "." .. f.name
		local gf = fields[f.name]
		if T.check(gf, "%s missing", p) then
			T.eq(gf.number, num(f.number), p .. " number")
			T.eq(gf.label, f.label, p .. " label")
			T.eq(gf.type, f.type, p .. " type")
			T.eq(gf.type_name, f.type_name, p .. " type_name")
			local d = f.default
			if getmetatable(d) == T.Num then
				d = math.tointeger(tonumber(d.text)) or tonumber(d.text)
			end
			T.eq(gf.default, d, p .. " default")
			local want, have = f.criu or {}, gf.criu or {}
			for k, v in pairs(want) do
				T.eq(have[k], v, p .. " (criu)." .. k)
			end
			for k, v in pairs(have) do
				T.eq(want[k], v, p .. " (criu)." .. k .. " (not in the facts)")
			end
		end
	end
	for i = 1, (m.enums and m.enums.n or 0) do
		check_enum(m.enums[i], full .. "." .. m.enums[i].name)
	end
	for i = 1, (m.messages and m.messages.n or 0) do
		check_message(m.messages[i], full .. ".")
	end
end

for i = 1, facts.files.n do
	local file = facts.files[i]
	for k = 1, file.messages.n do
		check_message(file.messages[k], "")
	end
	for k = 1, file.enums.n do
		check_enum(file.enums[k], file.enums[k].name)
	end
end
-- The compiled schema holds nothing more than the facts, except the
-- options message itself (opts.proto) and descriptor.proto's types.
local extra = {}
local fact_names = {}
for i = 1, facts.files.n do
	local function walk(ms, prefix)
		for k = 1, ms.n do
			fact_names[ms[k].full_name or prefix .. ms[k].name] = true
			if ms[k].messages then
				walk(ms[k].messages, (ms[k].full_name or prefix .. ms[k].name) .. ".")
			end
		end
	end
	walk(facts.files[i].messages, "")
end
for name in pairs(messages) do
	if not fact_names[name] and not name:match("^google%.protobuf%.") then
		extra[#extra + 1] = name
	end
end
table.sort(extra)
T.check(#extra == 0, "messages not in the facts: %s", table.concat(extra, ", "))
print(string.format("schema: %d messages and %d enums compared", seen_messages, seen_enums))
T.done("schema")
