/* ckarchive.c: container checkpoint archives through libarchive — indexing
 * in place or into an anonymous temporary file, reading members, and the
 * atomic rewrite. See ckarchive.h and docs/ARCHIVES.md. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "ckarchive.h"
#include "txn.h"

/* libarchive is loaded the first time an archive is opened, not linked: it
 * pulls in a dozen shared libraries (libxml2, ICU, the compressors) whose
 * loading would double the start-up time of every command. The functions are
 * called through pointers of the header's own types, under their own names. */
#define ARCH_FUNCS(X) \
	X(archive_entry_filetype) X(archive_entry_free) X(archive_entry_hardlink) \
	X(archive_entry_new) X(archive_entry_pathname) X(archive_entry_set_filetype) \
	X(archive_entry_set_gid) X(archive_entry_set_mtime) X(archive_entry_set_pathname) \
	X(archive_entry_set_perm) X(archive_entry_set_size) X(archive_entry_set_uid) \
	X(archive_entry_size) X(archive_entry_size_is_set) X(archive_entry_sparse_clear) \
	X(archive_entry_sparse_count) X(archive_entry_symlink) X(archive_error_string) \
	X(archive_filter_bytes) X(archive_filter_code) X(archive_filter_count) \
	X(archive_filter_name) X(archive_format) X(archive_format_name) \
	X(archive_read_data) X(archive_read_data_skip) X(archive_read_free) \
	X(archive_read_new) X(archive_read_next_header) X(archive_read_open_fd) \
	X(archive_read_support_filter_all) X(archive_read_support_format_gnutar) X(archive_read_support_format_tar) \
	X(archive_write_add_filter) X(archive_write_close) X(archive_write_data) \
	X(archive_write_free) X(archive_write_header) X(archive_write_new) \
	X(archive_write_open_fd) X(archive_write_set_format) X(archive_write_set_format_pax_restricted)

#define ARCH_SONAME "libarchive.so.13" /* libarchive 3 */

static struct {
#define X(f) __typeof__(&f) f;
	ARCH_FUNCS(X)
#undef X
} la;

static int arch_load_lib(struct err *e)
{
	static int loaded; /* 1: loaded, -1: failed */
	static char why[256];
	if (!loaded) {
		void *h = dlopen(ARCH_SONAME, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			h = dlopen("libarchive.so", RTLD_NOW | RTLD_LOCAL);
		loaded = h ? 1 : -1;
		if (!h)
			snprintf(why, sizeof why, "%s", dlerror());
#define X(f)                                                                                   \
	if (loaded > 0 && !(*(void **)&la.f = dlsym(h, #f))) {                                  \
		snprintf(why, sizeof why, "%s has no %s", ARCH_SONAME, #f);                      \
		loaded = -1;                                                                   \
	}
		ARCH_FUNCS(X)
#undef X
	}
	if (loaded < 0)
		return err_set(e, "reading archives needs libarchive (%s, Debian's libarchive13): %s",
			       ARCH_SONAME, why);
	return 0;
}

#define ARCH_BLOCK 65536

static const char *arch_errmsg(struct archive *ar, const char *fallback)
{
	const char *s = la.archive_error_string(ar);
	return s && *s ? s : fallback;
}

/* "./checkpoint//x/" -> "checkpoint/x" */
static char *arch_normalise(const char *name)
{
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	while (*name == '/')
		name++;
	char *s = xstrdup(name), *w = s;
	for (const char *p = s; *p; p++) {
		if (*p == '/' && w > s && w[-1] == '/')
			continue;
		if (*p == '/' && p[1] == '.' && p[2] == '/') {
			p++;
			continue;
		}
		*w++ = *p;
	}
	while (w > s && w[-1] == '/')
		w--;
	*w = 0;
	return s;
}

static int arch_write_all(int fd, const void *p, size_t len, uint64_t off)
{
	const uint8_t *b = p;
	while (len) {
		ssize_t n = pwrite(fd, b, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* An anonymous file for decompressed members: gone when closed, never
 * visible by name (O_TMPFILE), or unlinked the moment it exists. */
static int arch_tmpfile(struct err *e)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	size_t n = strlen(dir) + 32;
	char *tmp = xmalloc(n);
	snprintf(tmp, n, "%s/.critlua-archive-XXXXXX", dir);
	fd = mkstemp(tmp);
	if (fd >= 0)
		unlink(tmp);
	else
		err_set(e, "cannot create a temporary file in %s for the decompressed members: %s", dir,
			strerror(errno));
	free(tmp);
	return fd;
}

static int arch_cmp_sorted(const void *x, const void *y)
{
	const struct arch_member *a = *(const struct arch_member *const *)x;
	const struct arch_member *b = *(const struct arch_member *const *)y;
	int c = strcmp(a->name, b->name);
	if (c)
		return c;
	return a->order < b->order ? -1 : a->order > b->order;
}

static void arch_build_sorted(struct arch *a)
{
	a->sorted = xcalloc(a->n ? a->n : 1, sizeof *a->sorted);
	for (size_t i = 0; i < a->n; i++)
		a->sorted[i] = &a->m[i];
	qsort(a->sorted, a->n, sizeof *a->sorted, arch_cmp_sorted);
	/* a name given twice: the later member wins, as tar extracts it */
	size_t w = 0;
	for (size_t i = 0; i < a->n; i++) {
		if (w && strcmp(a->sorted[w - 1]->name, a->sorted[i]->name) == 0)
			w--;
		a->sorted[w++] = a->sorted[i];
	}
	a->nsorted = w;
}

static const char *arch_filter_label(int code)
{
	switch (code) {
	case ARCHIVE_FILTER_NONE:
		return "none";
	case ARCHIVE_FILTER_GZIP:
		return "gzip";
	case ARCHIVE_FILTER_ZSTD:
		return "zstd";
	case ARCHIVE_FILTER_XZ:
		return "xz";
	case ARCHIVE_FILTER_BZIP2:
		return "bzip2";
	case ARCHIVE_FILTER_LZ4:
		return "lz4";
	default:
		return NULL;
	}
}

static struct archive *arch_reader(int fd)
{
	struct archive *ar = la.archive_read_new();
	if (!ar) {
		fputs("critlua: out of memory\n", stderr);
		abort();
	}
	la.archive_read_support_filter_all(ar);
	la.archive_read_support_format_tar(ar);
	la.archive_read_support_format_gnutar(ar);
	if (lseek(fd, 0, SEEK_SET) < 0 || la.archive_read_open_fd(ar, fd, ARCH_BLOCK) != ARCHIVE_OK)
		return ar; /* the first next_header reports it */
	return ar;
}

/* Index one regular member: in place when the archive is not compressed and
 * the bytes at the offset prove to be the member's, else copied into the
 * temporary file. */
static int arch_index_data(struct arch *a, struct archive *ar, struct archive_entry *en,
			   struct arch_member *m, uint64_t *tmp_end, uint8_t *buf, struct err *e)
{
	int compressed = a->nfilters > 0;
	int sparse = la.archive_entry_sparse_count(en) > 0;
	uint64_t data_off = (uint64_t)la.archive_filter_bytes(ar, 0);
	size_t first = 0;
	if (!compressed && !sparse) {
		/* The offset libarchive has consumed up to is where the data starts;
		 * checked against the first block rather than trusted. */
		size_t want = m->size < 4096 ? (size_t)m->size : 4096;
		while (first < want) {
			la_ssize_t n = la.archive_read_data(ar, buf + first, want - first);
			if (n < 0)
				return err_set(e, "%s: %s: damaged or truncated archive: %s", a->path, m->name,
					       arch_errmsg(ar, "cannot read"));
			if (n == 0)
				break;
			first += (size_t)n;
		}
		if (first != want)
			return err_set(e, "%s: %s: truncated archive (the member ends early)", a->path, m->name);
		int same = data_off + m->size <= a->file_size;
		if (same && want) {
			uint8_t *chk = buf + ARCH_BLOCK;
			ssize_t n = pread(a->fd, chk, want, (off_t)data_off);
			same = n == (ssize_t)want && memcmp(chk, buf, want) == 0;
		}
		if (data_off + m->size > a->file_size)
			return err_set(e, "%s: %s: truncated archive (%llu bytes of data, the file ends %llu bytes "
					  "into them)",
				       a->path, m->name, (unsigned long long)m->size,
				       (unsigned long long)(a->file_size > data_off ? a->file_size - data_off : 0));
		if (same) {
			m->off = data_off;
			m->in_place = 1;
			if (la.archive_read_data_skip(ar) != ARCHIVE_OK)
				return err_set(e, "%s: %s: %s", a->path, m->name, arch_errmsg(ar, "cannot skip"));
			return 0;
		}
	}
	if (a->tmpfd < 0 && (a->tmpfd = arch_tmpfile(e)) < 0)
		return err_prefix(e, "%s", a->path);
	m->off = *tmp_end;
	uint64_t at = 0;
	if (first) {
		if (arch_write_all(a->tmpfd, buf, first, m->off) < 0)
			return err_set(e, "%s: cannot write the temporary file: %s", a->path, strerror(errno));
		at = first;
	}
	for (;;) {
		la_ssize_t n = la.archive_read_data(ar, buf, ARCH_BLOCK);
		if (n < 0)
			return err_set(e, "%s: %s: damaged or truncated archive: %s", a->path, m->name,
				       arch_errmsg(ar, "cannot read"));
		if (n == 0)
			break;
		if (at + (uint64_t)n > m->size)
			return err_set(e, "%s: %s: more data than its header says", a->path, m->name);
		if (arch_write_all(a->tmpfd, buf, (size_t)n, m->off + at) < 0)
			return err_set(e, "%s: cannot write the temporary file (for %s): %s", a->path, m->name,
				       strerror(errno));
		at += (uint64_t)n;
	}
	if (at != m->size)
		return err_set(e, "%s: %s: truncated archive (%llu of %llu bytes)", a->path, m->name,
			       (unsigned long long)at, (unsigned long long)m->size);
	*tmp_end = m->off + m->size;
	return 0;
}

int arch_open(struct arch *a, const char *path, struct err *e)
{
	memset(a, 0, sizeof *a);
	a->fd = a->tmpfd = -1;
	a->path = xstrdup(path);
	struct stat st;
	if (arch_load_lib(e) < 0) {
		err_prefix(e, "%s", path);
		goto fail;
	}
	if ((a->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(a->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_set(e, "%s: not a regular file", path);
		goto fail;
	}
	a->file_size = (uint64_t)st.st_size;
	struct archive *ar = arch_reader(a->fd);
	struct archive_entry *en;
	uint8_t *buf = xmalloc(2 * ARCH_BLOCK);
	uint64_t tmp_end = 0, last_end = 0;
	size_t cap = 0;
	int rc = 0, sparse = 0;
	for (;;) {
		int r = la.archive_read_next_header(ar, &en);
		if (r == ARCHIVE_EOF) {
			/* A tar ends with zero blocks; a stream that stops at a member's
			 * end (cut at a 512-byte boundary) is truncated, not complete. */
			if (a->n && !sparse && (uint64_t)la.archive_filter_bytes(ar, 0) <= last_end)
				rc = err_set(e, "%s: truncated archive: it stops after %s, without the end-of-archive "
						"blocks",
					     path, a->m[a->n - 1].name);
			break;
		}
		if (r < ARCHIVE_WARN) {
			const char *msg = arch_errmsg(ar, "cannot read");
			if (a->n == 0 && strstr(msg, "Unrecognized archive format"))
				rc = err_set(e, "%s: neither a checkpoint directory nor a checkpoint archive "
						"(.tar, .tar.gz, .tar.zst)",
					     path);
			else
				rc = err_set(e, "%s: damaged or truncated archive: %s", path, msg);
			break;
		}
		if (a->n == 0) {
			int nf = la.archive_filter_count(ar);
			for (int i = 0; i < nf && a->nfilters < 8; i++) {
				int code = la.archive_filter_code(ar, i);
				if (code != ARCHIVE_FILTER_NONE)
					a->filters[a->nfilters++] = code;
			}
			const char *label = a->nfilters ? arch_filter_label(a->filters[0]) : "none";
			a->compression = xstrdup(label ? label : la.archive_filter_name(ar, 0));
			a->format = la.archive_format(ar);
			a->format_name = xstrdup(la.archive_format_name(ar) ? la.archive_format_name(ar) : "tar");
		}
		if (a->n == cap)
			a->m = xrealloc(a->m, (cap = cap ? 2 * cap : 64) * sizeof *a->m);
		struct arch_member *m = &a->m[a->n++];
		memset(m, 0, sizeof *m);
		m->order = a->n - 1;
		const char *pn = la.archive_entry_pathname(en);
		m->name = arch_normalise(pn ? pn : "");
		mode_t ft = la.archive_entry_filetype(en);
		const char *hl = la.archive_entry_hardlink(en);
		if (hl) {
			m->type = ARCH_OTHER;
			m->link = arch_normalise(hl);
		} else if (ft == AE_IFREG) {
			m->type = ARCH_FILE;
		} else if (ft == AE_IFDIR) {
			m->type = ARCH_DIR;
		} else if (ft == AE_IFLNK) {
			m->type = ARCH_SYMLINK;
			const char *t = la.archive_entry_symlink(en);
			m->link = xstrdup(t ? t : "");
		} else {
			m->type = ARCH_OTHER;
		}
		last_end = (uint64_t)la.archive_filter_bytes(ar, 0);
		if (la.archive_entry_sparse_count(en) > 0)
			sparse = 1;
		if (m->type == ARCH_FILE) {
			m->size = la.archive_entry_size_is_set(en) && la.archive_entry_size(en) > 0
					  ? (uint64_t)la.archive_entry_size(en)
					  : 0;
			last_end += (m->size + 511) / 512 * 512;
			if ((rc = arch_index_data(a, ar, en, m, &tmp_end, buf, e)) < 0)
				break;
		}
	}
	free(buf);
	la.archive_read_free(ar);
	if (rc < 0)
		goto fail;
	if (a->n == 0) {
		err_set(e, "%s: an empty archive: no checkpoint/ directory in it", path);
		goto fail;
	}
	arch_build_sorted(a);
	if (!arch_has_prefix(a, ARCH_CKPT_DIR)) {
		err_set(e, "%s: no checkpoint/ directory in the archive: not a container checkpoint "
			   "(Podman and CRI-O put CRIU's images under checkpoint/)",
			path);
		goto fail;
	}
	return 0;
fail:
	arch_close(a);
	return -1;
}

void arch_close(struct arch *a)
{
	if (a->fd >= 0)
		close(a->fd);
	if (a->tmpfd >= 0)
		close(a->tmpfd);
	for (size_t i = 0; i < a->n; i++) {
		free(a->m[i].name);
		free(a->m[i].link);
	}
	free(a->m);
	free(a->sorted);
	free(a->path);
	free(a->compression);
	free(a->format_name);
	memset(a, 0, sizeof *a);
	a->fd = a->tmpfd = -1;
}

static size_t arch_lower_bound(const struct arch *a, const char *name)
{
	size_t lo = 0, hi = a->nsorted;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(a->sorted[mid]->name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct arch_member *arch_find(const struct arch *a, const char *name)
{
	size_t i = arch_lower_bound(a, name);
	return i < a->nsorted && strcmp(a->sorted[i]->name, name) == 0 ? a->sorted[i] : NULL;
}

int arch_has_prefix(const struct arch *a, const char *prefix)
{
	size_t i = arch_lower_bound(a, prefix), n = strlen(prefix);
	if (i < a->nsorted && strncmp(a->sorted[i]->name, prefix, n) == 0)
		return 1;
	/* the directory's own entry: "checkpoint" for "checkpoint/" */
	if (n && prefix[n - 1] == '/') {
		char *dir = xstrdup(prefix);
		dir[n - 1] = 0;
		const struct arch_member *m = arch_find(a, dir);
		free(dir);
		return m && m->type == ARCH_DIR;
	}
	return 0;
}

int arch_pread(const struct arch *a, const struct arch_member *m, uint64_t off, void *buf, size_t len,
	       struct err *e)
{
	if (m->type != ARCH_FILE)
		return err_set(e, "%s:%s: not a regular file in the archive", a->path, m->name);
	if (off > m->size || len > m->size - off)
		return err_set(e, "%s:%s: %zu bytes at offset 0x%llx run past its end (%llu bytes)", a->path,
			       m->name, len, (unsigned long long)off, (unsigned long long)m->size);
	int fd = m->in_place ? a->fd : a->tmpfd;
	uint8_t *p = buf;
	off += m->off;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* a hole of a sparse member at the end of the temporary file */
			if (n == 0 && !m->in_place) {
				memset(p, 0, len);
				return 0;
			}
			return err_set(e, "%s:%s: %s", a->path, m->name,
				       n < 0 ? strerror(errno) : "the archive file became shorter");
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int arch_read_all(const struct arch *a, const struct arch_member *m, uint8_t **out, size_t *len,
		  struct err *e)
{
	if (m->size >= SIZE_MAX)
		return err_set(e, "%s:%s: too large", a->path, m->name);
	uint8_t *b = xmalloc((size_t)m->size + 1);
	if (arch_pread(a, m, 0, b, (size_t)m->size, e) < 0) {
		free(b);
		return -1;
	}
	b[m->size] = 0;
	*out = b;
	*len = (size_t)m->size;
	return 0;
}

int arch_load_img(const struct arch *a, const char *name, const char *label, struct img *out,
		  struct err *e)
{
	memset(out, 0, sizeof *out);
	const struct arch_member *m = arch_find(a, name);
	if (!m)
		return err_set(e, "%s: no such member in the archive", label);
	uint8_t *buf;
	size_t len;
	if (arch_read_all(a, m, &buf, &len, e) < 0)
		return -1;
	int rc = img_decode_named(label, buf, len, out, e);
	free(buf);
	if (rc < 0)
		return err_prefix(e, "%s", label);
	return 0;
}

/* ---- the rewrite ---- */

static struct arch_put *arch_put_find(struct arch_put *puts, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(puts[i].name, name) == 0)
			return &puts[i];
	return NULL;
}

static int arch_write_data(struct archive *w, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len) {
		la_ssize_t n = la.archive_write_data(w, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* For tests: CRITLUA_ARCHIVE_FAIL_AFTER=N fails the rewrite after N members
 * were written to the new archive, to show that nothing is left behind. */
static int arch_injected(size_t written, struct err *e)
{
	const char *s = getenv("CRITLUA_ARCHIVE_FAIL_AFTER");
	if (s && *s && written >= (size_t)strtoul(s, NULL, 10))
		return err_set(e, "failure injected by CRITLUA_ARCHIVE_FAIL_AFTER=%s after %zu member(s)", s,
			       written);
	return 0;
}

static int arch_copy_all(struct arch *a, struct archive *w, struct arch_put *puts, size_t nputs,
			 struct err *e)
{
	struct archive *r = arch_reader(a->fd);
	struct archive_entry *en;
	uint8_t *buf = xmalloc(ARCH_BLOCK);
	size_t written = 0;
	int rc = 0;
	time_t now = time(NULL);
	while (rc == 0) {
		int s = la.archive_read_next_header(r, &en);
		if (s == ARCHIVE_EOF)
			break;
		if (s < ARCHIVE_WARN) {
			rc = err_set(e, "%s: %s", a->path, arch_errmsg(r, "cannot read"));
			break;
		}
		if ((rc = arch_injected(written, e)) < 0)
			break;
		char *name = arch_normalise(la.archive_entry_pathname(en) ? la.archive_entry_pathname(en) : "");
		struct arch_put *p = la.archive_entry_filetype(en) == AE_IFREG && !la.archive_entry_hardlink(en)
					     ? arch_put_find(puts, nputs, name)
					     : NULL;
		free(name);
		la.archive_entry_sparse_clear(en);
		if (p) {
			la.archive_entry_set_size(en, (la_int64_t)p->len);
			la.archive_entry_set_mtime(en, now, 0);
			if (la.archive_write_header(w, en) < ARCHIVE_WARN || arch_write_data(w, p->data, p->len) < 0)
				rc = err_set(e, "cannot write %s: %s", p->name, arch_errmsg(w, "write error"));
			p->done = 1;
			if (la.archive_read_data_skip(r) != ARCHIVE_OK && rc == 0)
				rc = err_set(e, "%s: %s", a->path, arch_errmsg(r, "cannot read"));
		} else {
			if (la.archive_write_header(w, en) < ARCHIVE_WARN) {
				rc = err_set(e, "cannot write %s: %s", la.archive_entry_pathname(en),
					     arch_errmsg(w, "write error"));
				break;
			}
			for (;;) {
				la_ssize_t n = la.archive_read_data(r, buf, ARCH_BLOCK);
				if (n < 0) {
					rc = err_set(e, "%s: %s", a->path, arch_errmsg(r, "cannot read"));
					break;
				}
				if (n == 0)
					break;
				if (arch_write_data(w, buf, (size_t)n) < 0) {
					rc = err_set(e, "cannot write %s: %s", la.archive_entry_pathname(en),
						     arch_errmsg(w, "write error"));
					break;
				}
			}
		}
		written++;
	}
	/* images the archive did not have: after the rest, under checkpoint/ */
	for (size_t i = 0; rc == 0 && i < nputs; i++) {
		if (puts[i].done)
			continue;
		if ((rc = arch_injected(written, e)) < 0)
			break;
		struct archive_entry *ne = la.archive_entry_new();
		la.archive_entry_set_pathname(ne, puts[i].name);
		la.archive_entry_set_filetype(ne, AE_IFREG);
		la.archive_entry_set_perm(ne, 0600);
		la.archive_entry_set_size(ne, (la_int64_t)puts[i].len);
		la.archive_entry_set_mtime(ne, now, 0);
		la.archive_entry_set_uid(ne, getuid());
		la.archive_entry_set_gid(ne, getgid());
		if (la.archive_write_header(w, ne) < ARCHIVE_WARN ||
		    arch_write_data(w, puts[i].data, puts[i].len) < 0)
			rc = err_set(e, "cannot write %s: %s", puts[i].name, arch_errmsg(w, "write error"));
		la.archive_entry_free(ne);
		puts[i].done = 1;
		written++;
	}
	if (rc == 0)
		rc = arch_injected(written, e);
	free(buf);
	la.archive_read_free(r);
	return rc;
}

/* The new archive is written into the file the transaction stages (a hidden
 * sibling), then the transaction renames it over the archive: under the
 * checkpoint's lock, and undone by the next run if this one is killed. */
int arch_rewrite(struct arch *a, struct arch_put *puts, size_t nputs, const char *backup, struct txn *txn,
		 char **note, struct err *e)
{
	*note = NULL;
	struct txn *own = NULL;
	if (!txn) {
		char *report = NULL;
		if (txn_begin(&own, a->path, 10, &report, e) < 0)
			return -1;
		if (report) {
			fprintf(stderr, "critlua: %s\n", report);
			free(report);
		}
		txn = own;
	}
	int fd;
	if (txn_stage_file(txn, &fd, e) < 0) {
		txn_end(own);
		return -1;
	}
	int rc = 0;
	struct archive *w = la.archive_write_new();
	for (int i = 0; rc == 0 && i < a->nfilters; i++)
		if (la.archive_write_add_filter(w, a->filters[i]) != ARCHIVE_OK)
			rc = err_set(e, "%s: cannot write %s compression: %s", a->path, a->compression,
				     arch_errmsg(w, "unsupported"));
	if (rc == 0 && la.archive_write_set_format(w, a->format) != ARCHIVE_OK &&
	    la.archive_write_set_format_pax_restricted(w) != ARCHIVE_OK)
		rc = err_set(e, "%s: cannot write the %s format: %s", a->path, a->format_name,
			     arch_errmsg(w, "unsupported"));
	if (rc == 0 && la.archive_write_open_fd(w, fd) != ARCHIVE_OK)
		rc = err_set(e, "%s: %s", a->path, arch_errmsg(w, "cannot open its new copy"));
	if (rc == 0)
		rc = arch_copy_all(a, w, puts, nputs, e);
	if (rc == 0 && la.archive_write_close(w) != ARCHIVE_OK)
		rc = err_set(e, "%s: %s", a->path, arch_errmsg(w, "cannot write its new copy"));
	la.archive_write_free(w);
	if (rc == 0 && backup)
		rc = txn_keep_file(txn, backup, e);
	if (rc == 0)
		rc = txn_commit(txn, note, e);
	else
		txn_abort(txn);
	txn_end(own);
	return rc;
}
