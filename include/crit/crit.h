/* crit.h: libcrit, critlua's core as a C library — CRIU checkpoint images
 * read, changed and written byte-exactly, CRIT's JSON out and in,
 * checkpoints (directories and container archives), process memory, and the
 * one transactional write path. The reference is docs/C-API.md.
 *
 * Conventions, for every function here:
 *  - Functions that can fail return 0 on success and -1 on failure, and
 *    then fill *err (when err is not NULL) with a message naming the file,
 *    the entry, the offset or the field path, as critlua prints it
 *    ("files.img: entry 3 at offset 0x40: size 52 runs past the end ...").
 *    Nothing in the library exits or aborts: not on bad input, and not
 *    when memory runs out, which is an error like another ("files.img:
 *    entry 3: out of memory"), the objects given left as they were.
 *  - An object a function returns through an out-parameter is the caller's,
 *    to free with the matching _free/_close/_end; const char * and const
 *    pointer results belong to the object they came from and live as long as
 *    it does (or until the call the function's comment names).
 *  - Entries are protobuf-c messages of the generated types installed under
 *    <crit/proto/> (e.g. <crit/proto/pstree.pb-c.h>: PstreeEntry). Only the
 *    crit_ functions are exported from libcrit.so: use crit_message_type()
 *    and crit_message_new() instead of the generated foo__descriptor
 *    objects, foo__init() functions and FOO__INIT macros, which name symbols
 *    the shared library does not export.
 *
 * Threads: the library keeps no mutable global state a caller can see.
 * Different objects may be used from different threads at once; one object
 * (an image, a checkpoint, a memory map, a transaction) must not be used by
 * two threads at the same time. The schema tables are set up once, under
 * pthread_once, and the dlopen of libarchive under a lock. The library prints
 * nothing, except crit_image_save into a checkpoint directory: a line on
 * stderr when it finishes or undoes a change a killed writer left, or has
 * a note on its commit (as critlua does).
 *
 * Stability: libcrit.so.0. Functions are only added within SONAME 0;
 * crit_error, crit_process and crit_region keep their layout. */
#ifndef CRIT_CRIT_H
#define CRIT_CRIT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CRIT_API __attribute__((visibility("default")))

/* The library's version, "0.1.0". */
CRIT_API const char *crit_version(void);

/* An error as a value: message is one line, without a trailing newline. */
typedef struct crit_error {
	char message[1024];
} crit_error;

/* --- Messages ---------------------------------------------------------- */

/* The descriptor of a message type of the CRIU schema by its name as in the
 * .proto files ("pstree_entry", "inet_sk_entry"), or NULL. */
CRIT_API const ProtobufCMessageDescriptor *crit_message_type(const char *name);
/* A new message of type d with its defaults set (as FOO__INIT), malloc'ed
 * (NULL for a NULL or non-message d, or when memory runs out):
 * free with crit_message_free, or hand it to crit_image_append. Strings,
 * bytes, repeated arrays and submessages put into it must be malloc'ed too:
 * they are freed with it. */
CRIT_API ProtobufCMessage *crit_message_new(const ProtobufCMessageDescriptor *d);
/* Free a message and everything it holds (protobuf_c_message_free_unpacked). */
CRIT_API void crit_message_free(ProtobufCMessage *m);
/* m as CRIT's JSON (pretty: CRIT's --pretty forms: hex, flag and dict
 * names, addresses), one line. *out is malloc'ed and NUL-terminated. */
CRIT_API int crit_message_to_json(const ProtobufCMessage *m, int pretty, char **out, size_t *len,
				  crit_error *err);

/* --- Images ------------------------------------------------------------ */

typedef struct crit_image crit_image;

/* Decode the image file path (every entry and payload). */
CRIT_API int crit_image_open(const char *path, crit_image **out, crit_error *err);
/* Decode an image held in memory (copied: buf may go away). name is the
 * file name used in errors; when it names a raw file (pages-1.img) the
 * error says what the file is. name may be NULL. */
CRIT_API int crit_image_from_buffer(const void *buf, size_t len, const char *name, crit_image **out,
				    crit_error *err);
/* An empty image of the kind magic names ("FILES", "PSTREE": CRIT's names),
 * in the form CRIU writes it. */
CRIT_API int crit_image_new(const char *magic, crit_image **out, crit_error *err);
CRIT_API void crit_image_free(crit_image *img);

/* The image's kind, as CRIT names it: "PSTREE". */
CRIT_API const char *crit_image_magic(const crit_image *img);
CRIT_API size_t crit_image_count(const crit_image *img);
/* Entry i (from 0), or NULL past the end. The message stays the image's;
 * change its fields in place (malloc'ed values, see crit_message_new). */
CRIT_API ProtobufCMessage *crit_image_entry(const crit_image *img, size_t i);
/* The message type entry i must have (pagemap: pagemap_head first, then
 * pagemap_entry), also for i == count (the next one to append). */
CRIT_API const ProtobufCMessageDescriptor *crit_image_entry_type(const crit_image *img, size_t i);
/* Entry i's payload (pipe data, socket queue, tcp stream, ghost file, ...):
 * 1 with *data, *len set (len may be 0), 0 when the entry has none, -1 when
 * i is past the end. data is the image's until it changes. */
CRIT_API int crit_image_payload(const crit_image *img, size_t i, const uint8_t **data, size_t *len);
/* Replace entry i's payload with a copy of data (len bytes). Only for image
 * kinds that carry payloads; the lengths the message gives are checked when
 * the image is written. */
CRIT_API int crit_image_set_payload(crit_image *img, size_t i, const void *data, size_t len,
				    crit_error *err);
/* Append msg (owned by the image from then on, also on failure) as the
 * next entry; its type must be crit_image_entry_type(img, count). */
CRIT_API int crit_image_append(crit_image *img, ProtobufCMessage *msg, crit_error *err);
/* Remove (and free) entry i. */
CRIT_API int crit_image_remove(crit_image *img, size_t i, crit_error *err);

/* The image's bytes as CRIU reads them (required fields and payload
 * lengths checked: err names the entry and field). *out is malloc'ed. */
CRIT_API int crit_image_encode(const crit_image *img, uint8_t **out, size_t *len, crit_error *err);
/* Encode and write to path atomically (the old file stays on failure). In
 * a checkpoint directory (one holding inventory.img) this goes through the
 * write path of crit_txn_*, taking the checkpoint's lock (waiting up to 10 s
 * for another writer). */
CRIT_API int crit_image_save(const crit_image *img, const char *path, crit_error *err);

/* --- CRIT's JSON ------------------------------------------------------- */

/* The image as `crit decode` (pretty: `--pretty`) writes it, byte for byte,
 * without the final newline. *out is malloc'ed and NUL-terminated. */
CRIT_API int crit_image_to_json(const crit_image *img, int pretty, char **out, size_t *len,
				crit_error *err);
/* CRIT's JSON ({"magic": ..., "entries": [...]}) back into an image, as
 * `crit encode` reads it: strictly, errors naming the path
 * (entries[3].vmas[2].prot) and the line and column. */
CRIT_API int crit_image_from_json(const char *text, size_t len, crit_image **out, crit_error *err);
/* `critlua decode -i in -o out [--pretty] [--nopl]` ("-" or NULL: stdin,
 * stdout), entry by entry: the image is never held whole. */
CRIT_API int crit_json_decode_file(const char *in, const char *out, int pretty, int nopl,
				   crit_error *err);
/* `critlua encode -i in -o out`; out is written atomically. */
CRIT_API int crit_json_encode_file(const char *in, const char *out, crit_error *err);

/* --- Checkpoints -------------------------------------------------------- */

typedef struct crit_checkpoint crit_checkpoint;

/* Open a checkpoint for reading: a directory of images, or a container
 * checkpoint archive (.tar, .tar.gz, .tar.zst: the images under checkpoint/,
 * libarchive loaded on first use). Like critlua, it first finishes or undoes
 * a change a killed writer left (when no writer holds the lock). To change
 * a checkpoint, use crit_txn_begin, which opens it under its lock. */
CRIT_API int crit_checkpoint_open(const char *path, crit_checkpoint **out, crit_error *err);
CRIT_API void crit_checkpoint_close(crit_checkpoint *ck);
CRIT_API const char *crit_checkpoint_path(const crit_checkpoint *ck);
/* 1 for an archive, 0 for a directory. */
CRIT_API int crit_checkpoint_is_archive(const crit_checkpoint *ck);
/* The names of the checkpoint's image files (*.img, raw pages-*.img too),
 * sorted, in a NULL-ended array the checkpoint owns (until the next call or
 * a commit); *n gets the count. */
CRIT_API const char *const *crit_checkpoint_images(crit_checkpoint *ck, size_t *n, crit_error *err);
/* Decode the image name ("pstree.img") of the checkpoint. */
CRIT_API int crit_checkpoint_image(crit_checkpoint *ck, const char *name, crit_image **out,
				   crit_error *err);

/* A process of the checkpoint: pstree.img's entry, with its name from
 * core-PID.img (comm NULL when that image or its task core is missing). */
typedef struct crit_process {
	uint32_t pid, ppid, pgid, sid;
	size_t n_threads;
	const uint32_t *threads; /* thread ids, the first one the pid */
	const char *comm;
} crit_process;

/* The processes in pstree.img's order (parents before their children, as
 * CRIU dumps them), owned by the checkpoint (until a commit); *n the count. */
CRIT_API const crit_process *crit_checkpoint_processes(crit_checkpoint *ck, size_t *n,
							crit_error *err);

/* --- Process memory ---------------------------------------------------- */

typedef struct crit_memory crit_memory;

/* A memory region of a process, from its pagemap. */
typedef struct crit_region {
	uint64_t vaddr;    /* first address */
	uint64_t nr_pages; /* length in pages */
	uint32_t flags;    /* CRIT_PAGE_* */
} crit_region;
#define CRIT_PAGE_PARENT 1u  /* the pages are in the parent checkpoint */
#define CRIT_PAGE_LAZY 2u    /* lazy pages: not in the checkpoint */
#define CRIT_PAGE_PRESENT 4u /* the pages are in pages-N.img */

/* The memory of process pid (pagemap-PID.img and its pages file), pages
 * of page_size bytes (0: 4096). The checkpoint must stay open while the
 * memory object is. */
CRIT_API int crit_memory_open(crit_checkpoint *ck, uint32_t pid, size_t page_size, crit_memory **out,
			      crit_error *err);
CRIT_API void crit_memory_close(crit_memory *mem);
CRIT_API size_t crit_memory_page_size(const crit_memory *mem);
/* The regions in address order; *n their count. Owned by mem. */
CRIT_API const crit_region *crit_memory_regions(const crit_memory *mem, size_t *n);
/* len bytes at addr into out; every byte must be in the checkpoint (a hole,
 * lazy pages or pages of a missing parent are errors naming the address). */
CRIT_API int crit_memory_read(crit_memory *mem, uint64_t addr, size_t len, void *out,
			      crit_error *err);
/* Call found(addr, ctx) for every match of needle (overlapping ones too) in
 * the memory present, in address order; a non-zero return from found stops
 * the search, and is returned. Memory use is bounded whatever the size. */
typedef int (*crit_match_fn)(uint64_t addr, void *ctx);
CRIT_API int crit_memory_search(crit_memory *mem, const void *needle, size_t len, crit_match_fn found,
				void *ctx, crit_error *err);

/* --- Changing a checkpoint: the one write path ------------------------- */

typedef struct crit_txn crit_txn;

/* Take the lock of the checkpoint at path (a directory or an archive),
 * waiting up to wait_secs for another writer (< 0: without limit, 0: fail
 * at once), finish or undo what a killed writer left, and open the
 * checkpoint under the lock (crit_txn_checkpoint). */
CRIT_API int crit_txn_begin(const char *path, double wait_secs, crit_txn **out, crit_error *err);
/* The checkpoint as it is under the lock; owned by the transaction, and
 * replaced by a fresh one at each commit (call this again after one: it is
 * read again then, and NULL only when memory runs out doing so). */
CRIT_API crit_checkpoint *crit_txn_checkpoint(crit_txn *txn);
/* What the lock found and did ("finished an interrupted change ..."), or NULL. */
CRIT_API const char *crit_txn_report(const crit_txn *txn);
/* Stage the new content of the file name ("files.img") of the checkpoint:
 * nothing changes until crit_txn_commit. */
CRIT_API int crit_txn_stage(crit_txn *txn, const char *name, const void *data, size_t len,
			    crit_error *err);
/* Stage an image (encoded now: an image that cannot be written is refused here). */
CRIT_API int crit_txn_stage_image(crit_txn *txn, const char *name, const crit_image *img,
				  crit_error *err);
/* Keep the file name ("files.img") as it is now under the name as
 * ("files.img.orig") too, in the same commit: a backup beside the change,
 * as critlua's --backup makes. A file as already there is replaced; a name
 * that does not exist keeps nothing (and a file as goes). For an archive (rewritten whole), name
 * must be NULL and as is a suffix: the old archive is kept as PATH+as (not
 * replacing one already there: crit_txn_note says so) when a change is
 * committed. Dropped, like what is staged, by a commit or an abort. */
CRIT_API int crit_txn_keep(crit_txn *txn, const char *name, const char *as, crit_error *err);
/* Make every staged change at once, all or nothing, also under kill -9
 * (docs/TRANSACTIONS.md); an archive is rewritten beside itself and renamed
 * over. The lock stays held: more can be staged and committed. */
CRIT_API int crit_txn_commit(crit_txn *txn, crit_error *err);
/* A note of the last commit ("... kept as ..."), or NULL. */
CRIT_API const char *crit_txn_note(const crit_txn *txn);
/* Drop what is staged; the lock stays held. */
CRIT_API void crit_txn_abort(crit_txn *txn);
/* Drop what is staged, release the lock, free the transaction and its
 * checkpoint. */
CRIT_API void crit_txn_end(crit_txn *txn);

#ifdef __cplusplus
}
#endif

#endif
