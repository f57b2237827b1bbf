/* datasrc.h: the byte streams a checkpoint stores besides process memory
 * (pipe and FIFO buffers, socket queues, ghost files, tmpfs archives, ...):
 * a file of the checkpoint read in bounded pieces, its entries walked with
 * their payloads located (image.c's located reader), never loaded whole. */
#ifndef CRITLUA_DATASRC_H
#define CRITLUA_DATASRC_H

#include <stddef.h>
#include <stdint.h>

#include "ckarchive.h"
#include "image.h"
#include "util.h"

/* A file of a checkpoint: in a directory (fd) or a member of a container
 * archive (ar, m); label names it in messages (DIR/NAME, ARCHIVE:checkpoint/NAME). */
struct ds_file {
	int fd;
	const struct arch *ar;
	const struct arch_member *m;
	uint64_t size;
	char *label;
};

/* Open dir/name (a regular file, never waited on), or the member sub+name of
 * ar with label_dir standing for the directory. -1 with e naming the file. */
int ds_open(struct ds_file *f, const char *dir, const struct arch *ar, const char *sub, const char *label_dir,
	    const char *name, struct err *e);
void ds_close(struct ds_file *f);

/* len bytes at off, all of them, or -1 with e naming the file and offset. */
int ds_pread(struct ds_file *f, uint64_t off, void *buf, size_t len, struct err *e);

/* The entries of the image, one by one: cb(index, entry_off, mi, en, ctx)
 * with the payload located (en->extra_off, extra_len), not read; non-zero
 * stops and is returned. A corrupt image is an error naming the file, entry
 * and offset. */
typedef int (*ds_entry_fn)(size_t index, uint64_t entry_off, const struct magic_info *mi,
			   const struct img_entry *en, void *ctx);
int ds_entries(struct ds_file *f, ds_entry_fn cb, void *ctx, struct err *e);

/* The len bytes at off, in pieces of at most `chunk` (0: 1 MiB) bytes:
 * cb(pos + offset in the run, data, n, ctx); non-zero stops and is returned.
 * A run past the end of the file is an error naming both. */
typedef int (*ds_chunk_fn)(uint64_t pos, const uint8_t *data, size_t len, void *ctx);
int ds_chunks(struct ds_file *f, uint64_t off, uint64_t len, uint64_t pos, size_t chunk, ds_chunk_fn cb,
	      void *ctx, struct err *e);

/* The whole file as a tar stream (ckarchive.c's arch_stream_walk). */
int ds_tar(struct ds_file *f, arch_stream_member_fn member, arch_stream_data_fn data, void *ctx,
	   struct err *e);

#endif
