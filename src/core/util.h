/* util.h: growable byte buffers, error messages, whole-file reading and
 * atomic file writing — the plain-C helpers every layer uses.
 *
 * A grab-bag, so one prefix per part rather than per file: buf_ (buffers),
 * err_ (messages), read_file / write_file_atomic (files), get_u32. They are
 * kept in one file because almost every file uses all of them.
 *
 * Nothing here exits: the core is libcrit, and a library never ends its
 * caller's process. Allocation failure is an error like any other ("out of
 * memory", err_oom), passed up to the public function that returns it. */
#ifndef CRITLUA_UTIL_H
#define CRITLUA_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct buf {
	uint8_t *p;
	size_t len, cap;
	int oom; /* an addition failed for want of memory: the content is incomplete */
};

/* Room for `more` bytes past len: 0, or -1 when memory runs out; then b->oom
 * is set and stays set (p, len and cap keep what they held, for buf_free).
 * The adders below do nothing once b->oom is set, so that a writer of many
 * small pieces checks once, at the end (buf_oom), instead of at each piece. */
int buf_reserve(struct buf *b, size_t more);
int buf_add(struct buf *b, const void *data, size_t n);
int buf_addc(struct buf *b, char c);
int buf_adds(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_add_u32(struct buf *b, uint32_t v); /* little-endian */
void buf_free(struct buf *b);
static inline int buf_oom(const struct buf *b)
{
	return b->oom;
}

/* An error message under construction; the caller adds the file name. */
struct err {
	char msg[1024];
};
int err_set(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "out of memory"; returns -1. */
int err_oom(struct err *e);
/* Whether e says memory ran out (any message with "out of memory" in it):
 * for a caller that takes other failures as "not there". */
int err_is_oom(const struct err *e);
/* Put "prefix: " before the message already there. */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Read a whole file (or "-" for stdin). Returns 0, or -1 with e set
 * ("cannot open: No such file or directory"). *out is malloc'ed (NUL-terminated
 * one past len, for text parsers). */
int read_file(const char *path, uint8_t **out, size_t *len, struct err *e);
/* The rest of fd (not closed) into *out, NUL-terminated, as read_file; hint:
 * the size expected, or 0. */
int read_fd(int fd, size_t hint, uint8_t **out, size_t *len, struct err *e);
/* What a file of mode m is, for messages: "FIFO", "block device", ... */
const char *file_kind(mode_t m);

/* Write data to path atomically: a temporary file in the same directory,
 * flushed and fsync'ed, then renamed over path; path's mode is kept when it
 * exists. When path exists and is not a regular file (a FIFO, /dev/stdout),
 * it is written in place. "-" writes to stdout. On failure path is untouched
 * and e says why. */
int write_file_atomic(const char *path, const void *data, size_t len, struct err *e);
/* All of data to fd, across short writes and EINTR; -1 with errno set. */
int write_all(int fd, const void *data, size_t len);
/* len bytes at off, through short reads and EINTR: 0, or -1 with errno set,
 * or -1 with errno 0 when the file ends first (*got says how much came). */
int pread_all(int fd, void *buf, size_t len, uint64_t off, size_t *got);
/* A new hidden temporary file in the directory of path (DIR/.critlua-XXXXXX),
 * for a write that renames it over path at the end: its descriptor, and its
 * name in *tmp (malloc'd); -1 with e set ("cannot create a temporary file
 * beside it: ..."). */
int tmp_beside(const char *path, char **tmp, struct err *e);

static inline uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
