/* lua2pb.c: typed or plain Lua tables -> protobuf-c messages and images.
 * Every value is checked against the descriptor; an error names the path of
 * the bad value counting from 0, as jq over decode's JSON does and every
 * command says (entries[1].vmas[6].prot is img.entries[2].vmas[7].prot). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "laux.h"
#include "xalloc.h"
#include "luapb.h"
#include "pbset.h"
#include "pbwire.h"
#include "schema.h"

#define L2P_MAX_DEPTH 100
#define L2P_GUARD_MT "crit.lua2pb.guard"

/* What is being built, owned by a userdata on the Lua stack so that an error
 * raised half-way frees it (__gc); the result is taken out on success.
 * Everything allocated is linked into it at once, in a state that
 * protobuf_c_message_free_unpacked / img_free can free. */
struct l2p_guard {
	ProtobufCMessage *msg;
	struct img img;
};

struct l2p {
	lua_State *L;
	const char *what; /* prefix of error messages, or NULL */
	char path[512];
	size_t plen;
};

static int l2p_guard_gc(lua_State *L)
{
	struct l2p_guard *g = luaL_checkudata(L, 1, L2P_GUARD_MT);
	if (g->msg)
		protobuf_c_message_free_unpacked(g->msg, NULL);
	img_free(&g->img);
	g->msg = NULL;
	return 0;
}

static struct l2p_guard *l2p_new_guard(lua_State *L)
{
	return laux_box(L, sizeof(struct l2p_guard), L2P_GUARD_MT, l2p_guard_gc);
}

__attribute__((format(printf, 2, 3), noreturn)) static void l2p_error(struct l2p *c,
									const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	lua_pushfstring(c->L, "%s%s%s%s%s", c->what ? c->what : "", c->what ? ": " : "", c->path,
			c->plen ? ": " : "", msg);
	lua_error(c->L);
	abort(); /* not reached: lua_error does not return */
}

/* Path segments: push returns the old length to pop back to. They are made
 * for every field of every entry, so without printf (which showed as a tenth
 * of the time of crit.json.encode of a typed image); a path too long for the
 * buffer is cut. */
static void l2p_path_add(struct l2p *c, const char *s, size_t n)
{
	size_t room = sizeof c->path - 1 - c->plen;
	if (n > room)
		n = room;
	memcpy(c->path + c->plen, s, n);
	c->plen += n;
	c->path[c->plen] = 0;
}

static size_t l2p_push_name(struct l2p *c, const char *name)
{
	size_t old = c->plen;
	if (c->plen)
		l2p_path_add(c, ".", 1);
	l2p_path_add(c, name, strlen(name));
	return old;
}

static size_t l2p_push_index(struct l2p *c, lua_Integer i)
{
	size_t old = c->plen;
	char t[24], *p = t + sizeof t;
	unsigned long long v = i < 0 ? 0 - (unsigned long long)i : (unsigned long long)i;
	*--p = ']';
	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	if (i < 0)
		*--p = '-';
	*--p = '[';
	l2p_path_add(c, p, (size_t)(t + sizeof t - p));
	return old;
}

static void l2p_pop(struct l2p *c, size_t old)
{
	c->plen = old;
	c->path[old] = 0;
}

/* "a string", "a vma_entry table", for error messages. */
static const char *l2p_describe(lua_State *L, int idx)
{
	const ProtobufCMessageDescriptor *d = luapb_typeof(L, idx);
	if (d)
		return lua_pushfstring(L, "a %s table", d->name);
	int t = lua_type(L, idx);
	if (t == LUA_TNUMBER)
		return lua_isinteger(L, idx) ? "an integer" : "a float";
	if (t == LUA_TNIL || t == LUA_TNONE)
		return "nil";
	const char *n = lua_typename(L, t);
	return lua_pushfstring(L, "%s %s", strchr("aeiou", n[0]) ? "an" : "a", n);
}

/* An integer Lua value at idx into integer or enum field f at p (pbset
 * checks the range). */
static int l2p_num(struct l2p *c, int idx, const ProtobufCFieldDescriptor *f, void *p, struct err *e)
{
	lua_State *L = c->L;
	if (lua_type(L, idx) != LUA_TNUMBER)
		l2p_error(c, "expected an integer (%s), got %s", schema_type_name(f->type), l2p_describe(L, idx));
	int ok;
	lua_Integer i = lua_tointegerx(L, idx, &ok);
	if (!ok)
		l2p_error(c, "%s is not an integer (%s)", lua_tostring(L, idx), schema_type_name(f->type));
	struct pbset_num v;
	if (f->type == PROTOBUF_C_TYPE_UINT64 || f->type == PROTOBUF_C_TYPE_FIXED64) {
		v.neg = 0; /* negative: the value above 2^63 pb2lua wrapped */
		v.mag = (uint64_t)i;
	} else {
		v.neg = i < 0;
		v.mag = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
	}
	return pbset_store_num(f, &v, p, e);
}

/* The scalar value at idx into field f's storage p (not messages): its Lua
 * type is checked here, the rest by src/core/pbset.h, as for JSON. */
static void l2p_scalar(struct l2p *c, int idx, const ProtobufCFieldDescriptor *f, void *p)
{
	lua_State *L = c->L;
	struct err e;
	int rc = 0;
	size_t len;
	switch (f->type) {
	case PROTOBUF_C_TYPE_ENUM:
		if (lua_type(L, idx) == LUA_TSTRING) {
			rc = pbset_enum_name(f, lua_tostring(L, idx), p, &e);
			break;
		}
		if (lua_type(L, idx) != LUA_TNUMBER)
			l2p_error(c, "expected an enum %s name or number, got %s",
				  ((const ProtobufCEnumDescriptor *)f->descriptor)->name, l2p_describe(L, idx));
		rc = l2p_num(c, idx, f, p, &e);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		if (lua_type(L, idx) != LUA_TNUMBER)
			l2p_error(c, "expected a number (%s), got %s", schema_type_name(f->type),
				  l2p_describe(L, idx));
		pbset_double(f, lua_tonumber(L, idx), p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		if (lua_type(L, idx) != LUA_TBOOLEAN)
			l2p_error(c, "expected a boolean, got %s", l2p_describe(L, idx));
		pbset_bool(lua_toboolean(L, idx), p);
		break;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES: {
		if (lua_type(L, idx) != LUA_TSTRING)
			l2p_error(c, "expected a string (%s), got %s", schema_type_name(f->type),
				  l2p_describe(L, idx));
		const char *s = lua_tolstring(L, idx, &len);
		if (f->type == PROTOBUF_C_TYPE_STRING)
			rc = pbset_string(s, len, p, &e);
		else if (pbset_bytes(s, len, p) < 0)
			xoom();
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		break;
	default:
		rc = l2p_num(c, idx, f, p, &e);
		break;
	}
	if (rc < 0)
		l2p_error(c, "%s", e.msg);
}

static ProtobufCMessage *l2p_alloc(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = xmalloc(d->sizeof_message);
	d->message_init(m);
	return m;
}


static void l2p_fill(struct l2p *c, int idx, const ProtobufCMessageDescriptor *d,
		     ProtobufCMessage *m, int depth, int allow_extra);

/* The length of a table that must be a sequence (keys exactly 1..n). */
static size_t l2p_sequence(struct l2p *c, int idx)
{
	lua_State *L = c->L;
	if (lua_type(L, idx) != LUA_TTABLE || luapb_typeof(L, idx))
		l2p_error(c, "expected a sequence (a table with keys 1..n), got %s",
			  l2p_describe(L, idx));
	size_t n = lua_rawlen(L, idx), keys = 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		keys++;
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
		    (lua_Unsigned)lua_tointeger(L, -1) > n)
			l2p_error(c, "expected a sequence (a table with keys 1..n), got a table with "
				     "the key %s",
				  luaL_tolstring(L, -1, NULL));
	}
	if (keys != n)
		l2p_error(c, "expected a sequence (a table with keys 1..n), got one with holes");
	return n;
}

/* Store the value at idx into field f's storage p (one element). */
static void l2p_value(struct l2p *c, int idx, const ProtobufCFieldDescriptor *f, void *p,
		      int depth)
{
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		ProtobufCMessage *sub = l2p_alloc(f->descriptor);
		*(ProtobufCMessage **)p = sub; /* linked first: freed with the root on error */
		l2p_fill(c, idx, f->descriptor, sub, depth + 1, 0);
		return;
	}
	l2p_scalar(c, idx, f, p);
}

static void l2p_field(struct l2p *c, int idx, const ProtobufCFieldDescriptor *f,
		      ProtobufCMessage *m, int depth)
{
	lua_State *L = c->L;
	char *base = (char *)m;
	if (f->label != PROTOBUF_C_LABEL_REPEATED) {
		l2p_value(c, idx, f, base + f->offset, depth);
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE)
			*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
		return;
	}
	size_t n = l2p_sequence(c, idx), sz = schema_elem_size(f->type);
	if (!n)
		return; /* {} is an empty repeated field, as nil is */
	char *arr = xcalloc(n, sz);
	*(void **)(base + f->offset) = arr;
	for (size_t k = 0; k < n; k++) {
		size_t old = l2p_push_index(c, (lua_Integer)k);
		lua_rawgeti(L, idx, (lua_Integer)k + 1);
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			/* counted in only once allocated: free_unpacked follows the pointers */
			ProtobufCMessage *sub = l2p_alloc(f->descriptor);
			((ProtobufCMessage **)arr)[k] = sub;
			*(size_t *)(base + f->quantifier_offset) = k + 1;
			l2p_fill(c, -1, f->descriptor, sub, depth + 1, 0);
		} else {
			*(size_t *)(base + f->quantifier_offset) = k + 1; /* zeroed: frees cleanly */
			l2p_value(c, -1, f, arr + k * sz, depth);
		}
		lua_pop(L, 1);
		l2p_pop(c, old);
	}
}

/* Scan the wire bytes of unknown fields kept by pb2lua back into m. */
static void l2p_unknown(struct l2p *c, int idx, ProtobufCMessage *m)
{
	lua_State *L = c->L;
	luapb_push_unknown(L, idx);
	if (lua_type(L, -1) != LUA_TSTRING) {
		lua_pop(L, 1);
		return;
	}
	size_t len;
	const uint8_t *p = (const uint8_t *)lua_tolstring(L, -1, &len);
	/* Two passes: count, then fill an array of the right size. */
	for (int pass = 0; pass < 2; pass++) {
		size_t count = 0;
		const uint8_t *at = p, *end = p + len;
		while (at < end) {
			struct pbw_frame fr;
			size_t off = (size_t)(at - p);
			if (pbw_frame(&at, end, &fr) < 0 || fr.tag >> 3 == 0 || fr.tag >> 3 > UINT32_MAX)
				l2p_error(c, "the kept unknown fields are damaged at byte %zu", off);
			if (pass == 1) {
				ProtobufCMessageUnknownField *u = &m->unknown_fields[count];
				u->tag = (uint32_t)(fr.tag >> 3);
				u->wire_type = (ProtobufCWireType)fr.wt;
				u->len = (size_t)(at - fr.val);
				u->data = xmalloc(u->len);
				memcpy(u->data, fr.val, u->len);
				m->n_unknown_fields = (unsigned)count + 1;
			}
			count++;
		}
		if (!count)
			break;
		if (pass == 0)
			m->unknown_fields = xcalloc(count, sizeof *m->unknown_fields);
	}
	lua_pop(L, 1);
}

/* Every key of the table at idx must name a field of d (or be the payload). */
static void l2p_check_names(struct l2p *c, int idx, const ProtobufCMessageDescriptor *d,
			    int allow_extra)
{
	lua_State *L = c->L;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (lua_type(L, -1) == LUA_TSTRING) {
			const char *k = lua_tostring(L, -1);
			if (protobuf_c_message_descriptor_get_field_by_name(d, k))
				continue;
			if (strcmp(k, "extra") == 0) {
				if (allow_extra)
					continue;
				l2p_error(c, "a %s has no payload (extra) here", d->name);
			}
			l2p_error(c, "no field '%s' in %s", k, d->name);
		}
		l2p_error(c, "no field [%s] in %s: its fields have names",
			  luaL_tolstring(L, -1, NULL), d->name);
	}
}

static void l2p_check_table(struct l2p *c, int idx, const ProtobufCMessageDescriptor *d,
			    int depth)
{
	lua_State *L = c->L;
	if (depth > L2P_MAX_DEPTH)
		l2p_error(c, "tables nested deeper than %d levels (a table that contains itself?)",
			  L2P_MAX_DEPTH);
	luaL_checkstack(L, 8, "tables nested too deep");
	if (lua_type(L, idx) != LUA_TTABLE)
		l2p_error(c, "expected a %s table, got %s", d->name, l2p_describe(L, idx));
	const ProtobufCMessageDescriptor *td = luapb_typeof(L, idx);
	if (td && td != d)
		l2p_error(c, "expected a %s table, got a %s table", d->name, td->name);
}

/* Fill m (of type d, fresh from message_init) from the table at idx. */
static void l2p_fill(struct l2p *c, int idx, const ProtobufCMessageDescriptor *d,
		     ProtobufCMessage *m, int depth, int allow_extra)
{
	lua_State *L = c->L;
	idx = lua_absindex(L, idx);
	l2p_check_table(c, idx, d, depth);
	/* Names first: a misspelt name is the likeliest mistake, and it would
	 * otherwise show up as a missing required field. */
	l2p_check_names(c, idx, d, allow_extra);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		size_t old = l2p_push_name(c, f->name);
		lua_pushstring(L, f->name);
		if (lua_rawget(L, idx) != LUA_TNIL)
			l2p_field(c, lua_gettop(L), f, m, depth);
		else if (f->label == PROTOBUF_C_LABEL_REQUIRED)
			l2p_error(c, "required field is missing");
		lua_pop(L, 1);
		l2p_pop(c, old);
	}
	l2p_unknown(c, idx, m);
}

ProtobufCMessage *luapb_to_message(lua_State *L, int idx, const ProtobufCMessageDescriptor *d,
				   const char *what)
{
	struct l2p c = { .L = L, .what = what };
	idx = lua_absindex(L, idx);
	struct l2p_guard *g = l2p_new_guard(L);
	g->msg = l2p_alloc(d);
	l2p_fill(&c, idx, d, g->msg, 0, 0);
	ProtobufCMessage *m = g->msg;
	g->msg = NULL;
	lua_pop(L, 1);
	return m;
}

/* ---- images: entries with their payloads ---- */

static uint64_t l2p_uint_field(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	if (!f || f->label == PROTOBUF_C_LABEL_REPEATED)
		return 0;
	const char *base = (const char *)m;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && !*(const protobuf_c_boolean *)(base + f->quantifier_offset))
		return 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT32:
		return *(const uint32_t *)(base + f->offset);
	case PROTOBUF_C_TYPE_UINT64:
		return *(const uint64_t *)(base + f->offset);
	default:
		return 0;
	}
}

static const char *l2p_string(struct l2p *c, int idx, size_t *len)
{
	if (lua_type(c->L, idx) != LUA_TSTRING)
		l2p_error(c, "expected a string, got %s", l2p_describe(c->L, idx));
	return lua_tolstring(c->L, idx, len);
}

static void l2p_set_extra(struct img_entry *en, const char *p, size_t n)
{
	en->extra = xmalloc(n);
	memcpy(en->extra, p, n);
	en->extra_len = n;
	en->has_extra = 1;
}

/* The payload at idx (the entry's `extra`, not nil) into en. */
static void l2p_payload(struct l2p *c, int idx, const struct magic_info *mi, struct img_entry *en)
{
	lua_State *L = c->L;
	size_t len;
	const char *s;
	switch (mi->payload) {
	case PL_NONE:
	case PL_PAGEMAP:
		l2p_error(c, "a %s image has no payload", mi->name);
	case PL_TCP_STREAM: {
		if (lua_type(L, idx) != LUA_TTABLE)
			l2p_error(c, "expected a table {inq = string, outq = string}, got %s",
				  l2p_describe(L, idx));
		size_t inq_len, outq_len;
		size_t old = l2p_push_name(c, "inq");
		lua_getfield(L, idx, "inq");
		const char *inq = l2p_string(c, -1, &inq_len);
		l2p_pop(c, old);
		l2p_push_name(c, "outq");
		lua_getfield(L, idx, "outq");
		const char *outq = l2p_string(c, -1, &outq_len);
		l2p_pop(c, old);
		/* img_write_entry checks the sum; each queue must match its own length. */
		uint64_t want_in = l2p_uint_field(en->msg, "inq_len");
		uint64_t want_out = l2p_uint_field(en->msg, "outq_len");
		if (inq_len != want_in)
			l2p_error(c, "inq holds %zu bytes, but inq_len says %llu", inq_len,
				  (unsigned long long)want_in);
		if (outq_len != want_out)
			l2p_error(c, "outq holds %zu bytes, but outq_len says %llu", outq_len,
				  (unsigned long long)want_out);
		en->extra = xmalloc(inq_len + outq_len);
		memcpy(en->extra, inq, inq_len);
		memcpy(en->extra + inq_len, outq, outq_len);
		en->extra_len = inq_len + outq_len;
		en->has_extra = 1;
		lua_pop(L, 2);
		break;
	}
	case PL_IPC_SEM: {
		size_t n = l2p_sequence(c, idx);
		en->extra = xmalloc(n * 2);
		en->extra_len = n * 2;
		en->has_extra = 1;
		for (size_t k = 0; k < n; k++) {
			size_t old = l2p_push_index(c, (lua_Integer)k);
			lua_rawgeti(L, idx, (lua_Integer)k + 1);
			int ok;
			lua_Integer v = lua_tointegerx(L, -1, &ok);
			if (lua_type(L, -1) != LUA_TNUMBER || !ok)
				l2p_error(c, "expected an integer (a semaphore value), got %s",
					  l2p_describe(L, -1));
			if (v < 0 || v > 0xffff)
				l2p_error(c, "%lld is out of range for a semaphore value (0..65535)",
					  (long long)v);
			en->extra[2 * k] = (uint8_t)(v & 0xff);
			en->extra[2 * k + 1] = (uint8_t)(v >> 8);
			lua_pop(L, 1);
			l2p_pop(c, old);
		}
		break;
	}
	case PL_IPC_MSG: {
		const ProtobufCMessageDescriptor *d = schema_message("ipc_msg");
		size_t n = l2p_sequence(c, idx);
		if (!d)
			l2p_error(c, "no ipc_msg message type in the compiled schema");
		en->items = xcalloc(n ? n : 1, sizeof *en->items);
		for (size_t k = 0; k < n; k++) {
			size_t old = l2p_push_index(c, (lua_Integer)k);
			lua_rawgeti(L, idx, (lua_Integer)k + 1);
			if (lua_type(L, -1) != LUA_TTABLE || luapb_typeof(L, -1))
				l2p_error(c, "expected a table {msg = ipc_msg, data = string}, got %s",
					  l2p_describe(L, -1));
			lua_pushnil(L);
			while (lua_next(L, -2)) {
				lua_pop(L, 1);
				const char *k2 = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
				if (strcmp(k2, "msg") != 0 && strcmp(k2, "data") != 0)
					l2p_error(c, "unexpected key %s (a message item has msg and data)",
						  luaL_tolstring(L, -1, NULL));
			}
			struct ipc_msg_item *it = &en->items[k];
			en->n_items = k + 1;
			size_t o2 = l2p_push_name(c, "msg");
			lua_getfield(L, -1, "msg");
			it->msg = l2p_alloc(d);
			l2p_fill(c, -1, d, it->msg, 1, 0);
			lua_pop(L, 1);
			l2p_pop(c, o2);
			l2p_push_name(c, "data");
			lua_getfield(L, -1, "data");
			s = l2p_string(c, -1, &len);
			it->data = xmalloc(len);
			memcpy(it->data, s, len);
			it->len = len;
			lua_pop(L, 2);
			l2p_pop(c, old);
		}
		break;
	}
	default:
		s = l2p_string(c, idx, &len);
		l2p_set_extra(en, s, len);
		break;
	}
}

/* The entry table at idx as message d with its payload (extra) into en, an
 * entry of the guard's image (so that an error frees what was built). */
static void l2p_entry(struct l2p *c, int idx, const struct magic_info *mi,
		      const ProtobufCMessageDescriptor *d, struct img_entry *en)
{
	lua_State *L = c->L;
	en->msg = l2p_alloc(d);
	l2p_fill(c, idx, d, en->msg, 0, 1);
	size_t old = l2p_push_name(c, "extra");
	lua_getfield(L, idx, "extra");
	if (!lua_isnil(L, -1))
		l2p_payload(c, lua_gettop(L), mi, en);
	l2p_pop(c, old);
	lua_pop(L, 1);
}

static enum img_form l2p_form(struct l2p *c, int idx, const struct magic_info *mi)
{
	lua_State *L = c->L;
	if (lua_isnil(L, idx))
		return mi->head;
	const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : "";
	if (strcmp(s, "common") == 0)
		return FORM_COMMON;
	if (strcmp(s, "service") == 0)
		return FORM_SERVICE;
	if (strcmp(s, "bare") == 0)
		return FORM_BARE;
	l2p_error(c, "expected \"common\", \"service\" or \"bare\", got %s",
		  lua_type(L, idx) == LUA_TSTRING ? lua_pushfstring(L, "\"%s\"", s) : l2p_describe(L, idx));
}

void luapb_to_image(lua_State *L, int idx, struct img *out, const char *what)
{
	struct l2p c = { .L = L, .what = what };
	idx = lua_absindex(L, idx);
	memset(out, 0, sizeof *out);
	if (lua_type(L, idx) != LUA_TTABLE)
		l2p_error(&c, "expected an image table {magic = NAME, entries = {...}}, got %s",
			  l2p_describe(L, idx));
	struct l2p_guard *g = l2p_new_guard(L);
	int gi = lua_gettop(L);

	size_t old = l2p_push_name(&c, "magic");
	lua_getfield(L, idx, "magic");
	if (lua_type(L, -1) != LUA_TSTRING)
		l2p_error(&c, "expected an image type name such as \"CORE\", got %s",
			  l2p_describe(L, -1));
	const struct magic_info *mi = magic_by_name(lua_tostring(L, -1));
	if (!mi)
		l2p_error(&c, "unknown image type \"%s\"", lua_tostring(L, -1));
	if (!mi->desc || (mi->message2 && !mi->desc2))
		l2p_error(&c, "%s: no message type %s in the compiled schema", mi->name, mi->message);
	l2p_pop(&c, old);
	g->img.mi = mi;

	l2p_push_name(&c, "form");
	lua_getfield(L, idx, "form");
	g->img.form = l2p_form(&c, -1, mi);
	l2p_pop(&c, old);

	l2p_push_name(&c, "entries");
	lua_getfield(L, idx, "entries");
	int ei = lua_gettop(L);
	size_t n = l2p_sequence(&c, ei);
	for (size_t k = 0; k < n; k++) {
		size_t o2 = l2p_push_index(&c, (lua_Integer)k);
		lua_rawgeti(L, ei, (lua_Integer)k + 1);
		int en_idx = lua_gettop(L);
		struct img_entry *en = img_add_entry(&g->img);
		if (!en)
			xoom();
		l2p_entry(&c, en_idx, mi, img_entry_desc(mi, k, &g->img.entries[0]), en);
		lua_pop(L, 1);
		l2p_pop(&c, o2);
	}
	*out = g->img; /* the caller owns it now */
	memset(&g->img, 0, sizeof g->img);
	lua_settop(L, gi - 1);
}

void luapb_to_entry(lua_State *L, int idx, const struct magic_info *mi,
		    const ProtobufCMessageDescriptor *d, struct img_entry *out, const char *what)
{
	struct l2p c = { .L = L, .what = what };
	idx = lua_absindex(L, idx);
	struct l2p_guard *g = l2p_new_guard(L);
	g->img.mi = mi;
	struct img_entry *en = img_add_entry(&g->img);
	if (!en)
		xoom();
	l2p_entry(&c, idx, mi, d, en);
	*out = *en; /* the caller owns it now */
	memset(en, 0, sizeof *en);
	lua_pop(L, 1);
}

/* ---- crit.new: a typed copy, checked but not yet complete ---- */

static void l2p_new_value(struct l2p *c, int idx, const ProtobufCFieldDescriptor *f, int depth);

static void l2p_new_msg(struct l2p *c, int idx, const ProtobufCMessageDescriptor *d, int depth,
			int allow_extra)
{
	lua_State *L = c->L;
	idx = lua_absindex(L, idx);
	l2p_check_table(c, idx, d, depth);
	if (luapb_typeof(L, idx)) {
		lua_pushvalue(L, idx); /* typed already: shared, not copied */
		return;
	}
	l2p_check_names(c, idx, d, allow_extra);
	lua_createtable(L, 0, (int)d->n_fields);
	int out = lua_gettop(L);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		size_t old = l2p_push_name(c, f->name);
		lua_pushstring(L, f->name);
		if (lua_rawget(L, idx) != LUA_TNIL) {
			int v = lua_gettop(L);
			if (f->label == PROTOBUF_C_LABEL_REPEATED) {
				size_t n = l2p_sequence(c, v);
				lua_createtable(L, (int)(n > INT32_MAX ? INT32_MAX : n), 0);
				for (size_t k = 0; k < n; k++) {
					size_t o2 = l2p_push_index(c, (lua_Integer)k);
					lua_rawgeti(L, v, (lua_Integer)k + 1);
					l2p_new_value(c, lua_gettop(L), f, depth);
					lua_rawseti(L, -3, (lua_Integer)k + 1);
					lua_pop(L, 1);
					l2p_pop(c, o2);
				}
			} else {
				l2p_new_value(c, v, f, depth);
			}
			lua_setfield(L, out, f->name);
		}
		lua_pop(L, 1);
		l2p_pop(c, old);
	}
	if (allow_extra) {
		lua_getfield(L, idx, "extra");
		lua_setfield(L, out, "extra");
	}
	luapb_push_metatable(L, d);
	lua_setmetatable(L, out);
}

/* Push the checked (and for messages, typed) form of the value at idx. */
static void l2p_new_value(struct l2p *c, int idx, const ProtobufCFieldDescriptor *f, int depth)
{
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		l2p_new_msg(c, idx, f->descriptor, depth + 1, 0);
		return;
	}
	/* checked as it would be stored, into a scratch copy */
	union {
		uint64_t u;
		double d;
		char *s;
		ProtobufCBinaryData b;
	} tmp = { 0 };
	l2p_scalar(c, idx, f, &tmp);
	if (f->type == PROTOBUF_C_TYPE_STRING)
		free(tmp.s);
	else if (f->type == PROTOBUF_C_TYPE_BYTES)
		free(tmp.b.data);
	lua_pushvalue(c->L, idx);
}

void luapb_new(lua_State *L, int idx, const ProtobufCMessageDescriptor *d)
{
	struct l2p c = { .L = L, .what = NULL };
	l2p_new_msg(&c, idx, d, 0, 1);
}
