/* ckarchive.c: container checkpoint archives through libarchive — indexing
 * without copying (members in place, sparse ones by their stored runs),
 * decompressing a member of a compressed archive the first time it is read,
 * within bounds, and the atomic rewrite. See ckarchive.h and docs/ARCHIVES.md. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
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
	X(archive_entry_sparse_count) X(archive_entry_sparse_reset) X(archive_entry_sparse_next) \
	X(archive_entry_symlink) X(archive_errno) X(archive_error_string) \
	X(archive_filter_bytes) X(archive_filter_code) X(archive_filter_count) \
	X(archive_filter_name) X(archive_format) X(archive_format_name) \
	X(archive_read_data) X(archive_read_data_block) X(archive_read_data_skip) X(archive_read_free) \
	X(archive_read_new) X(archive_read_next_header) X(archive_read_open2) \
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

/* Loaded once, for every thread (libcrit's callers may open archives from
 * several), under a lock rather than pthread_once: a load that failed (out
 * of memory in dlopen) is tried again by the next archive opened. */
static pthread_mutex_t la_lock = PTHREAD_MUTEX_INITIALIZER;
static int la_loaded; /* 1: loaded, -1: failed */
static char la_why[256];

static void arch_load_once(void)
{
	void *h = dlopen(ARCH_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		h = dlopen("libarchive.so", RTLD_NOW | RTLD_LOCAL);
	la_loaded = h ? 1 : -1;
	if (!h)
		snprintf(la_why, sizeof la_why, "%s", dlerror());
#define X(f)                                                                                   \
	if (la_loaded > 0 && !(*(void **)&la.f = dlsym(h, #f))) {                               \
		snprintf(la_why, sizeof la_why, "%s has no %s", ARCH_SONAME, #f);                \
		la_loaded = -1;                                                                \
	}
	ARCH_FUNCS(X)
#undef X
}

static int arch_load_lib(struct err *e)
{
	pthread_mutex_lock(&la_lock);
	if (la_loaded <= 0)
		arch_load_once();
	int rc = la_loaded > 0 ? 0
			       : err_set(e, "reading archives needs libarchive (%s, Debian's libarchive13): %s",
					 ARCH_SONAME, la_why);
	pthread_mutex_unlock(&la_lock);
	return rc;
}

#define ARCH_BLOCK 65536
/* Members of a compressed archive kept as they pass during the opening pass
 * (the small images every command reads: pages files left out), so that
 * `x ps` does not go through the stream again for each: at most this much
 * each, and in all, and only within the bound and the free space. */
#define ARCH_EAGER_MEMBER ((uint64_t)256 << 10)
#define ARCH_EAGER_TOTAL ((uint64_t)8 << 20)
/* The default bound on $TMPDIR: max(ARCH_TMP_FLOOR, ARCH_TMP_RATIO x the archive). */
#define ARCH_TMP_FLOOR ((uint64_t)256 << 20)
#define ARCH_TMP_RATIO 64

static const char *arch_errmsg(struct archive *ar, const char *fallback)
{
	if (la.archive_errno(ar) == ENOMEM) /* libarchive says "Can't allocate ...": say it plainly */
		return "out of memory";
	const char *s = la.archive_error_string(ar);
	return s && *s ? s : fallback;
}

/* "./checkpoint//x/" -> "checkpoint/x"; NULL when memory runs out */
static char *arch_normalise(const char *name)
{
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	while (*name == '/')
		name++;
	char *s = strdup(name), *w = s;
	if (!s)
		return NULL;
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
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			return -1;
		}
		b += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static const char *arch_tmpdir(void)
{
	const char *dir = getenv("TMPDIR");
	return dir && *dir ? dir : "/tmp";
}

/* An anonymous file for decompressed members: gone when closed, never
 * visible by name (O_TMPFILE), or unlinked the moment it exists. */
static int arch_tmpfile(struct err *e)
{
	const char *dir = arch_tmpdir();
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	size_t n = strlen(dir) + 32;
	char *tmp = malloc(n);
	if (!tmp)
		return err_oom(e);
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

int arch_is_read_name(const char *name)
{
	static const char *const meta[] = { "config.dump", "spec.dump", "network.status", "stats-dump",
					    "rootfs-diff.tar", "status", "status.dump", "checkpoint",
					    "checkpoint/stats-dump",
					    "checkpoint/stats-restore", ARCH_POD_OPTIONS, "pod.dump" };
	for (size_t i = 0; i < sizeof meta / sizeof *meta; i++)
		if (strcmp(name, meta[i]) == 0)
			return 1;
	size_t n = strlen(name), d = strlen(ARCH_CKPT_DIR);
	return n > d + 4 && strncmp(name, ARCH_CKPT_DIR, d) == 0 && strcmp(name + n - 4, ".img") == 0;
}

int arch_tmp_limit(uint64_t file_size, uint64_t *out, struct err *e)
{
	const char *s = getenv("CRITLUA_ARCHIVE_TMP_MAX");
	if (!s || !*s) {
		uint64_t r = file_size > UINT64_MAX / ARCH_TMP_RATIO ? UINT64_MAX : file_size * ARCH_TMP_RATIO;
		*out = r > ARCH_TMP_FLOOR ? r : ARCH_TMP_FLOOR;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = 0;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	case 'T': case 't': shift = 40; end++; break;
	}
	if (errno || end == s || *end || s[0] == '-' || (shift && v > (UINT64_MAX >> shift)))
		return err_set(e, "CRITLUA_ARCHIVE_TMP_MAX=%s: a number of bytes expected (suffixes K, M, G, T)",
			       s);
	*out = (uint64_t)v << shift;
	return 0;
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

static int arch_build_sorted(struct arch *a)
{
	a->sorted = calloc(a->n ? a->n : 1, sizeof *a->sorted);
	if (!a->sorted)
		return -1;
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
	return 0;
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

/* A reader's own position in the archive file: libarchive reads through
 * these callbacks with pread, so that several readers (the opening pass, a
 * later expansion, the rewrite) never move each other, and a skip over an
 * uncompressed member is arithmetic, not reading. After a skip the reads
 * start small and double: the opening pass skips every pages file, and a
 * whole block read after each only to find the next header a few KiB on
 * copied 65 MB for a 143 MB archive of 7 000 members. */
#define ARCH_SKIP_READ 4096
struct arch_src {
	int fd;
	off_t pos;
	off_t size; /* the file's when the reader opened it: skips stop there */
	size_t want; /* the next read's size */
	off_t buf_at; /* the file offset buf[0] was read from */
	size_t buf_len; /* and how many bytes the read gave */
	uint8_t buf[ARCH_BLOCK];
};

static la_ssize_t arch_src_read(struct archive *ar, void *cd, const void **out)
{
	struct arch_src *s = cd;
	for (;;) {
		ssize_t n = pread(s->fd, s->buf, s->want, s->pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			(void)ar;
			s->buf_len = 0;
			return -1;
		}
		s->buf_at = s->pos;
		s->buf_len = (size_t)n;
		s->pos += n;
		if (s->want < sizeof s->buf)
			s->want *= 2;
		*out = s->buf;
		return n;
	}
}

static la_int64_t arch_src_skip(struct archive *ar, void *cd, la_int64_t req)
{
	(void)ar;
	struct arch_src *s = cd;
	if (req <= 0)
		return 0;
	/* never past the end: libarchive then reads the rest and sees it short */
	la_int64_t left = s->size > s->pos ? (la_int64_t)(s->size - s->pos) : 0;
	if (req > left)
		req = left;
	s->pos += req;
	s->want = ARCH_SKIP_READ;
	return req;
}

static int arch_src_close(struct archive *ar, void *cd)
{
	(void)ar;
	free(cd);
	return ARCHIVE_OK;
}

/* NULL when memory runs out; *src (when given) is its source, freed with it */
static struct archive *arch_reader(int fd, struct arch_src **src)
{
	struct archive *ar = la.archive_read_new();
	struct arch_src *s = ar ? malloc(sizeof *s) : NULL;
	if (src)
		*src = s;
	if (!s) {
		if (ar)
			la.archive_read_free(ar);
		return NULL;
	}
	la.archive_read_support_filter_all(ar);
	la.archive_read_support_format_tar(ar);
	la.archive_read_support_format_gnutar(ar);
	struct stat st;
	s->fd = fd;
	s->pos = 0;
	s->size = fstat(fd, &st) == 0 ? st.st_size : 0;
	s->want = sizeof s->buf;
	s->buf_at = 0;
	s->buf_len = 0;
	/* on failure the first next_header reports it (close frees s either way) */
	la.archive_read_open2(ar, s, NULL, arch_src_read, arch_src_skip, arch_src_close);
	return ar;
}

/* Append a stored run to m, merged with the last when they continue each
 * other; -1 (nothing added) when memory runs out. */
static int arch_add_seg(struct arch_member *m, size_t *cap, uint64_t lo, uint64_t len, uint64_t fo)
{
	if (!len)
		return 0;
	if (m->nsegs) {
		struct arch_seg *l = &m->segs[m->nsegs - 1];
		if (l->lo + l->len == lo && l->fo + l->len == fo) {
			l->len += len;
			return 0;
		}
	}
	if (m->nsegs == *cap) {
		size_t c = *cap ? 2 * *cap : 4;
		struct arch_seg *v = realloc(m->segs, c * sizeof *m->segs);
		if (!v)
			return -1;
		m->segs = v;
		*cap = c;
	}
	m->segs[m->nsegs++] = (struct arch_seg){ lo, len, fo };
	return 0;
}

static void arch_drop_segs(struct arch_member *m)
{
	free(m->segs);
	m->segs = NULL;
	m->nsegs = 0;
	m->in_place = m->expanded = 0;
}

static const char *arch_human(uint64_t n, char *buf, size_t len)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	if (n < 1024) {
		snprintf(buf, len, "%llu bytes", (unsigned long long)n);
		return buf;
	}
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

/* Whether m's stored bytes fit in the bound on $TMPDIR and in its free
 * space; -1 with e naming m when not. */
static int arch_room(struct arch *a, const struct arch_member *m, struct err *e)
{
	char h1[32], h2[32], h3[32];
	if (m->stored > a->tmp_max || a->tmp_used > a->tmp_max - m->stored)
		return err_set(e, "%s: %s: reading it needs %s in $TMPDIR (%s), above the bound of %s for this "
				  "archive (%s already used; set CRITLUA_ARCHIVE_TMP_MAX to change it)",
			       a->path, m->name, arch_human(m->stored, h1, sizeof h1), arch_tmpdir(),
			       arch_human(a->tmp_max, h2, sizeof h2), arch_human(a->tmp_used, h3, sizeof h3));
	if (a->tmpfd < 0 && (a->tmpfd = arch_tmpfile(e)) < 0)
		return err_prefix(e, "%s: %s", a->path, m->name);
	struct statvfs vfs;
	if (m->stored && fstatvfs(a->tmpfd, &vfs) == 0) {
		uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
		if (m->stored > avail)
			return err_set(e, "%s: %s: reading it needs %s in $TMPDIR (%s), which has %s free", a->path,
				       m->name, arch_human(m->stored, h1, sizeof h1), arch_tmpdir(),
				       arch_human(avail, h2, sizeof h2));
	}
	return 0;
}

/* The next stored run of member m from ar: 1, 0 at its end, or -1 with e
 * naming the member (and m's runs dropped) when the archive is damaged. */
static int arch_next_block(struct arch *a, struct archive *ar, struct arch_member *m, const void **p,
			   size_t *n, la_int64_t *off, struct err *e)
{
	int r = la.archive_read_data_block(ar, p, n, off);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN) {
		arch_drop_segs(m);
		return err_set(e, "%s: %s: damaged or truncated archive: %s", a->path, m->name,
			       arch_errmsg(ar, "cannot read"));
	}
	return 1;
}

/* Decompress m's data from ar (positioned at it) into the temporary file:
 * only the stored runs, holes left out, and never more than m says it stores,
 * than the bound on $TMPDIR leaves, or than its file system has free. */
static int arch_expand(struct arch *a, struct archive *ar, struct arch_member *m, struct err *e)
{
	char h1[32];
	if (arch_room(a, m, e) < 0)
		return -1;
	size_t cap = 0;
	uint64_t done = 0, base = a->tmp_used;
	for (;;) {
		const void *p;
		size_t n;
		la_int64_t off;
		int r = arch_next_block(a, ar, m, &p, &n, &off, e);
		if (r <= 0) {
			if (r == 0)
				break;
			return -1;
		}
		if (!n)
			continue;
		if (off < 0 || (uint64_t)off > m->size || n > m->size - (uint64_t)off || n > m->stored - done) {
			arch_drop_segs(m);
			return err_set(e, "%s: %s: more data than its header says (%s)", a->path, m->name,
				       arch_human(m->stored, h1, sizeof h1));
		}
		if (arch_write_all(a->tmpfd, p, n, base + done) < 0) {
			int en = errno;
			arch_drop_segs(m);
			return err_set(e, "%s: %s: cannot write it to the temporary file in %s: %s", a->path, m->name,
				       arch_tmpdir(), strerror(en));
		}
		if (arch_add_seg(m, &cap, (uint64_t)off, n, base + done) < 0) {
			arch_drop_segs(m);
			return err_set(e, "%s: %s: out of memory", a->path, m->name);
		}
		done += n;
	}
	if (!m->sparse && done != m->size) {
		arch_drop_segs(m);
		return err_set(e, "%s: %s: truncated archive (%llu of %llu bytes)", a->path, m->name,
			       (unsigned long long)done, (unsigned long long)m->size);
	}
	a->tmp_used += done;
	m->expanded = 1;
	return 0;
}

/* An uncompressed sparse member, in place: its stored runs follow each
 * other from where the data starts; each is checked against the file as it
 * is read, and any surprise leaves the member to be expanded when read. */
static int arch_index_sparse(struct arch *a, struct archive *ar, struct arch_member *m, uint8_t *chk,
			     struct err *e)
{
	uint64_t fo = (uint64_t)la.archive_filter_bytes(ar, 0);
	size_t cap = 0;
	int same = 1;
	for (;;) {
		const void *p;
		size_t n;
		la_int64_t off;
		int r = arch_next_block(a, ar, m, &p, &n, &off, e);
		if (r <= 0) {
			if (r == 0)
				break;
			return -1;
		}
		if (!n || !same)
			continue;
		if (off < 0 || (uint64_t)off > m->size || n > m->size - (uint64_t)off) {
			arch_drop_segs(m);
			return err_set(e, "%s: %s: more data than its header says", a->path, m->name);
		}
		for (size_t at = 0; same && at < n;) {
			size_t k = n - at < ARCH_BLOCK ? n - at : ARCH_BLOCK;
			same = pread(a->fd, chk, k, (off_t)(fo + at)) == (ssize_t)k &&
			       memcmp(chk, (const uint8_t *)p + at, k) == 0;
			at += k;
		}
		if (same && arch_add_seg(m, &cap, (uint64_t)off, n, fo) < 0)
			same = 0; /* no map of it: expanded when read, as for any surprise */
		fo += n;
	}
	if (same)
		m->in_place = 1;
	else
		arch_drop_segs(m);
	return 0;
}

/* Index one regular member: in place when the archive is not compressed and
 * the bytes at the offset prove to be the member's; a small image of a
 * compressed one expanded now (it passes by anyway); the rest when read. */
static int arch_index_data(struct arch *a, struct archive *ar, const struct arch_src *src, struct arch_member *m,
			   uint64_t *eager, uint8_t *buf, struct err *e)
{
	int compressed = a->nfilters > 0;
	if (!compressed && m->sparse)
		return arch_index_sparse(a, ar, m, buf, e);
	if (compressed) {
		const char *base = strrchr(m->name, '/');
		base = base ? base + 1 : m->name;
		struct err room;
		if (arch_is_read_name(m->name) && strncmp(base, "pages-", 6) != 0 && m->stored <= ARCH_EAGER_MEMBER &&
		    *eager + m->stored <= ARCH_EAGER_TOTAL && arch_room(a, m, &room) == 0) {
			*eager += m->stored;
			return arch_expand(a, ar, m, e);
		}
		if (la.archive_read_data_skip(ar) != ARCHIVE_OK)
			return err_set(e, "%s: %s: damaged or truncated archive: %s", a->path, m->name,
				       arch_errmsg(ar, "cannot read"));
		return 0;
	}
	uint64_t data_off = (uint64_t)la.archive_filter_bytes(ar, 0);
	size_t first = 0;
	/* The offset libarchive has consumed up to is where the data starts;
	 * checked against the first tar block (512 bytes) rather than trusted:
	 * a wrong offset shows there, and more only costs copying (4 KiB a
	 * member was 28 MB of copies for an archive of 7 000). */
	size_t want = m->size < 512 ? (size_t)m->size : 512;
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
	if (data_off + m->size > a->file_size)
		return err_set(e, "%s: %s: truncated archive (%llu bytes of data, the file ends %llu bytes into "
				  "them)",
			       a->path, m->name, (unsigned long long)m->size,
			       (unsigned long long)(a->file_size > data_off ? a->file_size - data_off : 0));
	int same = 1;
	if (want && src->buf_len && data_off >= (uint64_t)src->buf_at &&
	    data_off - (uint64_t)src->buf_at + want <= src->buf_len) {
		/* the file's bytes there are in what the source's last pread gave
		 * (a small member comes in one read with its header): compared
		 * there, which proves the same as reading them again */
		same = memcmp(src->buf + (data_off - (uint64_t)src->buf_at), buf, want) == 0;
	} else if (want) {
		uint8_t *chk = buf + ARCH_BLOCK;
		ssize_t n = pread(a->fd, chk, want, (off_t)data_off);
		same = n == (ssize_t)want && memcmp(chk, buf, want) == 0;
	}
	size_t cap = 0;
	if (same && arch_add_seg(m, &cap, 0, m->size, data_off) == 0)
		m->in_place = 1; /* else (out of memory) expanded when read */
	if (la.archive_read_data_skip(ar) != ARCHIVE_OK)
		return err_set(e, "%s: %s: %s", a->path, m->name, arch_errmsg(ar, "cannot skip"));
	return 0;
}

/* The bytes a member stores: its size, less the holes of a sparse one. */
static uint64_t arch_stored(struct archive_entry *en, uint64_t size)
{
	if (la.archive_entry_sparse_count(en) <= 0)
		return size;
	uint64_t sum = 0;
	la_int64_t off, len;
	la.archive_entry_sparse_reset(en);
	while (la.archive_entry_sparse_next(en, &off, &len) == ARCHIVE_OK)
		if (len > 0)
			sum += (uint64_t)len;
	return sum < size ? sum : size;
}

int arch_open(struct arch *a, const char *path, struct err *e)
{
	memset(a, 0, sizeof *a);
	a->fd = a->tmpfd = -1;
	a->path = strdup(path);
	struct stat st;
	if (!a->path) {
		err_set(e, "%s: out of memory", path);
		goto fail;
	}
	if (arch_load_lib(e) < 0) {
		err_prefix(e, "%s", path);
		goto fail;
	}
	if ((a->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(a->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_set(e, "%s: not a regular file", path);
		goto fail;
	}
	a->file_size = (uint64_t)st.st_size;
	if (arch_tmp_limit(a->file_size, &a->tmp_max, e) < 0) {
		err_prefix(e, "%s", path);
		goto fail;
	}
	struct arch_src *src = NULL;
	struct archive *ar = arch_reader(a->fd, &src);
	struct archive_entry *en;
	uint8_t *buf = ar ? malloc(2 * ARCH_BLOCK) : NULL;
	if (!buf) {
		if (ar)
			la.archive_read_free(ar);
		err_set(e, "%s: out of memory", path);
		goto fail;
	}
	uint64_t eager = 0, last_end = 0;
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
			if (la.archive_errno(ar) == ENOMEM)
				rc = err_set(e, "%s: out of memory", path);
			else if (a->n == 0 && strstr(msg, "Unrecognized archive format"))
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
			a->compression = strdup(label ? label : la.archive_filter_name(ar, 0));
			a->format = la.archive_format(ar);
			a->format_name = strdup(la.archive_format_name(ar) ? la.archive_format_name(ar) : "tar");
			if (!a->compression || !a->format_name) {
				rc = err_set(e, "%s: out of memory", path);
				break;
			}
		}
		if (a->n == cap) {
			struct arch_member *v = realloc(a->m, (cap ? 2 * cap : 64) * sizeof *a->m);
			if (!v) {
				rc = err_set(e, "%s: out of memory", path);
				break;
			}
			a->m = v;
			cap = cap ? 2 * cap : 64;
		}
		struct arch_member *m = &a->m[a->n++];
		memset(m, 0, sizeof *m);
		m->order = a->n - 1;
		const char *pn = la.archive_entry_pathname(en);
		m->name = arch_normalise(pn ? pn : "");
		mode_t ft = la.archive_entry_filetype(en);
		const char *hl = la.archive_entry_hardlink(en);
		if (hl) {
			m->type = ARCH_HARDLINK;
			m->link = arch_normalise(hl);
		} else if (ft == AE_IFREG) {
			m->type = ARCH_FILE;
		} else if (ft == AE_IFDIR) {
			m->type = ARCH_DIR;
		} else if (ft == AE_IFLNK) {
			m->type = ARCH_SYMLINK;
			const char *t = la.archive_entry_symlink(en);
			m->link = strdup(t ? t : "");
		} else {
			m->type = ARCH_OTHER;
		}
		if (!m->name || ((m->type == ARCH_HARDLINK || m->type == ARCH_SYMLINK) && !m->link)) {
			rc = err_set(e, "%s: out of memory", path);
			break;
		}
		last_end = (uint64_t)la.archive_filter_bytes(ar, 0);
		if (la.archive_entry_sparse_count(en) > 0)
			sparse = m->sparse = 1;
		if (m->type == ARCH_FILE) {
			m->size = la.archive_entry_size_is_set(en) && la.archive_entry_size(en) > 0
					  ? (uint64_t)la.archive_entry_size(en)
					  : 0;
			m->stored = arch_stored(en, m->size);
			last_end += (m->size + 511) / 512 * 512;
			if ((rc = arch_index_data(a, ar, src, m, &eager, buf, e)) < 0)
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
	if (arch_build_sorted(a) < 0) {
		err_set(e, "%s: out of memory", path);
		goto fail;
	}
	const struct arch_member *po = arch_find(a, ARCH_POD_OPTIONS);
	a->pod = po && po->type == ARCH_FILE && !arch_has_prefix(a, ARCH_CKPT_DIR);
	/* A link where an image should be: refused rather than taken as absent
	 * (every check would then report it missing) or followed (out of the
	 * archive, or to another member under a name it does not have); in a
	 * pod checkpoint, in each container's folder too. */
	for (size_t i = 0; i < a->nsorted; i++) {
		const struct arch_member *m = a->sorted[i];
		const char *in = a->pod ? strchr(m->name, '/') : NULL;
		if ((m->type == ARCH_SYMLINK || m->type == ARCH_HARDLINK) &&
		    (arch_is_read_name(m->name) || (in && arch_is_read_name(in + 1)))) {
			err_set(e, "%s: %s: a %s link member (to %s) where critlua reads a file: links in a "
				   "checkpoint archive are not followed",
				path, m->name, m->type == ARCH_SYMLINK ? "symbolic" : "hard", m->link);
			goto fail;
		}
	}
	if (!a->pod && !arch_has_prefix(a, ARCH_CKPT_DIR)) {
		err_set(e, "%s: no checkpoint/ directory in the archive: not a container checkpoint "
			   "(Podman, CRI-O and containerd put CRIU's images under checkpoint/)",
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
	if (a->rd)
		la.archive_read_free(a->rd);
	if (a->fd >= 0)
		close(a->fd);
	if (a->tmpfd >= 0)
		close(a->tmpfd);
	for (size_t i = 0; i < a->n; i++) {
		free(a->m[i].name);
		free(a->m[i].link);
		free(a->m[i].segs);
	}
	free(a->m);
	free(a->sorted);
	free(a->path);
	free(a->compression);
	free(a->format_name);
	free(a->root);
	free(a->label);
	memset(a, 0, sizeof *a);
	a->fd = a->tmpfd = -1;
}

int arch_view(struct arch *a, const char *root, const char *label, struct err *e)
{
	size_t n = strlen(root);
	if (!a->pod)
		return err_set(e, "%s: not a pod checkpoint (no %s at the top of the archive)", a->path,
			       ARCH_POD_OPTIONS);
	if (!n || root[n - 1] != '/' || strstr(root, "..") || root[0] == '/' || strchr(root, '/') != root + n - 1)
		return err_set(e, "%s: %s: not a container's folder in the pod checkpoint", a->path, root);
	char *ck = malloc(n + sizeof ARCH_CKPT_DIR);
	if (!ck)
		return err_set(e, "%s: out of memory", a->path);
	snprintf(ck, n + sizeof ARCH_CKPT_DIR, "%s%s", root, ARCH_CKPT_DIR);
	int there = arch_has_prefix(a, ck);
	free(ck);
	if (!there)
		return err_set(e, "%s: %s has no checkpoint/ folder: not a container checkpoint", a->path, root);
	char *r = strdup(root), *l = strdup(label);
	if (!r || !l) {
		free(r);
		free(l);
		return err_set(e, "%s: out of memory", a->path);
	}
	free(a->root);
	free(a->label);
	a->root = r;
	a->label = l;
	return 0;
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
	char dir[512]; /* the prefixes asked for are short ("checkpoint/parent/") */
	if (n && prefix[n - 1] == '/' && n <= sizeof dir) {
		memcpy(dir, prefix, n - 1);
		dir[n - 1] = 0;
		const struct arch_member *m = arch_find(a, dir);
		return m && m->type == ARCH_DIR;
	}
	return 0;
}

/* Links among a name's directories, followed inside the archive as they would
 * be in its unpacked tree (Podman's checkpoint/parent -> ../pre-checkpoint):
 * a target is taken relative to its link's directory and must stay under the
 * archive's top. The name is built up a component at a time in done; what is
 * left to walk (a link's target, then the rest of the name) is in todo. */
#define ARCH_MAX_LINKS 40

int arch_resolve(const struct arch *a, const char *name, int follow_last, char **out, struct err *e)
{
	struct buf done = { 0 }, todo = { 0 };
	buf_adds(&todo, name);
	buf_addc(&todo, 0);
	size_t at = 0, hops = 0;
	const struct arch_member *via = NULL; /* the last link followed, for messages */
	int rc = 0;
	buf_addc(&done, 0);
	if (buf_oom(&todo) || buf_oom(&done))
		rc = err_set(e, "%s: %s: out of memory", a->path, name);
	while (rc == 0 && at < todo.len - 1) {
		const char *c = (const char *)todo.p + at;
		size_t n = strcspn(c, "/");
		int last = c[n] == 0;
		at += n + !last;
		if (n == 0 || (n == 1 && c[0] == '.'))
			continue;
		if (n == 2 && c[0] == '.' && c[1] == '.') {
			char *d = (char *)done.p, *slash = strrchr(d, '/');
			if (!*d) {
				rc = via ? err_set(e, "%s: %s: a symbolic link to %s, which leads out of the archive: links in "
						      "a checkpoint archive are followed only inside it",
						   a->path, via->name, via->link)
					 : err_set(e, "%s: %s: the name leads out of the archive", a->path, name);
				break;
			}
			done.len = slash ? (size_t)(slash - d) + 1 : 1;
			d[done.len - 1] = 0;
			continue;
		}
		size_t keep = done.len;
		done.len--; /* the NUL */
		if (done.len)
			buf_addc(&done, '/');
		buf_add(&done, c, n);
		buf_addc(&done, 0);
		if (buf_oom(&done)) {
			rc = err_set(e, "%s: %s: out of memory", a->path, name);
			break;
		}
		const struct arch_member *m = (!last || follow_last) ? arch_find(a, (const char *)done.p) : NULL;
		if (!m || m->type != ARCH_SYMLINK)
			continue;
		if (++hops > ARCH_MAX_LINKS) {
			rc = err_set(e, "%s: %s: symbolic links that go round (more than %d followed for %s)", a->path,
				     m->name, ARCH_MAX_LINKS, name);
			break;
		}
		if (m->link[0] == '/' || !m->link[0]) {
			rc = err_set(e, "%s: %s: a symbolic link to %s%s: links in a checkpoint archive are followed "
					"only inside it, by a relative target",
				     a->path, m->name, m->link[0] ? m->link : "nothing",
				     m->link[0] ? ", an absolute path" : "");
			break;
		}
		via = m;
		/* the link's directory stays; its target then the rest replace it */
		done.len = keep;
		((char *)done.p)[keep - 1] = 0;
		struct buf next = { 0 };
		buf_adds(&next, m->link);
		if (!last) {
			buf_addc(&next, '/');
			buf_adds(&next, (const char *)todo.p + at);
		}
		buf_addc(&next, 0);
		buf_free(&todo);
		todo = next;
		at = 0;
		if (buf_oom(&todo))
			rc = err_set(e, "%s: %s: out of memory", a->path, name);
	}
	buf_free(&todo);
	if (rc < 0) {
		buf_free(&done);
		return -1;
	}
	*out = (char *)done.p;
	return 0;
}

/* Decompress m now: a reader goes forward from where the last expansion
 * left it (members asked for in archive order cost one pass), or from the
 * start again; the member must still be the one indexed. A command that
 * had to start again reads out of archive order (the memory reader takes
 * the pages files by pid): from then on, the images passed on the way are
 * expanded too, where they fit the bound and the free space, so that the
 * stream is gone through at most twice more rather than once per image. */
static int arch_materialise(struct arch *a, struct arch_member *m, struct err *e)
{
	if (a->rd && a->rd_next > m->order) {
		la.archive_read_free(a->rd);
		a->rd = NULL;
		a->rd_greedy = 1;
	}
	if (!a->rd) {
		if (!(a->rd = arch_reader(a->fd, NULL)))
			return err_set(e, "%s: %s: out of memory", a->path, m->name);
		a->rd_next = 0;
	}
	struct archive *ar = a->rd;
	struct archive_entry *en;
	for (;;) {
		int r = la.archive_read_next_header(ar, &en);
		size_t at = a->rd_next++;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			err_set(e, "%s: %s: the archive changed since it was opened (%s)", a->path, m->name,
				r == ARCHIVE_EOF ? "it ends earlier" : arch_errmsg(ar, "cannot read"));
			break;
		}
		if (at >= a->n)
			continue; /* the next header fails: the archive changed */
		struct arch_member *pm = &a->m[at];
		const char *pn = la.archive_entry_pathname(en);
		char *name = arch_normalise(pn ? pn : "");
		if (!name) {
			err_set(e, "%s: %s: out of memory", a->path, m->name);
			break;
		}
		int same = strcmp(name, pm->name) == 0;
		free(name);
		if (!same) {
			err_set(e, "%s: %s: the archive changed since it was opened", a->path, m->name);
			break;
		}
		if (at < m->order) {
			struct err room;
			if (a->rd_greedy && pm->type == ARCH_FILE && !pm->in_place && !pm->expanded &&
			    arch_is_read_name(pm->name) && arch_room(a, pm, &room) == 0 &&
			    arch_expand(a, ar, pm, e) < 0)
				break;
			continue;
		}
		if (la.archive_entry_size(en) != (la_int64_t)m->size) {
			err_set(e, "%s: %s: the archive changed since it was opened", a->path, m->name);
			break;
		}
		if (arch_expand(a, ar, m, e) < 0)
			break;
		return 0;
	}
	la.archive_read_free(a->rd);
	a->rd = NULL;
	return -1;
}

static int arch_check_file(const struct arch *a, const struct arch_member *m, struct err *e)
{
	if (m->type == ARCH_SYMLINK || m->type == ARCH_HARDLINK)
		return err_set(e, "%s: %s: a %s link member (to %s): links in a checkpoint archive are not "
				  "followed",
			       a->path, m->name, m->type == ARCH_SYMLINK ? "symbolic" : "hard", m->link);
	if (m->type != ARCH_FILE)
		return err_set(e, "%s:%s: not a regular file in the archive", a->path, m->name);
	return 0;
}

int arch_pread(const struct arch *ca, const struct arch_member *cm, uint64_t off, void *buf, size_t len,
	       struct err *e)
{
	if (arch_check_file(ca, cm, e) < 0)
		return -1;
	if (off > cm->size || len > cm->size - off)
		return err_set(e, "%s:%s: %zu bytes at offset 0x%llx run past its end (%llu bytes)", ca->path,
			       cm->name, len, (unsigned long long)off, (unsigned long long)cm->size);
	if (!len)
		return 0;
	if (!cm->in_place && !cm->expanded) {
		/* the expansion cache is the one thing a read changes (see ckarchive.h) */
		if (arch_materialise((struct arch *)ca, (struct arch_member *)cm, e) < 0)
			return -1;
	}
	const struct arch_member *m = cm;
	int fd = m->in_place ? ca->fd : ca->tmpfd;
	/* the first run that ends after off */
	size_t lo = 0, hi = m->nsegs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->segs[mid].lo + m->segs[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint8_t *p = buf;
	for (size_t i = lo; len;) {
		const struct arch_seg *s = i < m->nsegs ? &m->segs[i] : NULL;
		if (!s || off < s->lo) { /* a hole, up to the next run */
			uint64_t gap = s ? s->lo - off : len;
			size_t k = gap < len ? (size_t)gap : len;
			memset(p, 0, k);
			p += k;
			len -= k;
			off += k;
			continue;
		}
		uint64_t in = s->lo + s->len - off;
		size_t k = in < len ? (size_t)in : len;
		if (pread_all(fd, p, k, s->fo + (off - s->lo), NULL) < 0)
			return err_set(e, "%s:%s: %s", ca->path, m->name,
				       errno ? strerror(errno) : "the archive file became shorter");
		p += k;
		len -= k;
		off += k;
		if (off == s->lo + s->len)
			i++;
	}
	return 0;
}

int arch_read_all(const struct arch *a, const struct arch_member *m, uint8_t **out, size_t *len,
		  struct err *e)
{
	if (arch_check_file(a, m, e) < 0)
		return -1;
	if (m->size > ARCH_READ_ALL_MAX) {
		char h[32];
		return err_set(e, "%s:%s: %s, too large to read whole (at most 1 GiB)", a->path, m->name,
			       arch_human(m->size, h, sizeof h));
	}
	uint8_t *b = malloc((size_t)m->size + 1);
	if (!b)
		return err_set(e, "%s:%s: out of memory for its %llu bytes", a->path, m->name,
			       (unsigned long long)m->size);
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

/* The most bytes of holes a sparse member may have for arch_rewrite to copy
 * it (filled in): 16 MiB. */
#define ARCH_REWRITE_MAX_HOLES (16u << 20)

static int arch_copy_all(struct arch *a, struct archive *w, struct arch_put *puts, size_t nputs,
			 struct err *e)
{
	struct archive *r = arch_reader(a->fd, NULL);
	struct archive_entry *en;
	uint8_t *buf = r ? malloc(ARCH_BLOCK) : NULL;
	size_t written = 0;
	int rc = 0;
	if (!buf) {
		if (r)
			la.archive_read_free(r);
		return err_set(e, "%s: out of memory", a->path);
	}
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
		if (!name) {
			rc = err_set(e, "%s: out of memory", a->path);
			break;
		}
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
		if (!ne) {
			rc = err_set(e, "%s: %s: out of memory", a->path, puts[i].name);
			break;
		}
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
	/* The copy writes every member out whole (libarchive's writer keeps no
	 * sparse map), so a sparse member's holes would land beside the archive
	 * as zeros: refuse one whose holes are more than a few pages. */
	for (size_t i = 0; i < a->n; i++)
		if (a->m[i].sparse && a->m[i].size - a->m[i].stored > ARCH_REWRITE_MAX_HOLES)
			return err_set(e, "%s: %s: a sparse member with %llu bytes of holes: critlua does not "
				       "rewrite archives holding one (the holes would be written out); nothing changed",
				       a->path, a->m[i].name, (unsigned long long)(a->m[i].size - a->m[i].stored));
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
	if (!w) {
		txn_abort(txn);
		txn_end(own);
		return err_set(e, "%s: out of memory; nothing changed", a->path);
	}
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

/* ---- a tar stream walked once (tmpfs-dev-N.tar.gz.img) ---- */

/* The pull source of arch_stream_walk behind libarchive's read callback. */
struct arch_pull {
	arch_pull_fn pull;
	void *pctx;
	uint64_t read; /* bytes of the stream supplied so far */
	int failed;
	struct err *e;
	uint8_t buf[ARCH_BLOCK];
};

static la_ssize_t arch_pull_read(struct archive *ar, void *cd, const void **out)
{
	(void)ar;
	struct arch_pull *s = cd;
	long n = s->pull(s->pctx, s->buf, sizeof s->buf, s->e);
	if (n < 0) {
		s->failed = 1;
		return -1;
	}
	s->read += (uint64_t)n;
	*out = s->buf;
	return n;
}

static int arch_pull_close(struct archive *ar, void *cd)
{
	(void)ar;
	(void)cd;
	return ARCHIVE_OK;
}

/* The error of a failed walk: the source's own (an I/O error) or libarchive's. */
static int arch_stream_fail(struct archive *ar, struct arch_pull *s, const char *label, const char *member,
			    struct err *e)
{
	char where[64];
	snprintf(where, sizeof where, "after %llu bytes of it", (unsigned long long)s->read);
	if (s->failed)
		return err_prefix(e, "%s%s%s", label, member ? ": member " : "", member ? member : "");
	return err_set(e, "%s: damaged or truncated archive%s%s (%s): %s", label, member ? " in member " : "",
		       member ? member : "", where, arch_errmsg(ar, "cannot read"));
}

int arch_stream_walk(arch_pull_fn pull, void *pctx, const char *label, arch_stream_member_fn member,
		     arch_stream_data_fn data, void *ctx, struct err *e)
{
	if (arch_load_lib(e) < 0)
		return err_prefix(e, "%s", label);
	struct archive *ar = la.archive_read_new();
	if (!ar)
		return err_set(e, "%s: out of memory", label);
	la.archive_read_support_filter_all(ar);
	la.archive_read_support_format_tar(ar);
	la.archive_read_support_format_gnutar(ar);
	struct arch_pull *s = malloc(sizeof *s);
	if (!s) {
		la.archive_read_free(ar);
		return err_set(e, "%s: out of memory", label);
	}
	s->pull = pull;
	s->pctx = pctx;
	s->read = 0;
	s->failed = 0;
	s->e = e;
	la.archive_read_open2(ar, s, NULL, arch_pull_read, NULL, arch_pull_close);
	struct archive_entry *en;
	int rc = 0;
	char *name = NULL;
	for (;;) {
		int r = la.archive_read_next_header(ar, &en);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rc = arch_stream_fail(ar, s, label, name, e);
			break;
		}
		free(name);
		const char *pn = la.archive_entry_pathname(en);
		name = arch_normalise(pn ? pn : "");
		mode_t ft = la.archive_entry_filetype(en);
		enum arch_type t = la.archive_entry_hardlink(en) ? ARCH_HARDLINK
				   : ft == AE_IFREG		 ? ARCH_FILE
				   : ft == AE_IFDIR		 ? ARCH_DIR
				   : ft == AE_IFLNK		 ? ARCH_SYMLINK
							 : ARCH_OTHER;
		uint64_t size = t == ARCH_FILE && la.archive_entry_size_is_set(en) && la.archive_entry_size(en) > 0
					? (uint64_t)la.archive_entry_size(en)
					: 0;
		int want = member(name, t, size, ctx);
		if (want < 0) {
			rc = -1;
			break;
		}
		if (!want || t != ARCH_FILE)
			continue; /* the next header skips the data */
		for (;;) {
			const void *p;
			size_t n;
			la_int64_t off;
			int b = la.archive_read_data_block(ar, &p, &n, &off);
			if (b == ARCHIVE_EOF)
				break;
			if (b < ARCHIVE_WARN) {
				rc = arch_stream_fail(ar, s, label, name, e);
				break;
			}
			if (n && (rc = data((uint64_t)off, p, n, ctx)) != 0)
				break;
		}
		if (rc)
			break;
	}
	free(name);
	la.archive_read_free(ar);
	free(s);
	return rc;
}
