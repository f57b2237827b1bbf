/* datasrc.c: a checkpoint's files read in bounded pieces, for the byte
 * streams besides memory (grep over everything, ck:data_sources). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasrc.h"

#define DS_CHUNK ((size_t)1 << 20)

int ds_open(struct ds_file *f, const char *dir, const struct arch *ar, const char *sub, const char *label_dir,
	    const char *name, struct err *e)
{
	memset(f, 0, sizeof *f);
	f->fd = -1;
	size_t n = strlen(ar ? label_dir : dir) + strlen(name) + 2;
	f->label = malloc(n);
	if (!f->label)
		return err_oom(e);
	snprintf(f->label, n, "%s/%s", ar ? label_dir : dir, name);
	if (ar) {
		size_t k = strlen(sub) + strlen(name) + 1;
		char *mname = malloc(k);
		if (!mname) {
			err_set(e, "%s: out of memory", f->label);
			ds_close(f);
			return -1;
		}
		snprintf(mname, k, "%s%s", sub, name);
		f->ar = ar;
		f->m = arch_find(ar, mname);
		free(mname);
		if (!f->m || f->m->type != ARCH_FILE) {
			err_set(e, "%s: %s", f->label, f->m ? "not a regular file in the archive" : "no such file");
			ds_close(f);
			return -1;
		}
		f->size = f->m->size;
		return 0;
	}
	/* O_NONBLOCK: a FIFO named like an image is refused below, never waited on */
	f->fd = open(f->label, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (f->fd < 0 || fstat(f->fd, &st) < 0) {
		err_set(e, "%s: %s", f->label, strerror(errno));
		ds_close(f);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(e, "%s: is a %s, not a file of a checkpoint", f->label, file_kind(st.st_mode));
		ds_close(f);
		return -1;
	}
	f->size = (uint64_t)st.st_size;
	return 0;
}

void ds_close(struct ds_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->label);
	f->label = NULL;
}

int ds_pread(struct ds_file *f, uint64_t off, void *buf, size_t len, struct err *e)
{
	if (off > f->size || len > f->size - off)
		return err_set(e, "%s: %zu bytes at offset 0x%llx run past the end of the file (%llu bytes)", f->label,
			       len, (unsigned long long)off, (unsigned long long)f->size);
	if (f->ar) {
		if (arch_pread(f->ar, f->m, off, buf, len, e) < 0)
			return err_prefix(e, "offset 0x%llx", (unsigned long long)off);
		return 0;
	}
	size_t got;
	if (pread_all(f->fd, buf, len, off, &got) < 0)
		return err_set(e, "%s: offset 0x%llx: %s", f->label, (unsigned long long)(off + got),
			       errno ? strerror(errno) : "the file ends there (it shrank while read)");
	return 0;
}

static int fetch(void *ctx, uint64_t off, void *dst, size_t n, struct err *e)
{
	return ds_pread(ctx, off, dst, n, e);
}

int ds_entries(struct ds_file *f, ds_entry_fn cb, void *ctx, struct err *e)
{
	struct img_reader r;
	if (img_reader_init_located(&r, f->size, fetch, f, e) < 0)
		return err_prefix(e, "%s", f->label);
	int rc;
	for (;;) {
		struct img_entry en;
		uint64_t at = r.off;
		size_t index = r.index;
		rc = img_reader_next(&r, &en, e);
		if (rc <= 0) {
			/* a fetch error already names the file */
			if (rc < 0 && strncmp(e->msg, f->label, strlen(f->label)) != 0)
				err_prefix(e, "%s", f->label);
			break;
		}
		rc = cb(index, at, r.mi, &en, ctx);
		img_entry_free(&en);
		if (rc)
			break;
	}
	img_reader_done(&r);
	return rc;
}

int ds_chunks(struct ds_file *f, uint64_t off, uint64_t len, uint64_t pos, size_t chunk, ds_chunk_fn cb,
	      void *ctx, struct err *e)
{
	if (off > f->size || len > f->size - off)
		return err_set(e, "%s: %llu bytes at offset 0x%llx run past the end of the file (%llu bytes)",
			       f->label, (unsigned long long)len, (unsigned long long)off,
			       (unsigned long long)f->size);
	if (!chunk)
		chunk = DS_CHUNK;
	uint8_t *buf = malloc(len < chunk ? (len ? (size_t)len : 1) : chunk);
	if (!buf)
		return err_set(e, "%s: out of memory", f->label);
	int rc = 0;
	for (uint64_t at = 0; at < len && rc == 0; at += chunk) {
		size_t n = len - at < chunk ? (size_t)(len - at) : chunk;
		if (ds_pread(f, off + at, buf, n, e) < 0) {
			rc = -1;
			break;
		}
		rc = cb(pos + at, buf, n, ctx);
	}
	free(buf);
	return rc;
}

/* The file as the pull source of a tar walk. */
struct tar_src {
	struct ds_file *f;
	uint64_t pos;
};

static long tar_pull(void *pctx, void *buf, size_t cap, struct err *e)
{
	struct tar_src *s = pctx;
	uint64_t left = s->f->size - s->pos;
	size_t n = left < cap ? (size_t)left : cap;
	if (n && ds_pread(s->f, s->pos, buf, n, e) < 0)
		return -1;
	s->pos += n;
	return (long)n;
}

int ds_tar(struct ds_file *f, arch_stream_member_fn member, arch_stream_data_fn data, void *ctx,
	   struct err *e)
{
	struct tar_src s = { f, 0 };
	return arch_stream_walk(tar_pull, &s, f->label, member, data, ctx, e);
}
