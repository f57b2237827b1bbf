/* crit_checkpoint.c: libcrit's public API over checkpoints (directories and
 * archives, ckarchive.c), their processes (pstree.img, core-PID.img), process
 * memory (mem.c) and the one write path (txn.c). Each job is the core's:
 * this file opens, asks and hands back. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core.pb-c.h"
#include "pstree.pb-c.h"

#include "ckarchive.h"
#include "crit_impl.h"
#include "mem.h"
#include "txn.h"

struct crit_checkpoint {
	char *path;        /* as given, without trailing slashes */
	struct arch *arch; /* an archive checkpoint, or NULL */
	char **images;     /* crit_checkpoint_images, NULL-ended */
	size_t nimages;
	crit_process *procs; /* crit_checkpoint_processes */
	size_t nprocs;
	struct img pstree;             /* procs' threads point into it */
	char **comms;                  /* procs' names */
};

/* The files of a dump that are images (raw ones too), as crit.lua lists them. */
static int crit_is_image_name(const char *name)
{
	size_t n = strlen(name);
	return (n > 4 && strcmp(name + n - 4, ".img") == 0) || strcmp(name, "stats-dump") == 0 ||
	       strcmp(name, "stats-restore") == 0 || strcmp(name, "irmap-cache") == 0;
}

static void crit_forget(crit_checkpoint *ck)
{
	for (size_t i = 0; i < ck->nimages; i++)
		free(ck->images[i]);
	free(ck->images);
	ck->images = NULL;
	ck->nimages = 0;
	for (size_t i = 0; i < ck->nprocs; i++)
		free(ck->comms[i]);
	free(ck->comms);
	free(ck->procs);
	ck->comms = NULL;
	ck->procs = NULL;
	ck->nprocs = 0;
	img_free(&ck->pstree);
}

/* Open path as a checkpoint (no recovery: the caller decides). */
static int crit_ck_open(const char *path, crit_checkpoint **out, crit_error *err)
{
	*out = NULL;
	if (!path || !*path)
		return crit_failf(err, "crit_checkpoint_open: no path");
	struct stat st;
	if (stat(path, &st) < 0)
		return crit_failf(err, "%s: %s", path, strerror(errno));
	crit_checkpoint *ck = calloc(1, sizeof *ck);
	if (!ck || !(ck->path = strdup(path))) {
		free(ck);
		return crit_failf(err, "%s: out of memory", path);
	}
	for (size_t n = strlen(ck->path); n > 1 && ck->path[n - 1] == '/'; n--)
		ck->path[n - 1] = 0;
	if (!S_ISDIR(st.st_mode)) {
		struct err e;
		ck->arch = calloc(1, sizeof *ck->arch);
		if (!ck->arch) {
			crit_checkpoint_close(ck);
			return crit_failf(err, "%s: out of memory", path);
		}
		if (arch_open(ck->arch, ck->path, &e) < 0) {
			free(ck->arch);
			ck->arch = NULL;
			crit_checkpoint_close(ck);
			return crit_fail(err, &e);
		}
	}
	*out = ck;
	return 0;
}

int crit_checkpoint_open(const char *path, crit_checkpoint **out, crit_error *err)
{
	if (path && *path) {
		char *report = NULL;
		txn_recover_quick(path, &report);
		free(report); /* what was finished or undone: the caller only reads */
	}
	return crit_ck_open(path, out, err);
}

void crit_checkpoint_close(crit_checkpoint *ck)
{
	if (!ck)
		return;
	crit_forget(ck);
	if (ck->arch) {
		arch_close(ck->arch);
		free(ck->arch);
	}
	free(ck->path);
	free(ck);
}

const char *crit_checkpoint_path(const crit_checkpoint *ck)
{
	return ck->path;
}

int crit_checkpoint_is_archive(const crit_checkpoint *ck)
{
	return ck->arch != NULL;
}

/* A copy of name at v[*k], growing v (with room for the NULL at the end). */
static int crit_names_add(char ***v, size_t *k, size_t *cap, const char *name)
{
	if (*k + 1 >= *cap) {
		char **w = realloc(*v, *cap * 2 * sizeof **v);
		if (!w)
			return -1;
		*v = w;
		*cap *= 2;
	}
	if (!((*v)[*k] = strdup(name)))
		return -1;
	(*k)++;
	return 0;
}

static int crit_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

const char *const *crit_checkpoint_images(crit_checkpoint *ck, size_t *n, crit_error *err)
{
	for (size_t i = 0; i < ck->nimages; i++)
		free(ck->images[i]);
	free(ck->images);
	ck->images = NULL;
	ck->nimages = 0;
	size_t cap = 16, k = 0;
	char **v = malloc(cap * sizeof *v);
	if (!v)
		goto oom;
	if (ck->arch) {
		size_t pl = strlen(ARCH_CKPT_DIR);
		for (size_t i = 0; i < ck->arch->nsorted; i++) { /* by name, each name once */
			const struct arch_member *m = ck->arch->sorted[i];
			const char *name = m->name + pl;
			if (m->type != ARCH_FILE || strncmp(m->name, ARCH_CKPT_DIR, pl) != 0 ||
			    strchr(name, '/') || !crit_is_image_name(name))
				continue;
			if (crit_names_add(&v, &k, &cap, name) < 0)
				goto oom;
		}
	} else {
		DIR *d = opendir(ck->path);
		if (!d) {
			free(v);
			crit_failf(err, "%s: %s", ck->path, strerror(errno));
			return NULL;
		}
		for (struct dirent *de; (de = readdir(d));) {
			if (!crit_is_image_name(de->d_name))
				continue;
			if (crit_names_add(&v, &k, &cap, de->d_name) < 0) {
				closedir(d);
				goto oom;
			}
		}
		closedir(d);
	}
	qsort(v, k, sizeof *v, crit_cmp_names);
	v[k] = NULL;
	ck->images = v;
	ck->nimages = k;
	if (n)
		*n = k;
	return (const char *const *)v;
oom:
	for (size_t i = 0; i < k; i++)
		free(v[i]);
	free(v);
	crit_failf(err, "%s: out of memory", ck->path);
	return NULL;
}

/* Decode the image name of ck into *img; errors name DIR/NAME or ARCHIVE:checkpoint/NAME. */
static int crit_ck_load(crit_checkpoint *ck, const char *name, struct img *img, struct err *e)
{
	memset(img, 0, sizeof *img);
	if (!name || !*name || strchr(name, '/'))
		return err_set(e, "%s: '%s' is not the name of an image", ck->path, name ? name : "(null)");
	size_t n = strlen(ck->path) + strlen(name) + sizeof ARCH_CKPT_DIR + 2;
	char *label = malloc(n);
	int rc;
	if (!label)
		return err_set(e, "%s/%s: out of memory", ck->path, name);
	if (ck->arch) {
		snprintf(label, n, "%s:" ARCH_CKPT_DIR "%s", ck->path, name);
		rc = arch_load_img(ck->arch, label + strlen(ck->path) + 1, label, img, e);
	} else {
		snprintf(label, n, "%s/%s", ck->path, name);
		uint8_t *buf;
		size_t len;
		rc = txn_read_regular(label, &buf, &len, e) != 0 ? -1 : 0;
		if (rc == 0) {
			rc = img_decode_named(name, buf, len, img, e);
			free(buf);
		}
		if (rc < 0)
			err_prefix(e, "%s", label);
	}
	free(label);
	return rc;
}

int crit_checkpoint_image(crit_checkpoint *ck, const char *name, crit_image **out, crit_error *err)
{
	struct img img;
	struct err e;
	*out = NULL;
	if (crit_ck_load(ck, name, &img, &e) < 0)
		return crit_fail(err, &e);
	return (*out = crit_image_wrap(&img, err)) ? 0 : -1;
}

const crit_process *crit_checkpoint_processes(crit_checkpoint *ck, size_t *n, crit_error *err)
{
	struct err e;
	if (ck->procs) {
		*n = ck->nprocs;
		return ck->procs;
	}
	if (crit_ck_load(ck, "pstree.img", &ck->pstree, &e) < 0) {
		crit_fail(err, &e);
		return NULL;
	}
	if (strcmp(ck->pstree.mi->name, "PSTREE") != 0) {
		crit_failf(err, "%s/pstree.img: a %s image, not PSTREE", ck->path, ck->pstree.mi->name);
		img_free(&ck->pstree);
		return NULL;
	}
	size_t k = ck->pstree.n;
	ck->procs = calloc(k ? k : 1, sizeof *ck->procs);
	ck->comms = calloc(k ? k : 1, sizeof *ck->comms);
	if (!ck->procs || !ck->comms)
		goto oom;
	for (size_t i = 0; i < k; i++) {
		const PstreeEntry *pe = (const PstreeEntry *)ck->pstree.entries[i].msg;
		crit_process *p = &ck->procs[i];
		p->pid = pe->pid;
		p->ppid = pe->ppid;
		p->pgid = pe->pgid;
		p->sid = pe->sid;
		p->n_threads = pe->n_threads;
		p->threads = pe->threads;
		char name[32];
		snprintf(name, sizeof name, "core-%u.img", pe->pid);
		struct img core;
		/* no core (a damaged dump): the process is listed without a name, as `x ps` shows "?";
		 * but out of memory is an error, not a missing name */
		if (crit_ck_load(ck, name, &core, &e) == 0) {
			const CoreEntry *c = core.n && core.mi && strcmp(core.mi->name, "CORE") == 0
						     ? (const CoreEntry *)core.entries[0].msg
						     : NULL;
			if (c && c->tc && c->tc->comm && !(ck->comms[i] = strdup(c->tc->comm))) {
				img_free(&core);
				goto oom;
			}
			img_free(&core);
		} else if (err_is_oom(&e)) {
			crit_fail(err, &e);
			goto fail;
		}
		p->comm = ck->comms[i];
	}
	ck->nprocs = k;
	*n = k;
	return ck->procs;
oom:
	crit_failf(err, "%s/pstree.img: out of memory", ck->path);
fail:
	if (ck->comms)
		for (size_t i = 0; i < k; i++)
			free(ck->comms[i]);
	free(ck->comms);
	free(ck->procs);
	ck->comms = NULL;
	ck->procs = NULL;
	img_free(&ck->pstree);
	return NULL;
}

/* ---- memory ---- */

struct crit_memory {
	struct mem_map map;
	crit_region *regions;
};

int crit_memory_open(crit_checkpoint *ck, uint32_t pid, size_t page_size, crit_memory **out,
		     crit_error *err)
{
	*out = NULL;
	if (!page_size)
		page_size = 4096;
	if (page_size & (page_size - 1))
		return crit_failf(err, "page size %zu is not a power of two", page_size);
	char name[40];
	snprintf(name, sizeof name, "pagemap-%u.img", pid);
	crit_memory *m = calloc(1, sizeof *m);
	if (!m)
		return crit_failf(err, "%s/%s: out of memory", ck->path, name);
	m->map.fd = -1;
	struct err e;
	int rc;
	if (ck->arch) {
		size_t n = strlen(ck->path) + sizeof ARCH_CKPT_DIR + 1;
		char *label = malloc(n);
		if (!label) {
			free(m);
			return crit_failf(err, "%s/%s: out of memory", ck->path, name);
		}
		snprintf(label, n, "%s:%.*s", ck->path, (int)strlen(ARCH_CKPT_DIR) - 1, ARCH_CKPT_DIR);
		rc = mem_map_open_archive(&m->map, ck->arch, ARCH_CKPT_DIR, label, name, page_size, &e);
		free(label);
	} else {
		rc = mem_map_open(&m->map, ck->path, name, page_size, &e);
	}
	if (rc < 0) {
		free(m);
		return crit_fail(err, &e);
	}
	m->regions = calloc(m->map.n ? m->map.n : 1, sizeof *m->regions);
	if (!m->regions) {
		crit_memory_close(m);
		return crit_failf(err, "%s/%s: out of memory", ck->path, name);
	}
	for (size_t i = 0; i < m->map.n; i++) {
		m->regions[i].vaddr = m->map.r[i].vaddr;
		m->regions[i].nr_pages = m->map.r[i].nr_pages;
		m->regions[i].flags = m->map.r[i].flags;
	}
	*out = m;
	return 0;
}

void crit_memory_close(crit_memory *m)
{
	if (m) {
		mem_map_close(&m->map);
		free(m->regions);
		free(m);
	}
}

size_t crit_memory_page_size(const crit_memory *m)
{
	return m->map.page_size;
}

const crit_region *crit_memory_regions(const crit_memory *m, size_t *n)
{
	*n = m->map.n;
	return m->regions;
}

int crit_memory_read(crit_memory *m, uint64_t addr, size_t len, void *out, crit_error *err)
{
	struct err e;
	return mem_read(&m->map, addr, len, out, &e) < 0 ? crit_fail(err, &e) : 0;
}

int crit_memory_search(crit_memory *m, const void *needle, size_t len, crit_match_fn found, void *ctx,
		       crit_error *err)
{
	struct err e;
	if (!needle || !len)
		return crit_failf(err, "crit_memory_search: an empty needle");
	int rc = mem_search(&m->map, needle, len, found, ctx, &e);
	return rc < 0 ? crit_fail(err, &e) : rc;
}

/* ---- the write path ---- */

struct crit_txn {
	struct txn *txn;
	char *path;         /* as given */
	int is_arch;
	crit_checkpoint *ck; /* NULL after a commit until read again (crit_txn_ck) */
	char *report, *note;
	struct arch_put *puts; /* an archive's staged members (data owned) */
	size_t nputs;
	char *backup; /* an archive's crit_txn_keep suffix */
};

static void crit_txn_drop_puts(crit_txn *t)
{
	for (size_t i = 0; i < t->nputs; i++) {
		free((char *)t->puts[i].name);
		free((void *)t->puts[i].data);
	}
	free(t->puts);
	t->puts = NULL;
	t->nputs = 0;
	free(t->backup);
	t->backup = NULL;
}

/* The checkpoint under the lock, read again after a commit on first use:
 * a commit that is made is reported made, even when memory then runs out
 * reading the checkpoint again. */
static crit_checkpoint *crit_txn_ck(crit_txn *t, crit_error *err)
{
	if (!t->ck && crit_ck_open(t->path, &t->ck, err) < 0)
		return NULL;
	return t->ck;
}

int crit_txn_begin(const char *path, double wait_secs, crit_txn **out, crit_error *err)
{
	*out = NULL;
	if (!path || !*path)
		return crit_failf(err, "crit_txn_begin: no path");
	crit_txn *t = calloc(1, sizeof *t);
	if (!t || !(t->path = strdup(path))) {
		free(t);
		return crit_failf(err, "%s: out of memory", path);
	}
	struct err e;
	if (txn_begin(&t->txn, path, wait_secs, &t->report, &e) < 0) {
		free(t->path);
		free(t);
		return crit_fail(err, &e);
	}
	if (crit_ck_open(path, &t->ck, err) < 0) { /* opened under the lock: what it reads stays so */
		crit_txn_end(t);
		return -1;
	}
	t->is_arch = t->ck->arch != NULL;
	*out = t;
	return 0;
}

crit_checkpoint *crit_txn_checkpoint(crit_txn *t)
{
	return crit_txn_ck(t, NULL);
}

const char *crit_txn_report(const crit_txn *t)
{
	return t->report;
}

const char *crit_txn_note(const crit_txn *t)
{
	return t->note;
}

/* A name of a file directly in the checkpoint (errors name the argument). */
static int crit_txn_name_ok(const crit_txn *t, const char *name, crit_error *err)
{
	if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return crit_failf(err, "%s: '%s' is not the name of a file of the checkpoint", t->path,
				  name ? name : "(null)");
	return 0;
}

int crit_txn_stage(crit_txn *t, const char *name, const void *data, size_t len, crit_error *err)
{
	struct err e;
	if (crit_txn_name_ok(t, name, err) < 0)
		return -1;
	if (!data && len)
		return crit_failf(err, "%s/%s: no data", t->path, name);
	if (!data)
		data = "";
	if (!t->is_arch)
		return txn_stage(t->txn, name, data, len, &e) < 0 ? crit_fail(err, &e) : 0;
	if (!crit_txn_ck(t, err)) /* the archive is read at the commit */
		return -1;
	/* an archive is rewritten whole at the commit: keep the members till then */
	size_t n = strlen(ARCH_CKPT_DIR) + strlen(name) + 1;
	char *member = malloc(n);
	void *copy = malloc(len ? len : 1);
	struct arch_put *puts = NULL;
	if (!member || !copy)
		goto oom;
	snprintf(member, n, ARCH_CKPT_DIR "%s", name);
	memcpy(copy, data, len);
	for (size_t i = 0; i < t->nputs; i++)
		if (strcmp(t->puts[i].name, member) == 0) {
			free(member);
			free((void *)t->puts[i].data);
			t->puts[i].data = copy;
			t->puts[i].len = len;
			return 0;
		}
	if (!(puts = realloc(t->puts, (t->nputs + 1) * sizeof *t->puts)))
		goto oom;
	t->puts = puts;
	t->puts[t->nputs++] = (struct arch_put){ .name = member, .data = copy, .len = len };
	return 0;
oom: /* nothing staged: what was staged before stays */
	free(member);
	free(copy);
	return crit_failf(err, "%s:" ARCH_CKPT_DIR "%s: out of memory", t->path, name);
}

int crit_txn_stage_image(crit_txn *t, const char *name, const crit_image *img, crit_error *err)
{
	uint8_t *data;
	size_t len;
	if (!img)
		return crit_failf(err, "%s/%s: no image", t->path, name ? name : "?");
	if (crit_image_encode(img, &data, &len, err) < 0) {
		if (err) { /* name the file the image was meant for */
			struct err e;
			snprintf(e.msg, sizeof e.msg, "%s", err->message);
			err_prefix(&e, "%s", name ? name : "?");
			crit_fail(err, &e);
		}
		return -1;
	}
	int rc = crit_txn_stage(t, name, data, len, err);
	free(data);
	return rc;
}

int crit_txn_keep(crit_txn *t, const char *name, const char *as, crit_error *err)
{
	struct err e;
	if (t->is_arch) {
		if (name)
			return crit_failf(err, "%s: an archive is kept whole: name must be NULL, and as the "
					       "suffix of the copy (\".orig\")",
					  t->path);
		if (!as || !*as || strchr(as, '/'))
			return crit_failf(err, "%s: '%s' is not a suffix for the kept archive (one without '/')",
					  t->path, as ? as : "(null)");
		char *copy = strdup(as);
		if (!copy)
			return crit_failf(err, "%s: out of memory", t->path);
		free(t->backup);
		t->backup = copy;
		return 0;
	}
	if (crit_txn_name_ok(t, name, err) < 0 || crit_txn_name_ok(t, as, err) < 0)
		return -1;
	if (strcmp(name, as) == 0)
		return crit_failf(err, "%s/%s: kept under its own name", t->path, name);
	return txn_keep(t->txn, name, as, &e) < 0 ? crit_fail(err, &e) : 0;
}

int crit_txn_commit(crit_txn *t, crit_error *err)
{
	struct err e;
	free(t->note);
	t->note = NULL;
	int rc = 0;
	if (t->is_arch) {
		if (t->nputs && !crit_txn_ck(t, err)) {
			crit_txn_drop_puts(t);
			return -1;
		}
		if (t->nputs)
			rc = arch_rewrite(t->ck->arch, t->puts, t->nputs, t->backup, t->txn, &t->note, &e);
		crit_txn_drop_puts(t);
	} else {
		rc = txn_commit(t->txn, &t->note, &e);
	}
	if (rc < 0)
		return crit_fail(err, &e);
	/* what the checkpoint said before is stale now: read again on next use */
	crit_checkpoint_close(t->ck);
	t->ck = NULL;
	return 0;
}

void crit_txn_abort(crit_txn *t)
{
	crit_txn_drop_puts(t);
	txn_abort(t->txn);
}

void crit_txn_end(crit_txn *t)
{
	if (!t)
		return;
	crit_txn_drop_puts(t);
	txn_end(t->txn);
	crit_checkpoint_close(t->ck);
	free(t->path);
	free(t->report);
	free(t->note);
	free(t);
}
