/* mem.h: a process's (or a shmem segment's) memory in a checkpoint, read
 * through its pagemap image and the raw pages file it names (SPEC §1.4). */
#ifndef CRITLUA_MEM_H
#define CRITLUA_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define PE_PARENT 1u
#define PE_LAZY 2u
#define PE_PRESENT 4u

/* One pagemap entry, with the compatibility rules applied. */
struct mem_region {
	uint64_t vaddr, nr_pages;
	uint32_t flags;     /* PE_* after the in_parent / absent-flags rules */
	uint64_t file_off;  /* offset in the pages file (PE_PRESENT only) */
};

struct mem_map {
	struct mem_region *r;
	size_t n;
	size_t page_size;
	uint32_t pages_id;
	char *dir;        /* the image directory */
	char *pagemap;    /* file name of the pagemap, e.g. "pagemap-42.img" */
	int fd;           /* pages-<pages_id>.img, opened on first read; -1 */
	struct mem_map *parent; /* parent/<pagemap>, loaded on first PE_PARENT read */
	int parent_missing;
	const struct arch *ar; /* the archive holding the images (dir is then its label), or NULL */
	char *sub;             /* in an archive: the images' member prefix, "checkpoint/" */
	const struct mem_map *child; /* the map whose parent this is, or NULL: a chain that loops is refused */
};

/* Load dir/pagemap_name. Refuses pagemaps and inventories with fields unknown
 * to the schema (a newer CRIU, e.g. compressed pages). */
int mem_map_open(struct mem_map *m, const char *dir, const char *pagemap_name, size_t page_size,
		 struct err *e);
/* The same over the members sub* of an archive (ckarchive.h), which must stay
 * open while m is; label stands for the directory in messages. */
struct arch;
int mem_map_open_archive(struct mem_map *m, const struct arch *ar, const char *sub, const char *label,
			 const char *pagemap_name, size_t page_size, struct err *e);
void mem_map_close(struct mem_map *m);

/* The region holding addr, or NULL (a hole: not dumped). */
const struct mem_region *mem_find(const struct mem_map *m, uint64_t addr);

/* Read len bytes at addr into out. Every byte must be readable: a hole, lazy
 * pages, or parent pages without a parent checkpoint are errors naming the
 * address. Returns 0 or -1. */
int mem_read(struct mem_map *m, uint64_t addr, size_t len, uint8_t *out, struct err *e);

/* Where the len bytes at addr lie in this map's own pages file, for writing
 * them: spans in address order, each {addr, file offset, len}, one per
 * pagemap entry crossed (*out malloc'ed). Every byte must be stored here: a
 * hole, pages held only by the parent checkpoint, lazy pages and entries
 * with no pages are errors naming the address and the reason, as is a pages
 * file shorter than its pagemap says. Returns 0 or -1. */
struct mem_span {
	uint64_t addr, file_off;
	size_t len;
};
int mem_locate(struct mem_map *m, uint64_t addr, size_t len, struct mem_span **out, size_t *n, struct err *e);
/* The size of the pages file (stat, or the archive member's), or -1. */
int64_t mem_pages_size(struct mem_map *m, struct err *e);

/* Stream the present memory in address order, in pieces of at most `chunk`
 * bytes: cb(addr, data, len, ctx) for each; a non-zero return stops the walk
 * and is returned. PE_PARENT regions are read from the parent when it is
 * there and skipped when parent/ is absent (the caller sees them among the
 * regions); lazy ones are skipped; a parent that is there but cannot be read
 * is an error. */
typedef int (*mem_chunk_cb)(uint64_t addr, const uint8_t *data, size_t len, void *ctx);
int mem_walk(struct mem_map *m, size_t chunk, mem_chunk_cb cb, void *ctx, struct err *e);

/* Search the present memory for needle; cb(addr, ctx) per match (overlapping
 * matches included, matches spanning adjacent regions found). Memory use is
 * bounded by the chunk size, whatever the size of the pages file. */
typedef int (*mem_match_cb)(uint64_t addr, void *ctx);
int mem_search(struct mem_map *m, const uint8_t *needle, size_t nlen, mem_match_cb cb, void *ctx,
	       struct err *e);

/* The search of mem_search over pieces fed one by one, at any positions:
 * cb(pos) per match, matches across two pieces found when the second
 * starts where the first ended. The needle is copied. */
struct mem_searcher;
/* NULL when out of memory. */
struct mem_searcher *mem_searcher_new(const uint8_t *needle, size_t nlen, mem_match_cb cb, void *ctx);
int mem_searcher_feed(struct mem_searcher *ms, uint64_t pos, const uint8_t *data, size_t len);
void mem_searcher_free(struct mem_searcher *ms);

#endif
