/* test_capi.c: every function of libcrit's public API (include/crit/crit.h),
 * through libcrit.so and that header alone: results against the goldens and
 * the fixtures' bytes, errors on the corrupt inputs of tests/errors, and the
 * API used from several threads at once.
 *   test_capi TESTS_DIR TMPDIR */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <crit/crit.h>

#include "check.h"
#include "fdinfo.pb-c.h"
#include "pstree.pb-c.h"

static const char *tests, *tmp;

static char *path_of(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	uint8_t *p = malloc(cap + 1);
	for (size_t r; (r = fread(p + n, 1, cap - n, f)) > 0;) {
		n += r;
		if (n == cap)
			p = realloc(p, (cap *= 2) + 1);
	}
	fclose(f);
	p[n] = 0;
	*len = n;
	return p;
}

static int has(const char *s, const char *what)
{
	return s && strstr(s, what) != NULL;
}

static int run(const char *cmd)
{
	int rc = system(cmd);
	return rc == 0 ? 0 : -1;
}

/* ---- several threads at once, before anything else ran: the lazy set-ups
 * (schema index, magic table) must be done once for all ---- */

struct job {
	const char *dir;
	char *json; /* every image's pretty JSON, concatenated */
	int failed;
};

static void *thread_job(void *arg)
{
	struct job *j = arg;
	crit_error err;
	crit_checkpoint *ck;
	size_t total = 0;
	j->json = calloc(1, 1);
	if (crit_checkpoint_open(j->dir, &ck, &err) < 0) {
		j->failed = 1;
		return NULL;
	}
	size_t n;
	const char *const *names = crit_checkpoint_images(ck, &n, &err);
	for (size_t i = 0; names && i < n; i++) {
		crit_image *img;
		if (crit_checkpoint_image(ck, names[i], &img, &err) < 0)
			continue; /* raw files */
		char *js;
		size_t len;
		crit_image *back;
		if (crit_image_to_json(img, 1, &js, &len, &err) < 0 ||
		    crit_image_from_json(js, len, &back, &err) < 0) {
			j->failed = 1;
		} else {
			crit_image_free(back);
			j->json = realloc(j->json, total + len + 1);
			memcpy(j->json + total, js, len + 1);
			total += len;
			free(js);
		}
		crit_image_free(img);
	}
	crit_checkpoint_close(ck);
	return NULL;
}

static void test_threads(void)
{
	enum { N = 4 };
	pthread_t th[N];
	struct job jobs[N];
	char *dir = path_of(tests, "fixtures/tcp");
	for (int i = 0; i < N; i++) {
		jobs[i] = (struct job){ .dir = dir };
		CHECK(pthread_create(&th[i], NULL, thread_job, &jobs[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	if (getenv("CAPI_DUMP"))
		for (int i = 0; i < N; i++) {
			char name[64];
			snprintf(name, sizeof name, "/tmp/capi-thread-%d.json", i);
			FILE *f = fopen(name, "w");
			fputs(jobs[i].json, f);
			fclose(f);
		}
	for (int i = 0; i < N; i++) {
		CHECK(!jobs[i].failed, "thread %d failed", i);
		CHECK(strlen(jobs[0].json) > 1000 && strcmp(jobs[i].json, jobs[0].json) == 0,
		      "thread %d's JSON differs from thread 0's", i);
	}
	for (int i = 0; i < N; i++)
		free(jobs[i].json);
	free(dir);
}

/* ---- corrupt images: each error as critlua says it, naming the file ---- */

static void test_errors(void)
{
	char *dir = path_of(tests, "errors");
	char *tsv = path_of(dir, "cases.tsv");
	FILE *f = fopen(tsv, "r");
	CHECK(f != NULL, "%s: %s", tsv, strerror(errno));
	char line[1024];
	int cases = 0;
	while (f && fgets(line, sizeof line, f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		char *file = strtok(line, "\t"), *words = strtok(NULL, "\t");
		if (!file || !words)
			continue;
		cases++;
		char *path = path_of(dir, file);
		crit_error err = { "" };
		crit_image *img = (crit_image *)1;
		CHECK(crit_image_open(path, &img, &err) == -1 && img == NULL, "%s: opened", file);
		CHECK(has(err.message, path), "%s: the error does not name the file: %s", file, err.message);
		size_t len;
		uint8_t *data = slurp(path, &len);
		crit_error err2 = { "" };
		CHECK(crit_image_from_buffer(data, len, file, &img, &err2) == -1, "%s: decoded from memory", file);
		CHECK(has(err2.message, file), "%s: from memory: %s", file, err2.message);
		for (char *w = strtok(words, "|"); w; w = strtok(NULL, "|")) {
			CHECK(has(err.message, w), "%s: '%s' not in: %s", file, w, err.message);
			CHECK(has(err2.message, w), "%s: from memory: '%s' not in: %s", file, w, err2.message);
		}
		/* the same bytes with no name, and NULL for err: still an error, no crash */
		CHECK(crit_image_from_buffer(data, len, NULL, &img, NULL) == -1, "%s: without a name", file);
		/* JSON of what cannot be decoded: decode_file names the file */
		char *out = path_of(tmp, "err.json");
		CHECK(crit_json_decode_file(path, out, 0, 0, &err) == -1 && has(err.message, path),
		      "%s: decode_file: %s", file, err.message);
		free(out);
		free(data);
		free(path);
	}
	CHECK(cases >= 15, "only %d cases in cases.tsv", cases);
	if (f)
		fclose(f);
	crit_error err;
	crit_image *img;
	CHECK(crit_image_open("/nonexistent/x.img", &img, &err) == -1 &&
		      has(err.message, "/nonexistent/x.img") && has(err.message, "No such file"),
	      "missing file: %s", err.message);
	/* a raw file by its name is not decoded: the error says what it is */
	static const uint8_t pages[64];
	CHECK(crit_image_from_buffer(pages, sizeof pages, "pages-1.img", &img, &err) == -1 &&
		      has(err.message, "pages-1.img") && has(err.message, "memory"),
	      "raw pages: %s", err.message);
	/* the encode errors of tests/encode-errors, as `encode` gives them */
	const char *bad[] = { "flags-bad-number", "base64-bad-char", "ip-bad-address", "unix-name-bad-qp" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char name[128];
		snprintf(name, sizeof name, "encode-errors/%s.json", bad[i]);
		char *jp = path_of(tests, name);
		snprintf(name, sizeof name, "encode-errors/%s.err", bad[i]);
		char *ep = path_of(tests, name);
		size_t jl = 0, el = 0;
		uint8_t *json = slurp(jp, &jl), *want = slurp(ep, &el);
		CHECK(json && want, "%s: missing", jp);
		if (json && want) {
			while (el && want[el - 1] == '\n')
				want[--el] = 0;
			CHECK(crit_image_from_json((char *)json, jl, &img, &err) == -1, "%s: accepted", bad[i]);
			/* .err is critlua's line: "critlua: <stdin>: message"; the message is ours */
			const char *msg = strstr((char *)want, "<stdin>: ");
			CHECK(msg && strcmp(err.message, msg + 9) == 0, "%s: '%s' is not: %s", bad[i], msg ? msg + 9 : "?",
			      err.message);
			char *out = path_of(tmp, "bad.img");
			CHECK(crit_json_encode_file(jp, out, &err) == -1 && has(err.message, jp) &&
				      access(out, F_OK) != 0,
			      "%s: encode_file: %s", bad[i], err.message);
			free(out);
		}
		free(json);
		free(want);
		free(jp);
		free(ep);
	}
	CHECK(crit_image_from_json("{\"magic\": \"PSTREE\", \"entries\": [{\"pid\": 1, \"bogus\": 2}]}", 58,
				   &img, &err) == -1 &&
		      has(err.message, "entries[0]") && has(err.message, "bogus"),
	      "unknown key: %s", err.message);
	CHECK(crit_image_from_json("{\"magic\": ", 10, &img, &err) == -1 && has(err.message, "line 1"),
	      "cut JSON: %s", err.message);
	free(tsv);
	free(dir);
}

/* ---- every image of a fixture: bytes, JSON against the goldens, round trips ---- */

static void test_fixture_images(const char *scenario)
{
	char sub[256];
	snprintf(sub, sizeof sub, "fixtures/%s", scenario);
	char *dir = path_of(tests, sub);
	snprintf(sub, sizeof sub, "fixtures/expected/%s", scenario);
	char *exp = path_of(tests, sub);
	crit_error err;
	crit_checkpoint *ck;
	CHECK(crit_checkpoint_open(dir, &ck, &err) == 0, "open %s: %s", dir, err.message);
	if (!ck)
		return;
	size_t n, goldens = 0;
	const char *const *names = crit_checkpoint_images(ck, &n, &err);
	CHECK(names && n > 5 && names[n] == NULL, "%s: images", dir);
	for (size_t i = 0; names && i < n; i++) {
		if (i)
			CHECK(strcmp(names[i - 1], names[i]) < 0, "images not sorted: %s %s", names[i - 1], names[i]);
		char *path = path_of(dir, names[i]);
		size_t flen = 0;
		uint8_t *fbytes = slurp(path, &flen);
		crit_image *img, *img2;
		if (strncmp(names[i], "pages-", 6) == 0 || strcmp(names[i], "stats-dump") == 0) {
			if (strncmp(names[i], "pages-", 6) == 0)
				CHECK(crit_checkpoint_image(ck, names[i], &img, &err) == -1 && has(err.message, names[i]),
				      "%s: a raw file decoded: %s", names[i], err.message);
			free(fbytes);
			free(path);
			continue;
		}
		CHECK(crit_checkpoint_image(ck, names[i], &img, &err) == 0, "%s: %s", names[i], err.message);
		CHECK(crit_image_open(path, &img2, &err) == 0, "%s: %s", path, err.message);
		uint8_t *bytes;
		size_t len;
		CHECK(crit_image_encode(img, &bytes, &len, &err) == 0 && len == flen && memcmp(bytes, fbytes, len) == 0,
		      "%s: not written back byte for byte", names[i]);
		free(bytes);
		for (int pretty = 0; pretty < 2; pretty++) {
			char gname[256];
			snprintf(gname, sizeof gname, "%s%s", names[i], pretty ? ".pretty.json" : ".json");
			char *gpath = path_of(exp, gname);
			size_t glen;
			uint8_t *golden = slurp(gpath, &glen);
			char *js;
			size_t jlen;
			CHECK(crit_image_to_json(img, pretty, &js, &jlen, &err) == 0 && strlen(js) == jlen, "%s: JSON",
			      names[i]);
			if (golden) {
				goldens++;
				while (glen && golden[glen - 1] == '\n')
					golden[--glen] = 0;
				CHECK(jlen == glen && memcmp(js, golden, glen) == 0, "%s: not CRIT's JSON", gname);
			}
			/* back from JSON: the same bytes */
			crit_image *back;
			CHECK(crit_image_from_json(js, jlen, &back, &err) == 0, "%s: from JSON: %s", gname, err.message);
			if (back) {
				CHECK(crit_image_encode(back, &bytes, &len, &err) == 0 && len == flen &&
					      memcmp(bytes, fbytes, len) == 0,
				      "%s: JSON round trip changed the bytes", gname);
				free(bytes);
				crit_image_free(back);
			}
			/* the file path: decode, then encode */
			char *jout = path_of(tmp, "out.json"), *iout = path_of(tmp, "out.img");
			CHECK(crit_json_decode_file(path, jout, pretty, 0, &err) == 0, "%s: %s", path, err.message);
			size_t olen;
			uint8_t *o = slurp(jout, &olen);
			CHECK(o && olen == jlen && memcmp(o, js, jlen) == 0, "%s: decode_file differs", gname);
			CHECK(crit_json_encode_file(jout, iout, &err) == 0, "%s: %s", jout, err.message);
			free(o);
			o = slurp(iout, &olen);
			CHECK(o && olen == flen && memcmp(o, fbytes, flen) == 0, "%s: encode_file differs", gname);
			free(o);
			free(jout);
			free(iout);
			free(js);
			free(golden);
			free(gpath);
		}
		/* from a buffer: the same entries */
		crit_image *img3;
		CHECK(crit_image_from_buffer(fbytes, flen, names[i], &img3, &err) == 0 &&
			      crit_image_count(img3) == crit_image_count(img) &&
			      strcmp(crit_image_magic(img3), crit_image_magic(img)) == 0,
		      "%s: from buffer", names[i]);
		crit_image_free(img3);
		crit_image_free(img2);
		crit_image_free(img);
		free(fbytes);
		free(path);
	}
	CHECK(goldens >= 10, "%s: only %zu goldens compared", scenario, goldens);
	crit_checkpoint_close(ck);
	free(dir);
	free(exp);
}

/* ---- messages and building images ---- */

static void test_messages(void)
{
	crit_error err;
	CHECK(strcmp(crit_version(), "0.1.0") >= 0 && strchr(crit_version(), '.'), "version %s", crit_version());
	const ProtobufCMessageDescriptor *d = crit_message_type("pstree_entry");
	CHECK(d && strcmp(d->name, "pstree_entry") == 0, "pstree_entry's descriptor");
	CHECK(crit_message_type("no_such_entry") == NULL && crit_message_type(NULL) == NULL, "unknown type");
	CHECK(crit_message_new(NULL) == NULL, "new of NULL");
	PstreeEntry *pe = (PstreeEntry *)crit_message_new(d);
	CHECK(pe && pe->base.descriptor == d && pe->pid == 0, "new pstree_entry");
	pe->pid = 42;
	pe->ppid = 1;
	pe->n_threads = 2;
	pe->threads = malloc(2 * sizeof *pe->threads);
	pe->threads[0] = 42;
	pe->threads[1] = 43;
	char *js;
	size_t len;
	CHECK(crit_message_to_json(&pe->base, 0, &js, &len, &err) == 0 &&
		      strcmp(js, "{\"pid\": 42, \"ppid\": 1, \"pgid\": 0, \"sid\": 0, \"threads\": [42, 43]}") == 0,
	      "message JSON: %s", js);
	free(js);
	CHECK(crit_message_to_json(NULL, 0, &js, &len, &err) == -1, "JSON of NULL");

	crit_image *img;
	CHECK(crit_image_new("NO_SUCH_KIND", &img, &err) == -1 && has(err.message, "NO_SUCH_KIND"), "bad kind: %s",
	      err.message);
	CHECK(crit_image_new("PSTREE", &img, &err) == 0 && crit_image_count(img) == 0 &&
		      strcmp(crit_image_magic(img), "PSTREE") == 0,
	      "new PSTREE image");
	CHECK(crit_image_entry_type(img, 0) == d && crit_image_entry_type(img, 5) == NULL, "entry type");
	CHECK(crit_image_append(img, crit_message_new(crit_message_type("fs_entry")), &err) == -1 &&
		      has(err.message, "pstree_entry") && has(err.message, "fs_entry"),
	      "wrong type appended: %s", err.message);
	CHECK(crit_image_append(img, NULL, &err) == -1, "NULL appended");
	CHECK(crit_image_append(img, &pe->base, &err) == 0 && crit_image_count(img) == 1, "append: %s", err.message);
	PstreeEntry *p2 = (PstreeEntry *)crit_message_new(d);
	p2->pid = 43;
	p2->ppid = 42;
	CHECK(crit_image_append(img, &p2->base, &err) == 0 && crit_image_entry(img, 1) == &p2->base &&
		      crit_image_entry(img, 2) == NULL,
	      "second entry");
	const uint8_t *pl;
	size_t pln;
	CHECK(crit_image_payload(img, 0, &pl, &pln) == 0 && crit_image_payload(img, 2, &pl, &pln) == -1,
	      "payload of PSTREE");
	CHECK(crit_image_set_payload(img, 0, "x", 1, &err) == -1 && has(err.message, "PSTREE"),
	      "payload set on PSTREE: %s", err.message);
	uint8_t *bytes;
	CHECK(crit_image_encode(img, &bytes, &len, &err) == 0 && len > 8, "encode built image: %s", err.message);
	crit_image *back;
	CHECK(crit_image_from_buffer(bytes, len, "pstree.img", &back, &err) == 0 && crit_image_count(back) == 2 &&
		      ((PstreeEntry *)crit_image_entry(back, 1))->ppid == 42 &&
		      ((PstreeEntry *)crit_image_entry(back, 0))->threads[1] == 43,
	      "built image read back: %s", err.message);
	crit_image_free(back);
	free(bytes);
	CHECK(crit_image_remove(img, 0, &err) == 0 && crit_image_count(img) == 1 &&
		      ((PstreeEntry *)crit_image_entry(img, 0))->pid == 43,
	      "remove");
	CHECK(crit_image_remove(img, 1, &err) == -1 && has(err.message, "entry 1"), "remove past the end");
	char *file = path_of(tmp, "built.img");
	CHECK(crit_image_save(img, file, &err) == 0, "save: %s", err.message);
	crit_image *again;
	CHECK(crit_image_open(file, &again, &err) == 0 && crit_image_count(again) == 1, "saved image");
	crit_image_free(again);
	CHECK(crit_image_save(img, "/nonexistent/dir/x.img", &err) == -1 && has(err.message, "/nonexistent/dir/x.img"),
	      "save into nowhere: %s", err.message);
	free(file);
	crit_image_free(img);

	/* a required field left unset: the error names the entry and the field */
	CHECK(crit_image_new("FILES", &img, &err) == 0, "new FILES");
	FileEntry *fe = (FileEntry *)crit_message_new(crit_message_type("file_entry"));
	fe->type = FD_TYPES__REG;
	fe->id = 7;
	fe->reg = (RegFileEntry *)crit_message_new(crit_message_type("reg_file_entry"));
	fe->reg->id = 7;
	CHECK(crit_image_append(img, &fe->base, &err) == 0, "append file_entry");
	fe->reg->fown = (FownEntry *)crit_message_new(crit_message_type("fown_entry"));
	CHECK(crit_image_encode(img, &bytes, &len, &err) == -1 && has(err.message, "entries[0].reg.name") &&
		      has(err.message, "required"),
	      "missing required name: %s", err.message);
	fe->reg->name = strdup("/tmp/x");
	CHECK(crit_image_encode(img, &bytes, &len, &err) == 0, "with the name: %s", err.message);
	free(bytes);
	crit_image_free(img);

	/* payloads: a pipe's data */
	char *pd = path_of(tests, "fixtures/pipes/pipes-data.img");
	CHECK(crit_image_open(pd, &img, &err) == 0, "%s: %s", pd, err.message);
	if (img) {
		CHECK(crit_image_payload(img, 0, &pl, &pln) == 1 && pln > 0, "pipe data payload");
		uint8_t *orig = malloc(pln);
		memcpy(orig, pl, pln);
		size_t olen = pln;
		CHECK(crit_image_set_payload(img, 0, "abc", 3, &err) == 0 && crit_image_payload(img, 0, &pl, &pln) == 1 &&
			      pln == 3 && memcmp(pl, "abc", 3) == 0,
		      "set payload");
		if (olen != 3)
			CHECK(crit_image_encode(img, &bytes, &len, &err) == -1 && has(err.message, "entries[0].extra"),
			      "payload length disagreeing with the message: %s", err.message);
		CHECK(crit_image_set_payload(img, 0, orig, olen, &err) == 0 && crit_image_encode(img, &bytes, &len, &err) == 0,
		      "payload put back: %s", err.message);
		size_t flen;
		uint8_t *f = slurp(pd, &flen);
		CHECK(f && flen == len && memcmp(f, bytes, len) == 0, "pipe data image written back");
		free(f);
		free(bytes);
		free(orig);
		CHECK(crit_image_set_payload(img, 99, "a", 1, &err) == -1, "payload past the end");
		crit_image_free(img);
	}
	free(pd);
	crit_message_free(crit_message_new(d));
	crit_message_free(NULL);
}

/* ---- checkpoints, processes, memory: a directory and the same as an archive ---- */

struct hits {
	uint64_t addr[8];
	int n;
};

static int on_match(uint64_t addr, void *ctx)
{
	struct hits *h = ctx;
	if (h->n < 8)
		h->addr[h->n] = addr;
	h->n++;
	return 0;
}

static int stop_at_first(uint64_t addr, void *ctx)
{
	(void)addr;
	(void)ctx;
	return 7;
}

static void check_checkpoint(const char *path, int archive)
{
	crit_error err;
	crit_checkpoint *ck;
	CHECK(crit_checkpoint_open(path, &ck, &err) == 0, "open %s: %s", path, err.message);
	if (!ck)
		return;
	CHECK(crit_checkpoint_is_archive(ck) == archive, "%s: is_archive", path);
	CHECK(strcmp(crit_checkpoint_path(ck), path) == 0, "path %s", crit_checkpoint_path(ck));
	size_t n;
	const char *const *names = crit_checkpoint_images(ck, &n, &err);
	CHECK(names && n == 13 && strcmp(names[0], "core-23744.img") == 0 && strcmp(names[8], "pages-1.img") == 0,
	      "%s: images (%zu)", path, n);
	const crit_process *p = crit_checkpoint_processes(ck, &n, &err);
	CHECK(p && n == 1 && p[0].pid == 23744 && p[0].ppid == 0 && p[0].sid == 23744 && p[0].comm && strcmp(p[0].comm, "sleep") == 0 &&
		      p[0].n_threads == 1 && p[0].threads[0] == 23744,
	      "%s: processes: %s", path, p ? "" : err.message);
	crit_image *img;
	CHECK(crit_checkpoint_image(ck, "nope.img", &img, &err) == -1 && has(err.message, "nope.img"),
	      "missing image: %s", err.message);
	CHECK(crit_checkpoint_image(ck, "../x.img", &img, &err) == -1, "a path is not an image name");
	CHECK(crit_checkpoint_image(ck, "mm-23744.img", &img, &err) == 0 && crit_image_count(img) == 1, "mm: %s",
	      err.message);
	crit_image_free(img);

	crit_memory *mem;
	CHECK(crit_memory_open(ck, 1, 0, &mem, &err) == -1 && has(err.message, "pagemap-1.img"), "no pagemap: %s",
	      err.message);
	CHECK(crit_memory_open(ck, 23744, 3000, &mem, &err) == -1 && has(err.message, "power of two"), "page size");
	CHECK(crit_memory_open(ck, 23744, 0, &mem, &err) == 0, "memory: %s", err.message);
	if (mem) {
		CHECK(crit_memory_page_size(mem) == 4096, "page size");
		const crit_region *r = crit_memory_regions(mem, &n);
		CHECK(r && n > 3, "regions");
		size_t k = 0;
		while (k < n && !(r[k].flags & CRIT_PAGE_PRESENT))
			k++;
		CHECK(k < n, "a present region");
		if (k < n) {
			uint8_t buf[64], buf2[64];
			uint64_t at = r[k].vaddr + 4096 * r[k].nr_pages - 24; /* across the end, if the next one is adjacent */
			CHECK(crit_memory_read(mem, r[k].vaddr, sizeof buf, buf, &err) == 0, "read: %s", err.message);
			struct hits h = { 0 };
			CHECK(crit_memory_search(mem, buf, 16, on_match, &h, &err) == 0 && h.n >= 1 && h.addr[0] == r[k].vaddr,
			      "search found %d", h.n);
			CHECK(crit_memory_search(mem, buf, 16, stop_at_first, NULL, &err) == 7, "search stopped");
			CHECK(crit_memory_search(mem, buf, 0, on_match, &h, &err) == -1, "empty needle");
			CHECK(crit_memory_read(mem, at, 16, buf2, &err) == 0, "read at %llx: %s", (unsigned long long)at,
			      err.message);
		}
		char buf[8];
		CHECK(crit_memory_read(mem, 0x10, sizeof buf, buf, &err) == -1 && has(err.message, "0x10"),
		      "read of a hole: %s", err.message);
		crit_memory_close(mem);
	}
	crit_checkpoint_close(ck);
}

static void test_checkpoints(void)
{
	crit_error err;
	crit_checkpoint *ck;
	char *dir = path_of(tests, "fixtures/sleep");
	check_checkpoint(dir, 0);
	char cmd[4096];
	snprintf(cmd, sizeof cmd,
		 "rm -rf '%s/ar' && mkdir -p '%s/ar/checkpoint' && cp '%s'/* '%s/ar/checkpoint/' && "
		 "tar -C '%s/ar' -czf '%s/sleep.tar.gz' checkpoint",
		 tmp, tmp, dir, tmp, tmp, tmp);
	CHECK(run(cmd) == 0, "%s", cmd);
	char *ar = path_of(tmp, "sleep.tar.gz");
	check_checkpoint(ar, 1);
	CHECK(crit_checkpoint_open("/nonexistent", &ck, &err) == -1 && has(err.message, "/nonexistent"),
	      "missing checkpoint: %s", err.message);
	char *empty = path_of(tests, "errors/empty.img");
	CHECK(crit_checkpoint_open(empty, &ck, &err) == -1 && has(err.message, empty), "not an archive: %s",
	      err.message);
	/* a gzip archive cut short: refused, naming it */
	char *cut = path_of(tmp, "cut.tar.gz");
	snprintf(cmd, sizeof cmd, "head -c 3000 '%s' > '%s'", ar, cut);
	CHECK(run(cmd) == 0, "%s", cmd);
	CHECK(crit_checkpoint_open(cut, &ck, &err) == -1 && has(err.message, cut), "truncated archive: %s",
	      err.message);
	/* a checkpoint whose pstree is damaged: the processes call says so */
	snprintf(cmd, sizeof cmd, "rm -rf '%s/bad' && cp -r '%s' '%s/bad' && cp '%s/errors/trunc-message.img' '%s/bad/pstree.img'",
		 tmp, dir, tmp, tests, tmp);
	CHECK(run(cmd) == 0, "%s", cmd);
	char *bad = path_of(tmp, "bad");
	CHECK(crit_checkpoint_open(bad, &ck, &err) == 0, "open bad");
	size_t n;
	CHECK(crit_checkpoint_processes(ck, &n, &err) == NULL && has(err.message, "pstree.img") &&
		      has(err.message, "runs past the end"),
	      "damaged pstree: %s", err.message);
	crit_checkpoint_close(ck);
	free(bad);
	free(cut);
	free(empty);
	free(ar);
	free(dir);
}

/* ---- the write path ---- */

static InetSkEntry *socket_on(crit_image *files, uint32_t port)
{
	for (size_t i = 0; i < crit_image_count(files); i++) {
		InetSkEntry *s = ((FileEntry *)crit_image_entry(files, i))->isk;
		if (s && s->src_port == port)
			return s;
	}
	return NULL;
}

static void change_port(const char *path, int archive)
{
	crit_error err;
	crit_txn *t, *t2;
	CHECK(crit_txn_begin(path, 0, &t, &err) == 0, "begin %s: %s", path, err.message);
	if (!t)
		return;
	CHECK(crit_txn_report(t) == NULL, "nothing to recover");
	/* a second writer: refused at once, naming the holder */
	CHECK(crit_txn_begin(path, 0, &t2, &err) == -1 && t2 == NULL && has(err.message, "pid") && has(err.message, path),
	      "second writer: %s", err.message);
	crit_checkpoint *ck = crit_txn_checkpoint(t);
	CHECK(crit_checkpoint_is_archive(ck) == archive, "txn checkpoint kind");
	crit_image *files;
	CHECK(crit_checkpoint_image(ck, "files.img", &files, &err) == 0, "files.img: %s", err.message);
	InetSkEntry *s = socket_on(files, 47323);
	CHECK(s != NULL, "a socket on 47323");
	if (s)
		s->src_port = 9999;
	CHECK(crit_txn_stage(t, "a/b", "x", 1, &err) == -1, "a path is not a name");
	/* staged, then dropped: nothing changes */
	CHECK(crit_txn_stage_image(t, "files.img", files, &err) == 0, "stage: %s", err.message);
	crit_txn_abort(t);
	crit_image *now;
	CHECK(crit_checkpoint_image(crit_txn_checkpoint(t), "files.img", &now, &err) == 0 && socket_on(now, 47323),
	      "abort kept the port");
	crit_image_free(now);
	CHECK(crit_txn_stage_image(t, "files.img", files, &err) == 0 && crit_txn_commit(t, &err) == 0, "commit: %s",
	      err.message);
	CHECK(crit_txn_note(t) == NULL, "note: %s", crit_txn_note(t));
	CHECK(crit_checkpoint_image(crit_txn_checkpoint(t), "files.img", &now, &err) == 0 && socket_on(now, 9999) &&
		      !socket_on(now, 47323),
	      "the commit shows");
	crit_image_free(now);
	/* raw bytes as a new file: listed after the commit, and refused as an image */
	CHECK(crit_txn_stage(t, "extra.img", "hello", 5, &err) == 0 && crit_txn_commit(t, &err) == 0,
	      "stage raw bytes: %s", err.message);
	size_t n;
	const char *const *names = crit_checkpoint_images(crit_txn_checkpoint(t), &n, &err);
	int listed = 0;
	for (size_t i = 0; names && i < n; i++)
		listed |= strcmp(names[i], "extra.img") == 0;
	CHECK(listed, "extra.img not listed after its commit");
	CHECK(crit_checkpoint_image(crit_txn_checkpoint(t), "extra.img", &now, &err) == -1 &&
		      has(err.message, "extra.img"),
	      "extra.img decoded: %s", err.message);
	/* an image that cannot be written is refused at staging, naming the file */
	crit_image *bad;
	crit_image_new("FILES", &bad, &err);
	FileEntry *fe = (FileEntry *)crit_message_new(crit_message_type("file_entry"));
	fe->reg = (RegFileEntry *)crit_message_new(crit_message_type("reg_file_entry"));
	crit_image_append(bad, &fe->base, &err);
	CHECK(crit_txn_stage_image(t, "files.img", bad, &err) == -1 && has(err.message, "files.img: entries[0]") &&
		      has(err.message, "required"),
	      "unwritable image staged: %s", err.message);
	crit_image_free(bad);
	crit_image_free(files);
	crit_txn_end(t);
	/* after the end, read-only: the change is there */
	crit_checkpoint *ro;
	CHECK(crit_checkpoint_open(path, &ro, &err) == 0 && crit_checkpoint_image(ro, "files.img", &now, &err) == 0 &&
		      socket_on(now, 9999),
	      "after the end: %s", err.message);
	crit_image_free(now);
	crit_checkpoint_close(ro);
	crit_txn_end(NULL);
	CHECK(crit_txn_begin("/nonexistent/ck", 0, &t, &err) == -1 && has(err.message, "/nonexistent/ck"),
	      "txn on nothing: %s", err.message);
}

static void test_txn(void)
{
	char cmd[4096];
	snprintf(cmd, sizeof cmd,
		 "rm -rf '%s/tcp' '%s/tar' && cp -r '%s/fixtures/tcp' '%s/tcp' && mkdir -p '%s/tar/checkpoint' && "
		 "cp '%s/fixtures/tcp'/* '%s/tar/checkpoint/' && tar -C '%s/tar' -cf '%s/tcp.tar' checkpoint",
		 tmp, tmp, tests, tmp, tmp, tests, tmp, tmp, tmp);
	CHECK(run(cmd) == 0, "%s", cmd);
	char *dir = path_of(tmp, "tcp"), *ar = path_of(tmp, "tcp.tar");
	change_port(dir, 0);
	change_port(ar, 1);
	free(dir);
	free(ar);
}

/* crit_txn_keep: a backup of a file (a directory) or of the archive, made by
 * the commit that changes it; its refusals; dropped by an abort. */
static void keep_one(const char *path, int archive)
{
	crit_error err;
	crit_txn *t;
	CHECK(crit_txn_begin(path, 0, &t, &err) == 0, "begin %s: %s", path, err.message);
	if (!t)
		return;
	size_t olen, nlen;
	char *files_path = path_of(path, "files.img"), *kept = path_of(path, "files.img.orig");
	char bk[4096];
	snprintf(bk, sizeof bk, "%s.orig", path);
	uint8_t *before = slurp(archive ? path : files_path, &olen);
	/* refusals: nothing is kept by them */
	if (archive) {
		CHECK(crit_txn_keep(t, "files.img", ".orig", &err) == -1 && has(err.message, "name must be NULL") &&
			      has(err.message, path),
		      "a member kept alone: %s", err.message);
		CHECK(crit_txn_keep(t, NULL, "x/y", &err) == -1 && has(err.message, "'x/y'"), "suffix with '/': %s",
		      err.message);
		CHECK(crit_txn_keep(t, NULL, "", &err) == -1 && crit_txn_keep(t, NULL, NULL, &err) == -1,
		      "no suffix");
	} else {
		CHECK(crit_txn_keep(t, NULL, "x.img", &err) == -1 && has(err.message, "(null)"), "no name: %s",
		      err.message);
		CHECK(crit_txn_keep(t, "files.img", "a/b", &err) == -1 && has(err.message, "'a/b'") &&
			      has(err.message, path),
		      "a path as the copy: %s", err.message);
		CHECK(crit_txn_keep(t, "..", "x.img", &err) == -1 && has(err.message, "'..'"), "'..': %s", err.message);
		CHECK(crit_txn_keep(t, "files.img", "files.img", &err) == -1 && has(err.message, "its own name"),
		      "kept as itself: %s", err.message);
	}
	/* kept, then aborted: the next commit keeps nothing */
	CHECK(crit_txn_keep(t, archive ? NULL : "files.img", archive ? ".orig" : "files.img.orig", &err) == 0,
	      "keep: %s", err.message);
	crit_txn_abort(t);
	CHECK(crit_txn_stage(t, "extra.img", "x", 1, &err) == 0 && crit_txn_commit(t, &err) == 0, "commit: %s",
	      err.message);
	struct stat st;
	CHECK(stat(archive ? bk : kept, &st) < 0 && errno == ENOENT, "an aborted keep made %s", archive ? bk : kept);
	free(before);
	before = slurp(archive ? path : files_path, &olen);
	/* kept and changed in one commit: the copy holds the old bytes */
	crit_image *files;
	CHECK(crit_checkpoint_image(crit_txn_checkpoint(t), "files.img", &files, &err) == 0, "files.img: %s",
	      err.message);
	InetSkEntry *s = files ? socket_on(files, 47323) : NULL;
	CHECK(s != NULL, "a socket on 47323");
	if (s)
		s->src_port = 4242;
	CHECK(crit_txn_keep(t, archive ? NULL : "files.img", archive ? ".orig" : "files.img.orig", &err) == 0 &&
		      (archive || crit_txn_keep(t, "nosuch.img", "nosuch.img.orig", &err) == 0) &&
		      crit_txn_stage_image(t, "files.img", files, &err) == 0 && crit_txn_commit(t, &err) == 0,
	      "keep and commit: %s", err.message);
	crit_image_free(files);
	uint8_t *copy = slurp(archive ? bk : kept, &nlen);
	CHECK(copy && before && nlen == olen && memcmp(copy, before, olen) == 0, "the kept copy is not the old file");
	free(copy);
	crit_image *now;
	CHECK(crit_checkpoint_image(crit_txn_checkpoint(t), "files.img", &now, &err) == 0 && socket_on(now, 4242),
	      "the change is made: %s", err.message);
	crit_image_free(now);
	if (!archive) {
		char *nosuch = path_of(path, "nosuch.img.orig");
		CHECK(stat(nosuch, &st) < 0 && errno == ENOENT, "a missing file kept as something");
		free(nosuch);
	} else {
		/* a backup already there stays the older original: the note says so */
		CHECK(crit_txn_keep(t, NULL, ".orig", &err) == 0 && crit_txn_stage(t, "extra.img", "y", 1, &err) == 0 &&
			      crit_txn_commit(t, &err) == 0 && has(crit_txn_note(t), "already exists"),
		      "second backup: %s / %s", err.message, crit_txn_note(t) ? crit_txn_note(t) : "(no note)");
		copy = slurp(bk, &nlen);
		CHECK(copy && nlen == olen && memcmp(copy, before, olen) == 0, "the older original was replaced");
		free(copy);
	}
	free(before);
	free(files_path);
	free(kept);
	crit_txn_end(t);
}

static void test_keep(void)
{
	char cmd[4096];
	snprintf(cmd, sizeof cmd,
		 "rm -rf '%s/ktcp' '%s/ktar' '%s/ktcp.tar' '%s/ktcp.tar.orig' && cp -r '%s/fixtures/tcp' '%s/ktcp' && "
		 "mkdir -p '%s/ktar/checkpoint' && cp '%s/fixtures/tcp'/* '%s/ktar/checkpoint/' && "
		 "tar -C '%s/ktar' -cf '%s/ktcp.tar' checkpoint",
		 tmp, tmp, tmp, tmp, tests, tmp, tmp, tests, tmp, tmp, tmp);
	CHECK(run(cmd) == 0, "%s", cmd);
	char *dir = path_of(tmp, "ktcp"), *ar = path_of(tmp, "ktcp.tar");
	keep_one(dir, 0);
	keep_one(ar, 1);
	free(dir);
	free(ar);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_capi TESTS_DIR TMPDIR\n");
		return 2;
	}
	tests = argv[1];
	tmp = argv[2];
	mkdir(tmp, 0755);
	test_threads();
	test_errors();
	test_fixture_images("tcp");
	test_fixture_images("pipes");
	test_messages();
	test_checkpoints();
	test_txn();
	test_keep();
	return check_report("test_capi");
}
