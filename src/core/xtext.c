/* xtext.c: CRIT's `x DIR fds` and `x DIR mems` text of a checkpoint
 * directory, straight from the decoded messages. See xtext.h. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "core.pb-c.h"
#include "fdinfo.pb-c.h"
#include "fs.pb-c.h"
#include "mm.pb-c.h"
#include "pstree.pb-c.h"
#include "image.h"
#include "pbwire.h"
#include "textcodec.h"
#include "xtext.h"

/* vma_entry.status bits, as lua/lib/explore.lua names them */
#define VMA_REGULAR (1u << 0)
#define VMA_STACK (1u << 1)
#define VMA_VSYSCALL (1u << 2)
#define VMA_VDSO (1u << 3)
#define VMA_HEAP (1u << 5)
#define VMA_FILE_PRIVATE (1u << 6)
#define VMA_FILE_SHARED (1u << 7)
#define VMA_ANON_SHARED (1u << 8)
#define VMA_SYSVIPC (1u << 10)
#define VMA_SOCKET (1u << 11)
#define VMA_MAP_GROWSDOWN 0x100u /* vma_entry.flags: mmap flags */

/* Each thread decodes into an arena of its own, freed as a whole when the
 * view is done: tens of thousands of small messages, each malloc'ed in a
 * thread's heap, would cost more than the decoding. Its blocks are mapped
 * with their pages at once (MAP_POPULATE): a page fault for every 4 KiB of
 * messages was a tenth of `x mems`. They grow from 64 KiB to 1 MiB, as
 * mapping more than a view needs costs as much as the faults. */
struct xarena {
	ProtobufCAllocator pa; /* allocator_data: the arena */
	uint8_t *cur;
	size_t left;
	void **blocks; /* block i is arena_block(i) bytes, mapped */
	size_t n, cap;
	void **large; /* malloc'ed, one per allocation of more than a quarter of the next block */
	size_t nlarge, caplarge;
};

static size_t arena_block(size_t i)
{
	return (size_t)64 * 1024 << (i < 4 ? i : 4);
}

static void arena_keep(void ***list, size_t *n, size_t *cap, void *p)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		*list = xrealloc(*list, *cap * sizeof **list);
	}
	(*list)[(*n)++] = p;
}

static void *arena_alloc(void *data, size_t size)
{
	struct xarena *a = data;
	if (size > SIZE_MAX - 15)
		return NULL;
	size = (size + 15) & ~(size_t)15;
	if (size > a->left) {
		size_t bsize = arena_block(a->n);
		if (size > bsize / 4) {
			void *p = xmalloc(size);
			arena_keep(&a->large, &a->nlarge, &a->caplarge, p);
			return p;
		}
		void *b = mmap(NULL, bsize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
			       -1, 0);
		if (b == MAP_FAILED)
			return NULL; /* protobuf-c fails the unpack: the image is left to Lua */
		arena_keep(&a->blocks, &a->n, &a->cap, b);
		a->cur = b;
		a->left = bsize;
	}
	void *p = a->cur;
	a->cur += size;
	a->left -= size;
	return p;
}

static void arena_free(void *data, void *p)
{
	(void)data; /* all at once, in arena_release */
	(void)p;
}

static void arena_init(struct xarena *a)
{
	memset(a, 0, sizeof *a);
	a->pa.alloc = arena_alloc;
	a->pa.free = arena_free;
	a->pa.allocator_data = a;
}

static void arena_release(struct xarena *a)
{
	for (size_t i = 0; i < a->n; i++)
		munmap(a->blocks[i], arena_block(i));
	for (size_t i = 0; i < a->nlarge; i++)
		free(a->large[i]);
	free(a->blocks);
	free(a->large);
}

#define MAX_THREADS 4

/* Work 0 .. n-1 shared out among this thread and, when parallel, up to
 * MAX_THREADS - 1 others; work(ctx, i, k) runs on thread k (this one is 0). */
struct xpool {
	size_t n;
	atomic_size_t next;
	void (*work)(void *ctx, size_t i, int k);
	void *ctx;
};

struct xworker {
	struct xpool *pool;
	int k;
};

static void *pool_worker(void *arg)
{
	struct xworker *w = arg;
	struct xpool *p = w->pool;
	for (size_t i; (i = atomic_fetch_add(&p->next, 1)) < p->n;)
		p->work(p->ctx, i, w->k);
	return NULL;
}

static int cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		return CPU_COUNT(&set);
	return 1;
}

static void run_pool(size_t n, int parallel, void (*work)(void *, size_t, int), void *ctx)
{
	struct xpool p = { .n = n, .work = work, .ctx = ctx };
	atomic_init(&p.next, 0);
	pthread_t t[MAX_THREADS];
	struct xworker w[MAX_THREADS];
	int nt = 1, want = cpus();
	if (want > MAX_THREADS)
		want = MAX_THREADS;
	if (!parallel)
		want = 1;
	for (int k = 0; k < MAX_THREADS; k++)
		w[k] = (struct xworker){ &p, k };
	while (nt < want && pthread_create(&t[nt], NULL, pool_worker, &w[nt]) == 0)
		nt++;
	pool_worker(&w[0]);
	for (int k = 1; k < nt; k++)
		pthread_join(t[k], NULL);
}

/* ---- reading many images at once ----
 * A checkpoint of a thousand processes is thousands of small files; the
 * time goes into open, read and close, so they are read by a few threads.
 * Of the images of each process only the fields the views print are taken,
 * straight off the wire (pbwire.h), into the small structs below: unpacking
 * every field of every VMA with protobuf-c was most of `x mems`. The walk
 * accepts what the views' own reader accepts of the same fields (pb2lua.c
 * reads them so, with lua/lib/explore.lua's READS), and a little less: every
 * field the schema knows must come in its wire type, not only the ones
 * taken. pstree.img alone protobuf-c decodes whole. */

struct xfd {
	uint32_t fd, id;
	int32_t type; /* FdTypes, maybe a value the schema does not name */
};

struct xvma {
	uint64_t start, end, pgoff, shmid;
	uint32_t prot, flags, status;
};

/* What one pool run shares: thread k reads into bufs[k] and keeps what it
 * takes in arenas[k]; scratch[k] gathers an image's records before that. */
struct xread {
	int dfd;
	struct xarena *arenas;
	struct buf bufs[MAX_THREADS];
	struct buf scratch[MAX_THREADS];
	atomic_int failed; /* a job failed: the view is the Lua views', the rest is skipped */
};

static void xread_done(struct xread *x)
{
	for (int k = 0; k < MAX_THREADS; k++) {
		buf_free(&x->bufs[k]);
		buf_free(&x->scratch[k]);
	}
}

static int job_failed(struct xread *x)
{
	atomic_store(&x->failed, 1);
	return -1;
}

/* The file `name` into thread k's buffer: no allocation per file, and no
 * fstat for the small ones. O_NONBLOCK: a FIFO in the directory does not hang
 * here (it gives no image, and the Lua views deal with it as with any file);
 * nor does a device without end (/dev/zero), which is no regular file. */
#define XREAD_SMALL ((size_t)64 * 1024)

static int read_in(struct xread *x, int k, const char *name)
{
	struct buf *buf = &x->bufs[k];
	if (atomic_load_explicit(&x->failed, memory_order_relaxed))
		return -1;
	int fd = openat(x->dfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return job_failed(x);
	buf->len = 0;
	for (;;) {
		buf_reserve(buf, 4096);
		ssize_t r = read(fd, buf->p + buf->len, buf->cap - buf->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			close(fd);
			if (r < 0) /* a directory, say */
				return job_failed(x);
			return 0;
		}
		size_t before = buf->len;
		buf->len += (size_t)r;
		struct stat st;
		if (before < XREAD_SMALL && buf->len >= XREAD_SMALL &&
		    (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
			close(fd);
			return job_failed(x);
		}
	}
}

/* The full decode of a file, for files.img and pstree.img. */
static int decode_in(struct xread *x, int k, const char *name, const struct magic_info *want,
		     struct img *img)
{
	struct err e;
	if (read_in(x, k, name) < 0)
		return -1;
	if (img_decode_in(x->bufs[k].p, x->bufs[k].len, &x->arenas[k].pa, img, &e) < 0 ||
	    img->mi != want)
		return job_failed(x);
	return 0;
}

/* A copy of n bytes into thread k's arena (NULL when there is no memory). */
static void *keep(struct xread *x, int k, const void *p, size_t n)
{
	void *q = n ? arena_alloc(&x->arenas[k], n) : NULL;
	if (q)
		memcpy(q, p, n);
	return q;
}

/* The next field of a message, checked as the views' reader checks the
 * fields it takes; and protobuf would merge a message field given twice. */
static int next_field(struct pbw *w, struct pbw_field *fl)
{
	int r = pbw_next(w, fl);
	if (r > 0 && (!pbw_typed(fl) || (fl->again && fl->f->type == PROTOBUF_C_TYPE_MESSAGE &&
					  fl->f->label != PROTOBUF_C_LABEL_REPEATED)))
		return -1;
	return r;
}

#define FIELD_U32(fl) ((uint32_t)pbw_int((fl)->f, (fl)->raw))

/* Walk the message of type d in m[0..n), with take(out, fl) for each field
 * the schema knows; take gives up (-1) when a part inside does not walk. */
static int walk(const ProtobufCMessageDescriptor *d, const uint8_t *m, size_t n,
		int (*take)(void *out, const struct pbw_field *fl), void *out)
{
	struct pbw w;
	struct pbw_field fl;
	int r;
	if (pbw_start(&w, d, m, n) < 0)
		return -1;
	while ((r = next_field(&w, &fl)) > 0)
		if (take(out, &fl) < 0)
			return -1;
	return r;
}

static int take_ids(void *out, const struct pbw_field *fl)
{
	if (fl->f->offset == offsetof(TaskKobjIdsEntry, files_id))
		*(uint32_t *)out = FIELD_U32(fl);
	return 0;
}

static int take_fs(void *out, const struct pbw_field *fl)
{
	uint32_t *ids = out; /* cwd, root */
	if (fl->f->offset == offsetof(FsEntry, cwd_id))
		ids[0] = FIELD_U32(fl);
	else if (fl->f->offset == offsetof(FsEntry, root_id))
		ids[1] = FIELD_U32(fl);
	return 0;
}

static int take_fd(void *out, const struct pbw_field *fl)
{
	struct xfd *fd = out;
	switch (fl->f->offset) {
	case offsetof(FdinfoEntry, fd):
		fd->fd = FIELD_U32(fl);
		break;
	case offsetof(FdinfoEntry, id):
		fd->id = FIELD_U32(fl);
		break;
	case offsetof(FdinfoEntry, type):
		fd->type = (int32_t)pbw_int(fl->f, fl->raw);
		break;
	}
	return 0;
}

/* A VMA's fields, by index: the flat read's table and where each field the
 * view takes is. */
struct xvma_reader {
	struct pbw_flat flat;
	unsigned start, end, pgoff, shmid, prot, flags, status;
};

static unsigned field_at(const ProtobufCMessageDescriptor *d, size_t offset)
{
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].offset == offset)
			return i;
	abort(); /* the generated code and its descriptor disagree */
}

static void vma_reader_init(struct xvma_reader *r)
{
	const ProtobufCMessageDescriptor *d = &vma_entry__descriptor;
	if (pbw_flat_init(&r->flat, d) < 0)
		abort();
	r->start = field_at(d, offsetof(VmaEntry, start));
	r->end = field_at(d, offsetof(VmaEntry, end));
	r->pgoff = field_at(d, offsetof(VmaEntry, pgoff));
	r->shmid = field_at(d, offsetof(VmaEntry, shmid));
	r->prot = field_at(d, offsetof(VmaEntry, prot));
	r->flags = field_at(d, offsetof(VmaEntry, flags));
	r->status = field_at(d, offsetof(VmaEntry, status));
}

/* A VMA's field, for the VMAs the flat read gives up on. */
static int take_vma(void *out, const struct pbw_field *fl)
{
	struct xvma *v = out;
	uint64_t x = (uint64_t)pbw_int(fl->f, fl->raw);
	switch (fl->f->offset) {
	case offsetof(VmaEntry, start):
		v->start = x;
		break;
	case offsetof(VmaEntry, end):
		v->end = x;
		break;
	case offsetof(VmaEntry, pgoff):
		v->pgoff = x;
		break;
	case offsetof(VmaEntry, shmid):
		v->shmid = x;
		break;
	case offsetof(VmaEntry, prot):
		v->prot = (uint32_t)x;
		break;
	case offsetof(VmaEntry, flags):
		v->flags = (uint32_t)x;
		break;
	case offsetof(VmaEntry, status):
		v->status = (uint32_t)x;
		break;
	}
	return 0;
}

static int walk_vma(const struct xvma_reader *r, const uint8_t *m, size_t n, struct xvma *v)
{
	const ProtobufCFieldDescriptor *fs = vma_entry__descriptor.fields;
	uint64_t raw[64], seen;
	if (pbw_flat_read(&r->flat, m, n, raw, &seen) == 0) {
		/* the fields it takes are required: all there */
		v->start = (uint64_t)pbw_int(&fs[r->start], raw[r->start]);
		v->end = (uint64_t)pbw_int(&fs[r->end], raw[r->end]);
		v->pgoff = (uint64_t)pbw_int(&fs[r->pgoff], raw[r->pgoff]);
		v->shmid = (uint64_t)pbw_int(&fs[r->shmid], raw[r->shmid]);
		v->prot = (uint32_t)pbw_int(&fs[r->prot], raw[r->prot]);
		v->flags = (uint32_t)pbw_int(&fs[r->flags], raw[r->flags]);
		v->status = (uint32_t)pbw_int(&fs[r->status], raw[r->status]);
		return 0;
	}
	return walk(&vma_entry__descriptor, m, n, take_vma, v);
}

/* An mm entry: its exe, and its VMAs added to scratch. */
struct xmm_walk {
	const struct xvma_reader *vr;
	uint32_t exe;
	struct buf *scratch;
};

static int take_mm(void *out, const struct pbw_field *fl)
{
	struct xmm_walk *mw = out;
	if (fl->f->offset == offsetof(MmEntry, exe_file_id)) {
		mw->exe = FIELD_U32(fl);
	} else if (fl->f->offset == offsetof(MmEntry, vmas)) {
		struct xvma v;
		if (walk_vma(mw->vr, fl->v, fl->n, &v) < 0)
			return -1;
		buf_add(mw->scratch, &v, sizeof v);
	}
	return 0;
}

/* The entries of the image in buf, which must be of kind want: *m, *n the
 * next one's message. 1, 0 at the end, -1 when the framing is broken. */
struct xentries {
	const uint8_t *p, *end;
};

static int entries_start(struct xentries *it, const struct buf *buf, const struct magic_info *want)
{
	struct img_reader r;
	struct err e;
	if (img_reader_init(&r, buf->p, buf->len, &e) < 0 || r.mi != want)
		return -1;
	it->p = buf->p + r.off;
	it->end = buf->p + buf->len;
	return 0;
}

static int entries_next(struct xentries *it, const uint8_t **m, size_t *n)
{
	if (it->p == it->end)
		return 0;
	if (it->end - it->p < 4 || pbw_le(it->p, 4) > (uint64_t)(it->end - it->p - 4))
		return -1;
	*n = (size_t)pbw_le(it->p, 4);
	*m = it->p + 4;
	it->p += 4 + *n;
	return 1;
}

/* A file of files.img, as the views name it. The names point into the
 * image's bytes, which stay while the view is made. */
struct xfile {
	uint64_t id;
	const char *name; /* reg: its name, to the first NUL as protobuf-c reads a string */
	size_t name_len;
	const uint8_t *uname; /* usk: the socket's name */
	size_t uname_len;
	uint32_t pipe_id, ino, peer;
	unsigned char reg, pipe, usk; /* those parts there */
};

static int take_reg(void *out, const struct pbw_field *fl)
{
	struct xfile *fe = out;
	if (fl->f->offset == offsetof(RegFileEntry, name)) {
		const uint8_t *nul = memchr(fl->v, 0, fl->n);
		fe->name = (const char *)fl->v;
		fe->name_len = nul ? (size_t)(nul - fl->v) : fl->n;
	}
	return 0;
}

static int take_pipe(void *out, const struct pbw_field *fl)
{
	struct xfile *fe = out;
	if (fl->f->offset == offsetof(PipeEntry, pipe_id))
		fe->pipe_id = FIELD_U32(fl);
	return 0;
}

static int take_usk(void *out, const struct pbw_field *fl)
{
	struct xfile *fe = out;
	if (fl->f->offset == offsetof(UnixSkEntry, ino)) {
		fe->ino = FIELD_U32(fl);
	} else if (fl->f->offset == offsetof(UnixSkEntry, peer)) {
		fe->peer = FIELD_U32(fl);
	} else if (fl->f->offset == offsetof(UnixSkEntry, name)) {
		fe->uname = fl->v;
		fe->uname_len = fl->n;
	}
	return 0;
}

static int take_file(void *out, const struct pbw_field *fl)
{
	struct xfile *fe = out;
	if (fl->f->offset == offsetof(FileEntry, id)) {
		fe->id = FIELD_U32(fl);
	} else if (fl->f->offset == offsetof(FileEntry, reg)) {
		fe->reg = 1;
		return walk(&reg_file_entry__descriptor, fl->v, fl->n, take_reg, fe);
	} else if (fl->f->offset == offsetof(FileEntry, pipe)) {
		fe->pipe = 1;
		return walk(&pipe_entry__descriptor, fl->v, fl->n, take_pipe, fe);
	} else if (fl->f->offset == offsetof(FileEntry, usk)) {
		fe->usk = 1;
		return walk(&unix_sk_entry__descriptor, fl->v, fl->n, take_usk, fe);
	}
	return 0;
}

/* How the records of one kind of image are taken: each entry's message,
 * of type desc, walked with take into a record of `size` bytes. */
struct xkind {
	const ProtobufCMessageDescriptor *desc;
	size_t size;
	int (*take)(void *rec, const struct pbw_field *fl);
};

static const struct xkind kind_ids = { &task_kobj_ids_entry__descriptor, sizeof(uint32_t), take_ids };
static const struct xkind kind_fs = { &fs_entry__descriptor, 2 * sizeof(uint32_t), take_fs };
static const struct xkind kind_fdinfo = { &fdinfo_entry__descriptor, sizeof(struct xfd), take_fd };
static const struct xkind kind_files = { &file_entry__descriptor, sizeof(struct xfile), take_file };

/* The records of every entry of image `name` (of kind mi), kept in thread
 * k's arena: *nrec of them at *recs. */
static int read_records(struct xread *x, int k, const char *name, const struct magic_info *mi,
			const struct xkind *kind, void **recs, size_t *nrec)
{
	struct buf *scratch = &x->scratch[k];
	struct xentries it;
	const uint8_t *m;
	size_t n;
	int r;
	if (read_in(x, k, name) < 0)
		return -1;
	if (entries_start(&it, &x->bufs[k], mi) < 0)
		return job_failed(x);
	scratch->len = 0;
	while ((r = entries_next(&it, &m, &n)) > 0) {
		buf_reserve(scratch, kind->size);
		memset(scratch->p + scratch->len, 0, kind->size);
		if (walk(kind->desc, m, n, kind->take, scratch->p + scratch->len) < 0)
			return job_failed(x);
		scratch->len += kind->size;
	}
	*nrec = scratch->len / kind->size;
	*recs = keep(x, k, scratch->p, scratch->len);
	if (r < 0 || (scratch->len && !*recs))
		return job_failed(x);
	return 0;
}

/* mm-PID.img: the exe and VMAs of its first entry (the others are walked,
 * as the views' reader reads them, and dropped). */
static int read_mm(struct xread *x, int k, const char *name, const struct magic_info *mi,
		   const struct xvma_reader *vr, uint32_t *exe, struct xvma **vmas, size_t *nvmas)
{
	struct buf *scratch = &x->scratch[k];
	struct xentries it;
	const uint8_t *m;
	size_t n, count = 0;
	int r;
	if (read_in(x, k, name) < 0)
		return -1;
	if (entries_start(&it, &x->bufs[k], mi) < 0)
		return job_failed(x);
	scratch->len = 0;
	while ((r = entries_next(&it, &m, &n)) > 0) {
		size_t mark = scratch->len;
		struct xmm_walk mw = { .vr = vr, .scratch = scratch };
		if (walk(&mm_entry__descriptor, m, n, take_mm, &mw) < 0)
			return job_failed(x);
		if (count++ == 0)
			*exe = mw.exe;
		else
			scratch->len = mark;
	}
	*nvmas = scratch->len / sizeof(struct xvma);
	*vmas = keep(x, k, scratch->p, scratch->len);
	if (r < 0 || count == 0 || (scratch->len && !*vmas))
		return job_failed(x);
	return 0;
}

/* An image decoded into an arena: its messages go with the arena. */
static void img_release(struct img *img)
{
	if (img->mi && img->mi->payload == PL_NONE) {
		free(img->entries);
		memset(img, 0, sizeof *img);
	} else {
		img_free(img);
	}
}

/* ---- small hash maps: files.img by id, shared segments by shmid ---- */

struct umap {
	uint64_t *keys;
	const void **vals; /* NULL: empty slot */
	size_t cap;
};

static void umap_init(struct umap *m, size_t n)
{
	m->cap = 16;
	while (m->cap < 2 * n + 16)
		m->cap *= 2;
	m->keys = xcalloc(m->cap, sizeof *m->keys);
	m->vals = xcalloc(m->cap, sizeof *m->vals);
}

static size_t umap_slot(const struct umap *m, uint64_t k)
{
	size_t i = (size_t)((k * 0x9e3779b97f4a7c15ull) >> 20) & (m->cap - 1);
	while (m->vals[i] && m->keys[i] != k)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static const void *umap_get(const struct umap *m, uint64_t k)
{
	return m->vals[umap_slot(m, k)];
}

/* Adds k unless present (the first one stays, as CRIT's search finds it). */
static void umap_add(struct umap *m, uint64_t k, const void *v)
{
	size_t i = umap_slot(m, k);
	if (!m->vals[i]) {
		m->keys[i] = k;
		m->vals[i] = v;
	}
}

static void umap_free(struct umap *m)
{
	free(m->keys);
	free(m->vals);
}

/* ---- formatting: these views print tens of thousands of lines ---- */

static char *fmt_dec(char *end, uint64_t v)
{
	do
		*--end = (char)('0' + v % 10);
	while (v /= 10);
	return end;
}

/* v in decimal, right-aligned in width columns ("%7u") */
static void put_dec(struct buf *out, uint64_t v, int width)
{
	char s[24], *p = fmt_dec(s + sizeof s, v);
	for (int n = (int)(s + sizeof s - p); n < width; n++)
		buf_addc(out, ' ');
	buf_add(out, p, (size_t)(s + sizeof s - p));
}

/* v in lower-case hex, zero-padded to width digits ("%08x"), at w; returns
 * the end */
static char *fmt_hex(char *w, uint64_t v, int width)
{
	static const char digits[] = "0123456789abcdef";
	int n = v ? (64 - __builtin_clzll(v) + 3) / 4 : 1;
	if (n < width)
		n = width;
	for (int i = n - 1; i >= 0; i--, v >>= 4)
		w[i] = digits[v & 15];
	return w + n;
}

/* PREFIX, n and ".img" into name (at least 32 bytes): "mm-1234.img", made
 * thousands of times per view. */
static void image_name(char *name, const char *prefix, uint32_t n)
{
	char digits[16], *d = fmt_dec(digits + sizeof digits, n);
	size_t plen = strlen(prefix), dlen = (size_t)(digits + sizeof digits - d);
	memcpy(name, prefix, plen);
	memcpy(name + plen, d, dlen);
	memcpy(name + plen + dlen, ".img", 5);
}

/* ---- the views ---- */

struct xview {
	int dfd;
	struct xarena arenas[MAX_THREADS];
	const struct img *pstree;
	struct buf files_bytes; /* files.img, which the names point into */
	struct umap fids; /* files.img entries (struct xfile) by id */
	const struct magic_info *files_mi;
};

static uint32_t pid_of(const struct xview *v, size_t i)
{
	return ((const PstreeEntry *)v->pstree->entries[i].msg)->pid;
}

/* A file of files.img by id; NULL: not there, where the Lua view would look
 * into the images CRIU wrote before files.img and maybe note it. The id is
 * taken whole: a VMA's shmid above 2^32 is no file's. */
static const struct xfile *file_by_id(const struct xview *v, uint64_t id)
{
	return umap_get(&v->fids, id);
}

/* CRIT's name of a regular file: its path, or "unknown path" for a file of
 * another type. -1 when the id is not in files.img. */
static int put_reg_name(const struct xview *v, struct buf *out, uint64_t id)
{
	const struct xfile *fe = file_by_id(v, id);
	if (!fe)
		return -1;
	if (fe->reg)
		buf_add(out, fe->name, fe->name_len);
	else
		buf_adds(out, "unknown path");
	return 0;
}

/* CRIT's name of the file of an fd; -1 when the Lua view would note that
 * files.img does not have it. */
static int put_file_name(const struct xview *v, struct buf *out, int32_t type, uint32_t id)
{
	const struct xfile *fe;
	switch (type) {
	case FD_TYPES__REG:
		return put_reg_name(v, out, id);
	case FD_TYPES__PIPE:
		if (!(fe = file_by_id(v, id)))
			return -1;
		if (!fe->pipe) {
			buf_adds(out, "pipe[?]");
			return 0;
		}
		buf_adds(out, "pipe[");
		put_dec(out, fe->pipe_id, 0);
		buf_addc(out, ']');
		return 0;
	case FD_TYPES__UNIXSK:
		if (!(fe = file_by_id(v, id)))
			return -1;
		if (!fe->usk) {
			buf_adds(out, "unix[?]");
			return 0;
		}
		buf_printf(out, "unix[%" PRIu32 " (%" PRIu32 ")", fe->ino, fe->peer);
		if (fe->uname_len) {
			buf_addc(out, ' ');
			tc_b2a_qp(out, fe->uname, fe->uname_len);
		}
		buf_addc(out, ']');
		return 0;
	default: {
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(&fd_types__descriptor, type);
		if (ev)
			buf_printf(out, "%s.%" PRIu32, ev->name, id);
		else
			buf_printf(out, "%d.%" PRIu32, (int)type, id);
		return 0;
	}
	}
}

/* files.img, read by thread k, and its entries by id (the first entry of
 * each id, as CRIT's search finds it). */
static int read_files(struct xview *v, struct xread *x, int k)
{
	struct xfile *files;
	size_t n;
	if (read_records(x, k, "files.img", v->files_mi, &kind_files, (void **)&files, &n) < 0)
		return -1;
	v->files_bytes = x->bufs[k]; /* the names point into it: it is the view's now */
	x->bufs[k] = (struct buf){ 0 };
	umap_init(&v->fids, n);
	for (size_t i = 0; i < n; i++)
		umap_add(&v->fids, files[i].id, &files[i]);
	return 0;
}

/* First whether the Lua view would note anything about a process, check(ctx,
 * i) < 0, for every process, by several threads: nothing is written before
 * that is known. */
struct xchecks {
	int (*check)(const void *ctx, size_t i);
	const void *ctx;
	atomic_int failed;
};

static void check_job(void *ctx, size_t i, int k)
{
	(void)k;
	struct xchecks *c = ctx;
	if (!atomic_load_explicit(&c->failed, memory_order_relaxed) && c->check(c->ctx, i) < 0)
		atomic_store(&c->failed, 1);
}

static int check_all(size_t np, int (*check)(const void *, size_t), const void *ctx)
{
	struct xchecks c = { .check = check, .ctx = ctx };
	atomic_init(&c.failed, 0);
	run_pool(np, np >= 64, check_job, &c);
	return atomic_load(&c.failed) ? -1 : 0;
}

/* Then the text of the processes, in pieces: piece c is processes
 * [c * per, (c + 1) * per), each made by text(ctx, i, out). Worker threads
 * make the pieces while this one writes them in order as they are done, so
 * that writing goes on beside the making. Once out, a piece is freed by the
 * thread that made it (malloc's memory of that thread, used again for its
 * next piece; freed from here, its arena's lock would be fought over). */
enum { PIECE_MAKING, PIECE_DONE, PIECE_WRITTEN };

struct xtexts {
	size_t np, per, npieces;
	void (*text)(const void *ctx, size_t i, struct buf *out);
	const void *ctx;
	struct buf *pieces;
	unsigned char *state, *maker; /* by piece, under lock */
	atomic_size_t next; /* the next piece to make */
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

struct xtext_worker {
	struct xtexts *t;
	unsigned char k;
};

static void make_piece(struct xtexts *t, size_t c)
{
	for (size_t i = c * t->per; i < t->np && i < (c + 1) * t->per; i++)
		t->text(t->ctx, i, &t->pieces[c]);
}

static void *text_worker(void *arg)
{
	const struct xtext_worker *w = arg;
	struct xtexts *t = w->t;
	for (size_t c; (c = atomic_fetch_add(&t->next, 1)) < t->npieces;) {
		make_piece(t, c);
		pthread_mutex_lock(&t->lock);
		t->state[c] = PIECE_DONE;
		t->maker[c] = w->k;
		pthread_cond_broadcast(&t->cond);
		for (size_t d = 0; d < c; d++)
			if (t->state[d] == PIECE_WRITTEN && t->maker[d] == w->k)
				buf_free(&t->pieces[d]);
		pthread_mutex_unlock(&t->lock);
	}
	return NULL;
}

static void write_texts(size_t np, void (*text)(const void *, size_t, struct buf *), const void *ctx, FILE *to)
{
	struct xtexts t = { .np = np, .npieces = np < 64 ? 1 : np < 128 ? np : 128, .text = text, .ctx = ctx };
	t.per = np ? (np + t.npieces - 1) / t.npieces : 1;
	t.npieces = np ? (np + t.per - 1) / t.per : 1; /* none left empty */
	t.pieces = xcalloc(t.npieces, sizeof *t.pieces);
	t.state = xcalloc(t.npieces, 1);
	t.maker = xcalloc(t.npieces, 1);
	atomic_init(&t.next, 0);
	pthread_mutex_init(&t.lock, NULL);
	pthread_cond_init(&t.cond, NULL);
	pthread_t th[MAX_THREADS];
	struct xtext_worker w[MAX_THREADS];
	int nt = 0, want = t.npieces > 1 ? cpus() : 0;
	while (nt < want && nt < MAX_THREADS) {
		w[nt] = (struct xtext_worker){ &t, (unsigned char)nt };
		if (pthread_create(&th[nt], NULL, text_worker, &w[nt]) != 0)
			break;
		nt++;
	}
	for (size_t c = 0; c < t.npieces; c++) {
		if (nt == 0) { /* no thread to make them: this one does */
			make_piece(&t, c);
		} else {
			pthread_mutex_lock(&t.lock);
			while (t.state[c] != PIECE_DONE)
				pthread_cond_wait(&t.cond, &t.lock);
			pthread_mutex_unlock(&t.lock);
		}
		if (t.pieces[c].len) /* the last pieces may hold no process */
			fwrite(t.pieces[c].p, 1, t.pieces[c].len, to);
		pthread_mutex_lock(&t.lock);
		t.state[c] = PIECE_WRITTEN;
		pthread_mutex_unlock(&t.lock);
	}
	for (int k = 0; k < nt; k++)
		pthread_join(th[k], NULL);
	for (size_t c = 0; c < t.npieces; c++) /* what their makers had not freed */
		buf_free(&t.pieces[c]);
	pthread_mutex_destroy(&t.lock);
	pthread_cond_destroy(&t.cond);
	free(t.pieces);
	free(t.state);
	free(t.maker);
}

/* x fds: files.img, and per process ids-PID.img, fs-PID.img and the
 * fdinfo-N.img its ids name, read one after the other by the same thread. */
struct xproc_fds {
	uint32_t *files_id, *fs; /* fs: cwd, root */
	struct xfd *fds;
	size_t nids, nfs, nfds;
	int ok;
};

struct xfds {
	struct xview *v;
	struct xread x;
	struct xproc_fds *procs;
	int files_ok;
	const struct magic_info *ids, *fs, *fdinfo;
};

static void fds_job(void *ctx, size_t i, int k)
{
	struct xfds *f = ctx;
	char name[64];
	if (i == 0) {
		f->files_ok = read_files(f->v, &f->x, k) == 0;
		return;
	}
	struct xproc_fds *p = &f->procs[i - 1];
	uint32_t pid = pid_of(f->v, i - 1);
	image_name(name, "ids-", pid);
	if (read_records(&f->x, k, name, f->ids, &kind_ids, (void **)&p->files_id, &p->nids) < 0 || !p->nids)
		return;
	image_name(name, "fs-", pid);
	if (read_records(&f->x, k, name, f->fs, &kind_fs, (void **)&p->fs, &p->nfs) < 0 || !p->nfs)
		return;
	image_name(name, "fdinfo-", p->files_id[0]);
	p->ok = read_records(&f->x, k, name, f->fdinfo, &kind_fdinfo, (void **)&p->fds, &p->nfds) == 0;
}

/* Whether the Lua view has nothing to note about process i: its images all
 * there, and the files of its cwd, root and fds of the three kinds it names
 * in files.img. */
static int fds_check(const void *ctx, size_t i)
{
	const struct xfds *f = ctx;
	const struct xproc_fds *p = &f->procs[i];
	if (!p->ok || !file_by_id(f->v, p->fs[0]) || !file_by_id(f->v, p->fs[1]))
		return -1;
	for (size_t k = 0; k < p->nfds; k++) {
		int32_t type = p->fds[k].type;
		if ((type == FD_TYPES__REG || type == FD_TYPES__PIPE || type == FD_TYPES__UNIXSK) &&
		    !file_by_id(f->v, p->fds[k].id))
			return -1;
	}
	return 0;
}

static void fds_text(const void *ctx, size_t i, struct buf *out)
{
	const struct xfds *f = ctx;
	const struct xproc_fds *p = &f->procs[i];
	put_dec(out, pid_of(f->v, i), 0);
	buf_addc(out, '\n');
	for (size_t k = 0; k < p->nfds; k++) {
		const struct xfd *fd = &p->fds[k];
		buf_addc(out, '\t');
		put_dec(out, fd->fd, 7);
		buf_add(out, ": ", 2);
		put_file_name(f->v, out, fd->type, fd->id);
		buf_addc(out, '\n');
	}
	buf_adds(out, "\t    cwd: ");
	put_reg_name(f->v, out, p->fs[0]);
	buf_adds(out, "\n\t   root: ");
	put_reg_name(f->v, out, p->fs[1]);
	buf_addc(out, '\n');
}

static int render_fds(struct xview *v, FILE *to)
{
	size_t np = v->pstree->n;
	struct xfds f = { .v = v, .x = { .dfd = v->dfd, .arenas = v->arenas },
			  .procs = xcalloc(np + 1, sizeof *f.procs), .ids = magic_by_name("IDS"),
			  .fs = magic_by_name("FS"), .fdinfo = magic_by_name("FDINFO") };
	atomic_init(&f.x.failed, 0);
	run_pool(1 + np, np >= 64, fds_job, &f);
	xread_done(&f.x);
	int rc = f.files_ok && !atomic_load(&f.x.failed) ? check_all(np, fds_check, &f) : -1;
	if (rc == 0)
		write_texts(np, fds_text, &f, to);
	free(f.procs);
	return rc;
}

static const char *const prot_text[8] = { "---", "r--", "-w-", "rw-", "--x", "r-x", "-wx", "rwx" };

/* CRIT's number of a shared segment (SysV IPC, shared anonymous, packet
 * ring): one counter over all processes, by shmid, from 1. */
struct segs {
	struct umap m;
	size_t n;
};

static void seg_add(struct segs *g, uint64_t shmid)
{
	if (umap_get(&g->m, shmid))
		return;
	if (2 * (g->n + 1) > g->m.cap) { /* keep it at most half full */
		struct umap big;
		umap_init(&big, 2 * g->n);
		for (size_t b = 0; b < g->m.cap; b++)
			if (g->m.vals[b])
				umap_add(&big, g->m.keys[b], g->m.vals[b]);
		umap_free(&g->m);
		g->m = big;
	}
	umap_add(&g->m, shmid, (const void *)(uintptr_t)++g->n);
}

static const char *seg_kind(uint32_t status)
{
	return status & VMA_SYSVIPC	? " ips["
	       : status & VMA_ANON_SHARED ? " shmem["
	       : status & VMA_SOCKET	  ? " packet["
					  : NULL;
}

static char *put_str(char *w, const char *s, size_t n)
{
	memcpy(w, s, n);
	return w + n;
}

/* One VMA's line, written straight into out. */
static void put_vma(const struct xview *v, struct buf *out, const struct xvma *vma, const struct segs *segs)
{
	uint32_t s = vma->status;
	const char *seg = seg_kind(s);
	const struct xfile *fe = NULL;
	if (!seg && s & (VMA_FILE_PRIVATE | VMA_FILE_SHARED))
		fe = file_by_id(v, vma->shmid); /* there: mems_check looked */
	/* at most 37 + 3, then " packet[" and 16 digits and "]", or the name
	 * and " + 0x", 16 digits and " (s)"; then " *\n" */
	buf_reserve(out, 96 + (fe && fe->reg ? fe->name_len : 0));
	char *line = (char *)out->p + out->len, *w = line;
	*w++ = '\t';
	w = fmt_hex(w, vma->start, 8);
	*w++ = '-';
	w = fmt_hex(w, vma->end, 8);
	if (w - line < 37) { /* "\t%08x-%08x" padded to 36 columns */
		memset(w, ' ', (size_t)(37 - (w - line)));
		w = line + 37;
	}
	w = put_str(w, prot_text[vma->prot & 7], 3);
	if (seg) {
		w = put_str(w, seg, strlen(seg));
		w = fmt_hex(w, (uintptr_t)umap_get(&segs->m, vma->shmid), 0);
		*w++ = ']';
	} else if (fe) {
		*w++ = ' ';
		w = fe->reg ? put_str(w, fe->name, fe->name_len) : put_str(w, "unknown path", 12);
		if (vma->pgoff) {
			w = put_str(w, " + 0x", 5);
			w = fmt_hex(w, vma->pgoff, 0);
		}
		if (s & VMA_FILE_SHARED)
			w = put_str(w, " (s)", 4);
	} else {
		const char *name = s & VMA_STACK	    ? " [stack]"
				   : s & VMA_VSYSCALL	    ? " [vsyscall]"
				   : s & VMA_VDSO	    ? " [vdso]"
				   : vma->flags & VMA_MAP_GROWSDOWN ? " [stack?]"
								    : NULL; /* vvar, heap, aio ring, anonymous */
		if (name)
			w = put_str(w, name, strlen(name));
	}
	if (!(s & VMA_REGULAR))
		w = put_str(w, " *", 2);
	*w++ = '\n';
	out->len = (size_t)(w - (char *)out->p);
}

/* x mems: files.img and mm-PID.img of each process. */
struct xproc_mm {
	uint32_t exe;
	struct xvma *vmas;
	size_t nvmas;
};

struct xmems {
	struct xview *v;
	struct xread x;
	struct xproc_mm *procs;
	struct segs segs;
	int files_ok;
	const struct magic_info *mm;
	struct xvma_reader vr;
};

static void mm_job(void *ctx, size_t i, int k)
{
	struct xmems *m = ctx;
	char name[64];
	if (i == 0) {
		m->files_ok = read_files(m->v, &m->x, k) == 0;
		return;
	}
	struct xproc_mm *p = &m->procs[i - 1];
	image_name(name, "mm-", pid_of(m->v, i - 1));
	read_mm(&m->x, k, name, m->mm, &m->vr, &p->exe, &p->vmas, &p->nvmas);
}

/* Whether the Lua view has nothing to note about process i: the file of its
 * exe and of each file VMA (whatever its kind: the view looks up each one)
 * in files.img. */
static int mems_check(const void *ctx, size_t i)
{
	const struct xmems *m = ctx;
	const struct xproc_mm *p = &m->procs[i];
	if (!file_by_id(m->v, p->exe))
		return -1;
	for (size_t k = 0; k < p->nvmas; k++)
		if (p->vmas[k].status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED) && !file_by_id(m->v, p->vmas[k].shmid))
			return -1;
	return 0;
}

static void mems_text(const void *ctx, size_t i, struct buf *out)
{
	const struct xmems *m = ctx;
	const struct xproc_mm *p = &m->procs[i];
	buf_reserve(out, 64 + 96 * p->nvmas);
	put_dec(out, pid_of(m->v, i), 0);
	buf_adds(out, "\n\texe");
	for (int pad = 3; pad < 36 + 4; pad++) /* "%-36s    " */
		buf_addc(out, ' ');
	put_reg_name(m->v, out, p->exe);
	buf_addc(out, '\n');
	for (size_t k = 0; k < p->nvmas; k++)
		put_vma(m->v, out, &p->vmas[k], &m->segs);
}

static int render_mems(struct xview *v, FILE *to)
{
	size_t np = v->pstree->n;
	struct xmems m = { .v = v, .x = { .dfd = v->dfd, .arenas = v->arenas },
			   .procs = xcalloc(np + 1, sizeof *m.procs), .mm = magic_by_name("MM") };
	atomic_init(&m.x.failed, 0);
	vma_reader_init(&m.vr);
	run_pool(1 + np, np >= 64, mm_job, &m);
	xread_done(&m.x);
	int rc = m.files_ok && !atomic_load(&m.x.failed) ? check_all(np, mems_check, &m) : -1;
	/* The shared segments' numbers, in order, before the text. */
	umap_init(&m.segs.m, 16);
	for (size_t i = 0; i < np && rc == 0; i++)
		for (size_t k = 0; k < m.procs[i].nvmas; k++)
			if (seg_kind(m.procs[i].vmas[k].status))
				seg_add(&m.segs, m.procs[i].vmas[k].shmid);
	if (rc == 0)
		write_texts(np, mems_text, &m, to);
	umap_free(&m.segs.m);
	free(m.procs);
	return rc;
}

int xtext(const char *dir, const char *view, FILE *to)
{
	int (*render)(struct xview *, FILE *);
	if (strcmp(view, "fds") == 0)
		render = render_fds;
	else if (strcmp(view, "mems") == 0)
		render = render_mems;
	else
		return 0;
	/* What the decoder looks up once and keeps (the descriptors of these
	 * types, whether they nest) is looked up here, before any thread. */
	static const char *const kinds[] = { "PSTREE", "FILES", "IDS", "FS", "FDINFO", "MM" };
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
		const struct magic_info *mi = magic_by_name(kinds[i]);
		if (!mi || !mi->desc)
			return 0;
		pb_is_recursive(mi->desc);
	}
	struct xview v = { .files_mi = magic_by_name("FILES") };
	for (int k = 0; k < MAX_THREADS; k++)
		arena_init(&v.arenas[k]);
	if ((v.dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0;
	struct img ps = { 0 };
	struct xread x = { .dfd = v.dfd, .arenas = v.arenas };
	atomic_init(&x.failed, 0);
	int rc = decode_in(&x, 0, "pstree.img", magic_by_name("PSTREE"), &ps);
	xread_done(&x);
	v.pstree = &ps;
	if (rc == 0)
		rc = render(&v, to);
	umap_free(&v.fids);
	buf_free(&v.files_bytes);
	img_release(&ps);
	for (int k = 0; k < MAX_THREADS; k++)
		arena_release(&v.arenas[k]);
	close(v.dfd);
	return rc == 0;
}
