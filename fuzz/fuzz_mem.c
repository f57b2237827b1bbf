/* fuzz_mem.c: libFuzzer target for the memory reader (pagemap + pages).
 *
 * The input is split into a pagemap image, a pages file, optionally a parent
 * checkpoint's pagemap and pages, and a search string:
 *   byte 0          bit 0: a parent/ checkpoint exists; bits 1-2: page size
 *                   16 << 2k (16, 64, 256, 1024 bytes: small pages keep inputs small)
 *   then 4 parts    each a little-endian u16 length and that many bytes:
 *                   pagemap, pages, parent pagemap, parent pages
 *   the rest        the search string (at most 64 bytes)
 * They are written as files under a directory of this process's own (in
 * /dev/shm when it is there), then read through mem_map_open, mem_read,
 * mem_walk and mem_search. Checked: every match mem_search reports reads
 * back, through mem_read, as the search string. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "mem.h"

static char dir[256], pdir[300];

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_mem: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

static void put_file(const char *d, const char *name, const uint8_t *p, size_t n)
{
	char path[400];
	snprintf(path, sizeof path, "%s/%s", d, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n) || close(fd) != 0)
		fail("cannot write", path);
}

static void rm_file(const char *d, const char *name)
{
	char path[400];
	snprintf(path, sizeof path, "%s/%s", d, name);
	unlink(path);
}

static void cleanup(void)
{
	rmdir(pdir);
	rmdir(dir);
}

/* Next length-prefixed part of the input. */
static int part(const uint8_t **p, size_t *left, const uint8_t **out, size_t *n)
{
	if (*left < 2)
		return -1;
	size_t len = (size_t)(*p)[0] | (size_t)(*p)[1] << 8;
	*p += 2;
	*left -= 2;
	if (len > *left)
		len = *left;
	*out = *p;
	*n = len;
	*p += len;
	*left -= len;
	return 0;
}

/* The pages file a pagemap names, when it decodes. */
static void write_pages(const char *d, const uint8_t *pm, size_t pmn, const uint8_t *pages, size_t n,
			char *name, size_t cap)
{
	struct img img;
	struct err e;
	name[0] = 0;
	if (img_decode(pm, pmn, &img, &e) < 0)
		return;
	if (img.n && strcmp(img.mi->name, "PAGEMAP") == 0) {
		snprintf(name, cap, "pages-%u.img", (unsigned)pb_get_u64(img.entries[0].msg, "pages_id", NULL));
		put_file(d, name, pages, n);
	}
	img_free(&img);
}

struct ctx {
	struct mem_map *m;
	const uint8_t *needle;
	size_t nlen;
	unsigned matches;
	uint64_t sum;
};

static int on_chunk(uint64_t addr, const uint8_t *data, size_t len, void *vc)
{
	struct ctx *c = vc;
	c->sum += addr + len + (len ? data[0] + data[len - 1] : 0);
	return 0;
}

static int on_match(uint64_t addr, void *vc)
{
	struct ctx *c = vc;
	uint8_t got[64];
	struct err e;
	if (mem_read(c->m, addr, c->nlen, got, &e) < 0)
		fail("a match does not read back", e.msg);
	if (memcmp(got, c->needle, c->nlen) != 0)
		fail("a match reads back as other bytes", NULL);
	return ++c->matches >= 1000; /* enough: stop the search */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(dir, sizeof dir, "%s/critlua-fuzz-mem-%d", base, (int)getpid());
		snprintf(pdir, sizeof pdir, "%s/parent", dir);
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			fail("cannot make", dir);
		atexit(cleanup);
	}
	if (size < 1)
		return 0;
	int with_parent = data[0] & 1;
	size_t page_size = (size_t)16 << (2 * ((data[0] >> 1) & 3));
	const uint8_t *p = data + 1, *pm, *pg, *ppm, *ppg;
	size_t left = size - 1, pmn, pgn, ppmn, ppgn;
	if (part(&p, &left, &pm, &pmn) || part(&p, &left, &pg, &pgn) || part(&p, &left, &ppm, &ppmn) ||
	    part(&p, &left, &ppg, &ppgn))
		return 0;
	const uint8_t *needle = p;
	size_t nlen = left > 64 ? 64 : left;

	char pages[64], ppages[64];
	put_file(dir, "pagemap-1.img", pm, pmn);
	write_pages(dir, pm, pmn, pg, pgn, pages, sizeof pages);
	ppages[0] = 0;
	if (with_parent) {
		if (mkdir(pdir, 0700) != 0 && errno != EEXIST)
			fail("cannot make", pdir);
		put_file(pdir, "pagemap-1.img", ppm, ppmn);
		write_pages(pdir, ppm, ppmn, ppg, ppgn, ppages, sizeof ppages);
	}

	struct mem_map m;
	struct err e;
	if (mem_map_open(&m, dir, "pagemap-1.img", page_size, &e) == 0) {
		uint8_t buf[3 * 1024];
		for (size_t i = 0; i < m.n; i++) {
			const struct mem_region *r = &m.r[i];
			uint64_t rsize = r->nr_pages * page_size;
			if (rsize && mem_find(&m, r->vaddr) != r)
				fail("mem_find misses a region's first byte", NULL);
			size_t n = rsize < sizeof buf ? (size_t)rsize : sizeof buf;
			mem_read(&m, r->vaddr, n, buf, &e);
			/* across the end of the region, into whatever follows */
			if (rsize >= 8)
				mem_read(&m, r->vaddr + rsize - 8, 16, buf, &e);
		}
		struct ctx c = { &m, needle, nlen, 0, 0 };
		mem_walk(&m, 1 + (size % 5000), on_chunk, &c, &e);
		if (nlen)
			mem_search(&m, needle, nlen, on_match, &c, &e);
		mem_map_close(&m);
	}

	rm_file(dir, "pagemap-1.img");
	if (pages[0])
		rm_file(dir, pages);
	if (with_parent) {
		rm_file(pdir, "pagemap-1.img");
		if (ppages[0])
			rm_file(pdir, ppages);
		rmdir(pdir);
	}
	return 0;
}
