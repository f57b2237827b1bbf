/* fuzz_datasrc.c: libFuzzer target for the streams grep reads besides
 * memory (datasrc.c): the located image reader and the tar stream walk.
 *
 * The input is a file of a checkpoint (a pipes-data, sk-queues, tcp-stream,
 * ghost-file, ipcns-* image, or a tmpfs tar.gz). It is written to a file of
 * this process's own (in /dev/shm when it is there) and read through
 * ds_entries, ds_chunks and ds_tar. Checked: the located reader and the
 * in-memory reader (img_decode) agree — the same entries, each payload at
 * its offset holding the bytes img_decode copied — and a search fed the
 * payloads in pieces finds exactly the matches memmem finds in them whole. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasrc.h"
#include "mem.h"

static char dir[256];

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_datasrc: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

static void cleanup(void)
{
	char path[300];
	snprintf(path, sizeof path, "%s/data.img", dir);
	unlink(path);
	rmdir(dir);
}

struct check {
	struct img *full; /* the same bytes through img_decode, or NULL when it refused them */
	struct ds_file *f;
	size_t n;         /* entries seen */
	uint8_t *buf;
};

static int count_cb(uint64_t pos, void *ctx)
{
	(void)pos;
	(*(size_t *)ctx)++;
	return 0;
}

static int feed_cb(uint64_t pos, const uint8_t *data, size_t len, void *ctx)
{
	return mem_searcher_feed(ctx, pos, data, len) < 0 ? -1 : 0;
}

static int entry_cb(size_t index, uint64_t entry_off, const struct magic_info *mi, const struct img_entry *en,
		    void *ctx)
{
	struct check *c = ctx;
	(void)entry_off;
	(void)mi;
	c->n++;
	if (!c->full)
		return 0;
	if (index >= c->full->n)
		fail("the located reader has more entries than img_decode", NULL);
	const struct img_entry *fe = &c->full->entries[index];
	if (fe->has_extra != en->has_extra || fe->extra_len != en->extra_len)
		fail("payload presence or length differs", NULL);
	if (en->has_extra && en->extra_len) {
		uint8_t *p = malloc(en->extra_len);
		struct err e;
		if (!p)
			abort();
		if (ds_pread(c->f, en->extra_off, p, en->extra_len, &e) < 0)
			fail("a located payload cannot be read", e.msg);
		if (memcmp(p, fe->extra, en->extra_len) != 0)
			fail("a located payload differs from img_decode's", NULL);
		/* a needle taken from the payload: found in 7-byte pieces as often as whole */
		size_t nlen = en->extra_len < 3 ? en->extra_len : 3;
		size_t want = 0, got = 0;
		for (const uint8_t *q = p, *end = p + en->extra_len;
		     (q = memmem(q, (size_t)(end - q), p, nlen)); q++)
			want++;
		struct mem_searcher *ms = mem_searcher_new(p, nlen, count_cb, &got);
		if (ds_chunks(c->f, en->extra_off, en->extra_len, 0, 7, feed_cb, ms, &e) < 0)
			fail("ds_chunks", e.msg);
		mem_searcher_free(ms);
		if (got != want)
			fail("the fed search and memmem disagree", NULL);
		free(p);
	}
	return 0;
}

static int member_cb(const char *name, enum arch_type type, uint64_t size, void *ctx)
{
	(void)name;
	(void)size;
	(void)ctx;
	return type == ARCH_FILE;
}

static int data_cb(uint64_t off, const void *p, size_t len, void *ctx)
{
	(void)off;
	(void)p;
	(*(uint64_t *)ctx) += len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(dir, sizeof dir, "%s/fuzz-datasrc-XXXXXX", base);
		if (!mkdtemp(dir))
			fail("mkdtemp", base);
		atexit(cleanup);
	}
	char path[300];
	snprintf(path, sizeof path, "%s/data.img", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd) != 0)
		fail("cannot write", path);

	struct img full;
	struct err e;
	int full_ok = img_decode(data, size, &full, &e) == 0;
	struct ds_file f;
	if (ds_open(&f, dir, NULL, NULL, NULL, "data.img", &e) < 0)
		fail("ds_open", e.msg);
	struct check c = { full_ok ? &full : NULL, &f, 0, NULL };
	int rc = ds_entries(&f, entry_cb, &c, &e);
	if (full_ok && rc != 0)
		fail("img_decode reads what the located reader refuses", e.msg);
	if (full_ok && c.n != full.n)
		fail("the located reader has fewer entries than img_decode", NULL);
	if (full_ok)
		img_free(&full);
	/* the same bytes as a tar stream: a damaged one is an error, never more */
	uint64_t total = 0;
	(void)ds_tar(&f, member_cb, data_cb, &total, &e);
	ds_close(&f);
	return 0;
}
