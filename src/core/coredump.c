/* coredump.c: an ELF64 x86_64 core file (ET_CORE): one PT_NOTE (NT_PRSTATUS
 * and NT_FPREGSET per thread, NT_PRPSINFO, NT_AUXV, NT_FILE) and PT_LOADs for
 * the mappings, their stored pages copied from the checkpoint in bounded
 * pieces. Layouts are written byte by byte, little-endian, from the x86_64
 * ABI's struct elf_prstatus (336 bytes) and elf_prpsinfo (136 bytes), so that
 * the file does not depend on the machine critlua runs on. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coredump.h"
#include "progress.h"

#ifndef NT_FILE
#define NT_FILE 0x46494c45
#endif
#ifndef PN_XNUM
#define PN_XNUM 0xffff
#endif

#define COPY_CHUNK (1u << 20)
#define EHDR_SIZE 64
#define PHDR_SIZE 56
#define SHDR_SIZE 64
#define PRSTATUS_SIZE 336
#define PRSTATUS_REGS 112 /* offset of pr_reg */
#define PRSTATUS_FPVALID 328
#define PRPSINFO_SIZE 136
#define FXSAVE_SIZE 512

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void buf_add_u64(struct buf *b, uint64_t v)
{
	uint8_t x[8];
	put64(x, v);
	buf_add(b, x, 8);
}

static void pad4(struct buf *b)
{
	while (b->len % 4)
		buf_addc(b, 0);
}

/* One note: namesz, descsz, type, "CORE\0" padded, desc padded (4-byte
 * alignment, as ELF64 core notes have it). */
static void note(struct buf *b, uint32_t type, const void *desc, size_t len)
{
	buf_add_u32(b, 5);
	buf_add_u32(b, (uint32_t)len);
	buf_add_u32(b, type);
	buf_add(b, "CORE\0\0\0", 8);
	buf_add(b, desc, len);
	pad4(b);
}

static void note_prstatus(struct buf *b, const struct cd_proc *p, const struct cd_thread *t)
{
	uint8_t d[PRSTATUS_SIZE] = { 0 };
	/* pr_info (signo, code, errno) and pr_cursig stay 0: no signal killed it */
	put64(d + 24, t->sigblocked); /* pr_sighold */
	put32(d + 32, t->tid);
	put32(d + 36, p->ppid);
	put32(d + 40, p->pgid);
	put32(d + 44, p->sid);
	/* four struct timevals (48..111): times are not in the checkpoint */
	for (int i = 0; i < CD_NREGS; i++)
		put64(d + PRSTATUS_REGS + 8 * i, t->regs[i]);
	put32(d + PRSTATUS_FPVALID, t->has_fp ? 1 : 0);
	note(b, NT_PRSTATUS, d, sizeof d);
}

static void note_fpregset(struct buf *b, const struct cd_thread *t)
{
	const struct cd_fpregs *f = &t->fp;
	uint8_t d[FXSAVE_SIZE] = { 0 };
	put16(d + 0, f->cwd);
	put16(d + 2, f->swd);
	put16(d + 4, f->twd);
	put16(d + 6, f->fop);
	put64(d + 8, f->rip);
	put64(d + 16, f->rdp);
	put32(d + 24, f->mxcsr);
	put32(d + 28, f->mxcsr_mask);
	for (int i = 0; i < 32; i++)
		put32(d + 32 + 4 * i, f->st_space[i]);
	for (int i = 0; i < 64; i++)
		put32(d + 160 + 4 * i, f->xmm_space[i]);
	for (int i = 0; i < 24; i++)
		put32(d + 416 + 4 * i, f->padding[i]);
	note(b, NT_FPREGSET, d, sizeof d);
}

static void note_prpsinfo(struct buf *b, const struct cd_proc *p)
{
	static const char states[] = "RSDTZW";
	uint8_t d[PRPSINFO_SIZE] = { 0 };
	const char *s = p->sname ? strchr(states, p->sname) : NULL;
	d[0] = (uint8_t)(s ? s - states : 0); /* pr_state */
	d[1] = (uint8_t)(p->sname ? p->sname : 'R');
	d[2] = p->sname == 'Z';
	put32(d + 16, p->uid);
	put32(d + 20, p->gid);
	put32(d + 24, p->pid);
	put32(d + 28, p->ppid);
	put32(d + 32, p->pgid);
	put32(d + 36, p->sid);
	memcpy(d + 40, p->fname, sizeof p->fname);
	memcpy(d + 56, p->psargs, sizeof p->psargs);
	note(b, NT_PRPSINFO, d, sizeof d);
}

/* NT_FILE: count, page size, {start, end, file offset in pages} per file
 * mapping, then their paths, each NUL-terminated. */
static void note_file(struct buf *b, const struct cd_proc *p)
{
	struct buf d = { 0 };
	uint64_t n = 0;
	for (size_t i = 0; i < p->nvmas; i++)
		n += p->vmas[i].path != NULL;
	buf_add_u64(&d, n);
	buf_add_u64(&d, p->page_size);
	for (size_t i = 0; i < p->nvmas; i++) {
		const struct cd_vma *v = &p->vmas[i];
		if (v->path) {
			buf_add_u64(&d, v->start);
			buf_add_u64(&d, v->end);
			buf_add_u64(&d, v->pgoff / p->page_size);
		}
	}
	for (size_t i = 0; i < p->nvmas; i++)
		if (p->vmas[i].path)
			buf_add(&d, p->vmas[i].path, strlen(p->vmas[i].path) + 1);
	if (buf_oom(&d))
		b->oom = 1;
	note(b, NT_FILE, d.p, d.len);
	buf_free(&d);
}

static void build_notes(struct buf *b, const struct cd_proc *p)
{
	for (size_t i = 0; i < p->nthreads; i++) {
		const struct cd_thread *t = &p->threads[i];
		note_prstatus(b, p, t);
		if (i == 0) {
			note_prpsinfo(b, p);
			uint8_t *auxv = malloc(p->nauxv * 8 + 1);
			if (!auxv) {
				b->oom = 1; /* the notes are incomplete: write_core says so */
				return;
			}
			for (size_t k = 0; k < p->nauxv; k++)
				put64(auxv + 8 * k, p->auxv[k]);
			note(b, NT_AUXV, auxv, p->nauxv * 8);
			free(auxv);
			note_file(b, p);
		}
		/* after its thread's NT_PRSTATUS: readers give it to that thread */
		if (t->has_fp)
			note_fpregset(b, t);
	}
}

/* ---- What the core holds of each mapping ---- */

enum piece { P_DATA, P_ZERO, P_NONE };

/* A read of PE_PARENT pages failed because a parent/ along the chain is absent. */
static int chain_missing(const struct mem_map *m)
{
	for (; m; m = m->parent)
		if (m->parent_missing)
			return 1;
	return 0;
}

/* The first region of m above addr, or NULL. */
static const struct mem_region *region_above(const struct mem_map *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->r[mid].vaddr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->n ? &m->r[lo] : NULL;
}

/* The run of v's pages from addr on that the core holds the same way: its
 * kind and length (up to v's end). */
static int next_piece(const struct cd_vma *v, uint64_t addr, enum piece *kind, uint64_t *len, struct err *e)
{
	uint64_t left = v->end - addr;
	if (!v->mem) {
		*kind = P_NONE;
		*len = left;
		return 0;
	}
	struct mem_map *m = v->mem;
	uint64_t ma = v->mem_base + (addr - v->start);
	const struct mem_region *r = mem_find(m, ma);
	uint64_t run;
	if (r) {
		run = r->vaddr + r->nr_pages * m->page_size - ma;
		if (r->flags & PE_PRESENT) {
			*kind = P_DATA;
		} else if (r->flags & PE_PARENT) {
			uint8_t byte;
			if (mem_read(m, ma, 1, &byte, e) == 0)
				*kind = P_DATA;
			else if (chain_missing(m))
				*kind = P_NONE;
			else
				return -1;
		} else {
			*kind = P_NONE; /* lazy, or flags 0: not in the checkpoint */
		}
	} else {
		const struct mem_region *n = region_above(m, ma);
		run = n ? n->vaddr - ma : UINT64_MAX;
		*kind = v->zero_holes ? P_ZERO : P_NONE;
	}
	*len = run < left ? run : left;
	return 0;
}

struct seg {
	uint64_t vaddr, memsz, off;
	uint32_t flags;
	int filed; /* the file holds its bytes (data and zeros) */
	size_t vma;
};

static uint32_t pflags(uint32_t prot)
{
	return ((prot & 1) ? PF_R : 0) | ((prot & 2) ? PF_W : 0) | ((prot & 4) ? PF_X : 0);
}

/* Segments of each VMA: runs of held bytes (stored pages and zeros) and runs
 * the core leaves out, each one PT_LOAD. */
static int layout(const struct cd_proc *p, struct seg **out, size_t *nout, struct err *e)
{
	size_t n = 0, cap = 16;
	struct seg *s = malloc(cap * sizeof *s);
	if (!s)
		return err_oom(e);
	for (size_t i = 0; i < p->nvmas; i++) {
		const struct cd_vma *v = &p->vmas[i];
		if (v->end <= v->start || (v->start | v->end) % p->page_size)
			return free(s), err_set(e, "VMA %llx-%llx: not a page-aligned range",
						(unsigned long long)v->start, (unsigned long long)v->end);
		if (i && v->start < p->vmas[i - 1].end)
			return free(s), err_set(e, "VMA %llx-%llx overlaps the one before it",
						(unsigned long long)v->start, (unsigned long long)v->end);
		for (uint64_t a = v->start; a < v->end;) {
			enum piece k;
			uint64_t len;
			if (next_piece(v, a, &k, &len, e) < 0)
				return free(s), -1;
			int filed = k != P_NONE;
			if (n && s[n - 1].vma == i && s[n - 1].filed == filed) {
				s[n - 1].memsz += len;
			} else {
				if (n == cap) {
					struct seg *w = realloc(s, cap * 2 * sizeof *s);
					if (!w)
						return free(s), err_oom(e);
					s = w;
					cap *= 2;
				}
				s[n++] = (struct seg){ a, len, 0, pflags(v->prot), filed, i };
			}
			a += len;
		}
	}
	*out = s;
	*nout = n;
	return 0;
}

static int pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t w = pwrite(fd, p, len, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* The stored pages of segment s, at its offset; zeros are left as holes. */
static int copy_segment(int fd, const struct cd_vma *v, const struct seg *s, uint8_t *buf, struct err *e)
{
	for (uint64_t a = s->vaddr; a < s->vaddr + s->memsz;) {
		enum piece k;
		uint64_t len;
		if (next_piece(v, a, &k, &len, e) < 0)
			return -1;
		if (len > s->vaddr + s->memsz - a)
			len = s->vaddr + s->memsz - a;
		if (k == P_DATA) {
			for (uint64_t at = a; at < a + len;) {
				size_t n = a + len - at < COPY_CHUNK ? (size_t)(a + len - at) : COPY_CHUNK;
				if (mem_read(v->mem, v->mem_base + (at - v->start), n, buf, e) < 0)
					return -1;
				if (pwrite_all(fd, buf, n, s->off + (at - s->vaddr)) < 0)
					return err_set(e, "cannot write: %s", strerror(errno));
				progress_add(n);
				at += n;
			}
		}
		a += len;
	}
	return 0;
}

static void put_phdr(uint8_t *d, uint32_t type, uint32_t flags, uint64_t off, uint64_t vaddr, uint64_t filesz,
		     uint64_t memsz, uint64_t align)
{
	put32(d + 0, type);
	put32(d + 4, flags);
	put64(d + 8, off);
	put64(d + 16, vaddr);
	put64(d + 24, 0); /* p_paddr */
	put64(d + 32, filesz);
	put64(d + 40, memsz);
	put64(d + 48, align);
}

static int write_core(int fd, const struct cd_proc *p, struct err *e)
{
	struct seg *segs = NULL;
	size_t nseg = 0;
	if (layout(p, &segs, &nseg, e) < 0)
		return -1;
	struct buf notes = { 0 };
	build_notes(&notes, p);
	if (buf_oom(&notes)) {
		buf_free(&notes);
		free(segs);
		return err_oom(e);
	}
	size_t phnum = nseg + 1;
	int xnum = phnum >= PN_XNUM; /* the count goes in section header 0 */
	uint64_t phoff = EHDR_SIZE, shoff = xnum ? phoff + phnum * PHDR_SIZE : 0;
	uint64_t note_off = phoff + phnum * PHDR_SIZE + (xnum ? SHDR_SIZE : 0);
	uint64_t off = (note_off + notes.len + p->page_size - 1) / p->page_size * p->page_size;
	for (size_t i = 0; i < nseg; i++) {
		segs[i].off = off;
		if (segs[i].filed)
			off += segs[i].memsz;
	}
	uint64_t total = off;

	size_t hlen = (size_t)note_off;
	uint8_t *h = calloc(1, hlen);
	if (!h) {
		buf_free(&notes);
		free(segs);
		return err_oom(e);
	}
	memcpy(h, ELFMAG, SELFMAG);
	h[EI_CLASS] = ELFCLASS64;
	h[EI_DATA] = ELFDATA2LSB;
	h[EI_VERSION] = EV_CURRENT;
	h[EI_OSABI] = ELFOSABI_NONE;
	put16(h + 16, ET_CORE);
	put16(h + 18, EM_X86_64);
	put32(h + 20, EV_CURRENT);
	put64(h + 32, phoff);
	put64(h + 40, shoff);
	put16(h + 52, EHDR_SIZE);
	put16(h + 54, PHDR_SIZE);
	put16(h + 56, (uint16_t)(xnum ? PN_XNUM : phnum));
	put16(h + 58, xnum ? SHDR_SIZE : 0);
	put16(h + 60, xnum ? 1 : 0);
	uint8_t *ph = h + phoff;
	put_phdr(ph, PT_NOTE, 0, note_off, 0, notes.len, 0, 4);
	for (size_t i = 0; i < nseg; i++)
		put_phdr(ph + (i + 1) * PHDR_SIZE, PT_LOAD, segs[i].flags, segs[i].off, segs[i].vaddr,
			 segs[i].filed ? segs[i].memsz : 0, segs[i].memsz, p->page_size);
	if (xnum) /* section 0: sh_info holds the real e_phnum */
		put32(h + shoff + 44, (uint32_t)phnum);

	int rc = 0;
	if (pwrite_all(fd, h, hlen, 0) < 0 || pwrite_all(fd, notes.p, notes.len, note_off) < 0) {
		rc = err_set(e, "cannot write: %s", strerror(errno));
	} else {
		uint8_t *buf = malloc(COPY_CHUNK);
		if (!buf)
			rc = err_oom(e);
		for (size_t i = 0; i < nseg && rc == 0; i++)
			if (segs[i].filed)
				rc = copy_segment(fd, &p->vmas[segs[i].vma], &segs[i], buf, e);
		free(buf);
		/* the zeros at the end (and between) as holes */
		if (rc == 0 && ftruncate(fd, (off_t)total) < 0)
			rc = err_set(e, "cannot write: %s", strerror(errno));
	}
	free(h);
	buf_free(&notes);
	free(segs);
	return rc;
}

int coredump_write(const struct cd_proc *p, const char *path, struct err *e)
{
	if (p->nthreads == 0)
		return err_set(e, "process %u: no thread to write", p->pid);
	if (p->page_size == 0 || (p->page_size & (p->page_size - 1)))
		return err_set(e, "page size %zu is not a power of two", p->page_size);
	/* A device or FIFO is never replaced by a regular file (root could
	 * otherwise rename over /dev/null); a symbolic link: its target is. */
	struct stat st, lst;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return err_set(e, "%s: is a %s, not a regular file: give the path of the core file to write", path,
			       file_kind(st.st_mode));
	char *real = NULL;
	if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) && (real = realpath(path, NULL)))
		path = real;
	char *tmp;
	int fd = tmp_beside(path, &tmp, e);
	if (fd < 0) {
		err_prefix(e, "%s", path);
		free(real);
		return -1;
	}
	int rc = write_core(fd, p, e);
	if (rc == 0 && fsync(fd) < 0)
		rc = err_set(e, "cannot write: %s", strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = err_set(e, "cannot write: %s", strerror(errno));
	if (rc == 0 && rename(tmp, path) < 0)
		rc = err_set(e, "cannot rename the temporary file to it: %s", strerror(errno));
	if (rc < 0) {
		unlink(tmp);
		if (strncmp(e->msg, "cannot ", 7) == 0)
			err_prefix(e, "%s", path);
	}
	free(tmp);
	free(real);
	return rc;
}
