/* memdiff.c: two memories compared page by page over the union of their
 * pagemaps, reading both sides through mem_read (parents followed) in bounded
 * chunks, reporting runs of pages that changed or moved. */
#include <stdlib.h>
#include <string.h>

#include "memdiff.h"
#include "progress.h"

#define DIFF_CHUNK (1u << 20)

const char *memdiff_state_name(enum memdiff_state s)
{
	switch (s) {
	case MD_NONE:
		return "none";
	case MD_PRESENT:
		return "present";
	case MD_PARENT:
		return "parent";
	case MD_LAZY:
		return "lazy";
	case MD_NOWHERE:
		return "nowhere";
	}
	return "?";
}

static enum memdiff_state state_of(const struct mem_region *r)
{
	if (r->flags & PE_PRESENT)
		return MD_PRESENT;
	if (r->flags & PE_PARENT)
		return MD_PARENT;
	if (r->flags & PE_LAZY)
		return MD_LAZY;
	return MD_NOWHERE;
}

/* A read of PE_PARENT pages failed: because some parent/ along the chain is
 * absent (then the pages are only uncompared), or for a worse reason. */
static int chain_missing(const struct mem_map *m)
{
	for (; m; m = m->parent)
		if (m->parent_missing)
			return 1;
	return 0;
}

struct runs {
	struct memdiff_run cur; /* cur.npages == 0: none pending */
	memdiff_cb cb;
	void *ctx;
	size_t ps;
};

static int flush(struct runs *R)
{
	struct memdiff_run *c = &R->cur;
	int rc = 0;
	if (c->npages && !(c->a == c->b && c->content == MD_SAME))
		rc = R->cb(c, R->ctx);
	c->npages = 0;
	return rc;
}

static int add(struct runs *R, uint64_t addr, uint64_t npages, enum memdiff_state a, enum memdiff_state b,
	       enum memdiff_content content, int missing)
{
	struct memdiff_run *c = &R->cur;
	if (c->npages && c->addr + c->npages * R->ps == addr && c->a == a && c->b == b && c->content == content &&
	    c->missing_parent == missing) {
		c->npages += npages;
		return 0;
	}
	int rc = flush(R);
	*c = (struct memdiff_run){ addr, npages, a, b, content, missing };
	return rc;
}

static int readable(enum memdiff_state s)
{
	return s == MD_PRESENT || s == MD_PARENT;
}

/* [start, end): both sides readable; compared chunk by chunk, page by page. */
static int compare_span(struct mem_map *a, struct mem_map *b, uint64_t start, uint64_t end, enum memdiff_state sa,
			enum memdiff_state sb, uint8_t *ba, uint8_t *bb, size_t chunk, struct runs *R,
			struct memdiff_stats *st, struct err *e)
{
	size_t ps = R->ps;
	int rc;
	for (uint64_t at = start; at < end;) {
		size_t n = end - at < chunk ? (size_t)(end - at) : chunk;
		struct mem_map *bad = NULL;
		if (mem_read(a, at, n, ba, e) < 0)
			bad = a;
		else if (mem_read(b, at, n, bb, e) < 0)
			bad = b;
		if (bad) {
			/* pages of a missing parent/: the rest of the span is not compared */
			if (!((bad == a ? sa : sb) == MD_PARENT && chain_missing(bad)))
				return -1;
			return add(R, at, (end - at) / ps, sa, sb, MD_UNCOMPARED, 1);
		}
		progress_add(2 * (uint64_t)n);
		for (size_t off = 0; off < n; off += ps) {
			int differs = memcmp(ba + off, bb + off, ps) != 0;
			st->compared++;
			st->changed += (uint64_t)differs;
			if ((rc = add(R, at + off, 1, sa, sb, differs ? MD_CHANGED : MD_SAME, 0)))
				return rc;
		}
		at += n;
	}
	return 0;
}

static uint64_t region_end(const struct mem_map *m, size_t i)
{
	return m->r[i].vaddr + m->r[i].nr_pages * m->page_size;
}

int memdiff(struct mem_map *a, struct mem_map *b, size_t chunk, memdiff_cb cb, void *ctx,
	    struct memdiff_stats *st, struct err *e)
{
	memset(st, 0, sizeof *st);
	if (a->page_size != b->page_size)
		return err_set(e, "cannot compare memory with pages of %zu and %zu bytes", a->page_size, b->page_size);
	size_t ps = a->page_size;
	for (int side = 0; side < 2; side++) {
		const struct mem_map *m = side ? b : a;
		for (size_t k = 0; k < m->n; k++)
			if (m->r[k].vaddr % ps)
				return err_set(e, "%s/%s: the entry at 0x%llx does not start at a page boundary", m->dir,
					       m->pagemap, (unsigned long long)m->r[k].vaddr);
	}
	if (chunk == 0)
		chunk = DIFF_CHUNK;
	chunk = chunk < ps ? ps : chunk / ps * ps;
	struct runs R = { .cb = cb, .ctx = ctx, .ps = ps };
	uint8_t *ba = malloc(chunk), *bb = malloc(chunk);
	if (!ba || !bb) {
		free(ba);
		free(bb);
		return err_set(e, "%s/%s: out of memory", a->dir, a->pagemap);
	}
	size_t i = 0, j = 0;
	uint64_t pos = 0;
	int rc = 0;
	/* Sweep both region lists (sorted, disjoint) at once: each step is a span
	 * where each side is one region or none. */
	for (;;) {
		while (i < a->n && (a->r[i].nr_pages == 0 || region_end(a, i) <= pos))
			i++;
		while (j < b->n && (b->r[j].nr_pages == 0 || region_end(b, j) <= pos))
			j++;
		if (i >= a->n && j >= b->n)
			break;
		uint64_t as = i < a->n ? (a->r[i].vaddr > pos ? a->r[i].vaddr : pos) : UINT64_MAX;
		uint64_t bs = j < b->n ? (b->r[j].vaddr > pos ? b->r[j].vaddr : pos) : UINT64_MAX;
		uint64_t start = as < bs ? as : bs;
		enum memdiff_state sa = MD_NONE, sb = MD_NONE;
		uint64_t lim_a = as, lim_b = bs;
		if (as == start) {
			sa = state_of(&a->r[i]);
			lim_a = region_end(a, i);
		}
		if (bs == start) {
			sb = state_of(&b->r[j]);
			lim_b = region_end(b, j);
		}
		uint64_t end = lim_a < lim_b ? lim_a : lim_b;
		if (readable(sa) && readable(sb))
			rc = compare_span(a, b, start, end, sa, sb, ba, bb, chunk, &R, st, e);
		else
			rc = add(&R, start, (end - start) / ps, sa, sb, MD_UNCOMPARED, 0);
		if (rc)
			break;
		pos = end;
	}
	if (rc == 0)
		rc = flush(&R);
	free(ba);
	free(bb);
	return rc;
}
