/* fuzz_archive.c: libFuzzer target for the checkpoint archive reader
 * (ckarchive.c, over the system's libarchive, loaded with dlopen).
 *
 * The input is the archive itself, in a memory file (memfd) opened by its
 * /proc/self/fd path as critlua opens one. What opens is then read as the
 * commands read it: every regular member in a few pieces (start, middle, end,
 * a run across the middle), small ones whole and decoded as images, each
 * pagemap through the memory reader. Checked: a read gives the same bytes
 * twice, and a whole read agrees with the pieces; the bytes written to
 * $TMPDIR stay within the bound (set low here, 16 MiB). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ckarchive.h"
#include "image.h"
#include "mem.h"

static void fail(const char *what, const char *name, const char *detail)
{
	fprintf(stderr, "fuzz_archive: %s: %s%s%s\n", name, what, detail ? ": " : "", detail ? detail : "");
	abort();
}

static uint8_t a1[4096], a2[4096];

/* Read len (at most 4096) bytes at off twice; a failure is fine, a
 * disagreement is not. */
static void piece(const struct arch *a, const struct arch_member *m, uint64_t off, size_t len)
{
	struct err e;
	if (arch_pread(a, m, off, a1, len, &e) < 0)
		return;
	if (arch_pread(a, m, off, a2, len, &e) < 0)
		fail("a second read fails", m->name, e.msg);
	if (memcmp(a1, a2, len) != 0)
		fail("two reads differ", m->name, NULL);
}

static void member(struct arch *a, const struct arch_member *m)
{
	struct err e;
	if (m->type != ARCH_FILE) {
		/* a link, a directory: an error, never data */
		if (arch_pread(a, m, 0, a1, 0, &e) == 0)
			fail("a member that is not a file reads", m->name, NULL);
		return;
	}
	uint64_t n = m->size;
	size_t k = n < sizeof a1 ? (size_t)n : sizeof a1;
	piece(a, m, 0, k);
	piece(a, m, n / 2 - (n / 2 < k / 2 ? n / 2 : k / 2), k);
	piece(a, m, n - k, k);
	if (n <= 1 << 20) {
		uint8_t *all;
		size_t len;
		if (arch_read_all(a, m, &all, &len, &e) < 0)
			return;
		if (len != n)
			fail("a whole read has another size", m->name, NULL);
		if (arch_pread(a, m, 0, a1, k, &e) == 0 && memcmp(all, a1, k) != 0)
			fail("a whole read differs from its start", m->name, NULL);
		struct img img;
		if (img_decode_named(m->name, all, len, &img, &e) == 0)
			img_free(&img);
		free(all);
	}
	/* the memory reader over a pagemap, as mem, grep and x ps --cmdline do */
	const char *base = strrchr(m->name, '/');
	if (base && strncmp(m->name, ARCH_CKPT_DIR, strlen(ARCH_CKPT_DIR)) == 0 &&
	    strncmp(base + 1, "pagemap-", 8) == 0 && (size_t)(base + 1 - m->name) == strlen(ARCH_CKPT_DIR)) {
		struct mem_map mm;
		if (mem_map_open_archive(&mm, a, ARCH_CKPT_DIR, "fuzz", base + 1, 4096, &e) == 0) {
			if (mm.n)
				mem_read(&mm, mm.r[0].vaddr, 64, a1, &e);
			mem_map_close(&mm);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		setenv("CRITLUA_ARCHIVE_TMP_MAX", "16M", 1);
		init = 1;
	}
	int fd = memfd_create("fuzz-archive", MFD_CLOEXEC);
	if (fd < 0)
		fail("memfd_create", "input", NULL);
	if (size && write(fd, data, size) != (ssize_t)size)
		fail("cannot write the input", "input", NULL);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	struct arch a;
	struct err e;
	if (arch_open(&a, path, &e) == 0) {
		for (size_t i = 0; i < a.n; i++)
			member(&a, &a.m[i]);
		/* a name with its links followed (a pre-checkpoint's parent) stays inside the archive */
		for (size_t i = 0; i < a.n; i++) {
			char *r;
			struct err re;
			if (arch_resolve(&a, a.m[i].name, 1, &r, &re) == 0) {
				size_t rn = strlen(r);
				if (r[0] == '/' || strstr(r, "../") || strcmp(r, "..") == 0 ||
				    (rn >= 3 && strcmp(r + rn - 3, "/..") == 0))
					fail("a name resolved out of the archive", path, a.m[i].name);
				free(r);
			}
		}
		if (a.tmp_used > a.tmp_max)
			fail("more written to $TMPDIR than the bound", path, NULL);
		arch_close(&a);
	}
	close(fd);
	return 0;
}
