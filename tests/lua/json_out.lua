-- json_out: crit.json.encode and the C halves of decode/info against CRIT's
-- goldens, plus the layout rules for plain Lua values and the errors.
-- usage: critlua -I tests/lua tests/lua/json_out.lua FIXTURES (tests/fixtures)

local T = require "testlib"

local fx = arg[1] or error("usage: json_out.lua FIXTURES", 0)
local expected = fx .. "/expected"
local J = crit.json

local function exists(path)
	local f = io.open(path, "rb")
	if f then
		f:close()
	end
	return f ~= nil
end

-- ---- typed image tables encode as `decode` writes them ----
do
	local p = io.popen("cd '" .. expected .. "' && ls */*.json")
	local n = 0
	for rel in p:lines() do
		if not rel:match("%.info%.json$") then
			local pretty = rel:match("%.pretty%.json$") ~= nil
			local img = rel:gsub("%.pretty%.json$", ""):gsub("%.json$", "")
			if exists(fx .. "/" .. img) then
				local want = T.read(expected .. "/" .. rel):gsub("\n$", "")
				local ok, got = pcall(function()
					return J.encode(crit.load(fx .. "/" .. img), { pretty = pretty })
				end)
				T.check(ok and got == want, "encode(load(%s)) %s: %s", img,
					pretty and "pretty" or "plain", ok and "differs from the golden" or got)
				n = n + 1
			end
		end
	end
	p:close()
	T.check(n > 0, "no goldens under %s", expected)
end

-- ---- plain values: Python json.dumps(v, sort_keys=True) layout ----
T.eq(J.encode({ b = 1, a = { 1, 2 }, c = {}, d = J.array(), e = J.null }),
	'{"a": [1, 2], "b": 1, "c": {}, "d": [], "e": null}', "object, sorted keys")
T.eq(J.encode({ b = { x = {} }, a = {} }, { pretty = true }),
	'{\n    "a": {},\n    "b": {\n        "x": {}\n    }\n}', "indent 4, empty containers")
T.eq(J.encode({ [1] = "a", [3] = "c" }), '{"1": "a", "3": "c"}', "sparse array: an object")
T.eq(J.encode({ [true] = 1, [2.5] = 2 }), '{"2.5": 2, "true": 1}', "key texts")
T.eq(J.encode(math.mininteger), "-9223372036854775808", "64-bit integer")
T.eq(J.encode(1.0), "1.0", "float repr")
T.eq(J.encode(1e16), "1e+16", "float repr, exponent")
T.eq(J.encode(0 / 0), "NaN", "NaN as Python writes it")
T.eq(J.encode("\"\\\n\r\t\b\f\0\x7f"), [["\"\\\n\r\t\b\f\u0000\u007f"]], "short and \\u escapes")
T.eq(J.encode("é😀"), [["\u00e9\ud83d\ude00"]], "ensure_ascii, surrogate pair")
T.eq(J.encode("a\xffb\xed\xa0\x80"), [["a\udcffb\udced\udca0\udc80"]], "bytes that are not UTF-8")

-- ---- plain image tables take CRIT's form through the schema ----
T.eq(J.encode({ magic = "PSTREE", entries = { { threads = { 1 }, sid = 1, pgid = 1, ppid = 0, pid = 1 } } }),
	'{"magic": "PSTREE", "entries": [{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "threads": [1]}]}',
	"plain image table in field order")
T.eq(J.encode({ magic = "SK_QUEUES", entries = { { id_for = 1, length = 3, extra = "abc" } } }),
	'{"magic": "SK_QUEUES", "entries": [{"id_for": 1, "length": 3, "extra": "YWJj\\n"}]}',
	"payload as MIME base64")

-- ---- errors name the path ----
T.raises("entries[0]: no field 'bogus' in pstree_entry", J.encode,
	{ magic = "PSTREE", entries = { { pid = 1, ppid = 0, pgid = 1, sid = 1, bogus = 1 } } })
T.raises("entries[0].pid: expected an integer (uint32), got a string", J.encode,
	{ magic = "PSTREE", entries = { { pid = "1" } } })
T.raises("f: cannot encode a function value", J.encode, { f = print })
local cycle = {}
cycle.me = cycle
T.raises("nested deeper than 200 levels", J.encode, cycle)

-- ---- decode to a file: atomic, no final newline; info ----
do
	local img = fx .. "/sleep/pstree.img"
	local out = os.tmpname()
	T.eq(crit._decode_file(img, out, { pretty = true }), true, "_decode_file")
	T.eq(T.read(out), (T.read(expected .. "/sleep/pstree.img.pretty.json"):gsub("\n$", "")),
		"decode -o FILE: the golden without the newline")
	os.remove(out)
	local ok, err = crit._decode_file(fx .. "/sleep/pages-1.img", out)
	T.check(not ok and err:find("raw memory pages", 1, true), "raw file: %s", tostring(err))
	T.check(not exists(out), "nothing written on error")
	local text, magic, count = crit._info(fx .. "/sleep/pagemap-23744.img")
	T.eq(text, (T.read(expected .. "/sleep/pagemap-23744.img.info.json"):gsub("\n$", "")), "info text")
	T.eq(magic, "PAGEMAP", "info magic")
	T.eq(count, 12, "info count: the pagemap head is not counted")
end

-- ---- a lone typed entry carries its payload; typed tables inside plain ones ----
do
	local img = crit.load(fx .. "/pipes/pipes-data.img")
	local e = img.entries[1]
	T.check(e.extra ~= nil, "pipes-data entry 1 has a payload")
	local whole = J.encode({ magic = img.magic, entries = { e } })
	T.eq('{"magic": "PIPES_DATA", "entries": [' .. J.encode(e) .. "]}", whole, "entry with extra")
	T.eq(J.encode({ x = e, y = { e } }), '{"x": ' .. J.encode(e) .. ', "y": [' .. J.encode(e) .. "]}",
		"typed tables inside a plain one")
	local p = crit.new("pstree_entry", { pid = 7, ppid = 1, pgid = 7, sid = 7 })
	T.eq(J.encode(p), '{"pid": 7, "ppid": 1, "pgid": 7, "sid": 7}', "crit.new table")
	T.raises("json.encode: a: entries[0]: no field 'bogus' in pstree_entry", J.encode,
		{ a = { magic = "PSTREE", entries = { { bogus = 1 } } } })
	T.raises("a pstree_entry has no payload (extra) here", J.encode,
		crit.new("pstree_entry", { pid = 7, ppid = 1, pgid = 7, sid = 7, extra = "x" }))
end

-- ---- the options of the views' writer (explore.json) ----
T.eq(J.encode({ a = {}, b = { 1, 2 } }, { lists = true }), '{"a": [], "b": [1, 2]}', "lists")
T.eq(J.encode({ start = -10485760, ["end"] = 1, fd = -1, l = { -1 } }, { unsigned = true, signed = { fd = true } }),
	'{"end": 1, "fd": -1, "l": [18446744073709551615], "start": 18446744073699065856}', "unsigned but fd")
do
	local shapes = setmetatable({}, { __mode = "k" })
	local rec = { z = 1, b = 2, a = 3, kids = { { y = 1, x = 2, w = 0 } } }
	shapes[rec] = "r"
	local opts = { shapes = shapes, order = { r = { "z", "kids" }, k = { "y", "x" } },
		children = { r = { kids = "k" } }, views = { k = { x = function(v) return v * 10 end } } }
	T.eq(J.encode(rec, opts), '{"z": 1, "kids": [{"y": 1, "x": 20, "w": 0}], "a": 3, "b": 2}',
		"shapes, order, children, views")
	T.eq(J.encode({ rec }, opts), '[{"z": 1, "kids": [{"y": 1, "x": 20, "w": 0}], "a": 3, "b": 2}]',
		"a shaped table inside")
	T.raises("option order: expected a table, got number", J.encode, 1, { order = 5 })
end
T.eq(crit.qp("a=b\tc \n\xff."), "a=3Db\tc=20\n=FF.", "crit.qp")

T.done("json_out")
