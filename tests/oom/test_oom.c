/* test_oom.c: libcrit never exits or crashes when memory runs out. Each main
 * operation of the public API runs once to count its allocations, then again
 * with allocation N failing, for N = 1, 2, ... until it succeeds: every run
 * must end in success (with the same result as without a failure) or in an
 * error saying "out of memory" (or strerror's "Cannot allocate memory"),
 * never in an exit, an abort or a crash; a failed change leaves the
 * checkpoint byte-identical (and nothing beside it); the objects a failed
 * call was given still work (an image encodes as before, a checkpoint lists
 * its images and processes, a transaction reads its checkpoint); under the
 * sanitizer build LeakSanitizer sees nothing leaked at the end.
 *   test_oom FIXTURES_DIR TMPDIR
 *
 * The hook: this program defines malloc, calloc, realloc, free, strdup and
 * strndup itself, over the next definitions (dlsym RTLD_NEXT: libc's, or
 * ASan's in the sanitizer build). A program's own definitions are the ones
 * every shared library calls too, so the failures reach the allocations made
 * inside protobuf-c, json-c, libarchive and libc (opendir, realpath, stdio),
 * which `ld --wrap` (this program's own calls only) would not. strdup and
 * strndup are defined for ASan, which intercepts them without calling malloc.
 *
 * Two exceptions, libraries that do not check all of their own allocations:
 * json-c before 0.17 (an object key it cannot strdup while it parses is
 * hashed as NULL: a crash inside json-c, fixed in 0.17 by
 * json_tokener_error_memory), and libarchive 3.6 (archive_read_new keeps
 * the NULL of an entry it could not allocate, and its tar reader writes
 * through it). Allocations made from inside those two are not failed; the
 * ones made by libcrit around them, the results of its calls into them, and
 * the allocations of the compressors libarchive uses, still are.
 *
 * The archive is an uncompressed tar: libarchive reports a failed allocation
 * inside zlib's inflate as "gzip decompression failed" (it cannot be told
 * from damage), so a compressed archive's failures would be mislabelled by it.
 *
 * The subset of N: every N up to DENSE, then about SPARSE more spread evenly
 * over the rest (an operation making thousands of allocations mostly repeats
 * the same few sites). The count is printed per operation. */

#include <dirent.h>
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <crit/crit.h>
#include <json-c/json_c_version.h>

#include "check.h"
#include "fdinfo.pb-c.h"

#define DENSE 600
#define SPARSE 600

/* ---- the allocator hook ---- */

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);
/* dlsym itself may allocate before the next allocator is known: from here */
static _Alignas(16) char boot[1 << 16];
static size_t boot_used;
static int resolving;

static long alloc_count, fail_at; /* allocation fail_at (from 1) fails while armed */
static int armed;
/* the code of the libraries whose allocations are not failed (see above) */
static struct {
	uintptr_t lo, hi;
} exempt_code[8];
static size_t nexempt;

static int hook_exempt(void *ret)
{
	for (size_t i = 0; i < nexempt; i++)
		if ((uintptr_t)ret >= exempt_code[i].lo && (uintptr_t)ret < exempt_code[i].hi)
			return 1;
	return 0;
}

/* dl_iterate_phdr: the executable segments of the library named *data */
static int find_code(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	if (!info->dlpi_name || !strstr(info->dlpi_name, (const char *)data))
		return 0;
	for (int i = 0; i < info->dlpi_phnum && nexempt < 8; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			exempt_code[nexempt].lo = info->dlpi_addr + ph->p_vaddr;
			exempt_code[nexempt++].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
		}
	}
	return 1;
}

static void hook_resolve(void)
{
	if (next_malloc || resolving)
		return;
	resolving = 1;
	next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	resolving = 0;
}

static void *boot_alloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n > sizeof boot - boot_used)
		return NULL;
	void *p = boot + boot_used;
	boot_used += n;
	return p;
}

static int in_boot(const void *p)
{
	return (const char *)p >= boot && (const char *)p < boot + sizeof boot;
}

static int hook_fails(void *ret)
{
	if (!armed || hook_exempt(ret))
		return 0;
	if (++alloc_count == fail_at) {
		errno = ENOMEM;
		return 1;
	}
	return 0;
}

/* caller: where the allocation is asked for (malloc's or strdup's caller) */
static void *hook_malloc(size_t n, void *caller)
{
	hook_resolve();
	if (!next_malloc)
		return boot_alloc(n);
	return hook_fails(caller) ? NULL : next_malloc(n);
}

void *malloc(size_t n)
{
	return hook_malloc(n, __builtin_return_address(0));
}

void *calloc(size_t n, size_t size)
{
	hook_resolve();
	if (!next_calloc)
		return size && n > SIZE_MAX / size ? NULL : boot_alloc(n * size); /* boot is zeroed */
	return hook_fails(__builtin_return_address(0)) ? NULL : next_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	hook_resolve();
	if (in_boot(p)) {
		void *q = malloc(n);
		size_t room = (size_t)(boot + sizeof boot - (char *)p);
		if (q)
			memcpy(q, p, n < room ? n : room);
		return q;
	}
	if (!next_realloc)
		return NULL;
	return hook_fails(__builtin_return_address(0)) ? NULL : next_realloc(p, n);
}

void free(void *p)
{
	if (!p || in_boot(p))
		return;
	hook_resolve();
	if (next_free)
		next_free(p);
}

char *strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = hook_malloc(n, __builtin_return_address(0));
	return p ? memcpy(p, s, n) : NULL;
}

char *strndup(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *p = hook_malloc(n + 1, __builtin_return_address(0));
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

/* ---- helpers (called disarmed) ---- */

static const char *fixtures, *tmp;
static const char *current_op; /* the operation swept */
static char ck_dir[1024], ck_pristine[1024], ck_tar[1024], mem_needle[8];
/* the archive a change is made to, alone in its directory (warch) with
 * what a change leaves beside it, and its pristine copy */
static char warch[1024], warch_tar[1100], tar_pristine[1024];

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t fnv_s(uint64_t h, const char *s)
{
	return fnv(h, s ? s : "(null)", s ? strlen(s) + 1 : 7);
}

static void fixture(char *out, size_t n, const char *a, const char *b)
{
	snprintf(out, n, "%s/%s/%s", fixtures, a, b);
}

static int sh(const char *cmd)
{
	return system(cmd) == 0 ? 0 : -1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every name and byte of directory dir (flat), hashed in name order. */
static uint64_t dir_digest(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	char *names[256];
	size_t n = 0;
	for (struct dirent *de; (de = readdir(d)) && n < 256;)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof *names, cmp_str);
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		h = fnv_s(h, names[i]);
		FILE *f = fopen(path, "rb");
		char buf[8192];
		for (size_t r; f && (r = fread(buf, 1, sizeof buf, f)) > 0;)
			h = fnv(h, buf, r);
		if (f)
			fclose(f);
		free(names[i]);
	}
	return h;
}

/* ---- the operations: 0 and *digest, or -1 with err; nothing left allocated ---- */

/* An image from its file: every entry, its type and payload, a payload set,
 * its bytes again; a new empty image of the same kind. */
static int op_image_open(crit_error *err, uint64_t *digest)
{
	char path[4096];
	fixture(path, sizeof path, "tcp", "tcp-stream-31dd3.img");
	crit_image *img;
	if (crit_image_open(path, &img, err) < 0)
		return -1;
	uint64_t h = fnv_s(0xcbf29ce484222325ull, crit_image_magic(img));
	for (size_t i = 0; i < crit_image_count(img); i++) {
		const ProtobufCMessage *m = crit_image_entry(img, i);
		const uint8_t *data;
		size_t len;
		h = fnv_s(h, m->descriptor->name);
		h = fnv_s(h, crit_image_entry_type(img, i)->name);
		if (crit_image_payload(img, i, &data, &len) == 1)
			h = fnv(h, data, len);
	}
	/* a payload set again to its own bytes (copied before the old is freed) */
	const uint8_t *data;
	size_t len;
	if (crit_image_payload(img, 0, &data, &len) == 1 && crit_image_set_payload(img, 0, data, len, err) < 0) {
		crit_image_free(img);
		return -1;
	}
	uint8_t *bytes;
	size_t n;
	int rc = crit_image_encode(img, &bytes, &n, err);
	if (rc == 0) {
		h = fnv(h, bytes, n);
		free(bytes);
	}
	crit_image_free(img);
	/* and an empty image of a kind */
	crit_image *empty;
	if (rc == 0 && (rc = crit_image_new("TCP_STREAM", &empty, err)) == 0) {
		rc = crit_image_encode(empty, &bytes, &n, err);
		if (rc == 0) {
			h = fnv(h, bytes, n);
			free(bytes);
		}
		crit_image_free(empty);
	}
	*digest = h;
	return rc;
}

/* An image from a buffer, changed (an entry appended, one removed, a payload
 * set) and encoded. */
static int op_image_buffer(crit_error *err, uint64_t *digest)
{
	static uint8_t *buf;
	static size_t len;
	if (!buf) { /* read once, disarmed, by the counting run's caller */
		char path[4096];
		fixture(path, sizeof path, "tcp", "files.img");
		FILE *f = fopen(path, "rb");
		buf = f ? malloc(1 << 20) : NULL;
		len = f && buf ? fread(buf, 1, 1 << 20, f) : 0;
		if (f)
			fclose(f);
	}
	crit_image *img;
	if (crit_image_from_buffer(buf, len, "files.img", &img, err) < 0)
		return -1;
	int rc = -1;
	FileEntry *fe = (FileEntry *)crit_message_new(crit_message_type("file_entry"));
	if (!fe) {
		snprintf(err->message, sizeof err->message, "crit_message_new: out of memory");
		goto out;
	}
	fe->type = FD_TYPES__REG; /* type and id are all a file_entry needs */
	fe->id = 4242;
	if (crit_image_append(img, &fe->base, err) < 0) {
		/* the image is as it was: it encodes to the bytes it came from */
		armed = 0;
		uint8_t *again;
		size_t n;
		crit_error e2;
		CHECK(crit_image_encode(img, &again, &n, &e2) == 0 && n == len && memcmp(again, buf, n) == 0,
		      "image-buffer: a failed append changed the image");
		free(again);
		goto out;
	}
	if (crit_image_remove(img, 0, err) < 0)
		goto out;
	char *json;
	if (crit_message_to_json(crit_image_entry(img, crit_image_count(img) - 1), 1, &json, NULL, err) < 0)
		goto out;
	uint64_t h = fnv_s(0xcbf29ce484222325ull, json);
	free(json);
	uint8_t *bytes;
	size_t n;
	if (crit_image_encode(img, &bytes, &n, err) < 0)
		goto out;
	*digest = fnv(h, bytes, n);
	free(bytes);
	rc = 0;
out:
	crit_image_free(img);
	return rc;
}

/* CRIT's JSON of an image, plain and pretty (the (criu) options' forms). */
static int op_json_out(crit_error *err, uint64_t *digest)
{
	char path[4096];
	fixture(path, sizeof path, "sleep", "mm-23744.img");
	crit_image *img;
	if (crit_image_open(path, &img, err) < 0)
		return -1;
	uint64_t h = 0xcbf29ce484222325ull;
	int rc = 0;
	for (int pretty = 0; pretty < 2 && rc == 0; pretty++) {
		char *json;
		size_t n;
		rc = crit_image_to_json(img, pretty, &json, &n, err);
		if (rc == 0) {
			h = fnv(h, json, n);
			free(json);
		}
	}
	crit_image_free(img);
	*digest = h;
	return rc;
}

/* The JSON read back (json-c underneath), encoded, and saved to a file; and
 * the file-to-file forms of decode and encode. */
static int op_json_in(crit_error *err, uint64_t *digest)
{
	static char *text;
	static size_t tlen;
	char in[4096], json[4096], out[4096];
	fixture(in, sizeof in, "tcp", "files.img");
	snprintf(json, sizeof json, "%s/files.json", tmp);
	snprintf(out, sizeof out, "%s/files.img", tmp);
	if (!text) {
		crit_image *img;
		if (crit_image_open(in, &img, err) < 0)
			return -1;
		int rc = crit_image_to_json(img, 1, &text, &tlen, err);
		crit_image_free(img);
		if (rc < 0)
			return -1;
	}
	crit_image *img;
	if (crit_image_from_json(text, tlen, &img, err) < 0)
		return -1;
	uint8_t *bytes;
	size_t n;
	int rc = crit_image_encode(img, &bytes, &n, err);
	uint64_t h = 0xcbf29ce484222325ull;
	if (rc == 0) {
		h = fnv(h, bytes, n);
		free(bytes);
		rc = crit_image_save(img, out, err);
	}
	crit_image_free(img);
	if (rc == 0)
		rc = crit_json_decode_file(in, json, 1, 0, err);
	if (rc == 0)
		rc = crit_json_encode_file(json, out, err);
	*digest = h;
	return rc;
}

/* A checkpoint directory: its images, processes, and an image of it. */
/* After a call on ck failed: the checkpoint object still works (disarmed,
 * the calls from `from` on succeed on the same object). */
static void checkpoint_still_works(crit_checkpoint *ck, int from)
{
	crit_error e2;
	size_t n;
	armed = 0;
	if (from <= 0)
		CHECK(crit_checkpoint_images(ck, &n, &e2) != NULL, "%s: images after a failure: %s", current_op,
		      e2.message);
	if (from <= 1)
		CHECK(crit_checkpoint_processes(ck, &n, &e2) != NULL && n > 0, "%s: processes after a failure: %s",
		      current_op, e2.message);
	crit_image *img;
	CHECK(crit_checkpoint_image(ck, "fdinfo-2.img", &img, &e2) == 0, "%s: an image after a failure: %s",
	      current_op, e2.message);
	crit_image_free(img);
}

static int op_checkpoint(const char *path, crit_error *err, uint64_t *digest)
{
	crit_checkpoint *ck;
	if (crit_checkpoint_open(path, &ck, err) < 0)
		return -1;
	int rc = -1;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t n;
	const char *const *names = crit_checkpoint_images(ck, &n, err);
	if (!names) {
		checkpoint_still_works(ck, 0);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		h = fnv_s(h, names[i]);
	const crit_process *p = crit_checkpoint_processes(ck, &n, err);
	if (!p) {
		checkpoint_still_works(ck, 1);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		h = fnv(h, &p[i].pid, sizeof p[i].pid);
		h = fnv_s(h, p[i].comm);
	}
	crit_image *img;
	if (crit_checkpoint_image(ck, "fdinfo-2.img", &img, err) < 0) {
		checkpoint_still_works(ck, 2);
		goto out;
	}
	h = fnv(h, &(size_t){ crit_image_count(img) }, sizeof(size_t));
	crit_image_free(img);
	rc = 0;
out:
	crit_checkpoint_close(ck);
	*digest = h;
	return rc;
}

static int op_ck_dir(crit_error *err, uint64_t *digest)
{
	return op_checkpoint(ck_pristine, err, digest);
}

static int op_ck_archive(crit_error *err, uint64_t *digest)
{
	return op_checkpoint(ck_tar, err, digest);
}

static int on_match(uint64_t addr, void *ctx)
{
	*(uint64_t *)ctx = fnv(*(uint64_t *)ctx, &addr, sizeof addr);
	return 0;
}

/* A process's memory: its regions, a read, a search. */
static int op_memory_of(const char *path, crit_error *err, uint64_t *digest)
{
	crit_checkpoint *ck;
	if (crit_checkpoint_open(path, &ck, err) < 0)
		return -1;
	crit_memory *mem;
	int rc = crit_memory_open(ck, 23744, 0, &mem, err);
	uint64_t h = 0xcbf29ce484222325ull;
	if (rc == 0) {
		size_t n;
		const crit_region *r = crit_memory_regions(mem, &n);
		uint8_t bytes[256];
		for (size_t i = 0; i < n && rc == 0; i++)
			if (r[i].flags & CRIT_PAGE_PRESENT) {
				rc = crit_memory_read(mem, r[i].vaddr, sizeof bytes, bytes, err);
				h = fnv(h, bytes, sizeof bytes);
				if (!mem_needle[0])
					memcpy(mem_needle, bytes + 16, sizeof mem_needle);
				break;
			}
		if (rc == 0)
			rc = crit_memory_search(mem, mem_needle, sizeof mem_needle, on_match, &h, err);
		crit_memory_close(mem);
	}
	crit_checkpoint_close(ck);
	*digest = h;
	return rc;
}

static int op_memory(crit_error *err, uint64_t *digest)
{
	return op_memory_of(ck_pristine, err, digest);
}

static int op_memory_archive(crit_error *err, uint64_t *digest)
{
	return op_memory_of(ck_tar, err, digest);
}

/* A change through the write path: an entry of files.img changed, the old
 * files.img (the old archive) kept as files.img.orig (PATH.orig), committed. */
static int op_txn_on(const char *path, int archive, crit_error *err, uint64_t *digest)
{
	crit_txn *t;
	if (crit_txn_begin(path, 0, &t, err) < 0)
		return -1;
	crit_image *files = NULL;
	int rc = -1;
	crit_checkpoint *ck = crit_txn_checkpoint(t);
	if (!ck) {
		snprintf(err->message, sizeof err->message, "crit_txn_checkpoint: out of memory");
		goto out;
	}
	if (crit_checkpoint_image(ck, "files.img", &files, err) < 0)
		goto out;
	((FileEntry *)crit_image_entry(files, 0))->id += 1000;
	if (crit_txn_keep(t, archive ? NULL : "files.img", archive ? ".orig" : "files.img.orig", err) < 0 ||
	    crit_txn_stage_image(t, "files.img", files, err) < 0 || crit_txn_commit(t, err) < 0)
		goto out;
	rc = 0;
out:
	crit_image_free(files);
	if (rc < 0) { /* the transaction still works: what is there reads back (disarmed) */
		armed = 0;
		crit_txn_abort(t);
		crit_error e2;
		crit_image *now = NULL;
		ck = crit_txn_checkpoint(t);
		CHECK(ck && crit_checkpoint_image(ck, "files.img", &now, &e2) == 0, "%s: the txn after a failure: %s",
		      current_op, ck ? e2.message : "no checkpoint");
		crit_image_free(now);
	}
	crit_txn_end(t);
	*digest = 0; /* the checkpoint after it is compared by the caller */
	return rc;
}

static int op_txn(crit_error *err, uint64_t *digest)
{
	return op_txn_on(ck_dir, 0, err, digest);
}

static int op_txn_archive(crit_error *err, uint64_t *digest)
{
	return op_txn_on(warch_tar, 1, err, digest);
}

/* An image saved into a checkpoint directory: through its transaction. */
static int op_image_save(crit_error *err, uint64_t *digest)
{
	char path[8192];
	snprintf(path, sizeof path, "%s/files.img", ck_dir);
	crit_image *img;
	if (crit_image_open(path, &img, err) < 0)
		return -1;
	((FileEntry *)crit_image_entry(img, 0))->id += 1000;
	int rc = crit_image_save(img, path, err);
	crit_image_free(img);
	*digest = 0;
	return rc;
}

/* ---- the sweep ---- */

struct op {
	const char *name;
	int (*fn)(crit_error *err, uint64_t *digest);
	int changes; /* 1: changes ck_dir, 2: warch_tar; checked and put back after each run */
};

/* exit() inside the library: what it must never do */
static void exit_check(void)
{
	if (armed) {
		armed = 0;
		fprintf(stderr, "FAIL: the process exited inside %s with allocation %ld failed\n", current_op,
			fail_at);
		_exit(3);
	}
}

static int is_oom_message(const char *m)
{
	return strstr(m, "out of memory") || strstr(m, "Cannot allocate memory");
}

static uint64_t pristine_digest[3], changed_digest;

/* What a change may touch: the checkpoint directory, or the archive's
 * directory (the archive, its kept copy, anything left beside it). */
static uint64_t target_digest(int kind)
{
	return dir_digest(kind == 1 ? ck_dir : warch);
}

static uint64_t file_digest(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint64_t h = 0xcbf29ce484222325ull;
	char buf[8192];
	for (size_t r; f && (r = fread(buf, 1, sizeof buf, f)) > 0;)
		h = fnv(h, buf, r);
	if (f)
		fclose(f);
	return f ? h : 0;
}

/* A change made to the archive: its members' times are the commit's, so
 * the new archive is not compared whole; the kept copy is the old one. */
static int archive_changed(void)
{
	char orig[1200];
	snprintf(orig, sizeof orig, "%s.orig", warch_tar);
	return file_digest(orig) == file_digest(tar_pristine) && file_digest(warch_tar) != file_digest(tar_pristine);
}

/* After a run of a change: unchanged on failure, changed as wanted on
 * success (then put back); nothing left beside the checkpoint either way. */
static void after_change(const struct op *op, long n, int rc)
{
	uint64_t now = target_digest(op->changes);
	if (rc < 0)
		CHECK(now == pristine_digest[op->changes], "%s: N=%ld: a failed change changed the checkpoint",
		      op->name, n);
	else
		CHECK(op->changes == 2 ? archive_changed() : now == changed_digest,
		      "%s: N=%ld: the change made is not the one asked for", op->name, n);
	for (int k = 0; k < 2; k++) {
		DIR *d = opendir(k ? warch : tmp);
		for (struct dirent *de; d && (de = readdir(d));)
			CHECK(!strstr(de->d_name, ".critlua-"), "%s: N=%ld: %s left beside the checkpoint", op->name,
			      n, de->d_name);
		if (d)
			closedir(d);
	}
	if (rc == 0) {
		char cmd[16384];
		if (op->changes == 1)
			snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", ck_dir, ck_pristine, ck_dir);
		else
			snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir '%s' && cp -a '%s' '%s'", warch, warch,
				 tar_pristine, warch_tar);
		CHECK(sh(cmd) == 0, "%s", cmd);
	}
}

static long next_n(long n, long total)
{
	if (n < DENSE || total <= DENSE + SPARSE)
		return n + 1;
	long step = (total - DENSE) / SPARSE;
	return n + (step > 1 ? step : 1);
}

static void sweep(const struct op *op)
{
	crit_error err = { "" };
	uint64_t ref = 0, d;
	current_op = op->name;
	alloc_count = 0;
	fail_at = 0;
	armed = 1;
	int rc = op->fn(&err, &ref);
	armed = 0;
	long total = alloc_count;
	CHECK(rc == 0, "%s: fails without a failed allocation: %s", op->name, err.message);
	if (op->changes) {
		changed_digest = target_digest(op->changes);
		CHECK(changed_digest != pristine_digest[op->changes], "%s: changed nothing", op->name);
		after_change(op, 0, rc);
	}
	long runs = 0, errors = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long n = 1;; n = next_n(n, total)) {
		/* past the count of the run without failures: no failure may come, it must succeed */
		err.message[0] = 0;
		d = 0;
		alloc_count = 0;
		fail_at = n;
		armed = 1;
		rc = op->fn(&err, &d);
		armed = 0;
		runs++;
		int hit = alloc_count >= n;
		if (rc < 0) {
			errors++;
			CHECK(hit, "%s: N=%ld: fails with no failed allocation: %s", op->name, n, err.message);
			CHECK(is_oom_message(err.message), "%s: N=%ld: the failed allocation reported as: '%s'", op->name,
			      n, err.message);
		} else if (!op->changes) {
			CHECK(d == ref, "%s: N=%ld: succeeded with another result", op->name, n);
		}
		if (op->changes)
			after_change(op, n, rc);
		if (!hit)
			break;
		if (n > 100 * (total + 10)) {
			CHECK(0, "%s: no success after %ld runs", op->name, runs);
			break;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%-14s %6ld allocations; %5ld runs, %5ld errors, %.2f s\n", op->name, total, runs, errors,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_oom FIXTURES_DIR TMPDIR\n");
		return 2;
	}
	fixtures = argv[1];
	tmp = argv[2];
	char cmd[32768];
	snprintf(ck_dir, sizeof ck_dir, "%s/ck", tmp);
	snprintf(ck_pristine, sizeof ck_pristine, "%s/pristine", tmp);
	snprintf(ck_tar, sizeof ck_tar, "%s/ck.tar", tmp);
	snprintf(warch, sizeof warch, "%s/warch", tmp);
	snprintf(warch_tar, sizeof warch_tar, "%s/ck.tar", warch);
	snprintf(tar_pristine, sizeof tar_pristine, "%s/pristine.tar", tmp);
	snprintf(cmd, sizeof cmd,
		 "rm -rf '%s' && mkdir -p '%s/t/checkpoint' && cp -a '%s/sleep' '%s' && cp -a '%s/sleep' '%s' && "
		 "cp '%s/sleep'/* '%s/t/checkpoint/' && tar -C '%s/t' -cf '%s' checkpoint && rm -rf '%s/t' && "
		 "cp '%s' '%s' && mkdir '%s' && cp '%s' '%s'",
		 tmp, tmp, fixtures, ck_dir, fixtures, ck_pristine, fixtures, tmp, tmp, ck_tar, tmp, ck_tar,
		 tar_pristine, warch, ck_tar, warch_tar);
	if (sh(cmd) < 0) {
		fprintf(stderr, "test_oom: %s failed\n", cmd);
		return 1;
	}
	pristine_digest[1] = target_digest(1);
	pristine_digest[2] = target_digest(2);
	atexit(exit_check);
	if (json_c_version_num() < (0 << 16 | 17 << 8) && dl_iterate_phdr(find_code, "libjson-c"))
		printf("json-c %s: its own allocations are not failed (before 0.17 it does not check them)\n",
		       json_c_version());
	/* libarchive is loaded by the first archive opened */
	crit_checkpoint *ck;
	crit_error err;
	if (crit_checkpoint_open(ck_tar, &ck, &err) < 0) {
		fprintf(stderr, "test_oom: %s\n", err.message);
		return 1;
	}
	crit_checkpoint_close(ck);
	if (dl_iterate_phdr(find_code, "libarchive"))
		printf("libarchive: its own allocations are not failed (3.6 does not check them all)\n");
	static const struct op ops[] = {
		{ "image-open", op_image_open, 0 },  { "image-buffer", op_image_buffer, 0 },
		{ "json-out", op_json_out, 0 },      { "json-in", op_json_in, 0 },
		{ "checkpoint", op_ck_dir, 0 },      { "archive", op_ck_archive, 0 },
		{ "memory", op_memory, 0 },          { "memory-archive", op_memory_archive, 0 },
		{ "txn", op_txn, 1 },                { "txn-archive", op_txn_archive, 2 },
		{ "image-save", op_image_save, 1 },
	};
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
		sweep(&ops[i]);
	return check_report("test_oom");
}
