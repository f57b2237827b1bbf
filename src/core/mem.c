/* mem.c: reading checkpointed memory through pagemap + pages, with the
 * compatibility rules of SPEC §1.4, and a streaming search over it. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckarchive.h"
#include "image.h"
#include "mem.h"
#include "pgcomp.h"
#include "progress.h"

#define WALK_CHUNK (4u << 20)

/* path_join and member_of: NULL when memory runs out (mem_oom says so) */
static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int mem_oom(struct err *e, const char *dir, const char *name)
{
	return err_set(e, "%s/%s: out of memory", dir, name);
}

/* Fields or flags CRIU 4.2 does not know mean a newer CRIU wrote the images
 * (compressed pages, most likely): refused, by pgcomp.c, which names them. */
static int refuse_unknown(const ProtobufCMessage *m, const char *file, size_t entry, struct err *e)
{
	return pgcomp_refuse_unknown(m, file, entry, e);
}

/* The archive member of a checkpoint's file: sub ("checkpoint/", maybe with
 * "parent/" after it) then the name. */
static char *member_of(const char *sub, const char *name)
{
	size_t n = strlen(sub) + strlen(name) + 1;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s%s", sub, name);
	return p;
}

/* name of the checkpoint: a file of dir, or the member sub+name of ar; -1: out of memory */
static int src_exists(const struct arch *ar, const char *sub, const char *dir, const char *name)
{
	char *path = ar ? member_of(sub, name) : path_join(dir, name);
	if (!path)
		return -1;
	int yes = ar ? arch_find(ar, path) != NULL : access(path, F_OK) == 0;
	free(path);
	return yes;
}

static int src_load(const struct arch *ar, const char *sub, const char *dir, const char *name,
		    struct img *out, struct err *e)
{
	char *path = path_join(dir, name);
	int rc;
	memset(out, 0, sizeof *out);
	if (!path)
		return mem_oom(e, dir, name);
	if (ar) {
		char *member = member_of(sub, name);
		rc = member ? arch_load_img(ar, member, path, out, e) : mem_oom(e, dir, name);
		free(member);
	} else {
		rc = img_load(path, out, e);
	}
	free(path);
	return rc;
}

static int check_inventory(const struct arch *ar, const char *sub, const char *dir, struct err *e)
{
	char *path = path_join(dir, "inventory.img");
	struct img inv;
	int rc = 0, there = path ? src_exists(ar, sub, dir, "inventory.img") : -1;
	if (there < 0)
		rc = mem_oom(e, dir, "inventory.img");
	else if (there) {
		rc = src_load(ar, sub, dir, "inventory.img", &inv, e);
		for (size_t i = 0; rc == 0 && i < inv.n; i++)
			rc = refuse_unknown(inv.entries[i].msg, path, i, e);
		if (inv.mi)
			img_free(&inv);
	}
	free(path);
	return rc;
}

static int cmp_region(const void *a, const void *b)
{
	const struct mem_region *x = a, *y = b;
	/* empty entries first, so that the order (and so the overlap check) does
	 * not depend on qsort's */
	if (x->vaddr != y->vaddr)
		return x->vaddr < y->vaddr ? -1 : 1;
	return x->nr_pages < y->nr_pages ? -1 : x->nr_pages > y->nr_pages;
}

static int mem_map_open_src(struct mem_map *m, const struct arch *ar, const char *sub, const char *dir,
			    const char *pagemap_name, size_t page_size, struct err *e)
{
	memset(m, 0, sizeof *m);
	m->fd = -1;
	if (page_size == 0 || (page_size & (page_size - 1)))
		return err_set(e, "page size %zu is not a power of two", page_size);
	if (check_inventory(ar, sub, dir, e) < 0)
		return -1;
	char *path = path_join(dir, pagemap_name);
	struct img pm;
	if (!path)
		return mem_oom(e, dir, pagemap_name);
	if (src_load(ar, sub, dir, pagemap_name, &pm, e) < 0) {
		free(path);
		return -1;
	}
	int rc = 0;
	if (strcmp(pm.mi->name, "PAGEMAP") != 0) {
		rc = err_set(e, "%s: a %s image, not a PAGEMAP", path, pm.mi->name);
		goto out;
	}
	if (pm.n == 0) {
		rc = err_set(e, "%s: no pagemap_head entry", path);
		goto out;
	}
	m->page_size = page_size;
	m->pages_id = (uint32_t)pb_get_u64(pm.entries[0].msg, "pages_id", NULL);
	if (!(m->r = calloc(pm.n, sizeof *m->r))) {
		rc = mem_oom(e, dir, pagemap_name);
		goto out;
	}
	uint64_t off = 0;
	for (size_t i = 0; i < pm.n; i++) {
		const ProtobufCMessage *pe = pm.entries[i].msg;
		if ((rc = refuse_unknown(pe, path, i, e)) < 0)
			goto out;
		if (i == 0)
			continue;
		struct mem_region *r = &m->r[m->n++];
		int has_nr, has_flags;
		r->vaddr = pb_get_u64(pe, "vaddr", NULL);
		r->nr_pages = pb_get_u64(pe, "nr_pages", &has_nr);
		if (!has_nr)
			r->nr_pages = pb_get_u64(pe, "compat_nr_pages", NULL);
		r->flags = (uint32_t)pb_get_u64(pe, "flags", &has_flags);
		/* A newer CRIU's flag (PE_PAYLOAD_ALIGNED 8 comes with compressed pages):
		 * the pages file would be misread. */
		if ((rc = pgcomp_refuse_flags(r->flags, path, i, e)) < 0)
			goto out;
		if (pb_get_u64(pe, "in_parent", NULL))
			r->flags |= PE_PARENT;
		else if (!has_flags)
			r->flags = PE_PRESENT;
		if (r->nr_pages > UINT64_MAX / page_size ||
		    r->vaddr > UINT64_MAX - r->nr_pages * page_size) {
			rc = err_set(e, "%s: entry %zu: %llu pages at 0x%llx run past the end of the "
					"address space",
				     path, i, (unsigned long long)r->nr_pages, (unsigned long long)r->vaddr);
			goto out;
		}
		if (r->flags & PE_PRESENT) {
			r->file_off = off;
			off += r->nr_pages * page_size;
		}
	}
	qsort(m->r, m->n, sizeof *m->r, cmp_region);
	for (size_t i = 1; i < m->n; i++)
		if (m->r[i].vaddr < m->r[i - 1].vaddr + m->r[i - 1].nr_pages * page_size) {
			rc = err_set(e, "%s: entries at 0x%llx and 0x%llx overlap", path,
				     (unsigned long long)m->r[i - 1].vaddr, (unsigned long long)m->r[i].vaddr);
			goto out;
		}
	m->dir = strdup(dir);
	m->pagemap = strdup(pagemap_name);
	m->ar = ar;
	m->sub = ar ? strdup(sub) : NULL;
	if (!m->dir || !m->pagemap || (ar && !m->sub))
		rc = mem_oom(e, dir, pagemap_name);
out:
	img_free(&pm);
	free(path);
	if (rc < 0) {
		free(m->r);
		free(m->dir);
		free(m->pagemap);
		free(m->sub);
		m->r = NULL;
		m->dir = m->pagemap = m->sub = NULL;
		m->n = 0;
	}
	return rc;
}

int mem_map_open(struct mem_map *m, const char *dir, const char *pagemap_name, size_t page_size,
		 struct err *e)
{
	return mem_map_open_src(m, NULL, NULL, dir, pagemap_name, page_size, e);
}

int mem_map_open_archive(struct mem_map *m, const struct arch *ar, const char *sub, const char *label,
			 const char *pagemap_name, size_t page_size, struct err *e)
{
	return mem_map_open_src(m, ar, sub, label, pagemap_name, page_size, e);
}

void mem_map_close(struct mem_map *m)
{
	if (m->fd >= 0)
		close(m->fd);
	if (m->parent) {
		mem_map_close(m->parent);
		free(m->parent);
	}
	free(m->r);
	free(m->dir);
	free(m->pagemap);
	free(m->sub);
	memset(m, 0, sizeof *m);
	m->fd = -1;
}

const struct mem_region *mem_find(const struct mem_map *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct mem_region *r = &m->r[mid];
		if (addr < r->vaddr)
			hi = mid;
		else if (addr - r->vaddr >= r->nr_pages * m->page_size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

static int pages_fd(struct mem_map *m, struct err *e)
{
	if (m->fd >= 0)
		return m->fd;
	char name[64];
	snprintf(name, sizeof name, "pages-%u.img", m->pages_id);
	char *path = path_join(m->dir, name);
	if (!path)
		return mem_oom(e, m->dir, name);
	/* non-blocking, and a regular file: a FIFO named like it must not hang */
	m->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (m->fd < 0) {
		err_set(e, "%s: cannot open: %s", path, strerror(errno));
	} else if (fstat(m->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_set(e, "%s: is not a regular file, not an image file", path);
		close(m->fd);
		m->fd = -1;
	}
	free(path);
	return m->fd;
}

static int read_pages_archive(struct mem_map *m, uint64_t off, size_t len, uint8_t *out, struct err *e)
{
	char name[64];
	snprintf(name, sizeof name, "pages-%u.img", m->pages_id);
	char *member = member_of(m->sub, name);
	if (!member)
		return mem_oom(e, m->dir, name);
	const struct arch_member *am = arch_find(m->ar, member);
	free(member);
	if (!am || am->type != ARCH_FILE)
		return err_set(e, "%s/%s: cannot open: %s", m->dir, name, strerror(ENOENT));
	if (off > am->size || len > am->size - off)
		return err_set(e, "%s/%s: the file is shorter than its pagemap says at offset 0x%llx", m->dir,
			       name, (unsigned long long)(off > am->size ? off : am->size));
	return arch_pread(m->ar, am, off, out, len, e);
}

static int read_pages(struct mem_map *m, uint64_t off, size_t len, uint8_t *out, struct err *e)
{
	if (m->ar)
		return read_pages_archive(m, off, len, out, e);
	int fd = pages_fd(m, e);
	if (fd < 0)
		return -1;
	size_t got;
	if (pread_all(fd, out, len, off, &got) < 0)
		return err_set(e, "%s/pages-%u.img: %s at offset 0x%llx", m->dir, m->pages_id,
			       errno ? strerror(errno) : "the file is shorter than its pagemap says",
			       (unsigned long long)(off + got));
	return 0;
}

/* In an archive, the parent's member prefix: sub's parent followed as a link
 * inside the archive (Podman's checkpoint/parent -> ../pre-checkpoint), the
 * same members reached by whatever name; NULL with e set when the link is
 * refused (arch_resolve) or the chain comes back to a checkpoint of it. */
static char *parent_sub(const struct mem_map *m, const char *pdir, struct err *e)
{
	char *link = member_of(m->sub, "parent"), *real, *psub = NULL;
	if (!link) {
		mem_oom(e, m->dir, "parent");
		return NULL;
	}
	if (arch_resolve(m->ar, link, 1, &real, e) < 0) {
		err_prefix(e, "%s/%s: pages are in the parent checkpoint", m->dir, m->pagemap);
		free(link);
		return NULL;
	}
	psub = member_of(real, "/");
	if (!psub)
		mem_oom(e, m->dir, "parent");
	for (const struct mem_map *q = m; psub && q; q = q->child)
		if (strcmp(q->sub, psub) == 0) {
			err_set(e, "%s/%s: pages are in the parent checkpoint, and %s is %s again: the chain of parents "
				   "loops",
				m->dir, m->pagemap, pdir, q->dir);
			free(psub);
			psub = NULL;
			break;
		}
	free(link);
	free(real);
	return psub;
}

static struct mem_map *parent_map(struct mem_map *m, struct err *e)
{
	if (m->parent)
		return m->parent;
	char *pdir = path_join(m->dir, "parent");
	if (!pdir) {
		mem_oom(e, m->dir, "parent");
		return NULL;
	}
	char *psub = NULL;
	if (m->ar && !(psub = parent_sub(m, pdir, e))) {
		free(pdir);
		return NULL;
	}
	if (m->ar ? !arch_has_prefix(m->ar, psub) : access(pdir, F_OK) != 0) {
		/* a link to a folder the archive does not hold: say where it leads */
		char *lname = m->ar ? member_of(m->sub, "parent") : NULL;
		const struct arch_member *l = lname ? arch_find(m->ar, lname) : NULL;
		free(lname);
		m->parent_missing = 1;
		if (l && l->type == ARCH_SYMLINK)
			err_set(e, "%s/%s: pages are in the parent checkpoint, and %s (a link to %s) leads to nothing "
				   "in the archive",
				m->dir, m->pagemap, pdir, l->link);
		else
			err_set(e, "%s/%s: pages are in the parent checkpoint, and %s is not there", m->dir,
				m->pagemap, pdir);
		free(psub);
		free(pdir);
		return NULL;
	}
	struct mem_map *p = calloc(1, sizeof *p);
	if (!p) {
		free(pdir);
		free(psub);
		mem_oom(e, m->dir, "parent");
		return NULL;
	}
	if (mem_map_open_src(p, m->ar, psub, pdir, m->pagemap, m->page_size, e) < 0) {
		free(p);
		free(pdir);
		free(psub);
		return NULL;
	}
	free(pdir);
	free(psub);
	p->child = m;
	m->parent = p;
	return p;
}

int mem_read(struct mem_map *m, uint64_t addr, size_t len, uint8_t *out, struct err *e)
{
	while (len) {
		const struct mem_region *r = mem_find(m, addr);
		if (!r)
			return err_set(e, "%s/%s: address 0x%llx is not in the dump (no pagemap entry covers it)",
				       m->dir, m->pagemap, (unsigned long long)addr);
		uint64_t in = addr - r->vaddr, size = r->nr_pages * m->page_size;
		size_t n = size - in < len ? (size_t)(size - in) : len;
		if (r->flags & PE_PRESENT) {
			if (read_pages(m, r->file_off + in, n, out, e) < 0)
				return -1;
		} else if (r->flags & PE_PARENT) {
			struct mem_map *p = parent_map(m, e);
			if (!p || mem_read(p, addr, n, out, e) < 0)
				return -1;
		} else if (r->flags & PE_LAZY) {
			return err_set(e, "%s/%s: address 0x%llx is in lazy pages (at 0x%llx): a lazy-pages "
					  "server held them, they are not in the checkpoint",
				       m->dir, m->pagemap, (unsigned long long)addr, (unsigned long long)r->vaddr);
		} else {
			return err_set(e, "%s/%s: address 0x%llx: the pagemap entry at 0x%llx has flags 0, "
					  "so its pages are nowhere in the checkpoint",
				       m->dir, m->pagemap, (unsigned long long)addr, (unsigned long long)r->vaddr);
		}
		addr += n;
		out += n;
		len -= n;
	}
	return 0;
}

int64_t mem_pages_size(struct mem_map *m, struct err *e)
{
	char name[64];
	snprintf(name, sizeof name, "pages-%u.img", m->pages_id);
	if (m->ar) {
		char *member = member_of(m->sub, name);
		if (!member)
			return mem_oom(e, m->dir, name);
		const struct arch_member *am = arch_find(m->ar, member);
		free(member);
		if (!am || am->type != ARCH_FILE)
			return err_set(e, "%s/%s: cannot open: %s", m->dir, name, strerror(ENOENT));
		return (int64_t)am->size;
	}
	int fd = pages_fd(m, e);
	struct stat st;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		return err_set(e, "%s/%s: %s", m->dir, name, strerror(errno));
	return (int64_t)st.st_size;
}

int mem_locate(struct mem_map *m, uint64_t addr, size_t len, struct mem_span **out, size_t *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	if (len && addr > UINT64_MAX - (len - 1))
		return err_set(e, "%s/%s: %zu bytes at address 0x%llx run past the end of the address space",
			       m->dir, m->pagemap, len, (unsigned long long)addr);
	int64_t fsize = len ? mem_pages_size(m, e) : 0;
	if (fsize < 0)
		return -1;
	struct mem_span *s = NULL;
	size_t k = 0;
	while (len) {
		const struct mem_region *r = mem_find(m, addr);
		const char *why = NULL;
		if (!r)
			why = "is not in the dump (no pagemap entry covers it)";
		else if (r->flags & PE_PRESENT)
			why = NULL;
		else if (r->flags & PE_PARENT)
			why = "is in pages held only by the parent checkpoint: they can be changed only there";
		else if (r->flags & PE_LAZY)
			why = "is in lazy pages: a lazy-pages server held them, they are not in the checkpoint";
		else
			why = "is in a pagemap entry with flags 0: its pages are nowhere in the checkpoint";
		if (why) {
			free(s);
			return err_set(e, "%s/%s: address 0x%llx %s", m->dir, m->pagemap, (unsigned long long)addr, why);
		}
		uint64_t in = addr - r->vaddr, size = r->nr_pages * m->page_size;
		size_t piece = size - in < len ? (size_t)(size - in) : len;
		uint64_t off = r->file_off + in;
		if (off > (uint64_t)fsize || piece > (uint64_t)fsize - off) {
			free(s);
			return err_set(e, "%s/pages-%u.img: the file is shorter than its pagemap says: address 0x%llx "
					  "is at offset 0x%llx, the file holds 0x%llx bytes",
				       m->dir, m->pages_id, (unsigned long long)addr, (unsigned long long)off,
				       (unsigned long long)fsize);
		}
		struct mem_span *grown = realloc(s, (k + 1) * sizeof *s);
		if (!grown) {
			free(s);
			return mem_oom(e, m->dir, m->pagemap);
		}
		s = grown;
		s[k++] = (struct mem_span){ addr, off, piece };
		addr += piece;
		len -= piece;
	}
	*out = s;
	*n = k;
	return 0;
}

int mem_walk(struct mem_map *m, size_t chunk, mem_chunk_cb cb, void *ctx, struct err *e)
{
	if (chunk == 0)
		chunk = WALK_CHUNK;
	uint8_t *buf = malloc(chunk);
	if (!buf)
		return mem_oom(e, m->dir, m->pagemap);
	int rc = 0;
	for (size_t i = 0; i < m->n && rc == 0; i++) {
		const struct mem_region *r = &m->r[i];
		uint64_t size = r->nr_pages * m->page_size;
		struct mem_map *p = NULL;
		if (!(r->flags & PE_PRESENT)) {
			if (!(r->flags & PE_PARENT))
				continue; /* lazy: not in the checkpoint */
			/* Only an absent parent/ is skipped (the caller sees PE_PARENT regions in
			 * the pagemap); a parent that is there but unreadable or refused is an error. */
			if (!(p = parent_map(m, e))) {
				if (m->parent_missing)
					continue;
				rc = -1;
				break;
			}
		}
		for (uint64_t at = 0; at < size && rc == 0; at += chunk) {
			size_t n = size - at < chunk ? (size_t)(size - at) : chunk;
			if (p ? mem_read(p, r->vaddr + at, n, buf, e) : read_pages(m, r->file_off + at, n, buf, e)) {
				rc = -1;
				break;
			}
			progress_add(n);
			rc = cb(r->vaddr + at, buf, n, ctx);
		}
	}
	free(buf);
	return rc;
}

struct search {
	const uint8_t *needle;
	size_t nlen;
	mem_match_cb cb;
	void *ctx;
	uint8_t *tail;    /* the last nlen-1 bytes seen, for matches across pieces */
	size_t tail_len;
	uint64_t tail_end; /* address just after tail */
	uint8_t *seam;    /* tail + the head of the next piece */
};

static int search_piece(uint64_t addr, const uint8_t *data, size_t len, void *vs)
{
	struct search *s = vs;
	int rc;
	/* Matches that start in the previous piece and end in this one. */
	if (s->tail_len && s->tail_end == addr) {
		size_t head = len < s->nlen - 1 ? len : s->nlen - 1;
		memcpy(s->seam, s->tail, s->tail_len);
		memcpy(s->seam + s->tail_len, data, head);
		const uint8_t *p = s->seam, *end = s->seam + s->tail_len + head;
		while ((p = memmem(p, (size_t)(end - p), s->needle, s->nlen))) {
			if ((size_t)(p - s->seam) >= s->tail_len)
				break; /* starts in this piece: found below */
			if ((rc = s->cb(addr - s->tail_len + (uint64_t)(p - s->seam), s->ctx)))
				return rc;
			p++;
		}
	}
	for (const uint8_t *p = data, *end = data + len;
	     (p = memmem(p, (size_t)(end - p), s->needle, s->nlen)); p++)
		if ((rc = s->cb(addr + (uint64_t)(p - data), s->ctx)))
			return rc;
	/* Keep the last nlen-1 bytes, joined to the tail when contiguous. */
	size_t keep = s->nlen - 1;
	if (len >= keep) {
		memcpy(s->tail, data + len - keep, keep);
		s->tail_len = keep;
	} else {
		size_t old = s->tail_end == addr ? s->tail_len : 0;
		size_t from_old = old + len > keep ? keep - len : old;
		memmove(s->tail, s->tail + old - from_old, from_old);
		memcpy(s->tail + from_old, data, len);
		s->tail_len = from_old + len;
	}
	s->tail_end = addr + len;
	return 0;
}

int mem_search(struct mem_map *m, const uint8_t *needle, size_t nlen, mem_match_cb cb, void *ctx,
	       struct err *e)
{
	if (nlen == 0)
		return err_set(e, "the search string is empty");
	struct search s = { needle, nlen, cb, ctx, malloc(nlen), 0, 0, malloc(2 * nlen) };
	int rc = s.tail && s.seam ? mem_walk(m, 0, search_piece, &s, e) : mem_oom(e, m->dir, m->pagemap);
	free(s.tail);
	free(s.seam);
	return rc;
}

/* The same search over any stream of pieces (datasrc.c: a pipe's buffer, a
 * ghost file): positions instead of addresses. */
struct mem_searcher {
	struct search s;
	uint8_t *needle;
};

struct mem_searcher *mem_searcher_new(const uint8_t *needle, size_t nlen, mem_match_cb cb, void *ctx)
{
	struct mem_searcher *ms = calloc(1, sizeof *ms);
	if (!ms)
		return NULL;
	ms->needle = malloc(nlen ? nlen : 1);
	ms->s = (struct search){ .needle = ms->needle, .nlen = nlen, .cb = cb, .ctx = ctx,
				 .tail = malloc(nlen ? nlen : 1), .seam = malloc(nlen ? 2 * nlen : 1) };
	if (!ms->needle || !ms->s.tail || !ms->s.seam) {
		mem_searcher_free(ms);
		return NULL;
	}
	memcpy(ms->needle, needle, nlen);
	return ms;
}

int mem_searcher_feed(struct mem_searcher *ms, uint64_t pos, const uint8_t *data, size_t len)
{
	if (!len || !ms->s.nlen)
		return 0;
	return search_piece(pos, data, len, &ms->s);
}

void mem_searcher_free(struct mem_searcher *ms)
{
	if (!ms)
		return;
	free(ms->s.tail);
	free(ms->s.seam);
	free(ms->needle);
	free(ms);
}
