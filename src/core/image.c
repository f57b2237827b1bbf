/* image.c: reading and writing CRIU image files — head, magic, size-framed
 * protobuf messages and the payloads some image types put after them.
 * Generic over protobuf-c descriptors; per-type knowledge is in magic.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "schema.h"

static const ProtobufCMessageDescriptor *img_ipc_msg_desc(void)
{
	static const ProtobufCMessageDescriptor *d;
	if (!d)
		d = schema_message("ipc_msg");
	return d;
}

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

/* ---- raw files ---- */

static int name_has_prefix(const char *base, const char *prefix)
{
	return strncmp(base, prefix, strlen(prefix)) == 0;
}

const char *img_raw_kind(const char *path, const uint8_t *buf, size_t len)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (name_has_prefix(base, "pages-"))
		return "raw memory pages (no magic): read them with `critlua mem DIR PID` or "
		       "`critlua grep DIR STRING` (ck:read_memory in Lua); the pagemap-*.img whose "
		       "pages_id names this file says which addresses they hold";
	if (name_has_prefix(base, "tmpfs-"))
		return "a tar.gz archive of a tmpfs mount's contents (no magic): read it with tar -xzf";
	static const char *const nets[][2] = {
		{ "ifaddr-", "network interface addresses as written by `ip addr save` (no magic): "
			     "read them with `ip addr showdump`" },
		{ "route6-", "IPv6 routes as written by `ip -6 route save` (no magic): "
			     "read them with `ip route showdump`" },
		{ "route-", "IPv4 routes as written by `ip route save` (no magic): "
			    "read them with `ip route showdump`" },
		{ "rule-", "routing rules as written by `ip rule save` (no magic): "
			   "read them with `ip rule showdump`" },
		{ "ip6tables-", "IPv6 firewall rules as written by ip6tables-save (no magic): "
				"plain text, read it with cat" },
		{ "iptables-", "IPv4 firewall rules as written by iptables-save (no magic): "
			       "plain text, read it with cat" },
		{ "nftables-", "nftables rules as written by `nft list ruleset` (no magic): "
			       "plain text, read it with cat" },
		{ "netns-ct-", "conntrack entries (no magic): not a protobuf image" },
		{ "netns-exp-", "conntrack expectations (no magic): not a protobuf image" },
	};
	for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
		if (!name_has_prefix(base, nets[i][0]))
			continue;
		if (len == 0)
			return strcmp(nets[i][0], "iptables-") == 0 || strcmp(nets[i][0], "ip6tables-") == 0
				       ? "the file is empty: these rules were saved through nftables "
					 "(nftables-*.img) instead"
				       : "the file is empty: nothing was saved in it";
		return nets[i][1];
	}
	(void)buf;
	return NULL;
}

/* ---- reader ---- */

static uint32_t bswap32(uint32_t v)
{
	return (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
}

static int bad_magic(uint32_t w, struct err *e)
{
	uint32_t s = bswap32(w);
	const struct magic_info *mi = magic_by_value(s);
	if (s == IMG_COMMON_MAGIC || s == IMG_SERVICE_MAGIC || mi)
		return err_set(e, "magic 0x%08x is byte-swapped (%s): the image was written on a "
				  "big-endian host (s390x?) and cannot be read here",
			       w, mi ? mi->name : s == IMG_COMMON_MAGIC ? "IMG_COMMON" : "IMG_SERVICE");
	return err_set(e, "unknown magic 0x%08x: not a CRIU image of a known type", w);
}

int img_reader_init(struct img_reader *r, const uint8_t *buf, size_t len, struct err *e)
{
	memset(r, 0, sizeof *r);
	r->buf = buf;
	r->len = len;
	if (len == 0)
		return err_set(e, "the file is empty: no magic, nothing to decode");
	if (len < 4)
		return err_set(e, "the file is %zu bytes long, too short for a magic", len);
	uint32_t w = get_u32(buf);
	if (w == IMG_COMMON_MAGIC || w == IMG_SERVICE_MAGIC) {
		if (len < 8)
			return err_set(e, "the file ends after the %s head, before the image magic",
				       w == IMG_COMMON_MAGIC ? "IMG_COMMON" : "IMG_SERVICE");
		r->form = w == IMG_COMMON_MAGIC ? FORM_COMMON : FORM_SERVICE;
		w = get_u32(buf + 4);
		r->off = 8;
	} else {
		r->form = FORM_BARE; /* inventory.img, or any image of a v1 dump */
		r->off = 4;
	}
	r->mi = magic_by_value(w);
	if (!r->mi)
		return bad_magic(w, e);
	if (!r->mi->desc || (r->mi->message2 && !r->mi->desc2))
		return err_set(e, "%s: no message type %s in the compiled schema", r->mi->name,
			       r->mi->message);
	return 0;
}

int img_reader_init_located(struct img_reader *r, uint64_t len,
			    int (*fetch)(void *ctx, uint64_t off, void *dst, size_t n, struct err *e),
			    void *ctx, struct err *e)
{
	uint8_t head[8];
	size_t n = len < sizeof head ? (size_t)len : sizeof head;
	if (len > SIZE_MAX)
		return err_set(e, "the file is too big for this machine (%llu bytes)", (unsigned long long)len);
	if (n && fetch(ctx, 0, head, n, e) < 0)
		return -1;
	/* the head and magic are parsed from the first bytes alone */
	if (img_reader_init(r, head, (size_t)len, e) < 0)
		return -1;
	r->buf = NULL;
	r->fetch = fetch;
	r->fetch_ctx = ctx;
	return 0;
}

void img_reader_done(struct img_reader *r)
{
	buf_free(&r->win);
}

/* n bytes at off of the file: in buf, or fetched into the window (a located
 * reader; valid until the next call). The caller checked off + n <= len. */
static const uint8_t *bytes_at(struct img_reader *r, size_t off, size_t n, struct err *e)
{
	if (!r->fetch)
		return r->buf + off;
	r->win.len = 0;
	buf_reserve(&r->win, n ? n : 1);
	if (r->fetch(r->fetch_ctx, off, r->win.p, n, e) < 0)
		return NULL;
	return r->win.p;
}

const ProtobufCMessageDescriptor *img_entry_desc(const struct magic_info *mi, size_t index,
						  const struct img_entry *first)
{
	(void)first;
	if (mi->desc2 && index > 0)
		return mi->desc2;
	return mi->desc;
}

/* Take n payload bytes at r->off (plus padding up to `padded`). */
static int take_payload(struct img_reader *r, struct img_entry *out, size_t n, size_t padded,
			size_t entry_off, struct err *e)
{
	size_t left = r->len - r->off;
	if (padded > left)
		return err_set(e, "entry %zu at offset 0x%zx: payload of %zu bytes runs past the end "
				  "of the file (%zu bytes left)",
			       r->index, entry_off, padded, left);
	out->extra_len = n;
	if (r->fetch) {
		out->extra_off = r->off; /* located, not read */
	} else {
		out->extra = malloc(n ? n : 1);
		if (!out->extra)
			return err_set(e, "entry %zu at offset 0x%zx: payload of %zu bytes: out of memory",
				       r->index, entry_off, n);
		memcpy(out->extra, r->buf + r->off, n);
	}
	out->has_extra = 1;
	r->off += padded;
	return 0;
}

/* Unpack one size-prefixed message at r->off. */
static ProtobufCMessage *unpack_at(struct img_reader *r, const ProtobufCMessageDescriptor *d,
				   long item, struct err *e)
{
	/* Named only on error: "entry 3" or "entry 3 message 1" (an ipc_msg). */
	char what[64];
#define NAME_ITEM()                                                                     \
	(item < 0 ? snprintf(what, sizeof what, "entry %zu", r->index)                   \
		  : snprintf(what, sizeof what, "entry %zu message %ld", r->index, item))
	size_t at = r->off, left = r->len - r->off;
	if (left < 4)
		return NAME_ITEM(), err_set(e, "%s at offset 0x%zx: the file ends in its size word (%zu of 4 bytes)",
			       what, at, left),
		       NULL;
	const uint8_t *p = bytes_at(r, at, 4, e);
	if (!p)
		return NAME_ITEM(), err_prefix(e, "%s at offset 0x%zx", what, at), NULL;
	uint32_t size = get_u32(p);
	if (size > left - 4) {
		NAME_ITEM();
		err_set(e, "%s at offset 0x%zx: size %u runs past the end of the file (%zu bytes left)",
			what, at, size, left - 4);
		return NULL;
	}
	if (r->fetch && size > IMG_LOCATED_MSG_MAX) {
		NAME_ITEM();
		err_set(e, "%s at offset 0x%zx: size %u is too big for a message (at most %zu): a corrupt image",
			what, at, size, IMG_LOCATED_MSG_MAX);
		return NULL;
	}
	if (!(p = bytes_at(r, at + 4, size, e)))
		return NAME_ITEM(), err_prefix(e, "%s at offset 0x%zx", what, at), NULL;
	if (pb_is_recursive(d) && pb_check_depth(d, p, size, PB_MAX_DEPTH, e) < 0) {
		NAME_ITEM();
		err_prefix(e, "%s at offset 0x%zx: %s message of %u bytes", what, at, d->name, size);
		return NULL;
	}
	int oom;
	ProtobufCMessage *m = pb_unpack(d, r->alloc, size, p, &oom);
	if (!m && oom) {
		NAME_ITEM();
		err_set(e, "%s at offset 0x%zx: %s message of %u bytes: out of memory", what, at, d->name, size);
		return NULL;
	}
	if (!m) {
		pb_explain_unpack_failure(d, p, size, e);
		NAME_ITEM();
		err_prefix(e, "%s at offset 0x%zx: %s message of %u bytes does not parse", what, at,
			   d->name, size);
		return NULL;
	}
	if (pb_check_unknown_numbers(m, d->name, e) < 0) {
		protobuf_c_message_free_unpacked(m, r->alloc);
		NAME_ITEM();
		err_prefix(e, "%s at offset 0x%zx", what, at);
		return NULL;
	}
	r->off = at + 4 + size;
	return m;
#undef NAME_ITEM
}

static int read_ipc_msgs(struct img_reader *r, struct img_entry *out, size_t entry_off,
			 struct err *e)
{
	const ProtobufCMessageDescriptor *d = img_ipc_msg_desc();
	size_t n = (size_t)pb_get_u64(out->msg, "qnum", NULL);
	char what[64];
	/* Each item takes at least its 4-byte size word: bound n before allocating. */
	if (n > (r->len - r->off) / 4)
		return err_set(e, "entry %zu at offset 0x%zx: qnum %zu promises more messages than the "
				  "%zu bytes left can hold",
			       r->index, entry_off, n, r->len - r->off);
	out->items = calloc(n ? n : 1, sizeof *out->items);
	if (!out->items)
		return err_set(e, "entry %zu at offset 0x%zx: out of memory", r->index, entry_off);
	for (size_t i = 0; i < n; i++) {
		ProtobufCMessage *m = unpack_at(r, d, (long)i, e);
		if (!m)
			return -1;
		out->items[i].msg = m;
		out->n_items = i + 1;
		size_t msize = (size_t)pb_get_u64(m, "msize", NULL), left = r->len - r->off;
		size_t padded = round_up(msize, 8);
		if (padded > left || padded < msize)
			return err_set(e, "%s at offset 0x%zx: text of %zu bytes runs past the end of the "
					  "file (%zu bytes left)",
				       (snprintf(what, sizeof what, "entry %zu message %zu", r->index, i), what),
				       r->off, msize, left);
		const uint8_t *text = bytes_at(r, r->off, msize, e);
		if (!text)
			return err_prefix(e, "entry %zu message %zu at offset 0x%zx", r->index, i, r->off);
		if (!(out->items[i].data = malloc(msize ? msize : 1)))
			return err_set(e, "entry %zu message %zu at offset 0x%zx: out of memory", r->index, i,
				       r->off);
		memcpy(out->items[i].data, text, msize);
		out->items[i].len = msize;
		r->off += padded;
	}
	return 0;
}

int img_reader_next(struct img_reader *r, struct img_entry *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	if (r->done || r->off == r->len) {
		r->done = 1;
		return 0;
	}
	size_t entry_off = r->off;
	const ProtobufCMessageDescriptor *d = img_entry_desc(r->mi, r->index, NULL);
	if (r->mi->payload == PL_GHOST && r->index > 0 && !r->ghost_chunks)
		return err_set(e, "entry %zu at offset 0x%zx: data after a whole ghost file",
			       r->index, entry_off);
	out->msg = unpack_at(r, d, -1, e);
	if (!out->msg)
		return -1;
	size_t n = 0, pad = 0;
	int has = 1;
	switch (r->mi->payload) {
	case PL_NONE:
	case PL_PAGEMAP:
		has = 0;
		break;
	case PL_GHOST:
		if (r->index == 0) {
			r->ghost_chunks = (int)pb_get_u64(out->msg, "chunks", NULL);
			if (r->ghost_chunks)
				has = 0;
			else
				n = r->len - r->off; /* the rest of the file is the content */
		} else {
			n = (size_t)pb_get_u64(out->msg, "len", NULL);
		}
		break;
	case PL_PIPE_DATA:
		n = (size_t)pb_get_u64(out->msg, "bytes", NULL);
		break;
	case PL_SK_QUEUE:
		n = (size_t)pb_get_u64(out->msg, "length", NULL);
		break;
	case PL_TCP_STREAM:
		n = (size_t)pb_get_u64(out->msg, "inq_len", NULL) +
		    (size_t)pb_get_u64(out->msg, "outq_len", NULL);
		break;
	case PL_BPFMAP:
		n = (size_t)pb_get_u64(out->msg, "keys_bytes", NULL) +
		    (size_t)pb_get_u64(out->msg, "values_bytes", NULL);
		break;
	case PL_IPC_SEM:
		n = (size_t)pb_get_u64(out->msg, "nsems", NULL) * 2;
		pad = 8;
		break;
	case PL_IPC_SHM:
		if (pb_get_u64(out->msg, "in_pagemaps", NULL))
			has = 0; /* the segment lives in a shmem pagemap */
		else
			n = (size_t)pb_get_u64(out->msg, "size", NULL), pad = 4;
		break;
	case PL_IPC_MSG:
		has = 0;
		if (read_ipc_msgs(r, out, entry_off, e) < 0)
			goto fail;
		break;
	}
	if (has && take_payload(r, out, n, pad ? round_up(n, pad) : n, entry_off, e) < 0)
		goto fail;
	r->index++;
	return 1;
fail:
	img_entry_free(out);
	return -1;
}

/* ---- whole images ---- */

struct img_entry *img_add_entry(struct img *img)
{
	if (img->n == img->cap) {
		size_t cap = img->cap ? img->cap * 2 : 16;
		struct img_entry *v = realloc(img->entries, cap * sizeof *img->entries);
		if (!v)
			return NULL;
		img->entries = v;
		img->cap = cap;
	}
	struct img_entry *en = &img->entries[img->n++];
	memset(en, 0, sizeof *en);
	return en;
}

static void entry_free(struct img_entry *en, ProtobufCAllocator *alloc)
{
	if (en->msg)
		protobuf_c_message_free_unpacked(en->msg, alloc);
	free(en->extra);
	for (size_t i = 0; i < en->n_items; i++) {
		if (en->items[i].msg)
			protobuf_c_message_free_unpacked(en->items[i].msg, alloc);
		free(en->items[i].data);
	}
	free(en->items);
	memset(en, 0, sizeof *en);
}

void img_entry_free(struct img_entry *en)
{
	entry_free(en, NULL);
}

void img_free(struct img *img)
{
	for (size_t i = 0; i < img->n; i++)
		entry_free(&img->entries[i], img->alloc);
	free(img->entries);
	memset(img, 0, sizeof *img);
}

int img_decode(const uint8_t *buf, size_t len, struct img *out, struct err *e)
{
	return img_decode_in(buf, len, NULL, out, e);
}

int img_decode_in(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc, struct img *out,
		  struct err *e)
{
	struct img_reader r;
	memset(out, 0, sizeof *out);
	if (img_reader_init(&r, buf, len, e) < 0)
		return -1;
	r.alloc = out->alloc = alloc;
	out->mi = r.mi;
	out->form = r.form;
	for (;;) {
		struct img_entry en;
		int rc = img_reader_next(&r, &en, e);
		if (rc < 0) {
			img_free(out);
			return -1;
		}
		if (rc == 0)
			return 0;
		struct img_entry *slot = img_add_entry(out);
		if (!slot) {
			entry_free(&en, alloc);
			img_free(out);
			return err_set(e, "entry %zu: out of memory", r.index - 1);
		}
		*slot = en;
	}
}

int img_decode_named(const char *name, const uint8_t *buf, size_t len, struct img *out, struct err *e)
{
	const char *raw = img_raw_kind(name, buf, len);
	if (raw) {
		memset(out, 0, sizeof *out);
		return err_set(e, "%s", raw);
	}
	return img_decode(buf, len, out, e);
}

int img_load(const char *path, struct img *out, struct err *e)
{
	uint8_t *buf;
	size_t len;
	memset(out, 0, sizeof *out);
	if (read_file(path, &buf, &len, e) < 0)
		return err_prefix(e, "%s", path);
	int rc = img_decode_named(path, buf, len, out, e);
	free(buf);
	if (rc < 0)
		return err_prefix(e, "%s", path);
	return 0;
}

/* ---- writer ---- */

int img_write_head(struct buf *out, const struct magic_info *mi, enum img_form form)
{
	if (form == FORM_COMMON)
		buf_add_u32(out, IMG_COMMON_MAGIC);
	else if (form == FORM_SERVICE)
		buf_add_u32(out, IMG_SERVICE_MAGIC);
	return buf_add_u32(out, mi->magic);
}

static int pack_framed(struct buf *out, const ProtobufCMessage *m, const char *path, struct err *e)
{
	if (pb_check_required(m, path, e) < 0)
		return -1;
	size_t n = protobuf_c_message_get_packed_size(m);
	if (n > UINT32_MAX)
		return err_set(e, "%s: message of %zu bytes is too large for an image", path, n);
	if (buf_add_u32(out, (uint32_t)n) < 0 || buf_reserve(out, n) < 0)
		return err_set(e, "%s: out of memory", path);
	out->len += protobuf_c_message_pack(m, out->p + out->len);
	return 0;
}

static void add_padded(struct buf *out, const uint8_t *data, size_t n, size_t pad)
{
	static const uint8_t zeros[8];
	buf_add(out, data, n);
	if (pad && n % pad)
		buf_add(out, zeros, pad - n % pad);
}

static int want_payload(const struct img_entry *en, size_t n, const char *why, size_t index,
			struct err *e)
{
	if (!en->has_extra && n == 0)
		return 0;
	if (!en->has_extra)
		return err_set(e, "entries[%zu]: the payload (extra) is missing; %s says %zu bytes",
			       index, why, n);
	if (en->extra_len != n)
		return err_set(e, "entries[%zu].extra: %zu bytes, but %s says %zu", index,
			       en->extra_len, why, n);
	return 0;
}

static int write_entry(struct buf *out, const struct magic_info *mi, size_t index,
		       const struct img_entry *first, const struct img_entry *en, struct err *e);

int img_write_entry(struct buf *out, const struct magic_info *mi, size_t index,
		    const struct img_entry *first, const struct img_entry *en, struct err *e)
{
	size_t start = out->len;
	if (write_entry(out, mi, index, first, en, e) < 0 ||
	    (buf_oom(out) && err_set(e, "entries[%zu]: out of memory", index))) {
		out->len = start; /* a refused entry leaves nothing behind */
		return -1;
	}
	return 0;
}

static int write_entry(struct buf *out, const struct magic_info *mi, size_t index,
		       const struct img_entry *first, const struct img_entry *en, struct err *e)
{
	const ProtobufCMessageDescriptor *want = img_entry_desc(mi, index, first);
	char path[48];
	snprintf(path, sizeof path, "entries[%zu]", index);
	if (!en->msg)
		return err_set(e, "%s: no message", path);
	if (en->msg->descriptor != want)
		return err_set(e, "%s: a %s where a %s image needs a %s", path, en->msg->descriptor->name,
			       mi->name, want->name);
	if (en->n_items && mi->payload != PL_IPC_MSG)
		return err_set(e, "%s: a %s image has no message items", path, mi->name);
	if (pack_framed(out, en->msg, path, e) < 0)
		return -1;
	const ProtobufCMessage *m = en->msg;
	size_t n, pad = 0;
	switch (mi->payload) {
	case PL_NONE:
	case PL_PAGEMAP:
		if (en->has_extra)
			return err_set(e, "%s: a %s image has no payload (extra)", path, mi->name);
		return 0;
	case PL_GHOST:
		if (index == 0 && pb_get_u64(m, "chunks", NULL)) {
			if (en->has_extra && en->extra_len)
				return err_set(e, "%s: a chunked ghost file keeps its data in chunk "
						  "entries, not in extra",
					       path);
			return 0;
		}
		if (index > 0 && !pb_get_u64(first->msg, "chunks", NULL))
			return err_set(e, "%s: only one entry is allowed after a whole (not chunked) "
					  "ghost file",
				       path);
		if (index == 0) {
			buf_add(out, en->extra, en->extra_len);
			return 0;
		}
		if (want_payload(en, (size_t)pb_get_u64(m, "len", NULL), "len", index, e) < 0)
			return -1;
		break;
	case PL_PIPE_DATA:
		if (want_payload(en, (size_t)pb_get_u64(m, "bytes", NULL), "bytes", index, e) < 0)
			return -1;
		break;
	case PL_SK_QUEUE:
		if (want_payload(en, (size_t)pb_get_u64(m, "length", NULL), "length", index, e) < 0)
			return -1;
		break;
	case PL_TCP_STREAM:
		n = (size_t)pb_get_u64(m, "inq_len", NULL) + (size_t)pb_get_u64(m, "outq_len", NULL);
		if (want_payload(en, n, "inq_len + outq_len", index, e) < 0)
			return -1;
		break;
	case PL_BPFMAP:
		n = (size_t)pb_get_u64(m, "keys_bytes", NULL) + (size_t)pb_get_u64(m, "values_bytes", NULL);
		if (want_payload(en, n, "keys_bytes + values_bytes", index, e) < 0)
			return -1;
		break;
	case PL_IPC_SEM:
		if (want_payload(en, (size_t)pb_get_u64(m, "nsems", NULL) * 2, "2 x nsems", index, e) < 0)
			return -1;
		pad = 8;
		break;
	case PL_IPC_SHM:
		if (pb_get_u64(m, "in_pagemaps", NULL)) {
			if (en->has_extra && en->extra_len)
				return err_set(e, "%s: in_pagemaps is set, so the segment has no payload "
						  "(extra) here",
					       path);
			return 0;
		}
		if (want_payload(en, (size_t)pb_get_u64(m, "size", NULL), "size", index, e) < 0)
			return -1;
		pad = 4;
		break;
	case PL_IPC_MSG: {
		size_t q = (size_t)pb_get_u64(m, "qnum", NULL);
		if (en->n_items != q)
			return err_set(e, "%s.extra: %zu messages, but qnum says %zu", path, en->n_items, q);
		for (size_t i = 0; i < q; i++) {
			char ipath[80];
			snprintf(ipath, sizeof ipath, "%s.extra[%zu]", path, i);
			const ProtobufCMessage *im = en->items[i].msg;
			if (!im || im->descriptor != img_ipc_msg_desc())
				return err_set(e, "%s: not an ipc_msg", ipath);
			if (pack_framed(out, im, ipath, e) < 0)
				return -1;
			size_t ms = (size_t)pb_get_u64(im, "msize", NULL);
			if (en->items[i].len != ms)
				return err_set(e, "%s: text of %zu bytes, but msize says %zu", ipath,
					       en->items[i].len, ms);
			add_padded(out, en->items[i].data, ms, 8);
		}
		return 0;
	}
	}
	add_padded(out, en->extra, en->extra_len, pad);
	return 0;
}

int img_encode(const struct img *img, struct buf *out, struct err *e)
{
	if (img_write_head(out, img->mi, img->form) < 0)
		return err_oom(e);
	for (size_t i = 0; i < img->n; i++)
		if (img_write_entry(out, img->mi, i, &img->entries[0], &img->entries[i], e) < 0)
			return -1;
	return 0;
}

int img_save(const struct img *img, const char *path, struct err *e)
{
	struct buf b = { 0 };
	int rc = img_encode(img, &b, e);
	if (rc == 0)
		rc = write_file_atomic(path, b.p, b.len, e);
	buf_free(&b);
	return rc < 0 ? err_prefix(e, "%s", path) : 0;
}
