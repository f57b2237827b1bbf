/* xtext.c: CRIT's `x DIR fds` and `x DIR mems` text of a checkpoint
 * directory, straight from the decoded messages. See xtext.h. */
#include <errno.h>
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

#include "core.pb-c.h"
#include "fdinfo.pb-c.h"
#include "fs.pb-c.h"
#include "mm.pb-c.h"
#include "pstree.pb-c.h"
#include "image.h"
#include "textcodec.h"
#include "xtext.h"

/* vma_entry.status bits, as lua/explore.lua names them */
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

/* ---- reading many images at once ----
 * A checkpoint of a thousand processes is thousands of small files; the
 * time goes into open, read and close, so they are read and decoded by a few
 * threads. Each job is one file: its image, or failed. */

struct xjob {
	char name[64];
	const struct magic_info *want; /* the image type the name implies */
	struct img img;
	int ok;
};

/* Each thread decodes into an arena of its own, freed as a whole when the
 * view is done: tens of thousands of small messages, each malloc'ed in a
 * thread's heap, would cost more than the decoding. Its blocks are mapped
 * with their pages at once (MAP_POPULATE): a page fault for every 4 KiB of
 * messages was a tenth of `x mems`. */
struct xarena {
	ProtobufCAllocator pa; /* allocator_data: the arena */
	uint8_t *cur;
	size_t left;
	void **blocks; /* ARENA_BLOCK bytes each, mapped */
	size_t n, cap;
	void **large; /* malloc'ed, one per message larger than ARENA_BLOCK / 4 */
	size_t nlarge, caplarge;
};

#define ARENA_BLOCK (1024 * 1024)

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
	if (size > ARENA_BLOCK / 4) {
		void *p = xmalloc(size);
		arena_keep(&a->large, &a->nlarge, &a->caplarge, p);
		return p;
	}
	if (size > a->left) {
		void *b = mmap(NULL, ARENA_BLOCK, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (b == MAP_FAILED)
			return NULL; /* protobuf-c fails the unpack: the image is left to Lua */
		arena_keep(&a->blocks, &a->n, &a->cap, b);
		a->cur = b;
		a->left = ARENA_BLOCK;
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
		munmap(a->blocks[i], ARENA_BLOCK);
	for (size_t i = 0; i < a->nlarge; i++)
		free(a->large[i]);
	free(a->blocks);
	free(a->large);
}

#define MAX_THREADS 4

/* Work 0 .. n-1 shared out among this thread and up to MAX_THREADS - 1
 * others; work(ctx, i, k) runs on thread k (this one is 0). */
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

static void run_pool(size_t n, void (*work)(void *, size_t, int), void *ctx)
{
	struct xpool p = { .n = n, .work = work, .ctx = ctx };
	atomic_init(&p.next, 0);
	pthread_t t[MAX_THREADS];
	struct xworker w[MAX_THREADS];
	int nt = 1, want = cpus();
	if (want > MAX_THREADS)
		want = MAX_THREADS;
	if (n < 64) /* not worth a thread */
		want = 1;
	for (int k = 0; k < MAX_THREADS; k++)
		w[k] = (struct xworker){ &p, k };
	while (nt < want && pthread_create(&t[nt], NULL, pool_worker, &w[nt]) == 0)
		nt++;
	pool_worker(&w[0]);
	for (int k = 1; k < nt; k++)
		pthread_join(t[k], NULL);
}

struct xdecode {
	int dfd;
	struct xjob *jobs;
	struct xarena *arenas; /* by thread */
	struct buf bufs[MAX_THREADS]; /* by thread: grown to the largest file it read */
	atomic_int failed; /* a job failed: the view is the Lua views', the rest is skipped */
};

/* Read and decode one file: no fstat, and no allocation per file. */
static void decode_one(struct xdecode *x, struct xjob *j, int k)
{
	struct buf *buf = &x->bufs[k];
	if (atomic_load_explicit(&x->failed, memory_order_relaxed))
		return;
	/* O_NONBLOCK: a FIFO in the directory does not hang here (it gives no
	 * image, and the Lua views deal with it as with any file) */
	int fd = openat(x->dfd, j->name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		atomic_store(&x->failed, 1);
		return;
	}
	buf->len = 0;
	for (;;) {
		buf_reserve(buf, 4096);
		ssize_t r = read(fd, buf->p + buf->len, buf->cap - buf->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			close(fd);
			if (r < 0) { /* a directory, say */
				atomic_store(&x->failed, 1);
				return;
			}
			break;
		}
		buf->len += (size_t)r;
	}
	struct err e;
	j->ok = img_decode_in(buf->p, buf->len, &x->arenas[k].pa, &j->img, &e) == 0 && j->img.mi == j->want;
	if (!j->ok)
		atomic_store(&x->failed, 1);
}

static void decode_job(void *ctx, size_t i, int k)
{
	struct xdecode *x = ctx;
	decode_one(x, &x->jobs[i], k);
}

/* Read and decode the n jobs; thread k decodes into arenas[k]. */
static void run_jobs(int dfd, struct xarena *arenas, struct xjob *jobs, size_t n)
{
	struct xdecode x = { .dfd = dfd, .jobs = jobs, .arenas = arenas };
	atomic_init(&x.failed, 0);
	run_pool(n, decode_job, &x);
	for (int k = 0; k < MAX_THREADS; k++)
		buf_free(&x.bufs[k]);
}

static void free_jobs(struct xjob *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct img *img = &jobs[i].img;
		if (img->mi && img->mi->payload == PL_NONE)
			free(img->entries); /* the messages go with the arena, and there is no payload */
		else
			img_free(img);
	}
	free(jobs);
}

/* The first entry's message of a job's image, or NULL. */
static const void *first_msg(const struct xjob *j)
{
	return j->ok && j->img.n ? j->img.entries[0].msg : NULL;
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
	char s[16], *p = s + sizeof s;
	do
		*--p = digits[v & 15];
	while (v >>= 4);
	while (s + sizeof s - p < width)
		*--p = '0';
	memcpy(w, p, (size_t)(s + sizeof s - p));
	return w + (s + sizeof s - p);
}

static void put_hex(struct buf *out, uint64_t v, int width)
{
	char s[16];
	buf_add(out, s, (size_t)(fmt_hex(s, v, width) - s));
}

/* ---- the views ---- */

struct xview {
	int dfd;
	struct xarena arenas[MAX_THREADS];
	FILE *to;
	struct buf *out; /* written to `to` every 64 KiB */
	const struct img *pstree;
	struct umap fids; /* files.img entries by id */
};

static void flush_some(struct xview *v)
{
	if (v->out->len >= 65536) {
		fwrite(v->out->p, 1, v->out->len, v->to);
		v->out->len = 0;
	}
}

/* A file of files.img by id; NULL: not there, where the Lua view would look
 * into the images CRIU wrote before files.img and maybe note it. */
static const FileEntry *file_by_id(const struct xview *v, uint32_t id)
{
	return umap_get(&v->fids, id);
}

/* CRIT's name of a regular file: its path, or "unknown path" for a file of
 * another type. -1 when the id is not in files.img. */
static int put_reg_name(const struct xview *v, struct buf *out, uint32_t id)
{
	const FileEntry *fe = file_by_id(v, id);
	if (!fe)
		return -1;
	buf_adds(out, fe->reg ? fe->reg->name : "unknown path");
	return 0;
}

static int put_file_name(const struct xview *v, struct buf *out, FdTypes type, uint32_t id)
{
	const FileEntry *fe;
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
		put_dec(out, fe->pipe->pipe_id, 0);
		buf_addc(out, ']');
		return 0;
	case FD_TYPES__UNIXSK:
		if (!(fe = file_by_id(v, id)))
			return -1;
		if (!fe->usk) {
			buf_adds(out, "unix[?]");
			return 0;
		}
		buf_printf(out, "unix[%" PRIu32 " (%" PRIu32 ")", fe->usk->ino, fe->usk->peer);
		if (fe->usk->name.len) {
			buf_addc(out, ' ');
			tc_b2a_qp(out, fe->usk->name.data, fe->usk->name.len);
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

static void job_name(struct xjob *j, const struct magic_info *kind, const char *fmt, uint32_t n)
{
	snprintf(j->name, sizeof j->name, fmt, n);
	j->want = kind;
}

/* 1 + n jobs, the first files.img. */
static struct xjob *files_and(size_t n)
{
	struct xjob *jobs = xcalloc(1 + n, sizeof *jobs);
	snprintf(jobs[0].name, sizeof jobs[0].name, "files.img");
	jobs[0].want = magic_by_name("FILES");
	return jobs;
}

/* files.img by id (the first entry of each id, as CRIT's search finds it) */
static int index_files(struct xview *v, const struct xjob *files)
{
	if (!files->ok)
		return -1;
	umap_init(&v->fids, files->img.n);
	for (size_t i = 0; i < files->img.n; i++) {
		const FileEntry *fe = (const FileEntry *)files->img.entries[i].msg;
		umap_add(&v->fids, fe->id, fe);
	}
	return 0;
}

/* x fds: files.img, then per process ids-PID.img, fs-PID.img and the
 * fdinfo-N.img its ids name, read one after the other by the same thread. */
struct xfds {
	struct xdecode d;
	const struct xview *v;
	const struct magic_info *ids, *fs, *fdinfo;
};

static void fds_job(void *ctx, size_t i, int k)
{
	struct xfds *x = ctx;
	struct xjob *j = &x->d.jobs[i == 0 ? 0 : 1 + 3 * (i - 1)];
	if (i == 0) {
		decode_one(&x->d, j, k);
		return;
	}
	uint32_t pid = ((const PstreeEntry *)x->v->pstree->entries[i - 1].msg)->pid;
	job_name(&j[0], x->ids, "ids-%" PRIu32 ".img", pid);
	job_name(&j[1], x->fs, "fs-%" PRIu32 ".img", pid);
	decode_one(&x->d, &j[0], k);
	decode_one(&x->d, &j[1], k);
	const TaskKobjIdsEntry *ids = first_msg(&j[0]);
	if (ids) {
		job_name(&j[2], x->fdinfo, "fdinfo-%" PRIu32 ".img", ids->files_id);
		decode_one(&x->d, &j[2], k);
	}
}

static int render_fds(struct xview *v)
{
	size_t np = v->pstree->n;
	struct xjob *jobs = files_and(3 * np);
	struct xfds x = { .d = { .dfd = v->dfd, .jobs = jobs, .arenas = v->arenas }, .v = v,
			  .ids = magic_by_name("IDS"), .fs = magic_by_name("FS"),
			  .fdinfo = magic_by_name("FDINFO") };
	atomic_init(&x.d.failed, 0);
	run_pool(1 + np, fds_job, &x);
	for (int k = 0; k < MAX_THREADS; k++)
		buf_free(&x.d.bufs[k]);
	int rc = index_files(v, &jobs[0]);
	/* First whether the Lua view would note anything: an image missing, a
	 * file of the three kinds it names not in files.img. */
	for (size_t i = 0; i < np && rc == 0; i++) {
		const struct xjob *j = &jobs[1 + 3 * i]; /* ids, fs, fdinfo */
		const FsEntry *fs = first_msg(&j[1]);
		rc = first_msg(&j[0]) && fs && j[2].ok && file_by_id(v, fs->cwd_id) &&
				     file_by_id(v, fs->root_id)
			     ? 0
			     : -1;
		for (size_t k = 0; k < j[2].img.n && rc == 0; k++) {
			const FdinfoEntry *fd = (const FdinfoEntry *)j[2].img.entries[k].msg;
			if ((fd->type == FD_TYPES__REG || fd->type == FD_TYPES__PIPE ||
			     fd->type == FD_TYPES__UNIXSK) && !file_by_id(v, fd->id))
				rc = -1;
		}
	}
	for (size_t i = 0; i < np && rc == 0; i++) {
		const struct xjob *j = &jobs[1 + 3 * i];
		const PstreeEntry *p = (const PstreeEntry *)v->pstree->entries[i].msg;
		const FsEntry *fs = first_msg(&j[1]);
		put_dec(v->out, p->pid, 0);
		buf_addc(v->out, '\n');
		for (size_t k = 0; k < j[2].img.n; k++) {
			const FdinfoEntry *fd = (const FdinfoEntry *)j[2].img.entries[k].msg;
			buf_addc(v->out, '\t');
			put_dec(v->out, fd->fd, 7);
			buf_add(v->out, ": ", 2);
			put_file_name(v, v->out, fd->type, fd->id);
			buf_addc(v->out, '\n');
		}
		buf_adds(v->out, "\t    cwd: ");
		put_reg_name(v, v->out, fs->cwd_id);
		buf_adds(v->out, "\n\t   root: ");
		put_reg_name(v, v->out, fs->root_id);
		buf_addc(v->out, '\n');
		flush_some(v);
	}
	if (jobs[0].ok)
		umap_free(&v->fids);
	free_jobs(jobs, 1 + 3 * np);
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

static void put_vma(const struct xview *v, struct buf *out, const VmaEntry *vma, const struct segs *segs)
{
	uint32_t s = vma->status;
	/* "\t%08x-%08x" padded to 36 columns, then rwx: at most 1 + 33 + 3 + 3 */
	char line[48], *w = line;
	*w++ = '\t';
	w = fmt_hex(w, vma->start, 8);
	*w++ = '-';
	w = fmt_hex(w, vma->end, 8);
	while (w - line < 37)
		*w++ = ' ';
	memcpy(w, prot_text[vma->prot & 7], 3);
	buf_add(out, line, (size_t)(w + 3 - line));
	const char *seg = seg_kind(s);
	if (seg) {
		buf_adds(out, seg);
		put_hex(out, (uintptr_t)umap_get(&segs->m, vma->shmid), 0);
		buf_addc(out, ']');
	} else if (s & (VMA_FILE_PRIVATE | VMA_FILE_SHARED)) {
		buf_addc(out, ' ');
		put_reg_name(v, out, (uint32_t)vma->shmid); /* known to be there */
		if (vma->pgoff) {
			buf_add(out, " + 0x", 5);
			put_hex(out, vma->pgoff, 0);
		}
		if (s & VMA_FILE_SHARED)
			buf_adds(out, " (s)");
	} else if (s & VMA_STACK) {
		buf_adds(out, " [stack]");
	} else if (s & VMA_VSYSCALL) {
		buf_adds(out, " [vsyscall]");
	} else if (s & VMA_VDSO) {
		buf_adds(out, " [vdso]");
	} else if (vma->flags & VMA_MAP_GROWSDOWN) {
		buf_adds(out, " [stack?]");
	} /* vvar, heap, aio ring, anonymous: no name */
	if (!(s & VMA_REGULAR))
		buf_adds(out, " *");
	buf_addc(out, '\n');
}

/* The text of each process, made by several threads. */
struct xmems {
	const struct xview *v;
	const struct xjob *jobs; /* files.img, then the mm images */
	const struct segs *segs;
	struct buf *texts; /* by process */
};

static void mems_text(void *ctx, size_t i, int k)
{
	(void)k;
	struct xmems *x = ctx;
	struct buf *out = &x->texts[i];
	const PstreeEntry *p = (const PstreeEntry *)x->v->pstree->entries[i].msg;
	const MmEntry *mm = first_msg(&x->jobs[1 + i]);
	buf_reserve(out, 64 + 96 * mm->n_vmas);
	put_dec(out, p->pid, 0);
	buf_adds(out, "\n\texe");
	for (int pad = 3; pad < 36 + 4; pad++) /* "%-36s    " */
		buf_addc(out, ' ');
	put_reg_name(x->v, out, mm->exe_file_id);
	buf_addc(out, '\n');
	for (size_t k2 = 0; k2 < mm->n_vmas; k2++)
		put_vma(x->v, out, mm->vmas[k2], x->segs);
}

static int render_mems(struct xview *v)
{
	size_t np = v->pstree->n;
	struct xjob *jobs = files_and(np);
	const struct magic_info *mm_magic = magic_by_name("MM");
	for (size_t i = 0; i < np; i++)
		job_name(&jobs[1 + i], mm_magic, "mm-%" PRIu32 ".img",
			 ((const PstreeEntry *)v->pstree->entries[i].msg)->pid);
	run_jobs(v->dfd, v->arenas, jobs, 1 + np);
	int rc = index_files(v, &jobs[0]);
	/* First whether the Lua view would note anything: an mm image missing,
	 * a file not in files.img (the backing file of every file VMA is looked
	 * up, whatever its kind); and the shared segments' numbers, in order. */
	struct segs segs = { 0 };
	umap_init(&segs.m, 16);
	for (size_t i = 0; i < np && rc == 0; i++) {
		const MmEntry *mm = first_msg(&jobs[1 + i]);
		if (!mm || !file_by_id(v, mm->exe_file_id)) {
			rc = -1;
			break;
		}
		for (size_t k = 0; k < mm->n_vmas; k++) {
			const VmaEntry *vma = mm->vmas[k];
			if (vma->status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED) && !file_by_id(v, (uint32_t)vma->shmid))
				rc = -1;
			if (seg_kind(vma->status))
				seg_add(&segs, vma->shmid);
		}
	}
	if (rc == 0) {
		struct xmems x = { .v = v, .jobs = jobs, .segs = &segs, .texts = xcalloc(np + 1, sizeof(struct buf)) };
		run_pool(np, mems_text, &x);
		for (size_t i = 0; i < np; i++) { /* written in large pieces: one write each */
			buf_add(v->out, x.texts[i].p, x.texts[i].len);
			buf_free(&x.texts[i]);
			if (v->out->len >= (1 << 20)) {
				fwrite(v->out->p, 1, v->out->len, v->to);
				v->out->len = 0;
			}
		}
		free(x.texts);
	}
	umap_free(&segs.m);
	if (jobs[0].ok)
		umap_free(&v->fids);
	free_jobs(jobs, 1 + np);
	return rc;
}

int xtext(const char *dir, const char *view, FILE *to)
{
	int (*render)(struct xview *);
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
	struct buf out = { 0 };
	struct xview v = { .to = to, .out = &out };
	for (int k = 0; k < MAX_THREADS; k++)
		arena_init(&v.arenas[k]);
	if ((v.dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0;
	struct xjob ps = { .name = "pstree.img", .want = magic_by_name("PSTREE") };
	run_jobs(v.dfd, v.arenas, &ps, 1);
	v.pstree = &ps.img;
	int rc = ps.ok ? render(&v) : -1;
	if (rc == 0)
		fwrite(out.p, 1, out.len, to);
	buf_free(&out);
	img_free(&ps.img);
	for (int k = 0; k < MAX_THREADS; k++)
		arena_release(&v.arenas[k]);
	close(v.dfd);
	return rc == 0;
}
