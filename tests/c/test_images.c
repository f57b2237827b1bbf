/* test_images.c: the codec on real CRIU framing.
 *   test_images fixtures ROOT   every image of every checkpoint under ROOT decodes and
 *                               re-encodes byte for byte (whole-image and streaming paths),
 *                               entry counts agree with the goldens, raw files are named
 *   test_images errors DIR      the corrupt inputs of DIR/cases.tsv fail with their message
 *   test_images mutate ROOT     every truncation and many byte changes of the small images
 *                               under ROOT fail cleanly or decode, and never crash */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "image.h"

static int verbose;

/* File names CRIU writes without a magic (SPEC §1.1). */
static int raw_by_name(const char *name)
{
	static const char *const prefixes[] = {
		"pages-", "ifaddr-", "route-", "route6-", "rule-", "iptables-", "ip6tables-",
		"nftables-", "tmpfs-", "netns-ct-", "netns-exp-",
	};
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

/* The word a raw file's sentence must contain, so that it says what the file is. */
static const char *raw_keyword(const char *name, size_t len)
{
	if (len == 0)
		return "empty";
	if (strncmp(name, "pages-", 6) == 0)
		return "pages";
	if (strncmp(name, "tmpfs-", 6) == 0)
		return "tar";
	if (strncmp(name, "nftables-", 9) == 0)
		return "nft";
	if (strncmp(name, "ifaddr-", 7) == 0)
		return "addr";
	if (strncmp(name, "route", 5) == 0)
		return "route";
	if (strncmp(name, "rule-", 5) == 0)
		return "rule";
	return "";
}

/* "count" of the golden <file>.info.json, or -1 when there is none. */
static long golden_count(const char *root, const char *scen, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/expected/%s/%s.info.json", root, scen, name);
	uint8_t *data;
	size_t len;
	struct err e;
	if (read_file(path, &data, &len, &e) < 0)
		return -1;
	const char *c = strstr((const char *)data, "\"count\":");
	long n = c ? strtol(c + 8, NULL, 10) : -1;
	free(data);
	return n;
}

/* The magic name of the golden <file>.json ({"magic": "NAME", ...}), or NULL. */
static char *golden_magic(const char *root, const char *scen, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/expected/%s/%s.json", root, scen, name);
	uint8_t *data;
	size_t len;
	struct err e;
	if (read_file(path, &data, &len, &e) < 0)
		return NULL;
	char *m = NULL;
	const char *p = strstr((const char *)data, "\"magic\": \"");
	if (p) {
		p += 10;
		const char *q = strchr(p, '"');
		if (q) {
			m = malloc((size_t)(q - p) + 1);
			memcpy(m, p, (size_t)(q - p));
			m[q - p] = 0;
		}
	}
	free(data);
	return m;
}

/* Read with img_reader and write back with img_write_*: the streaming path
 * the stock commands use must give the file back too. */
static int stream_copy(const uint8_t *buf, size_t len, struct buf *out, size_t *n, struct err *e)
{
	struct img_reader r;
	if (img_reader_init(&r, buf, len, e) < 0)
		return -1;
	img_write_head(out, r.mi, r.form);
	struct img_entry first = { 0 };
	int rc;
	*n = 0;
	for (;;) {
		struct img_entry en = { 0 };
		rc = img_reader_next(&r, &en, e);
		if (rc <= 0) {
			img_entry_free(&en);
			break;
		}
		rc = img_write_entry(out, r.mi, *n, *n ? &first : &en, &en, e);
		if (*n == 0)
			first = en;
		else
			img_entry_free(&en);
		(*n)++;
		if (rc < 0)
			break;
	}
	img_entry_free(&first);
	return rc < 0 ? -1 : 0;
}

struct tally {
	size_t images, raw, v1, entries;
};

static void check_image(const char *root, const char *scen, const char *name, struct tally *t)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s/%s", root, scen, name);
	uint8_t *data;
	size_t len;
	struct err e = { { 0 } };
	if (read_file(path, &data, &len, &e) < 0) {
		check_fail(__FILE__, __LINE__, "%s: %s", path, e.msg);
		return;
	}
	const char *kind = img_raw_kind(path, data, len);
	if (kind) {
		t->raw++;
		if (verbose)
			printf("%s/%s: raw: %s\n", scen, name, kind);
		CHECK(raw_by_name(name), "%s: classified as raw (%s) but CRIU names it as an image", path, kind);
		CHECK(strlen(kind) >= 20 && strstr(kind, raw_keyword(name, len)),
		      "%s: the sentence does not say what the file is (\"%s\" expected): %s", path,
		      raw_keyword(name, len), kind);
		free(data);
		return;
	}
	CHECK(!raw_by_name(name), "%s: a raw file was taken for an image", path);
	t->images++;

	struct img img = { 0 };
	struct buf out = { 0 }, sout = { 0 };
	if (img_load(path, &img, &e) < 0) {
		check_fail(__FILE__, __LINE__, "img_load: %s", e.msg);
		goto done;
	}
	t->entries += img.n;
	if (img_encode(&img, &out, &e) < 0)
		check_fail(__FILE__, __LINE__, "%s: img_encode: %s", path, e.msg);
	else
		CHECK(out.len == len && memcmp(out.p, data, len) == 0,
		      "%s: re-encoded image differs (%zu bytes, the file has %zu)", path, out.len, len);

	size_t sn = 0;
	if (stream_copy(data, len, &sout, &sn, &e) < 0)
		check_fail(__FILE__, __LINE__, "%s: streaming: %s", path, e.msg);
	else
		CHECK(sout.len == len && memcmp(sout.p, data, len) == 0 && sn == img.n,
		      "%s: streaming copy differs (%zu bytes, %zu entries)", path, sout.len, sn);

	long want = golden_count(root, scen, name);
	size_t have = img.n - (img.mi->payload == PL_PAGEMAP && img.n > 0);
	CHECK(want < 0 || (size_t)want == have, "%s: %zu entries, the golden count is %ld", path, have, want);
	char *gm = golden_magic(root, scen, name);
	CHECK(!gm || strcmp(gm, img.mi->name) == 0, "%s: magic %s, the golden says %s", path, img.mi->name, gm);
	free(gm);

	/* A headless image of a type that has a head is a v1 image: it keeps its
	 * form, and asking for the v1.1 form gives the head plus the same bytes. */
	if (img.form == FORM_BARE && img.mi->head != FORM_BARE) {
		t->v1++;
		struct buf v11 = { 0 };
		img.form = img.mi->head;
		if (img_encode(&img, &v11, &e) < 0)
			check_fail(__FILE__, __LINE__, "%s: v1.1 encode: %s", path, e.msg);
		else
			CHECK(v11.len == len + 4 &&
				      get_u32(v11.p) == (img.mi->head == FORM_SERVICE ? IMG_SERVICE_MAGIC
										   : IMG_COMMON_MAGIC) &&
				      memcmp(v11.p + 4, data, len) == 0,
			      "%s: the v1.1 form is not the head plus the v1 bytes", path);
		buf_free(&v11);
	}
	if (verbose)
		printf("%s/%s: %s, %zu entries\n", scen, name, img.mi->name, img.n);
done:
	img_free(&img);
	buf_free(&out);
	buf_free(&sout);
	free(data);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir that are directories (want_dirs) or files. */
static char **list_dir(const char *dir, int want_dirs, size_t *n)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	*n = 0;
	if (!d)
		return NULL;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[4096];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (stat(path, &st) < 0 || (want_dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
			continue;
		names = realloc(names, (*n + 1) * sizeof *names);
		names[(*n)++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, *n, sizeof *names, by_name);
	return names;
}

static void free_list(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int skip_missing(const char *root)
{
	struct stat st;
	if (stat(root, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	printf("SKIPPED: %s not found\n", root);
	return 1;
}

static int cmd_fixtures(const char *root)
{
	if (skip_missing(root))
		return CHECK_SKIP;
	struct tally t = { 0 };
	size_t ns;
	char **scens = list_dir(root, 1, &ns);
	for (size_t s = 0; s < ns; s++) {
		if (strcmp(scens[s], "expected") == 0)
			continue;
		char dir[4096];
		snprintf(dir, sizeof dir, "%s/%s", root, scens[s]);
		size_t nf;
		char **files = list_dir(dir, 0, &nf);
		for (size_t f = 0; f < nf; f++)
			check_image(root, scens[s], files[f], &t);
		free_list(files, nf);
	}
	free_list(scens, ns);
	CHECK(t.images > 0, "%s: no images found", root);
	printf("%s: %zu images (%zu entries, %zu v1) re-encoded byte for byte, %zu raw files named\n", root,
	       t.images, t.entries, t.v1, t.raw);
	return check_report("test_images fixtures");
}

/* ---- corrupt inputs: DIR/cases.tsv is "file<TAB>expected words<TAB>what" ---- */

static int cmd_errors(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/cases.tsv", dir);
	uint8_t *data;
	size_t len;
	struct err e = { { 0 } };
	if (read_file(path, &data, &len, &e) < 0) {
		fprintf(stderr, "%s: %s\n", path, e.msg);
		return 1;
	}
	size_t n = 0;
	char *save = NULL;
	for (char *line = strtok_r((char *)data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || !line[0])
			continue;
		char *want = strchr(line, '\t');
		if (!want) {
			check_fail(__FILE__, __LINE__, "cases.tsv: bad line: %s", line);
			continue;
		}
		*want++ = 0;
		char *what = strchr(want, '\t');
		if (what)
			*what++ = 0;
		snprintf(path, sizeof path, "%s/%s", dir, line);
		struct img img = { 0 };
		memset(&e, 0, sizeof e);
		int rc = img_load(path, &img, &e);
		n++;
		CHECK(rc < 0, "%s (%s): loaded without an error", line, what ? what : "");
		if (rc < 0) {
			if (verbose)
				printf("%s\n", e.msg);
			CHECK(strstr(e.msg, path) != NULL, "%s: the error does not name the file: %s", line, e.msg);
			/* Several words may be required: "entry 0|offset 0x8" */
			for (char *w = strtok(want, "|"); w; w = strtok(NULL, "|"))
				CHECK(strstr(e.msg, w) != NULL, "%s (%s): \"%s\" not in: %s", line, what ? what : "", w,
				      e.msg);
		}
		img_free(&img);
	}
	free(data);
	CHECK(n >= 10, "only %zu cases in cases.tsv", n);
	printf("%zu corrupt images refused with their messages\n", n);
	return check_report("test_images errors");
}

/* ---- truncations and byte changes ---- */

static uint32_t rng_state = 2463534242u;
static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/* Decode a changed copy; what decodes must encode again. */
static int try_decode(const uint8_t *p, size_t len, const char *what, size_t at)
{
	struct img img = { 0 };
	struct err e = { { 0 } };
	int rc = img_decode(p, len, &img, &e);
	if (rc < 0) {
		CHECK(e.msg[0] != 0, "%s: %zu: failed without a message", what, at);
	} else {
		struct buf out = { 0 };
		CHECK(img_encode(&img, &out, &e) == 0, "%s @%zu: decoded but cannot encode: %s", what, at, e.msg);
		buf_free(&out);
	}
	img_free(&img);
	return rc;
}

static void mutate_image(const char *path, const uint8_t *data, size_t len, size_t *decodes)
{
	struct img_reader r;
	struct err e = { { 0 } };
	if (img_reader_init(&r, data, len, &e) < 0)
		return;
	/* Entry boundaries: where a truncated copy is still a whole image. */
	uint8_t *boundary = calloc(len + 1, 1);
	boundary[r.off] = 1;
	int ghost_rest = 0;
	for (;;) {
		struct img_entry en = { 0 };
		int rc = img_reader_next(&r, &en, &e);
		img_entry_free(&en);
		if (rc <= 0)
			break;
		boundary[r.off] = 1;
		/* A whole (unchunked) ghost file's content is "the rest of the file". */
		if (r.mi->payload == PL_GHOST && !r.ghost_chunks)
			ghost_rest = 1;
	}
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, data, len);

	size_t steps = len <= 4096 ? len : 400;
	for (size_t i = 0; i < steps; i++) {
		size_t cut = len <= 4096 ? i : rng() % len;
		int rc = try_decode(copy, cut, path, cut);
		(*decodes)++;
		if (ghost_rest && cut > 8)
			continue;
		if (boundary[cut])
			CHECK(rc == 0, "%s: cut at entry boundary %zu does not decode", path, cut);
		else
			CHECK(rc < 0, "%s: cut at %zu (not an entry boundary) decodes", path, cut);
	}

	static const uint8_t values[] = { 0x00, 0xff, 0x80, 0x7f, 0x01 };
	steps = len <= 1024 ? len * 3 : 1500;
	for (size_t i = 0; i < steps; i++) {
		size_t at = len <= 1024 ? i / 3 : rng() % len;
		uint8_t v = len <= 1024 ? values[(i % 3) + (at % 3)] : (uint8_t)rng();
		copy[at] = v;
		try_decode(copy, len, path, at);
		(*decodes)++;
		copy[at] = data[at];
	}
	free(copy);
	free(boundary);
}

static int cmd_mutate(const char *root)
{
	if (skip_missing(root))
		return CHECK_SKIP;
	size_t ns, images = 0, decodes = 0;
	char **scens = list_dir(root, 1, &ns);
	for (size_t s = 0; s < ns; s++) {
		if (strcmp(scens[s], "expected") == 0)
			continue;
		char dir[4096];
		snprintf(dir, sizeof dir, "%s/%s", root, scens[s]);
		size_t nf;
		char **files = list_dir(dir, 0, &nf);
		for (size_t f = 0; f < nf; f++) {
			char path[8192];
			snprintf(path, sizeof path, "%s/%s", dir, files[f]);
			uint8_t *data = NULL;
			size_t len = 0;
			struct err e;
			if (read_file(path, &data, &len, &e) < 0)
				continue;
			/* Big images only repeat what the small ones show, slowly. */
			if (len > 65536 || img_raw_kind(path, data, len)) {
				free(data);
				continue;
			}
			mutate_image(path, data, len, &decodes);
			images++;
			free(data);
		}
		free_list(files, nf);
	}
	free_list(scens, ns);
	printf("%zu images, %zu damaged copies decoded or refused cleanly\n", images, decodes);
	return check_report("test_images mutate");
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		verbose = 1;
		argv++;
		argc--;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: test_images [-v] fixtures|mutate ROOT | errors DIR\n");
		return 2;
	}
	if (strcmp(argv[1], "fixtures") == 0)
		return cmd_fixtures(argv[2]);
	if (strcmp(argv[1], "errors") == 0)
		return cmd_errors(argv[2]);
	if (strcmp(argv[1], "mutate") == 0)
		return cmd_mutate(argv[2]);
	fprintf(stderr, "test_images: unknown command %s\n", argv[1]);
	return 2;
}
