/* rawdump.c: `show --raw` — an image's messages in wire form (field numbers,
 * wire types, values), for images whose magic or fields critlua does not
 * know. Field names are added where the schema knows the field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "pbwire.h"
#include "rawdump.h"
#include "textcodec.h"

#define RAWDUMP_MAX_DEPTH 32

/* Does p..len read as a whole protobuf message (every field well framed)? */
static int rawdump_is_message(const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	if (len == 0)
		return 0;
	while (p < end) {
		struct pbw_frame fr;
		if (pbw_frame(&p, end, &fr) < 0 || (fr.tag >> 3) == 0)
			return 0;
	}
	return 1;
}

/* The numbers of every line, written without printf: show --raw of a large
 * image spent nine tenths of its time parsing the formats. */
static void rawdump_u64(struct buf *b, uint64_t v)
{
	if (buf_reserve(b, 20) < 0)
		return;
	b->len += tc_u64((char *)b->p + b->len, v);
}

static void rawdump_hex_byte(struct buf *b, uint8_t c)
{
	static const char digits[] = "0123456789abcdef";
	buf_addc(b, digits[c >> 4]);
	buf_addc(b, digits[c & 15]);
}

static int rawdump_printable(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\t') || p[i] == 0x7f)
			return 0;
	return 1;
}

static void rawdump_indent(struct buf *b, int depth)
{
	for (int i = 0; i < depth; i++)
		buf_adds(b, "  ");
}

static void rawdump_bytes(struct buf *b, const uint8_t *p, size_t len)
{
	if (rawdump_printable(p, len)) {
		buf_addc(b, '"');
		for (size_t i = 0; i < len; i++) {
			if (p[i] == '"' || p[i] == '\\')
				buf_addc(b, '\\');
			if (p[i] == '\n')
				buf_adds(b, "\\n");
			else if (p[i] == '\t')
				buf_adds(b, "\\t");
			else if (p[i] < 0x80)
				buf_addc(b, (char)p[i]);
			else {
				buf_adds(b, "\\x");
				rawdump_hex_byte(b, p[i]);
			}
		}
		buf_addc(b, '"');
		return;
	}
	size_t show = len > 64 ? 64 : len;
	buf_adds(b, "hex ");
	for (size_t i = 0; i < show; i++)
		rawdump_hex_byte(b, p[i]);
	if (show < len)
		buf_printf(b, "... (%zu bytes)", len);
}

/* The first damage found in a message, for the error (the text shows it in place too). */
static void rawdump_damage(struct err *prob, int *bad, const char *what, size_t at)
{
	if (!*bad)
		err_set(prob, "%s at byte %zu of its message", what, at);
	*bad = 1;
}

static void rawdump_message(struct buf *b, const ProtobufCMessageDescriptor *d, const uint8_t *p,
			    size_t len, int depth, struct err *prob, int *bad)
{
	const uint8_t *at = p, *end = p + len;
	while (at < end) {
		struct pbw_frame fr;
		size_t start = (size_t)(at - p);
		int rc = pbw_frame(&at, end, &fr);
		rawdump_indent(b, depth);
		if (rc == PBW_TAG_CUT || rc == PBW_TAG_LONG) {
			buf_printf(b, "(malformed tag at byte %zu)\n", start);
			rawdump_damage(prob, bad, "a malformed tag", start);
			return;
		}
		uint32_t num = (uint32_t)(fr.tag >> 3);
		const ProtobufCFieldDescriptor *f = d ? protobuf_c_message_descriptor_get_field(d, num) : NULL;
		rawdump_u64(b, num);
		if (f) {
			buf_adds(b, " (");
			buf_adds(b, f->name);
			buf_addc(b, ')');
		} else if (d)
			buf_adds(b, " (unknown to the schema)");
		switch (fr.wt) {
		case 0:
			if (rc < 0) {
				buf_adds(b, ": (truncated varint)\n");
				rawdump_damage(prob, bad, "a truncated varint", start);
				return;
			}
			buf_adds(b, ": varint ");
			rawdump_u64(b, fr.raw);
			if ((int64_t)fr.raw < 0 && buf_reserve(b, 24) == 0) {
				b->p[b->len++] = ' ';
				b->p[b->len++] = '(';
				b->len += tc_i64((char *)b->p + b->len, (int64_t)fr.raw);
				b->p[b->len++] = ')';
			}
			buf_addc(b, '\n');
			break;
		case 1:
		case 5:
			if (rc < 0) {
				buf_adds(b, ": (truncated fixed value)\n");
				rawdump_damage(prob, bad, "a truncated fixed value", start);
				return;
			}
			buf_adds(b, fr.wt == 1 ? ": fixed64 " : ": fixed32 ");
			if (buf_reserve(b, 20) == 0)
				b->len += tc_hex_u64((char *)b->p + b->len, fr.raw);
			buf_addc(b, '\n');
			break;
		case 2: {
			if (rc < 0) {
				buf_adds(b, ": (length runs past the end)\n");
				rawdump_damage(prob, bad, "a length that runs past the end", start);
				return;
			}
			size_t n = (size_t)fr.raw;
			const ProtobufCMessageDescriptor *sub =
				f && f->type == PROTOBUF_C_TYPE_MESSAGE ? f->descriptor : NULL;
			int as_msg = sub || (!f && !rawdump_printable(fr.data, n) && rawdump_is_message(fr.data, n));
			if (as_msg && depth < RAWDUMP_MAX_DEPTH) {
				buf_adds(b, ": message, ");
				rawdump_u64(b, n);
				buf_adds(b, " bytes {\n");
				rawdump_message(b, sub, fr.data, n, depth + 1, prob, bad);
				rawdump_indent(b, depth);
				buf_adds(b, "}\n");
			} else {
				buf_adds(b, ": ");
				rawdump_u64(b, n);
				buf_adds(b, " bytes ");
				rawdump_bytes(b, fr.data, n);
				buf_addc(b, '\n');
			}
			break;
		}
		default:
			buf_printf(b, ": wire type %u, which protobuf images do not use\n", fr.wt);
			rawdump_damage(prob, bad, "a wire type protobuf images do not use", start);
			return;
		}
	}
}

int rawdump_image(const char *path, struct buf *out, struct err *e)
{
	uint8_t *p;
	size_t len;
	if (read_file(path, &p, &len, e) < 0) {
		err_prefix(e, "%s", path);
		return -1;
	}
	struct buf b = { 0 };
	size_t off = 0;
	struct err prob;
	int bad = 0, damaged = 0;
	const char *raw = img_raw_kind(path, p, len);
	if (raw) {
		buf_printf(&b, "%s: %s\n", path, raw);
		off = len = 0;
	}
	const struct magic_info *mi = NULL;
	if (len >= 8 && (get_u32(p) == IMG_COMMON_MAGIC || get_u32(p) == IMG_SERVICE_MAGIC)) {
		mi = magic_by_value(get_u32(p + 4));
		buf_printf(&b, "head %s, magic 0x%08x (%s)\n",
			   get_u32(p) == IMG_COMMON_MAGIC ? "IMG_COMMON" : "IMG_SERVICE", get_u32(p + 4),
			   mi ? mi->name : "unknown");
		off = 8;
	} else if (len >= 4) {
		mi = magic_by_value(get_u32(p));
		buf_printf(&b, "no head, magic 0x%08x (%s)\n", get_u32(p), mi ? mi->name : "unknown");
		off = 4;
	}
	/* Known payload types put raw bytes between messages: the codec frames
	 * them, and each message (packed again, byte-identical) is shown. */
	if (mi && mi->payload != PL_NONE && mi->payload != PL_PAGEMAP) {
		struct img_reader r;
		struct img_entry en;
		int rc = img_reader_init(&r, p, len, e);
		for (size_t i = 0; rc == 0 && (rc = img_reader_next(&r, &en, e)) > 0; i++, rc = 0) {
			size_t n = protobuf_c_message_get_packed_size(en.msg);
			uint8_t *m = malloc(n ? n : 1);
			if (!m) { /* said at the end: out of memory is no damage */
				img_entry_free(&en);
				b.oom = 1;
				rc = 0;
				break;
			}
			protobuf_c_message_pack(en.msg, m);
			buf_printf(&b, "entry %zu, %zu bytes, %s:\n", i, n, en.msg->descriptor->name);
			rawdump_message(&b, en.msg->descriptor, m, n, 1, &prob, &bad);
			if (en.has_extra)
				buf_printf(&b, "  payload: %zu bytes\n", en.extra_len);
			for (size_t k = 0; k < en.n_items; k++)
				buf_printf(&b, "  payload message %zu: %zu bytes of text\n", k, en.items[k].len);
			free(m);
			img_entry_free(&en);
		}
		if (rc < 0) { /* said as the error, not in the text */
			err_prefix(e, "%s", path);
			damaged = 1;
		}
		off = len;
	}
	for (size_t i = 0; off < len; i++) {
		if (len - off < 4) {
			if (!damaged)
				err_set(e, "%s: offset 0x%zx: %zu trailing bytes, too few for a size word", path, off,
					len - off);
			damaged = 1;
			break;
		}
		uint32_t size = get_u32(p + off);
		if (size > len - off - 4) {
			if (!damaged)
				err_set(e, "%s: offset 0x%zx: size word %u runs past the end (%zu bytes left): "
					   "the rest is not size-framed",
					path, off, size, len - off - 4);
			damaged = 1;
			break;
		}
		const ProtobufCMessageDescriptor *d = mi ? img_entry_desc(mi, i, NULL) : NULL;
		buf_printf(&b, "entry %zu at offset 0x%zx, %u bytes%s%s:\n", i, off, size, d ? ", " : "",
			   d ? d->name : "");
		bad = 0;
		rawdump_message(&b, d, p + off + 4, size, 1, &prob, &bad);
		if (bad && !damaged) {
			err_set(e, "%s: entry %zu at offset 0x%zx: %s", path, i, off, prob.msg);
			damaged = 1;
		}
		off += 4 + size;
	}
	if (bad && !damaged) { /* a payload image's message */
		err_set(e, "%s: %s", path, prob.msg);
		damaged = 1;
	}
	free(p);
	if (buf_oom(&b) || buf_add(out, b.p, b.len) < 0) {
		buf_free(&b);
		return err_set(e, "%s: out of memory", path);
	}
	buf_free(&b);
	return damaged;
}
