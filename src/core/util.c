/* util.c: buffers, error messages, reading whole files, atomic writes. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int buf_reserve(struct buf *b, size_t more)
{
	if (b->oom)
		return -1;
	if (b->cap - b->len >= more)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < more) {
		if (cap > SIZE_MAX / 2) {
			b->oom = 1;
			return -1;
		}
		cap *= 2;
	}
	uint8_t *p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

int buf_add(struct buf *b, const void *data, size_t n)
{
	if (!n)
		return b->oom ? -1 : 0;
	if (buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

int buf_addc(struct buf *b, char c)
{
	if (buf_reserve(b, 1) < 0)
		return -1;
	b->p[b->len++] = (uint8_t)c;
	return 0;
}

int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if (buf_reserve(b, (size_t)n + 1) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int buf_add_u32(struct buf *b, uint32_t v)
{
	uint8_t w[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	return buf_add(b, w, 4);
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
}

int err_oom(struct err *e)
{
	return err_set(e, "out of memory");
}

int err_is_oom(const struct err *e)
{
	return strstr(e->msg, "out of memory") != NULL;
}

int err_set(struct err *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
	char pre[512], old[sizeof e->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	size_t n = strlen(pre);
	if (n > sizeof e->msg - 3)
		n = sizeof e->msg - 3;
	memcpy(e->msg, pre, n);
	memcpy(e->msg + n, ": ", 2);
	size_t room = sizeof e->msg - n - 3, ol = strnlen(old, sizeof old - 1);
	if (ol > room)
		ol = room;
	memcpy(e->msg + n + 2, old, ol);
	e->msg[n + 2 + ol] = 0;
	return -1;
}

static int fd_of_path(const char *path);

int read_file(const char *path, uint8_t **out, size_t *len, struct err *e)
{
	/* "-", /dev/stdin, /dev/fd/N: a stream the user gave; any other name is
	 * opened without blocking and must be a regular file (a FIFO named like
	 * an image in a checkpoint would hang the read forever). */
	int stream = strcmp(path, "-") == 0 || strcmp(path, "/dev/stdin") == 0 || fd_of_path(path) >= 0;
	int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC | (stream ? 0 : O_NONBLOCK));
	if (fd < 0)
		return err_set(e, "cannot open: %s", strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		st.st_mode = 0; /* nothing known: read it as a stream */
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return err_set(e, "is a directory, not an image file");
	}
	if (!stream && !S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
		close(fd);
		return err_set(e, "is a %s, not an image file", file_kind(st.st_mode));
	}
	/* A device such as /dev/zero would be read without end; a terminal ends
	 * when its user says so. */
	if (S_ISCHR(st.st_mode) && !isatty(fd)) {
		if (fd)
			close(fd);
		return err_set(e, "is a character device, not an image file");
	}
	if (!stream && S_ISCHR(st.st_mode))
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); /* a terminal: its user types */
	int rc = read_fd(fd, S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size : 0, out, len, e);
	if (fd)
		close(fd);
	return rc;
}

int read_fd(int fd, size_t hint, uint8_t **out, size_t *len, struct err *e)
{
	size_t cap = hint ? hint + 1 : 65536, n = 0;
	uint8_t *p = malloc(cap);
	if (!p)
		return err_oom(e);
	for (;;) {
		if (cap - n < 2) {
			uint8_t *q = cap > SIZE_MAX / 2 ? NULL : realloc(p, cap * 2);
			if (!q) {
				free(p);
				return err_oom(e);
			}
			p = q;
			cap *= 2;
		}
		ssize_t got = read(fd, p + n, cap - n - 1);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;
			free(p);
			return err_set(e, "cannot read: %s", strerror(saved));
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	p[n] = 0;
	*out = p;
	*len = n;
	return 0;
}

const char *file_kind(mode_t m)
{
	if (S_ISREG(m))
		return "regular file";
	if (S_ISDIR(m))
		return "directory";
	if (S_ISFIFO(m))
		return "FIFO";
	if (S_ISCHR(m))
		return "character device";
	if (S_ISBLK(m))
		return "block device";
	if (S_ISSOCK(m))
		return "socket";
	if (S_ISLNK(m))
		return "symbolic link";
	return "special file";
}

int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int pread_all(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	uint8_t *p = buf;
	size_t done = 0;
	int rc = 0;
	while (done < len) {
		ssize_t n = pread(fd, p + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = 0;
			rc = -1;
			break;
		}
		done += (size_t)n;
	}
	if (got)
		*got = done;
	return rc;
}

static int write_file_replace(const char *path, const void *data, size_t len, const struct stat *old,
			      struct err *e);

/* The descriptor a path names when it is /dev/stdout, /dev/stderr, /dev/fd/N
 * or /proc/self/fd/N: written to directly, so that a shell's redirection
 * (appending or not) is honoured and nothing is renamed over the link. */
static int fd_of_path(const char *path)
{
	if (strcmp(path, "/dev/stdout") == 0)
		return 1;
	if (strcmp(path, "/dev/stderr") == 0)
		return 2;
	const char *n = NULL;
	if (strncmp(path, "/dev/fd/", 8) == 0)
		n = path + 8;
	else if (strncmp(path, "/proc/self/fd/", 14) == 0)
		n = path + 14;
	if (!n || !*n || strspn(n, "0123456789") != strlen(n) || strlen(n) > 6)
		return -1;
	return atoi(n);
}

static int write_in_place(const char *path, const void *data, size_t len, struct err *e)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC);
	if (fd < 0)
		return err_set(e, "cannot open for writing: %s", strerror(errno));
	if (write_all(fd, data, len) < 0) {
		int saved = errno;
		close(fd);
		return err_set(e, "cannot write: %s", strerror(saved));
	}
	if (close(fd) < 0)
		return err_set(e, "cannot write: %s", strerror(errno));
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, struct err *e)
{
	int direct = strcmp(path, "-") == 0 ? 1 : fd_of_path(path);
	if (direct >= 0) {
		if (write_all(direct, data, len) < 0)
			return err_set(e, "cannot write%s: %s", direct == 1 ? " to standard output" : "",
				       strerror(errno));
		return 0;
	}
	struct stat st;
	int exists = stat(path, &st) == 0;
	/* A device, FIFO or anything else under /dev or /proc: write in place,
	 * never replace it. */
	if (exists && (!S_ISREG(st.st_mode) || strncmp(path, "/dev/", 5) == 0 ||
		       strncmp(path, "/proc/", 6) == 0))
		return write_in_place(path, data, len, e);
	/* A symbolic link to an image: replace the file it points to, not the link. */
	char *real = NULL;
	struct stat lst;
	if (exists && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
		errno = 0;
		if ((real = realpath(path, NULL)))
			path = real;
		else if (errno == ENOMEM) /* else the link is replaced, as for a dangling one */
			return err_oom(e);
	}
	int rc = write_file_replace(path, data, len, exists ? &st : NULL, e);
	free(real);
	return rc;
}

int tmp_beside(const char *path, char **tmp, struct err *e)
{
	char *copy = strdup(path);
	*tmp = NULL;
	if (!copy)
		return err_oom(e);
	const char *dir = dirname(copy);
	size_t tn = strlen(dir) + 32;
	*tmp = malloc(tn);
	if (!*tmp) {
		free(copy);
		return err_oom(e);
	}
	snprintf(*tmp, tn, "%s/.critlua-XXXXXX", dir);
	free(copy);
	int fd = mkstemp(*tmp);
	if (fd < 0) {
		err_set(e, "cannot create a temporary file beside it: %s", strerror(errno));
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

/* The atomic part: a temporary file beside path, written, flushed, given
 * path's mode (and owner where allowed), then renamed over it. */
static int write_file_replace(const char *path, const void *data, size_t len, const struct stat *old,
			      struct err *e)
{
	struct stat st;
	int exists = old != NULL;
	if (exists)
		st = *old;
	char *tmp;
	int fd = tmp_beside(path, &tmp, e);
	if (fd < 0)
		return -1;
	mode_t mode = 0644;
	if (exists) {
		mode = st.st_mode & 07777;
		/* Keep the owner where we may (root rewriting a user's image). */
		if (fchown(fd, st.st_uid, st.st_gid) < 0) {
			/* not fatal: an unprivileged user cannot give files away */
		}
	} else {
		mode_t um = umask(0);
		umask(um);
		mode = 0666 & ~um;
	}
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		int saved = errno;
		close(fd);
		unlink(tmp);
		free(tmp);
		return err_set(e, "cannot write: %s", strerror(saved));
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		int saved = errno;
		unlink(tmp);
		free(tmp);
		return err_set(e, "cannot write: %s", strerror(saved));
	}
	free(tmp);
	return 0;
}
