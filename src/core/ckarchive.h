/* ckarchive.h: container checkpoint archives (.tar, .tar.gz, .tar.zst, as
 * Podman and CRI-O write them: CRIU's images under checkpoint/, the engine's
 * metadata beside them), read in place through libarchive and rewritten
 * atomically. See docs/ARCHIVES.md for the design.
 *
 * Opening reads the archive once, start to end, and indexes its members:
 *  - an uncompressed tar: each regular member is an (offset, size) into the
 *    archive file itself, read later with pread; nothing is copied;
 *  - a compressed one: the members' bytes are decompressed once into an
 *    anonymous temporary file (O_TMPFILE, or a file unlinked at once), and
 *    indexed as offsets into it — so memory use does not grow with the
 *    pages files, and the memory reader still gets random access. */
#ifndef CRITLUA_ARCHIVE_H
#define CRITLUA_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "util.h"

/* Where the CRIU images are, inside the archive. */
#define ARCH_CKPT_DIR "checkpoint/"

enum arch_type { ARCH_FILE, ARCH_DIR, ARCH_SYMLINK, ARCH_OTHER };

struct arch_member {
	char *name;      /* normalised: no leading "./" or "/", no trailing "/" */
	char *link;      /* symlink or hard link target, or NULL */
	enum arch_type type;
	uint64_t off, size; /* the data: at off of the archive (in_place) or of the temporary file */
	int in_place;
	size_t order;    /* position in the archive */
};

struct arch {
	char *path;
	int fd;    /* the archive, read-only */
	int tmpfd; /* decompressed members of a compressed archive; -1 when none */
	uint64_t file_size;
	int filters[8]; /* libarchive filter codes, innermost first, "none" left out */
	int nfilters;
	char *compression; /* "none", "gzip", "zstd", ... */
	int format;        /* libarchive format code */
	char *format_name;
	struct arch_member *m; /* in archive order */
	size_t n;
	struct arch_member **sorted; /* by name; for a name given twice, the later one */
	size_t nsorted;
};

/* Open and index path. Refuses files that are not tar archives, truncated
 * ones, and archives without a checkpoint/ directory, with e naming path. */
int arch_open(struct arch *a, const char *path, struct err *e);
void arch_close(struct arch *a);

/* The member called name (normalised as above), or NULL. */
const struct arch_member *arch_find(const struct arch *a, const char *name);
/* Whether some member's name starts with prefix (a directory that exists). */
int arch_has_prefix(const struct arch *a, const char *prefix);

/* Read len bytes at off of a regular member; all of them, or -1 with e set. */
int arch_pread(const struct arch *a, const struct arch_member *m, uint64_t off, void *buf, size_t len,
	       struct err *e);
/* A whole member, malloc'ed (NUL one past len). */
int arch_read_all(const struct arch *a, const struct arch_member *m, uint8_t **out, size_t *len,
		  struct err *e);
/* Decode the image member name as img_load does a file; errors start with label. */
int arch_load_img(const struct arch *a, const char *name, const char *label, struct img *out,
		  struct err *e);

/* Replace (or add) members and write the result as a new archive: the same
 * format and compression, every other member copied unchanged, to a
 * temporary file beside the archive, flushed, then renamed over it. With
 * backup, the old archive stays as path+backup (an existing one is kept,
 * and *note says so). On any failure the archive is untouched and no
 * temporary file remains. */
struct arch_put {
	const char *name; /* normalised member name, e.g. "checkpoint/files.img" */
	const void *data;
	size_t len;
	int done;
};
/* txn: the checkpoint's transaction (txn.h) when the caller holds it; NULL:
 * one is begun (its lock taken, waiting up to 10 s) and ended here. */
struct txn;
int arch_rewrite(struct arch *a, struct arch_put *puts, size_t nputs, const char *backup, struct txn *txn,
		 char **note, struct err *e);

#endif
