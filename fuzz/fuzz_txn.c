/* fuzz_txn.c: libFuzzer target for the write path's own inputs (txn.c): what a
 * hostile or killed writer can leave beside and inside a checkpoint, then a change.
 *
 * Every input is laid out afresh in a tree of this process's own, R (in /dev/shm
 * when it is there): R/outside/ (a sentinel file and a directory, which nothing may
 * change) and R/p/ck, the checkpoint (a directory, or a file: an archive), with the
 * sibling names txn reads, R/p/.ck.critlua-txn and R/p/.ck.critlua-lock.
 *
 *   byte 0    bit 0: ck is an archive (a file); bit 1: txn_recover_quick first;
 *             bit 2: the lock is held (by this process, on another open file:
 *             txn must refuse at once, it is called with wait 0); bit 3: the
 *             checkpoint is named through a symbolic link R/p/ln; bit 4: commit
 *             (else the change is dropped); bits 5-6: CRITLUA_TXN_FAIL=stage (1)
 *             or exchange (2) at the commit
 *   records   at most 16, each: a byte A, a length byte L (data: L % 65 bytes);
 *             a name (A >> 5) from a table, 7: a custom name (a length byte, at
 *             most 16 bytes); A & 7 the kind: 0 a regular file holding the data,
 *             1 a symbolic link (data[0] picks its target: the sentinel, the
 *             outside directory, the checkpoint, the staged directory, "ck", "..",
 *             ".", or the rest of the data made a plain name), 2 a FIFO, 3 a
 *             directory, 4 a hard link to the sentinel, 5 a socket, 6 a staged
 *             change (the data are the new bytes), 7 a backup (txn_keep: the name
 *             kept as the name data[0] picks); (A >> 3) & 3 where: 0 in ck, 1 in
 *             ck/parent/, 2 in the staged directory, 3 beside ck.
 *
 * Then txn_recover_quick, txn_begin (wait 0), txn_stage / txn_keep (or
 * txn_stage_file / txn_keep_file), txn_commit, txn_end. Checked on a snapshot of
 * all of R (type, mode, bytes, link text) after each step: R/outside never
 * changes, nor any name beside ck but the lock and the staged copy; a recovery
 * changes nothing in ck but removing the marker, and one that says it finished
 * or undone (or a txn_begin that succeeds) leaves no staged copy and no marker;
 * a held lock makes txn refuse and change nothing; after a commit ck holds
 * exactly the new bytes (and backups) and every other file as it was, after a
 * failed or dropped change exactly what it held; nothing is left beside it.
 * The tree is removed after each input. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "txn.h"
#include "xalloc.h"

#define STAGE ".ck" TXN_STAGE_SUFFIX
#define LOCK ".ck" TXN_LOCK_SUFFIX
#define SENTINEL "the sentinel: nothing may change this\n"

static char root[200];
static mode_t um;

static void fail(const char *phase, const char *path, const char *what)
{
	fprintf(stderr, "fuzz_txn: %s: %s: %s\n", phase, path, what);
	abort();
}

/* ---- snapshots of R ---- */

struct ent {
	char *path; /* relative to R */
	char type;  /* f regular, d directory, l link, p FIFO, s socket, ? other */
	mode_t mode;
	uint8_t *data; /* a regular file's bytes, a link's text */
	size_t len;
};

struct snap {
	struct ent *e;
	size_t n;
};

static void snap_add(struct snap *s, const char *path, char type, mode_t mode, const void *data, size_t len)
{
	s->e = xrealloc(s->e, (s->n + 1) * sizeof *s->e);
	struct ent *x = &s->e[s->n++];
	x->path = xstrdup(path);
	x->type = type;
	x->mode = mode;
	x->data = xmalloc(len + 1);
	if (len)
		memcpy(x->data, data, len);
	x->len = len;
}

static void snap_walk(struct snap *s, int dirfd, const char *rel, int depth)
{
	if (depth > 8)
		fail("snapshot", rel, "too deep");
	int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d)
		fail("snapshot", rel, strerror(errno));
	for (struct dirent *de; (de = readdir(d));) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char path[PATH_MAX];
		if (snprintf(path, sizeof path, "%s/%s", rel, de->d_name) >= (int)sizeof path)
			fail("snapshot", rel, "a path too long");
		struct stat st;
		if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			fail("snapshot", path, strerror(errno));
		uint8_t buf[4096];
		ssize_t n = 0;
		char type = '?';
		if (S_ISREG(st.st_mode)) {
			type = 'f';
			int f = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			n = f < 0 ? -1 : read(f, buf, sizeof buf);
			if (f >= 0)
				close(f);
			if (n < 0 || (size_t)n != (size_t)st.st_size)
				fail("snapshot", path, "cannot read it whole");
		} else if (S_ISLNK(st.st_mode)) {
			type = 'l';
			n = readlinkat(dirfd, path, (char *)buf, sizeof buf);
			if (n < 0)
				fail("snapshot", path, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			type = 'd';
		} else if (S_ISFIFO(st.st_mode)) {
			type = 'p';
		} else if (S_ISSOCK(st.st_mode)) {
			type = 's';
		}
		snap_add(s, path, type, type == 'l' ? 0 : st.st_mode & 07777, buf, (size_t)n);
		if (type == 'd')
			snap_walk(s, dirfd, path, depth + 1);
	}
	closedir(d);
}

static int cmp_ent(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->path, ((const struct ent *)b)->path);
}

static void snap_sort(struct snap *s)
{
	qsort(s->e, s->n, sizeof *s->e, cmp_ent);
}

static void snap_take(struct snap *s)
{
	s->e = NULL;
	s->n = 0;
	int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		fail("snapshot", root, strerror(errno));
	snap_walk(s, rfd, "outside", 0);
	snap_add(s, "p", 'd', 0, NULL, 0); /* p itself: its entries are what counts */
	snap_walk(s, rfd, "p", 0);
	close(rfd);
	snap_sort(s);
}

static void snap_free(struct snap *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->e[i].path);
		free(s->e[i].data);
	}
	free(s->e);
	s->e = NULL;
	s->n = 0;
}

static void snap_copy(struct snap *to, const struct snap *from)
{
	to->e = NULL;
	to->n = 0;
	for (size_t i = 0; i < from->n; i++) {
		const struct ent *x = &from->e[i];
		snap_add(to, x->path, x->type, x->mode, x->data, x->len);
	}
}

static const struct ent *snap_find(const struct snap *s, const char *path)
{
	struct ent key = { .path = (char *)path };
	return bsearch(&key, s->e, s->n, sizeof *s->e, cmp_ent);
}

static int under(const char *path, const char *pre)
{
	size_t n = strlen(pre);
	return strncmp(path, pre, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* Remove path and everything under it. */
static void snap_remove(struct snap *s, const char *path)
{
	size_t j = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (under(s->e[i].path, path)) {
			free(s->e[i].path);
			free(s->e[i].data);
		} else {
			s->e[j++] = s->e[i];
		}
	}
	s->n = j;
}

static int ent_eq(const struct ent *a, const struct ent *b)
{
	return a->type == b->type && a->mode == b->mode && a->len == b->len &&
	       (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* ---- what may change where ---- */

enum region { R_OTHER, R_CK, R_MARKER, R_STAGE, R_LOCK, NREGION };
enum rule {
	SAME,	/* exactly as expected */
	MAY_GO, /* each entry as expected or gone; nothing new */
	GONE,	/* nothing there */
	LOCKED, /* a regular lock file may go (or get a pid); anything else stays */
	ANY,
};

static enum region region_of(const char *path)
{
	if (under(path, "p/ck/" TXN_MARKER))
		return R_MARKER;
	if (under(path, "p/ck"))
		return R_CK;
	if (under(path, "p/" STAGE))
		return R_STAGE;
	if (under(path, "p/" LOCK))
		return R_LOCK;
	return R_OTHER;
}

static void compare(const char *phase, const struct snap *want, const struct snap *got, const enum rule rules[NREGION])
{
	for (size_t i = 0; i < want->n; i++) {
		const struct ent *w = &want->e[i], *g = snap_find(got, w->path);
		enum rule r = rules[region_of(w->path)];
		if (r == LOCKED && !(strcmp(w->path, "p/" LOCK) == 0 && w->type == 'f'))
			r = SAME;
		if (r == LOCKED && g && g->type != 'f')
			fail(phase, w->path, "the lock file changed its type");
		if (r == SAME && !g)
			fail(phase, w->path, "is gone");
		if ((r == SAME || r == MAY_GO) && g && !ent_eq(w, g))
			fail(phase, w->path, w->path[0] == 'o' ? "changed, outside the checkpoint" : "changed");
	}
	for (size_t i = 0; i < got->n; i++) {
		const struct ent *g = &got->e[i];
		enum rule r = rules[region_of(g->path)];
		if (r == GONE)
			fail(phase, g->path, "is left");
		if (r != ANY && !snap_find(want, g->path))
			fail(phase, g->path, "appeared");
	}
}

/* ---- the layout ---- */

static const char *const ck_names[7] = { "inventory.img", "core-1.img", "files.img", "pages-1.img",
					 TXN_MARKER,	  "parent",	"files.img.orig" };
static const char *const p_names[7] = { STAGE, STAGE, LOCK, LOCK, "ck.orig", "other", "ck.bak" };
static const char *const suffixes[4] = { ".orig", ".bak", ".orig", "/x" };

struct op {
	int keep;
	char name[40], as[40];
	const uint8_t *data;
	size_t len;
};

struct input {
	const uint8_t *p;
	size_t left;
};

static int take(struct input *in, size_t n, const uint8_t **out)
{
	if (in->left < n)
		return -1;
	*out = in->p;
	in->p += n;
	in->left -= n;
	return 0;
}

/* A custom name: bytes as they are (NUL excepted) when raw, for txn to check;
 * else a plain name in the directory (no '/', never "." or ".."). */
static int custom_name(struct input *in, char *name, size_t cap, int raw)
{
	const uint8_t *n, *s;
	if (take(in, 1, &n) < 0)
		return -1;
	size_t len = *n % 17;
	if (len >= cap)
		len = cap - 1;
	if (take(in, len, &s) < 0)
		return -1;
	for (size_t i = 0; i < len; i++)
		name[i] = s[i] == 0 || (!raw && s[i] == '/') ? '_' : (char)s[i];
	name[len] = 0;
	if (!raw && (len == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0))
		snprintf(name, cap, "x");
	return 0;
}

static void put(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return; /* a name already there keeps what it is */
	if (len && write(fd, data, len) != (ssize_t)len)
		fail("layout", name, "cannot write");
	close(fd);
}

/* The directory an entry goes in (an fd to close), or -1 when it cannot be. */
static int where_fd(int pfd, int where, int archive)
{
	if (where == 3)
		return dup(pfd);
	if (where == 2) {
		mkdirat(pfd, STAGE, 0700);
		return openat(pfd, STAGE, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (archive)
		return -1;
	int ck = openat(pfd, "ck", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (where == 0 || ck < 0)
		return ck;
	mkdirat(ck, "parent", 0755);
	int sub = openat(ck, "parent", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(ck);
	return sub;
}

static void make_entry(int dirfd, const char *name, int kind, const uint8_t *data, size_t len)
{
	char target[PATH_MAX];
	switch (kind) {
	case 0:
		put(dirfd, name, data, len, 0640);
		break;
	case 1: {
		static const char *const rel[3] = { "ck", "..", "." };
		int pick = len ? data[0] % 8 : 0;
		if (pick == 0)
			snprintf(target, sizeof target, "%s/outside/secret", root);
		else if (pick == 1)
			snprintf(target, sizeof target, "%s/outside/dir", root);
		else if (pick == 2)
			snprintf(target, sizeof target, "%s/p/ck", root);
		else if (pick == 3)
			snprintf(target, sizeof target, "%s/p/%s", root, STAGE);
		else if (pick < 7)
			snprintf(target, sizeof target, "%s", rel[pick - 4]);
		else {
			/* a plain name beside the link: never a way out of R */
			size_t n = 0;
			for (size_t i = 1; i < len && n < 16; i++)
				target[n++] = data[i] == 0 || data[i] == '/' ? '_' : (char)data[i];
			target[n] = 0;
			if (!n || strcmp(target, "..") == 0)
				snprintf(target, sizeof target, "missing");
		}
		symlinkat(target, dirfd, name);
		break;
	}
	case 2:
		mkfifoat(dirfd, name, 0600);
		break;
	case 3:
		mkdirat(dirfd, name, 0750);
		break;
	case 4: {
		char from[PATH_MAX];
		snprintf(from, sizeof from, "%s/outside/secret", root);
		linkat(AT_FDCWD, from, dirfd, name, 0);
		break;
	}
	case 5:
		mknodat(dirfd, name, S_IFSOCK | 0600, 0);
		break;
	}
}

/* ---- a run ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
		fail("cleanup", path, strerror(errno));
	return 0;
}

static void rm_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) == 0 && nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		fail("cleanup", path, strerror(errno));
}

static void fini(void)
{
	rm_tree(root);
}

/* path without its last component, in a static buffer */
static const char *dirname_of(const char *path)
{
	static char d[PATH_MAX];
	snprintf(d, sizeof d, "%s", path);
	char *slash = strrchr(d, '/');
	if (slash)
		*slash = 0;
	return d;
}

static void init(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(root, sizeof root, "%s/fuzz-txn-%ld",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : tmp && *tmp ? tmp : "/tmp", (long)getpid());
	rm_tree(root);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/outside/dir", root);
	if (mkdir(root, 0700) < 0 || mkdir(dirname_of(path), 0755) < 0 || mkdir(path, 0755) < 0)
		fail("init", path, strerror(errno));
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put(fd, "f", SENTINEL, strlen(SENTINEL), 0644);
	close(fd);
	fd = open(dirname_of(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put(fd, "secret", SENTINEL, strlen(SENTINEL), 0644);
	close(fd);
	um = umask(0);
	umask(um);
	atexit(fini);
}

/* The changes in effect: those from `first` on (an earlier failure dropped the
 * rest with txn_abort), as the model of what a commit makes of s2. */
static void model_dir(struct snap *want, const struct snap *s2, const struct op *ops, size_t first, size_t n)
{
	char path[PATH_MAX];
	for (size_t i = first; i < n; i++) {
		snprintf(path, sizeof path, "p/ck/%s", ops[i].keep ? ops[i].as : ops[i].name);
		snap_remove(want, path);
	}
	for (size_t i = first; i < n; i++) {
		if (!ops[i].keep)
			continue;
		/* a hard link to the file as it was (a name that was not there: none) */
		snprintf(path, sizeof path, "p/ck/%s", ops[i].name);
		const struct ent *old = snap_find(s2, path);
		snprintf(path, sizeof path, "p/ck/%s", ops[i].as);
		if (old)
			snap_add(want, path, old->type, old->mode, old->data, old->len);
	}
	for (size_t i = first; i < n; i++) {
		if (ops[i].keep)
			continue;
		int later = 0; /* staged again later: the last one counts */
		for (size_t j = i + 1; j < n; j++)
			later |= !ops[j].keep && strcmp(ops[j].name, ops[i].name) == 0;
		if (later)
			continue;
		snprintf(path, sizeof path, "p/ck/%s", ops[i].name);
		const struct ent *old = snap_find(s2, path);
		mode_t mode = old && old->type == 'f' ? old->mode : 0666 & ~um;
		snap_add(want, path, 'f', mode, ops[i].data, ops[i].len);
	}
	snap_sort(want);
}

static void model_archive(struct snap *want, const struct snap *s2, const struct op *ops, size_t first, size_t n)
{
	struct buf b = { 0 };
	int staged = 0;
	const char *suffix = NULL;
	for (size_t i = first; i < n; i++) {
		if (ops[i].keep) {
			suffix = ops[i].as;
		} else {
			buf_add(&b, ops[i].data, ops[i].len);
			staged = 1;
		}
	}
	const struct ent *old = snap_find(s2, "p/ck");
	if (staged && old) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "p/ck%s", suffix ? suffix : "");
		if (suffix && !snap_find(s2, path))
			snap_add(want, path, old->type, old->mode, old->data, old->len);
		snap_remove(want, "p/ck");
		snap_add(want, "p/ck", 'f', old->mode, b.p, b.len);
		snap_sort(want);
	}
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	if (!inited) {
		init();
		inited = 1;
	}
	struct input in = { data, size };
	const uint8_t *h;
	if (take(&in, 1, &h) < 0)
		return 0;
	int archive = h[0] & 1, quick = h[0] & 2, hold = h[0] & 4, via_link = h[0] & 8, commit = h[0] & 16;
	int inject = (h[0] >> 5) & 3;

	char pdir[PATH_MAX], path[PATH_MAX];
	snprintf(pdir, sizeof pdir, "%s/p", root);
	snprintf(path, sizeof path, "%s/p/%s", root, via_link ? "ln" : "ck");
	int pfd = mkdir(pdir, 0755) < 0 ? -1 : open(pdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		fail("layout", pdir, strerror(errno));
	if (archive)
		put(pfd, "ck", "the old archive\n", 16, 0640);
	else if (mkdirat(pfd, "ck", 0751) < 0)
		fail("layout", "ck", strerror(errno));
	if (via_link && symlinkat("ck", pfd, "ln") < 0)
		fail("layout", "ln", strerror(errno));

	/* the layout, and the changes to make */
	struct op ops[16];
	size_t nops = 0;
	for (int rec = 0; rec < 16; rec++) {
		const uint8_t *a, *d;
		if (take(&in, 2, &a) < 0)
			break;
		int kind = a[0] & 7, where = (a[0] >> 3) & 3, ni = a[0] >> 5;
		char name[40];
		if (ni == 7) {
			if (custom_name(&in, name, sizeof name, kind >= 6) < 0)
				break;
		} else {
			snprintf(name, sizeof name, "%s", where == 3 && kind < 6 ? p_names[ni] : ck_names[ni]);
		}
		size_t len = a[1] % 65;
		if (len > in.left)
			len = in.left;
		take(&in, len, &d);
		if (kind < 6) {
			int fd = where_fd(pfd, where, archive);
			if (fd >= 0) {
				make_entry(fd, name, kind, d, len);
				close(fd);
			}
			continue;
		}
		struct op *o = &ops[nops++];
		memset(o, 0, sizeof *o);
		o->keep = kind == 7;
		snprintf(o->name, sizeof o->name, "%s", name);
		o->data = d;
		o->len = len;
		if (o->keep) {
			/* the backup's name (a directory) or suffix (an archive) */
			int pick = len ? d[0] % 8 : 0;
			if (pick == 7 || (archive && pick >= 4)) {
				size_t k = 0;
				for (size_t i = 1; i < len && k < 16; i++)
					o->as[k++] = d[i] ? (char)d[i] : '_';
				o->as[k] = 0;
			} else {
				snprintf(o->as, sizeof o->as, "%s", archive ? suffixes[pick] : ck_names[pick]);
			}
		}
	}

	/* another writer holding the lock: this process, on an open file of its own */
	int holdfd = -1;
	if (hold) {
		struct stat st;
		if (fstatat(pfd, LOCK, &st, AT_SYMLINK_NOFOLLOW) < 0)
			put(pfd, LOCK, "4242\n", 5, 0600);
		holdfd = openat(pfd, LOCK, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (holdfd >= 0 && (fstat(holdfd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
				    flock(holdfd, LOCK_EX | LOCK_NB) < 0)) {
			close(holdfd);
			holdfd = -1;
		}
		char c;
		/* a holder's pid, as txn writes it (without one, a refusal looks for
		 * it for 100 ms) */
		if (holdfd >= 0 && (pread(holdfd, &c, 1, 0) != 1 || c == '\n' || c == 0) &&
		    (ftruncate(holdfd, 0) < 0 || pwrite(holdfd, "4242\n", 5, 0) != 5))
			fail("layout", LOCK, strerror(errno));
	}

	static const enum rule frozen[NREGION] = { SAME, SAME, SAME, SAME, SAME };
	static const enum rule recovery[NREGION] = { SAME, SAME, MAY_GO, MAY_GO, LOCKED };
	enum rule r[NREGION];
	struct snap s1, s2, s3;
	char *report = NULL;
	snap_take(&s1);
	if (quick) {
		txn_recover_quick(path, &report);
		struct snap s0 = s1;
		snap_take(&s1);
		memcpy(r, holdfd >= 0 ? frozen : recovery, sizeof r);
		if (report && holdfd >= 0)
			fail("txn_recover_quick", path, "recovered while another holds the lock");
		if (report && (strstr(report, " was finished") || strstr(report, " was undone")))
			r[R_MARKER] = r[R_STAGE] = GONE;
		compare("txn_recover_quick", &s0, &s1, r);
		snap_free(&s0);
		free(report);
		report = NULL;
	}

	struct txn *t = NULL;
	struct err e;
	int rc = txn_begin(&t, path, 0, &report, &e);
	free(report);
	snap_take(&s2);
	memcpy(r, holdfd >= 0 ? frozen : recovery, sizeof r);
	if (rc == 0) {
		if (holdfd >= 0)
			fail("txn_begin", path, "took the lock another holds");
		r[R_MARKER] = r[R_STAGE] = GONE; /* no leftover once begun */
		r[R_LOCK] = ANY;
		const struct ent *lk = snap_find(&s2, "p/" LOCK);
		if (!lk || lk->type != 'f')
			fail("txn_begin", LOCK, "no lock file while the lock is held");
	}
	compare("txn_begin", &s1, &s2, r);

	if (rc == 0) {
		size_t first = 0;
		for (size_t i = 0; i < nops; i++) {
			int ok;
			if (archive && ops[i].keep) {
				ok = txn_keep_file(t, ops[i].as, &e);
			} else if (archive) {
				int fd;
				ok = txn_stage_file(t, &fd, &e);
				if (ok == 0 && ops[i].len && write(fd, ops[i].data, ops[i].len) != (ssize_t)ops[i].len)
					fail("txn_stage_file", path, strerror(errno));
			} else if (ops[i].keep) {
				ok = txn_keep(t, ops[i].name, ops[i].as, &e);
			} else {
				ok = txn_stage(t, ops[i].name, ops[i].data, ops[i].len, &e);
			}
			if (ok < 0) {
				/* a refused change: drop what was staged, as a caller would */
				txn_abort(t);
				first = i + 1;
			}
		}
		struct snap want;
		snap_copy(&want, &s2);
		if (archive)
			model_archive(&want, &s2, ops, first, nops);
		else
			model_dir(&want, &s2, ops, first, nops);
		char *note = NULL;
		int committed = 0;
		if (commit) {
			if (inject == 1 || inject == 2)
				setenv("CRITLUA_TXN_FAIL", inject == 1 ? "stage" : "exchange", 1);
			committed = txn_commit(t, &note, &e) == 0;
			unsetenv("CRITLUA_TXN_FAIL");
		}
		txn_end(t);
		snap_take(&s3);
		enum rule after[NREGION] = { SAME, SAME, GONE, GONE, GONE };
		if (note) /* tidying up failed: the next run finishes it */
			after[R_MARKER] = after[R_STAGE] = ANY;
		free(note);
		compare(committed ? "txn_commit" : "a failed or dropped change", committed ? &want : &s2, &s3, after);
		snap_free(&want);
		snap_free(&s3);
	}
	snap_free(&s1);
	snap_free(&s2);
	if (holdfd >= 0)
		close(holdfd);
	close(pfd);
	rm_tree(pdir);
	return 0;
}
