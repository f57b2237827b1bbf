/* image.h: CRIU image files — framing, magics, payloads — in plain C.
 * An image is [HEAD] MAGIC { SIZE MESSAGE [PAYLOAD] }; see SPEC §1. */
#ifndef CRITLUA_IMAGE_H
#define CRITLUA_IMAGE_H

#include <stdint.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "pbcheck.h"
#include "util.h"

#define IMG_COMMON_MAGIC 0x54564319u
#define IMG_SERVICE_MAGIC 0x55105940u

/* What follows each message of an image type (SPEC §1.3). */
enum payload_kind {
	PL_NONE,
	PL_PAGEMAP,    /* no payload; entry 0 is pagemap_head, the rest pagemap_entry */
	PL_GHOST,      /* ghost_file_entry, then chunks or the rest of the file */
	PL_PIPE_DATA,  /* pipe_data_entry.bytes bytes */
	PL_SK_QUEUE,   /* sk_packet_entry.length bytes */
	PL_TCP_STREAM, /* inq_len bytes, then outq_len bytes */
	PL_BPFMAP,     /* keys_bytes + values_bytes bytes */
	PL_IPC_SEM,    /* nsems u16 values, padded to 8 */
	PL_IPC_MSG,    /* qnum x (u32 size, ipc_msg, msize bytes padded to 8) */
	PL_IPC_SHM,    /* size bytes padded to 4, unless in_pagemaps */
};

/* How the file starts. */
enum img_form {
	FORM_COMMON,  /* IMG_COMMON, then the magic */
	FORM_SERVICE, /* IMG_SERVICE, then the magic */
	FORM_BARE,    /* the magic alone: inventory.img always, every image of a v1 dump */
};

struct magic_info {
	const char *name;   /* "CORE" */
	uint32_t magic;
	enum img_form head; /* the form CRIU 4.2 writes: COMMON, SERVICE or BARE (inventory) */
	const char *message;  /* message type name of the entries, e.g. "core_entry" */
	const char *message2; /* pagemap_entry after pagemap_head; ghost_chunk_entry */
	enum payload_kind payload;
	const char *files;  /* file name patterns, e.g. "core-%u.img" */
	/* resolved on first use by magic_*(): */
	const ProtobufCMessageDescriptor *desc, *desc2;
};

extern struct magic_info magic_table[]; /* ends with name NULL; desc resolved lazily */
const struct magic_info *magic_by_value(uint32_t magic);
const struct magic_info *magic_by_name(const char *name);

/* One ipc_msg of an IPCNS_MSG entry: the message and its text. */
struct ipc_msg_item {
	ProtobufCMessage *msg; /* ipc_msg */
	uint8_t *data;
	size_t len;
};

/* One entry: a message and, for payload images, what followed it. */
struct img_entry {
	ProtobufCMessage *msg; /* owned; msg->descriptor says its type */
	/* The payload bytes, without padding: pipe/fifo/sk-queue/bpfmap/shm data,
	 * ghost content or chunk, tcp-stream inq then outq (split at inq_len),
	 * ipcns-sem values as little-endian u16s. NULL and 0 when none. */
	uint8_t *extra;
	size_t extra_len;
	int has_extra; /* a payload is present (it may be empty) */
	/* From a located reader (img_reader_init_located): the payload is not read,
	 * extra is NULL, and it lies at this offset of the file (extra_len bytes). */
	uint64_t extra_off;
	struct ipc_msg_item *items; /* IPCNS_MSG only */
	size_t n_items;
};

struct img {
	ProtobufCAllocator *alloc; /* of the messages; NULL: malloc */
	const struct magic_info *mi;
	enum img_form form;
	struct img_entry *entries;
	size_t n, cap;
};

/* Classify a file that may not be an image (by its name and first bytes):
 * returns NULL for an image to decode, or a sentence saying what the file is
 * ("raw memory pages (no magic): read them through the memory API"). */
const char *img_raw_kind(const char *path, const uint8_t *buf, size_t len);

/* Streaming reader: entry by entry, without holding the decoded image. */
struct img_reader {
	const uint8_t *buf;
	size_t len, off;
	const struct magic_info *mi;
	enum img_form form;
	size_t index;   /* number of entries returned so far */
	int ghost_chunks; /* GHOST: the head entry said chunks */
	ProtobufCAllocator *alloc; /* for the messages; NULL (the default): malloc */
	int done;
	/* A located reader: buf is not the file; each message is fetched into
	 * win, and payloads are only located, never read (see below). */
	int (*fetch)(void *ctx, uint64_t off, void *dst, size_t len, struct err *e);
	void *fetch_ctx;
	struct buf win;
};

/* Parse the head and magic. Returns 0, or -1 with e set ("unknown magic
 * 0x12345678", "file is empty", "magic 0x... is byte-swapped: image from a
 * big-endian host", ...). The caller prefixes the file name. */
int img_reader_init(struct img_reader *r, const uint8_t *buf, size_t len, struct err *e);
/* Next entry into *out (owned by the caller: img_entry_free). Returns 1, 0 at
 * the end, -1 with e set ("entry 3 at offset 0x40: size 52 runs past the end
 * of the file (30 bytes left)"). */
int img_reader_next(struct img_reader *r, struct img_entry *out, struct err *e);
/* A located reader over a file of len bytes that is not in memory: fetch(ctx,
 * off, dst, n, e) reads n bytes at off (0, or -1 with e set). Messages are
 * fetched one by one (each at most IMG_LOCATED_MSG_MAX bytes: a bigger size
 * word is a corrupt image); each payload is checked to lie inside the file
 * and given as img_entry.extra_off and extra_len, not read: a ghost file or
 * a pipe's buffer is then read in pieces by the caller, whatever its size.
 * IPCNS_MSG texts are small and read as usual. img_reader_done frees it. */
#define IMG_LOCATED_MSG_MAX ((size_t)64 << 20)
int img_reader_init_located(struct img_reader *r, uint64_t len,
			    int (*fetch)(void *ctx, uint64_t off, void *dst, size_t n, struct err *e),
			    void *ctx, struct err *e);
void img_reader_done(struct img_reader *r);
/* The descriptor entry number `index` must have in an image of this type. */
const ProtobufCMessageDescriptor *img_entry_desc(const struct magic_info *mi, size_t index,
						  const struct img_entry *first);

/* Whole image. */
int img_decode(const uint8_t *buf, size_t len, struct img *out, struct err *e);
/* The same with the messages allocated by alloc (img_free frees them there). */
int img_decode_in(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc, struct img *out,
		  struct err *e);
/* The bytes of the file `name`: a raw file (by its name, img_raw_kind) is
 * refused with the sentence saying what it is, anything else decoded. */
int img_decode_named(const char *name, const uint8_t *buf, size_t len, struct img *out, struct err *e);
int img_load(const char *path, struct img *out, struct err *e); /* errors prefixed with path */
void img_free(struct img *img);
void img_entry_free(struct img_entry *en);
struct img_entry *img_add_entry(struct img *img); /* zeroed, appended; NULL: out of memory */

/* Writer: the head for mi in the given form, then entries one by one.
 * img_write_entry checks that every required field is set and that payload
 * lengths agree with the message (e says which entry and field), then packs.
 * Out of memory is an error too ("entries[3]: out of memory"). */
int img_write_head(struct buf *out, const struct magic_info *mi, enum img_form form); /* -1: oom */
int img_write_entry(struct buf *out, const struct magic_info *mi, size_t index,
		    const struct img_entry *first, const struct img_entry *en, struct err *e);
int img_encode(const struct img *img, struct buf *out, struct err *e);
int img_save(const struct img *img, const char *path, struct err *e); /* atomic */

#endif
