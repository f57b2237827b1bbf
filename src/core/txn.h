/* txn.h: the one write path of a checkpoint (a directory or an archive):
 * a lock, staged images, and a commit that is all-or-nothing under kill -9.
 * See docs/TRANSACTIONS.md for the guarantees and the design. */
#ifndef CRITLUA_TXN_H
#define CRITLUA_TXN_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct txn;

/* The file beside a checkpoint (in its parent) that the lock is taken on,
 * the staged copy, and the marker inside a staged directory. */
#define TXN_LOCK_SUFFIX ".critlua-lock"
#define TXN_STAGE_SUFFIX ".critlua-txn"
#define TXN_MARKER ".critlua-txn"

/* Take the lock of the checkpoint at path (a directory, or an archive file),
 * waiting up to wait_secs for another writer (< 0: without limit; 0: fail at
 * once, naming the holder's pid), then finish or undo what a killed writer
 * left. *report gets a malloc'ed sentence saying which, or NULL. */
int txn_begin(struct txn **out, const char *path, double wait_secs, char **report, struct err *e);

/* Directory checkpoints: name (a file directly in it) will hold data once
 * committed; name is replaced by a regular file whatever it was (a symbolic
 * link is replaced, never followed). */
int txn_stage(struct txn *t, const char *name, const void *data, size_t len, struct err *e);
/* Directory checkpoints: name will hold a copy of the file it is now with
 * the patches applied in order (a pages file of gigabytes is copied by the
 * file system when it can, never read into memory, never changed in place).
 * Every patch must lie inside the file. */
struct txn_patch {
	uint64_t off;
	const void *data;
	size_t len;
};
int txn_stage_patched(struct txn *t, const char *name, const struct txn_patch *p, size_t np, struct err *e);
/* Keep the file name is now under the name `as` as well (a backup). */
int txn_keep(struct txn *t, const char *name, const char *as, struct err *e);

/* Archive checkpoints: a descriptor to write the whole new archive into (a
 * hidden sibling file, the archive's mode); the txn owns it. backup: keep
 * the old archive as PATH+backup (not replacing one already there: *note). */
int txn_stage_file(struct txn *t, int *fd, struct err *e);
int txn_keep_file(struct txn *t, const char *suffix, struct err *e);

/* Make every staged change at once. On failure nothing changed and the
 * staged files are gone. The lock stays held; the txn can stage again. */
int txn_commit(struct txn *t, char **note, struct err *e);
/* Drop what was staged; the lock stays held. */
void txn_abort(struct txn *t);
/* Abort what is pending, release the lock, free t. */
void txn_end(struct txn *t);

/* Whether a checkpoint has leftovers of a killed writer; if so and no writer
 * holds its lock, finish or undo them (readers are never blocked: when the
 * lock is held, nothing is done). *report as for txn_begin. */
void txn_recover_quick(const char *path, char **report);

/* Write one file: through a transaction on its directory when that is a
 * checkpoint (it holds inventory.img): locked, never through a symbolic
 * link, a link replaced by a regular file; else write_file_atomic. */
int txn_write_path(const char *path, const void *data, size_t len, struct err *e);

/* The real path of the checkpoint a txn is on (symbolic links resolved). */
const char *txn_path(const struct txn *t);

/* Read a whole image file without blocking: opened O_NONBLOCK, refused
 * unless it is a regular file ("is a FIFO, not an image file"). Returns 0,
 * -1 with e set, or 1 when it does not exist (ENOENT, e set too). */
int txn_read_regular(const char *path, uint8_t **out, size_t *len, struct err *e);

#endif
