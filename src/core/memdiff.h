/* memdiff.h: two memories (mem.h) compared page by page, streaming: runs of
 * pages that differ in content or in where the checkpoint keeps them. */
#ifndef CRITLUA_MEMDIFF_H
#define CRITLUA_MEMDIFF_H

#include <stdint.h>

#include "mem.h"
#include "util.h"

/* Where one side keeps a page (its own pagemap's flags, before any parent is
 * followed). */
enum memdiff_state {
	MD_NONE = 0, /* no pagemap entry covers it */
	MD_PRESENT,  /* in this checkpoint's pages file */
	MD_PARENT,   /* in parent/ (read through the parent chain) */
	MD_LAZY,     /* held by a lazy-pages server: not in the checkpoint */
	MD_NOWHERE,  /* an entry with flags 0 */
};

enum memdiff_content {
	MD_SAME = 0,	 /* both readable, equal */
	MD_CHANGED,	 /* both readable, different */
	MD_UNCOMPARED,	 /* a side has no bytes for it */
};

/* A run of contiguous pages with the same states and the same outcome. */
struct memdiff_run {
	uint64_t addr, npages;
	enum memdiff_state a, b;
	enum memdiff_content content;
	int missing_parent; /* uncompared because a parent/ of the chain is absent */
};

struct memdiff_stats {
	uint64_t compared, changed; /* pages */
};

const char *memdiff_state_name(enum memdiff_state s);

/* cb is called, in address order, for every run that is not "the same state
 * and the same bytes" (runs of equal pages in equal places are not
 * reported); a non-zero return stops and is returned. Reads at most `chunk`
 * bytes of each side at a time (0: 1 MiB), so memory use does not depend on
 * the sizes compared. Both maps must have the same page size. A missing
 * parent/ makes its pages uncompared; any other read failure is an error. */
typedef int (*memdiff_cb)(const struct memdiff_run *r, void *ctx);
int memdiff(struct mem_map *a, struct mem_map *b, size_t chunk, memdiff_cb cb, void *ctx,
	    struct memdiff_stats *st, struct err *e);

#endif
