/* limage.c: the image part of `crit` — loading, saving, decoding and encoding
 * images as typed tables, building entries, schema reflection, the selective
 * reads of the views. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "laux.h"
#include "xalloc.h"
#include "lparts.h"
#include "luapb.h"
#include "schema.h"
#include "rawdump.h"
#include "textcodec.h"
#include "txn.h"

/* A writer's error, after prefix ("encode", a file name): its path counts
 * from 0 (entries[0].vmas[2]), as every message of critlua does (one
 * numbering: jq's over decode's JSON; docs/LUA-API.md). */
static void lcrit_push_lua_path_error(lua_State *L, const char *prefix, const char *msg)
{
	if (prefix)
		lua_pushfstring(L, "%s: %s", prefix, msg);
	else
		lua_pushstring(L, msg);
}

/* crit.load(path) -> image table */
static int lcrit_load(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct img *img = laux_imgbox(L);
	struct err e;
	if (img_load(path, img, &e) < 0)
		return laux_fail(L, "%s", e.msg);
	luapb_push_loaded(L, img, path);
	return 1;
}

/* crit.decode(bytes) -> image table */
static int lcrit_decode(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	const char *name = luaL_optstring(L, 2, "decode");
	struct img *img = laux_imgbox(L);
	struct err e;
	if (img_decode((const uint8_t *)s, len, img, &e) < 0)
		return laux_fail(L, "%s: %s", name, e.msg);
	luapb_push_image(L, img);
	img_free(img);
	return 1;
}

/* A buffer of n bytes for a file crit._select reads, left on the stack. Small
 * files share one, kept in the registry: a new userdata for each of thousands
 * of small images would keep the GC running over everything. */
static uint8_t *lcrit_select_buffer(lua_State *L, size_t n)
{
	static const char key[] = "crit.select_buffer";
	const size_t shared = 1 << 20;
	if (n > shared)
		return lua_newuserdatauv(L, n, 0);
	if (lua_getfield(L, LUA_REGISTRYINDEX, key) != LUA_TUSERDATA) {
		lua_pop(L, 1);
		lua_newuserdatauv(L, shared, 0);
		lua_pushvalue(L, -1);
		lua_setfield(L, LUA_REGISTRYINDEX, key);
	}
	return lua_touserdata(L, -1);
}

/* crit._select(path, selection, [{plain =, spare =}], [bytes]) -> image, selected |
 * nil, message when the file does not exist. For views over many images
 * (lua/lib/explore.lua): each entry holds only the fields selected ({name = true
 * | {...}}; a repeated message as columns: {columns = {names}}), as plain tables with room for `spare` more keys when plain is
 * true (see luapb_push_image_select), and selected is true — or every field,
 * typed, and selected false, where the fast reader leaves the image to
 * crit.load's path, which also raises on anything wrong. The entries are
 * incomplete: not for saving. */
static int lcrit_select(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	if (lua_type(L, 2) != LUA_TTABLE && lua_type(L, 2) != LUA_TBOOLEAN)
		return luaL_typeerror(L, 2, "table or true");
	int plain = 0, spare = 0;
	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		lua_getfield(L, 3, "plain");
		plain = lua_toboolean(L, -1);
		lua_getfield(L, 3, "spare");
		lua_Integer n = luaL_optinteger(L, -1, 0);
		luaL_argcheck(L, n >= 0 && n <= 64, 3, "spare must be between 0 and 64");
		spare = (int)n;
	}
	if (lua_type(L, 4) == LUA_TSTRING) {
		/* the bytes given (an archive member): path only names them */
		size_t dlen;
		const uint8_t *data = (const uint8_t *)lua_tolstring(L, 4, &dlen);
		lua_settop(L, 4);
		if (dlen > 0 && luapb_push_image_select(L, data, dlen, 2, plain, spare) == 0) {
			lua_pushboolean(L, 1);
			return 2;
		}
		lua_settop(L, 4);
		struct img *img = laux_imgbox(L);
		struct err e;
		if (img_decode_named(path, data, dlen, img, &e) < 0)
			return laux_fail(L, "%s: %s", path, e.msg);
		luapb_push_image(L, img);
		img_free(img);
		lua_pushboolean(L, 0);
		return 2;
	}
	lua_settop(L, 3);
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO must not hang */
	if (fd < 0 && errno == ENOENT) {
		luaL_pushfail(L);
		lua_pushfstring(L, "%s: no such image in the checkpoint", path);
		return 2;
	}
	if (fd >= 0) {
		struct stat st;
		size_t len = 0;
		uint8_t *buf = NULL;
		int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
			 st.st_size < (off_t)1 << 30;
		if (ok) {
			/* a userdata, so that the GC frees it whatever raises below */
			buf = lcrit_select_buffer(L, (size_t)st.st_size);
			while (len < (size_t)st.st_size) {
				ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0)
					break;
				len += (size_t)n;
			}
			ok = len == (size_t)st.st_size;
		}
		close(fd);
		if (ok && luapb_push_image_select(L, buf, len, 2, plain, spare) == 0) {
			lua_pushboolean(L, 1);
			return 2;
		}
		lua_settop(L, 3);
	}
	struct img *img = laux_imgbox(L);
	struct err e;
	if (img_load(path, img, &e) < 0)
		return laux_fail(L, "%s", e.msg);
	luapb_push_image(L, img);
	img_free(img);
	lua_pushboolean(L, 0);
	return 2;
}

/* crit.encode(img, [name]) -> bytes; name (default "encode") starts errors */
static int lcrit_encode(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	const char *name = luaL_optstring(L, 2, "encode");
	struct img *img = laux_imgbox(L);
	luapb_to_image(L, 1, img, name);
	struct buf b = { 0 };
	struct err e;
	if (img_encode(img, &b, &e) < 0) {
		buf_free(&b);
		lcrit_push_lua_path_error(L, name, e.msg);
		return lua_error(L);
	}
	lua_pushlstring(L, (const char *)b.p, b.len);
	buf_free(&b);
	img_free(img);
	return 1;
}

/* crit.save(img, [path]) -> true; atomic: the old file stays on failure.
 * Into a checkpoint directory: through its transaction (txn_write_path). */
static int lcrit_save(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	const char *path = luaL_optstring(L, 2, NULL);
	if (!path) {
		lua_getfield(L, 1, "path");
		path = lua_tostring(L, -1);
		if (!path)
			return luaL_argerror(L, 2, "a file name is needed: the image was not loaded "
						   "from a file");
	}
	struct img *img = laux_imgbox(L);
	luapb_to_image(L, 1, img, path);
	struct err e;
	fflush(stdout); /* "-" writes to fd 1 directly: keep print()'s output first */
	struct buf b = { 0 };
	int rc = img_encode(img, &b, &e);
	if (rc == 0)
		rc = txn_write_path(path, b.p, b.len, &e);
	buf_free(&b);
	if (rc < 0 && strncmp(e.msg, path, strlen(path)) != 0)
		err_prefix(&e, "%s", path);
	if (rc < 0) {
		/* e is "path: entries[0]...": the path once */
		size_t pl = strlen(path);
		if (strncmp(e.msg, path, pl) == 0 && strncmp(e.msg + pl, ": ", 2) == 0)
			lcrit_push_lua_path_error(L, path, e.msg + pl + 2);
		else
			lua_pushstring(L, e.msg);
		return lua_error(L);
	}
	img_free(img);
	lua_pushboolean(L, 1);
	return 1;
}

/* crit.new(typename, [init]) -> typed table */
static int lcrit_new(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const ProtobufCMessageDescriptor *d = schema_message(name);
	if (!d)
		return luaL_argerror(L, 1, lua_pushfstring(L, "no message type '%s'", name));
	if (lua_isnoneornil(L, 2)) {
		lua_newtable(L);
		luapb_push_metatable(L, d);
		lua_setmetatable(L, -2);
		return 1;
	}
	luaL_checktype(L, 2, LUA_TTABLE);
	luapb_new(L, 2, d);
	return 1;
}

/* crit.typeof(v) -> "vma_entry" | "image" | nil */
static int lcrit_typeof(lua_State *L)
{
	const ProtobufCMessageDescriptor *d = luapb_typeof(L, 1);
	if (d) {
		lua_pushstring(L, d->name);
		return 1;
	}
	if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
		luaL_getmetatable(L, LUAPB_IMAGE_MT);
		if (lua_rawequal(L, -1, -2)) {
			lua_pushliteral(L, "image");
			return 1;
		}
	}
	lua_pushnil(L);
	return 1;
}

/* crit.unknown(t, [bytes]) -> the wire bytes of fields the schema does not
 * know that t carries (nil when none); with bytes, replaces them. */
static int lcrit_unknown(lua_State *L)
{
	if (!luapb_typeof(L, 1))
		return luaL_argerror(L, 1, "a typed message table expected");
	if (lua_gettop(L) >= 2) {
		if (!lua_isnil(L, 2))
			luaL_checktype(L, 2, LUA_TSTRING);
		lua_settop(L, 2);
		if (lua_isstring(L, 2) && lua_rawlen(L, 2) == 0) {
			lua_pop(L, 1);
			lua_pushnil(L);
		}
		luapb_set_unknown(L, 1);
		return 0;
	}
	luapb_push_unknown(L, 1);
	return 1;
}

/* ---- schema reflection ---- */

static const char *lcrit_label(ProtobufCLabel l)
{
	switch (l) {
	case PROTOBUF_C_LABEL_REQUIRED:
		return "required";
	case PROTOBUF_C_LABEL_OPTIONAL:
		return "optional";
	case PROTOBUF_C_LABEL_REPEATED:
		return "repeated";
	default:
		return "none";
	}
}

static void lcrit_push_default(lua_State *L, const ProtobufCFieldDescriptor *f)
{
	const void *p = f->default_value;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		lua_pushinteger(L, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		lua_pushinteger(L, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		lua_pushinteger(L, (lua_Integer) * (const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		lua_pushnumber(L, *(const float *)p);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		lua_pushnumber(L, *(const double *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		lua_pushboolean(L, *(const protobuf_c_boolean *)p);
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const char *n = luapb_enum_name(f->descriptor, *(const int *)p);
		if (n)
			lua_pushstring(L, n);
		else
			lua_pushinteger(L, *(const int *)p);
		break;
	}
	case PROTOBUF_C_TYPE_STRING:
		lua_pushstring(L, p);
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		lua_pushlstring(L, (const char *)b->data, b->len);
		break;
	}
	default:
		lua_pushnil(L);
	}
}

static void lcrit_push_opts(lua_State *L, const struct field_opts *o)
{
	lua_newtable(L);
	if (o->hex)
		lua_pushboolean(L, 1), lua_setfield(L, -2, "hex");
	if (o->ipadd)
		lua_pushboolean(L, 1), lua_setfield(L, -2, "ipadd");
	if (o->dev)
		lua_pushboolean(L, 1), lua_setfield(L, -2, "dev");
	if (o->odev)
		lua_pushboolean(L, 1), lua_setfield(L, -2, "odev");
	if (o->flags)
		lua_pushstring(L, o->flags), lua_setfield(L, -2, "flags");
	if (o->dict)
		lua_pushstring(L, o->dict), lua_setfield(L, -2, "dict");
	if (o->conv)
		lua_pushstring(L, o->conv), lua_setfield(L, -2, "conv");
}

static void lcrit_push_fields(lua_State *L, const ProtobufCMessageDescriptor *d)
{
	lua_createtable(L, (int)d->n_fields, 0);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		lua_createtable(L, 0, 7);
		lua_pushstring(L, f->name);
		lua_setfield(L, -2, "name");
		lua_pushinteger(L, f->id);
		lua_setfield(L, -2, "number");
		lua_pushstring(L, lcrit_label(f->label));
		lua_setfield(L, -2, "label");
		lua_pushstring(L, schema_type_name(f->type));
		lua_setfield(L, -2, "type");
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			lua_pushstring(L, ((const ProtobufCMessageDescriptor *)f->descriptor)->name);
			lua_setfield(L, -2, "type_name");
		} else if (f->type == PROTOBUF_C_TYPE_ENUM) {
			lua_pushstring(L, ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
			lua_setfield(L, -2, "type_name");
		}
		if (f->default_value) {
			lcrit_push_default(L, f);
			lua_setfield(L, -2, "default");
		}
		const struct field_opts *o = schema_field_opts(d, i);
		if (o) {
			lcrit_push_opts(L, o);
			lua_setfield(L, -2, "criu");
		}
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
}

/* crit.schema() -> {messages = {{name=, fields=}...}, enums = {{name=, values=}...}} */
static int lcrit_schema(lua_State *L)
{
	lua_createtable(L, 0, 2);
	lua_newtable(L);
	for (size_t i = 0; schema_messages[i]; i++) {
		const ProtobufCMessageDescriptor *d = schema_messages[i];
		lua_createtable(L, 0, 2);
		lua_pushstring(L, d->name);
		lua_setfield(L, -2, "name");
		lcrit_push_fields(L, d);
		lua_setfield(L, -2, "fields");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "messages");
	lua_newtable(L);
	for (size_t i = 0; schema_enums[i]; i++) {
		const ProtobufCEnumDescriptor *ed = schema_enums[i];
		lua_createtable(L, 0, 2);
		lua_pushstring(L, ed->name);
		lua_setfield(L, -2, "name");
		lua_createtable(L, (int)ed->n_values, 0);
		for (unsigned k = 0; k < ed->n_values; k++) {
			lua_createtable(L, 0, 2);
			lua_pushstring(L, ed->values[k].name);
			lua_setfield(L, -2, "name");
			lua_pushinteger(L, ed->values[k].value);
			lua_setfield(L, -2, "number");
			lua_rawseti(L, -2, (lua_Integer)k + 1);
		}
		lua_setfield(L, -2, "values");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "enums");
	return 1;
}

static const char *lcrit_payload_name(enum payload_kind k)
{
	switch (k) {
	case PL_NONE:
		return NULL;
	case PL_PAGEMAP:
		return "pagemap";
	case PL_GHOST:
		return "ghost";
	case PL_PIPE_DATA:
		return "pipe_data";
	case PL_SK_QUEUE:
		return "sk_queue";
	case PL_TCP_STREAM:
		return "tcp_stream";
	case PL_BPFMAP:
		return "bpfmap";
	case PL_IPC_SEM:
		return "ipc_sem";
	case PL_IPC_MSG:
		return "ipc_msg";
	case PL_IPC_SHM:
		return "ipc_shm";
	}
	return NULL;
}

/* crit.magics() -> every image type: {name=, magic=, message=, message2=, payload=, files=} */
static int lcrit_magics(lua_State *L)
{
	lua_newtable(L);
	for (size_t i = 0; magic_table[i].name; i++) {
		const struct magic_info *mi = &magic_table[i];
		lua_createtable(L, 0, 6);
		lua_pushstring(L, mi->name);
		lua_setfield(L, -2, "name");
		lua_pushinteger(L, mi->magic);
		lua_setfield(L, -2, "magic");
		lua_pushstring(L, mi->message);
		lua_setfield(L, -2, "message");
		if (mi->message2) {
			lua_pushstring(L, mi->message2);
			lua_setfield(L, -2, "message2");
		}
		if (lcrit_payload_name(mi->payload)) {
			lua_pushstring(L, lcrit_payload_name(mi->payload));
			lua_setfield(L, -2, "payload");
		}
		lua_pushstring(L, mi->files);
		lua_setfield(L, -2, "files");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int lcrit_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* crit.write_file(path, data): atomic, like crit.save (mode kept, old file
 * untouched on failure; into a checkpoint directory through its transaction) */
static int lcrit_write_file(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	size_t len;
	const char *data = luaL_checklstring(L, 2, &len);
	struct err e;
	fflush(stdout); /* "-" writes to fd 1 directly: keep print()'s output first */
	if (txn_write_path(path, data, len, &e) < 0) {
		if (strncmp(e.msg, path, strlen(path)) == 0)
			return laux_fail(L, "%s", e.msg);
		return laux_fail(L, "%s: %s", path, e.msg);
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* crit.dir(path) -> sorted names of the entries of a directory (no . and ..) */
static int lcrit_dir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	DIR *dir = opendir(path);
	if (!dir)
		return laux_fail(L, "%s: %s", path, strerror(errno));
	size_t n = 0, cap = 64;
	char **names = xmalloc(cap * sizeof *names);
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap)
			names = xrealloc(names, (cap *= 2) * sizeof *names);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dir);
	qsort(names, n, sizeof *names, lcrit_cmp_names);
	/* Copy into Lua first, free after: no Lua error can cut in between. */
	luaL_checkstack(L, 2, NULL);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, names[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return 1;
}

/* crit.raw_kind(name) -> sentence | nil: what a file of a dump with no magic
 * is, by its name alone (pages-*.img, ip dumps, tmpfs archives, ...): the
 * rule crit.load refuses raw files by. */
/* crit.hex(v, [width]) -> string.format("%0<width>x", v) for 0 <= width <= 16:
 * v as unsigned 64 bits, in lowercase hex. Views print tens of thousands of
 * addresses, where string.format's buffer and snprintf per number were most
 * of their time. */
static int lcrit_hex(lua_State *L)
{
	lua_Integer v = luaL_checkinteger(L, 1), width = luaL_optinteger(L, 2, 0);
	luaL_argcheck(L, width >= 0 && width <= 16, 2, "a width from 0 to 16 expected");
	char d[16];
	lua_pushlstring(L, d, tc_hex_pad(d, (uint64_t)v, (unsigned)width));
	return 1;
}

static int lcrit_raw_kind(lua_State *L)
{
	static const uint8_t some = 0; /* a file with data: the name decides */
	const char *raw = img_raw_kind(luaL_checkstring(L, 1), &some, 1);
	if (!raw)
		return 0;
	lua_pushstring(L, raw);
	return 1;
}

/* crit._raw(path) -> text [, damage]: the image in wire form, for show --raw,
 * and the first damage found in it (file, entry, offset), if any. Raises when
 * the file cannot be read. */
static int lcrit_raw(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct buf b = { 0 };
	struct err e;
	int rc = rawdump_image(path, &b, &e);
	if (rc < 0) {
		buf_free(&b);
		return laux_fail(L, "%s", e.msg);
	}
	lua_pushlstring(L, (const char *)b.p, b.len);
	buf_free(&b);
	if (rc > 0) {
		lua_pushstring(L, e.msg);
		return 2;
	}
	return 1;
}

static const luaL_Reg lcrit_image_funcs[] = {
	{ "load", lcrit_load },       { "save", lcrit_save },     { "decode", lcrit_decode },
	{ "encode", lcrit_encode },   { "new", lcrit_new },       { "typeof", lcrit_typeof },
	{ "unknown", lcrit_unknown }, { "schema", lcrit_schema }, { "magics", lcrit_magics },
	{ "dir", lcrit_dir },         { "write_file", lcrit_write_file },
	{ "raw_kind", lcrit_raw_kind }, { "_select", lcrit_select },
	{ "_raw", lcrit_raw },        { "hex", lcrit_hex },
	{ NULL, NULL },
};

void limage_open(lua_State *L)
{
	luaL_setfuncs(L, lcrit_image_funcs, 0);
	/* Image tables: img:save(path) and img:encode() as methods. */
	if (luaL_newmetatable(L, LUAPB_IMAGE_MT)) {
		lua_createtable(L, 0, 2);
		lua_pushcfunction(L, lcrit_save);
		lua_setfield(L, -2, "save");
		lua_pushcfunction(L, lcrit_encode);
		lua_setfield(L, -2, "encode");
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	lua_pushliteral(L, CRITLUA_VERSION);
	lua_setfield(L, -2, "version");
}

