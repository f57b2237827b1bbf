/* crit.c: libcrit's public API (include/crit/crit.h) over images, messages
 * and CRIT's JSON: a thin layer that calls the core's own jobs (image.c,
 * json_out.c, json_in.c, txn.c) and turns their errors into crit_error. */
#include <stdlib.h>
#include <string.h>

#include <crit/crit.h>

#include "crit_impl.h"
#include "image.h"
#include "json_in.h"
#include "json_out.h"
#include "schema.h"
#include "txn.h"

struct crit_image {
	struct img img;
};

int crit_fail(crit_error *err, const struct err *e)
{
	if (err)
		snprintf(err->message, sizeof err->message, "%s", e->msg);
	return -1;
}

int crit_failf(crit_error *err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof err->message, fmt, ap);
		va_end(ap);
	}
	return -1;
}

const char *crit_version(void)
{
	return CRITLUA_VERSION;
}

/* ---- messages ---- */

const ProtobufCMessageDescriptor *crit_message_type(const char *name)
{
	return name ? schema_message(name) : NULL;
}

ProtobufCMessage *crit_message_new(const ProtobufCMessageDescriptor *d)
{
	if (!d || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
		return NULL;
	ProtobufCMessage *m = malloc(d->sizeof_message);
	if (m)
		d->message_init(m);
	return m;
}

void crit_message_free(ProtobufCMessage *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

/* buf's bytes as a NUL-terminated malloc'ed string, handed to the caller;
 * -1 (b freed) when memory ran out while it was written. */
static int crit_take(struct buf *b, char **out, size_t *len, crit_error *err)
{
	if (buf_addc(b, 0) < 0) {
		buf_free(b);
		return crit_failf(err, "out of memory");
	}
	*out = (char *)b->p;
	if (len)
		*len = b->len - 1;
	return 0;
}

int crit_message_to_json(const ProtobufCMessage *m, int pretty, char **out, size_t *len, crit_error *err)
{
	if (!m || !out)
		return crit_failf(err, "crit_message_to_json: no message");
	struct buf b = { 0 };
	struct jw w;
	jw_init(&w, &b, 0);
	jw_message(&w, m, pretty);
	jw_fini(&w);
	return crit_take(&b, out, len, err);
}

/* ---- images ---- */

crit_image *crit_image_wrap(struct img *img, crit_error *err)
{
	crit_image *ci = malloc(sizeof *ci);
	if (!ci) {
		img_free(img);
		crit_failf(err, "out of memory");
		return NULL;
	}
	ci->img = *img;
	return ci;
}

struct img *crit_image_img(crit_image *ci)
{
	return &ci->img;
}

int crit_image_open(const char *path, crit_image **out, crit_error *err)
{
	struct img img;
	struct err e;
	*out = NULL;
	if (!path)
		return crit_failf(err, "crit_image_open: no path");
	if (img_load(path, &img, &e) < 0)
		return crit_fail(err, &e);
	return (*out = crit_image_wrap(&img, err)) ? 0 : -1;
}

int crit_image_from_buffer(const void *buf, size_t len, const char *name, crit_image **out,
			   crit_error *err)
{
	struct img img;
	struct err e;
	*out = NULL;
	if (!buf && len)
		return crit_failf(err, "%s: no data", name ? name : "image");
	if (img_decode_named(name ? name : "", buf ? buf : "", len, &img, &e) < 0) {
		if (name)
			err_prefix(&e, "%s", name);
		return crit_fail(err, &e);
	}
	return (*out = crit_image_wrap(&img, err)) ? 0 : -1;
}

int crit_image_new(const char *magic, crit_image **out, crit_error *err)
{
	*out = NULL;
	const struct magic_info *mi = magic ? magic_by_name(magic) : NULL;
	if (!mi)
		return crit_failf(err, "unknown image kind '%s'", magic ? magic : "(null)");
	struct img img = { .mi = mi, .form = mi->head };
	return (*out = crit_image_wrap(&img, err)) ? 0 : -1;
}

void crit_image_free(crit_image *ci)
{
	if (ci) {
		img_free(&ci->img);
		free(ci);
	}
}

const char *crit_image_magic(const crit_image *ci)
{
	return ci->img.mi->name;
}

size_t crit_image_count(const crit_image *ci)
{
	return ci->img.n;
}

ProtobufCMessage *crit_image_entry(const crit_image *ci, size_t i)
{
	return i < ci->img.n ? ci->img.entries[i].msg : NULL;
}

const ProtobufCMessageDescriptor *crit_image_entry_type(const crit_image *ci, size_t i)
{
	if (i > ci->img.n)
		return NULL;
	return img_entry_desc(ci->img.mi, i, ci->img.n ? &ci->img.entries[0] : NULL);
}

int crit_image_payload(const crit_image *ci, size_t i, const uint8_t **data, size_t *len)
{
	if (i >= ci->img.n)
		return -1;
	const struct img_entry *en = &ci->img.entries[i];
	*data = en->extra;
	*len = en->extra_len;
	return en->has_extra ? 1 : 0;
}

int crit_image_set_payload(crit_image *ci, size_t i, const void *data, size_t len, crit_error *err)
{
	if (i >= ci->img.n)
		return crit_failf(err, "entry %zu: no such entry (the image has %zu)", i, ci->img.n);
	if (ci->img.mi->payload == PL_NONE || ci->img.mi->payload == PL_PAGEMAP ||
	    ci->img.mi->payload == PL_IPC_MSG)
		return crit_failf(err, "entry %zu: %s entries carry no payload of bytes", i, ci->img.mi->name);
	struct img_entry *en = &ci->img.entries[i];
	uint8_t *copy = NULL;
	if (len) {
		if (!(copy = malloc(len)))
			return crit_failf(err, "entry %zu: payload of %zu bytes: out of memory", i, len);
		memcpy(copy, data, len);
	}
	free(en->extra);
	en->extra = copy;
	en->extra_len = len;
	en->has_extra = 1;
	return 0;
}

int crit_image_append(crit_image *ci, ProtobufCMessage *msg, crit_error *err)
{
	struct img *img = &ci->img;
	if (!msg)
		return crit_failf(err, "entry %zu: no message", img->n);
	const ProtobufCMessageDescriptor *want = crit_image_entry_type(ci, img->n);
	if (msg->descriptor != want) {
		crit_failf(err, "entry %zu: a %s image takes %s here, not %s", img->n, img->mi->name,
			   want ? want->name : "nothing", msg->descriptor ? msg->descriptor->name : "?");
		protobuf_c_message_free_unpacked(msg, NULL);
		return -1;
	}
	if (img->alloc) { /* an image decoded into an arena: its messages are not malloc'ed */
		protobuf_c_message_free_unpacked(msg, NULL);
		return crit_failf(err, "entry %zu: this image's messages are not malloc'ed", img->n);
	}
	struct img_entry *en = img_add_entry(img);
	if (!en) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return crit_failf(err, "entry %zu: out of memory", img->n);
	}
	en->msg = msg;
	return 0;
}

int crit_image_remove(crit_image *ci, size_t i, crit_error *err)
{
	struct img *img = &ci->img;
	if (i >= img->n)
		return crit_failf(err, "entry %zu: no such entry (the image has %zu)", i, img->n);
	img_entry_free(&img->entries[i]);
	memmove(&img->entries[i], &img->entries[i + 1], (img->n - i - 1) * sizeof *img->entries);
	img->n--;
	return 0;
}

int crit_image_encode(const crit_image *ci, uint8_t **out, size_t *len, crit_error *err)
{
	struct buf b = { 0 };
	struct err e;
	*out = NULL;
	*len = 0;
	if (img_encode(&ci->img, &b, &e) < 0) {
		buf_free(&b);
		return crit_fail(err, &e);
	}
	if (buf_reserve(&b, 1) < 0) { /* an empty image is still a malloc'ed pointer */
		buf_free(&b);
		return crit_failf(err, "out of memory");
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

int crit_image_save(const crit_image *ci, const char *path, crit_error *err)
{
	struct buf b = { 0 };
	struct err e;
	int rc = img_encode(&ci->img, &b, &e);
	if (rc == 0)
		rc = txn_write_path(path, b.p, b.len, &e);
	buf_free(&b);
	if (rc < 0) {
		err_prefix(&e, "%s", path);
		return crit_fail(err, &e);
	}
	return 0;
}

/* ---- CRIT's JSON ---- */

int crit_image_to_json(const crit_image *ci, int pretty, char **out, size_t *len, crit_error *err)
{
	/* an image held whole always has a JSON form: only memory can fail */
	struct buf b = { 0 };
	struct jw w;
	jw_init(&w, &b, pretty);
	jw_img(&w, &ci->img, pretty);
	jw_fini(&w);
	return crit_take(&b, out, len, err);
}

int crit_image_from_json(const char *text, size_t len, crit_image **out, crit_error *err)
{
	struct img img;
	struct err e;
	*out = NULL;
	if (!text)
		return crit_failf(err, "crit_image_from_json: no text");
	if (json_to_img(text, len, &img, &e) < 0)
		return crit_fail(err, &e);
	return (*out = crit_image_wrap(&img, err)) ? 0 : -1;
}

int crit_json_decode_file(const char *in, const char *out, int pretty, int nopl, crit_error *err)
{
	struct err e;
	return jw_image_file(in, out, pretty, nopl, &e) < 0 ? crit_fail(err, &e) : 0;
}

int crit_json_encode_file(const char *in, const char *out, crit_error *err)
{
	struct err e;
	return json_encode_file(in, out, &e) < 0 ? crit_fail(err, &e) : 0;
}
