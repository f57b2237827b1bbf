-- json_in: crit.json.decode (json-c under src/core/jread.c and src/core/json_in.c) reads JSON as
-- Python's json.loads does: the values exactly, and a refusal, naming line and
-- column, of every text Python refuses (control characters in strings, leading
-- zeros, "1." and ".5", trailing commas, NaN), plus integers no field holds and
-- lone surrogates other than the \udcXX bytes critlua writes, keys given twice and
-- keys holding \u0000.
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
-- json-c 0.16 alone gives U+FFFD for the pairs whose high half ends in 0x36 or 0x37 (jread.c)
T.eq(decode('"\\ud836\\udc00\\udbf7\\udfff"'), "\xf0\x9d\xa0\x80\xf4\x8d\xbf\xbf", "pairs json-c 0.16 gets wrong")
T.eq(decode('"\xe2\x82\xac"'), "\xe2\x82\xac", "UTF-8 as it is")

local a = decode('[1, [2, []], {"k": [3]}]')
T.eq(#a, 3, "array length")
T.eq(a[2][1], 2, "nested array")
T.eq(#a[2][2], 0, "empty array")
T.eq(getmetatable(a[2][2]), crit.json.array_mt, "an empty array stays an array")
T.eq(a[3].k[1], 3, "object in array")

local o = decode('{"k": 1, "j": {"k": 2}, "ab": "\\u0000"}')
T.eq(o.k, 1, "a key")
T.eq(o.j.k, 2, "the same key in another object")
T.eq(o.ab, "\0", "a NUL in a value (not in a key: refused below)")

-- a key twice: refused, naming the second one (json-c would keep the last silently)
local many = {}
for i = 1, 100 do
	many[#many + 1] = string.format('"k%d": %d', i % 40, i)
end
T.raises("JSON line 1, column 427 (at k1): duplicate key", decode, "{" .. table.concat(many, ", ") .. "}")
T.raises("column 37 (at [1].a.\\u0062): duplicate key", decode, '[1, {"a": {"b": 1, "c": [], "\\u0062": 2}}]')

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
	{ '{"k": 1, "j": 2, "k": 3}', "column 21 (at k): duplicate key" },
	{ '{"a\\u0000b": 4}', "column 4 (at a): a key cannot hold \\u0000" },
	{ "[00]", "column 3 (at [0]): unexpected character" },
	{ "[NaN]", "column 2 (at [0]): unexpected character" },
	{ "[true x]", "column 7 (at [0]): array value separator ',' expected" },
	{ '{"a": 1 x}', "column 9 (at a): object value separator ',' expected" },
	{ "{'a': 1}", "column 2: quoted object property name expected" },
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
