-- json_in: crit.json.decode (src/core/jdom.c under src/core/json_in.c) reads JSON as
-- Python's json.loads does: the values exactly, and a refusal, naming line and
-- column, of every text Python refuses (control characters in strings, leading
-- zeros, "1." and ".5", trailing commas, NaN), plus integers no field holds and
-- lone surrogates other than the \udcXX bytes critlua writes.
-- usage: critlua -I tests/lua tests/lua/json_in.lua

local T = require "testlib"
local decode, null = crit.json.decode, crit.json.null

-- values
T.eq(decode("0"), 0, "0")
T.eq(math.type(decode("-0")), "integer", "-0 is an integer")
T.eq(decode("-9223372036854775808"), math.mininteger, "-2^63")
T.eq(decode("18446744073709551615"), -1, "2^64-1 wraps as uint64 fields do")
T.eq(decode("1.5e3"), 1500.0, "exponent")
T.eq(math.type(decode("1E0")), "float", "1E0 is a number, not an integer")
T.eq(decode("-0.25"), -0.25, "fraction")
T.eq(decode(" true "), true, "true with white space around")
T.eq(decode("false"), false, "false")
T.eq(decode("null"), null, "null")
T.eq(decode('"a\\u00e9\\n\\t\\"\\\\\\/"'), "a\xc3\xa9\n\t\"\\/", "escapes")
T.eq(decode('"\\u0000x"'), "\0x", "a NUL in a string")
T.eq(decode('"\\ud83d\\ude00"'), "\xf0\x9f\x98\x80", "a surrogate pair is one character")
T.eq(decode('"\\udcff\\udc80"'), "\xff\x80", "\\udcXX are bytes")
T.eq(decode('"\xe2\x82\xac"'), "\xe2\x82\xac", "UTF-8 as it is")

local a = decode('[1, [2, []], {"k": [3]}]')
T.eq(#a, 3, "array length")
T.eq(a[2][1], 2, "nested array")
T.eq(#a[2][2], 0, "empty array")
T.eq(getmetatable(a[2][2]), crit.json.array_mt, "an empty array stays an array")
T.eq(a[3].k[1], 3, "object in array")

local o = decode('{"k": 1, "j": 2, "k": 3, "a\\u0000b": 4}')
T.eq(o.k, 3, "a key twice: the last value")
T.eq(o.j, 2, "the other key")
T.eq(o["a\0b"], 4, "a NUL in a key")
local keys = 0
for _ in pairs(o) do
	keys = keys + 1
end
T.eq(keys, 3, "a key twice is one key")

local many = {}
for i = 1, 100 do
	many[#many + 1] = string.format('"k%d": %d', i % 40, i)
end
local m = decode("{" .. table.concat(many, ", ") .. "}")
T.eq(m.k0, 80, "a key many times in a large object: the last value")
T.eq(m.k39, 79, "another")

local deep = string.rep("[", 150) .. string.rep("]", 150)
T.eq(type(decode(deep)), "table", "150 levels")

-- refusals: (text, what the message holds)
local BAD = {
	{ "", "the input is empty" },
	{ "   ", "the input is empty" },
	{ "01", "column 2" },
	{ "1.", "column 3" },
	{ ".5", "column 1: unexpected character" },
	{ "-", "ends too early" },
	{ "+1", "unexpected character" },
	{ "1e", "ends too early" },
	{ "NaN", "unexpected character" },
	{ "Infinity", "unexpected character" },
	{ "[1,]", "column 4 (at [1]): unexpected character" },
	{ '{"a": 1,}', "column 9 (at a): quoted object property name expected" },
	{ "{'a': 1}", "quoted object property name expected" },
	{ '{"a" 1}', "':' expected" },
	{ '{"a": 1 "b": 2}', "',' expected" },
	{ "[1 2]", "',' expected" },
	{ '"a\tb"', "column 3: invalid string sequence" },
	{ '"a\nb"', "invalid string sequence" },
	{ '"\\x"', "invalid string sequence" },
	{ '"\\u12"', "invalid string sequence" },
	{ '"abc', "ends too early" },
	{ "[1, 2", "ends too early" },
	{ "tru", "ends too early" },
	{ "nul", "ends too early" },
	{ "trUe", "boolean expected" },
	{ "1 2", "column 3" },
	{ "[] x", "column 4" },
	{ "18446744073709551616", "out of range" },
	{ "-9223372036854775809", "out of range" },
	{ '"\\ud800"', "lone surrogate" },
	{ "/* c */ 1", "unexpected character" },
	{ string.rep("[", 250) .. string.rep("]", 250), "nested too deep" },
	{ '[1,\n  x]', "JSON line 2, column 3" },
}
for _, b in ipairs(BAD) do
	local err = T.raises(b[2], decode, b[1])
	if err then
		T.check(err:find("^JSON line %d+, column %d+") or err:find("empty"), "%q: %s names no place", b[1], err)
	end
end

T.done("json_in")
