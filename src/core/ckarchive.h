/* ckarchive.h: container checkpoint archives (.tar, .tar.gz, .tar.zst, as
 * Podman and CRI-O write them: CRIU's images under checkpoint/, the engine's
 * metadata beside them), read in place through libarchive and rewritten
 * atomically. See docs/ARCHIVES.md for the design.
 *
 * Opening reads the archive once, start to end, and indexes its members
 * without copying their data anywhere:
 *  - an uncompressed tar: each regular member is read later in place, with
 *    pread, through its list of segments (one for a plain member, one per
 *    stored run of a sparse one: the holes are zeros nobody stores);
 *  - a compressed one: a member is decompressed into an anonymous temporary
 *    file (O_TMPFILE, or a file unlinked at once) the first time it is read,
 *    holes left out, so the memory reader still gets random access; small
 *    images are kept as they pass during the opening pass itself.
 * The bytes written to $TMPDIR are bounded (arch_open's tmp_max) and checked
 * against its free space before a member is written. */
#ifndef CRITLUA_ARCHIVE_H
#define CRITLUA_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "util.h"

/* Where the CRIU images are, inside the archive. */
#define ARCH_CKPT_DIR "checkpoint/"
/* A pod checkpoint (KEP-5823, as CRI-O and containerd first wrote it): this
 * file at the top, and a folder per container laid out as a container's
 * archive is (checkpoint/, config.dump, spec.dump, ...). docs/ARCHIVES.md. */
#define ARCH_POD_OPTIONS "pod.options"

enum arch_type { ARCH_FILE, ARCH_DIR, ARCH_SYMLINK, ARCH_HARDLINK, ARCH_OTHER };

/* A stored run of a member's data: len bytes at member offset lo, found at
 * offset fo of the archive file (in place) or of the temporary file. */
struct arch_seg {
	uint64_t lo, len, fo;
};

struct arch_member {
	char *name;      /* normalised: no leading "./" or "/", no trailing "/" */
	char *link;      /* symlink or hard link target, or NULL */
	enum arch_type type;
	uint64_t size;   /* as read: holes included */
	uint64_t stored; /* the bytes the archive stores: size less the holes */
	int sparse;
	int in_place;    /* segs point into the archive file */
	int expanded;    /* segs point into the temporary file; neither: not read yet */
	struct arch_seg *segs; /* by lo; what lies between them is a hole */
	size_t nsegs;
	size_t order;    /* position in the archive */
};

struct arch {
	char *path;
	int fd;    /* the archive, read-only */
	int tmpfd; /* decompressed members of a compressed archive; -1 when none */
	uint64_t tmp_used;  /* bytes written to it */
	uint64_t tmp_max;   /* the bound on tmp_used (CRITLUA_ARCHIVE_TMP_MAX) */
	void *rd;           /* a libarchive reader left where the last expansion stopped */
	size_t rd_next;     /* the order of the member rd reads next */
	int rd_greedy;      /* members are read out of archive order: rd expands what it passes */
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
	int pod;     /* a pod checkpoint: pod.options and no checkpoint/ at the top */
	char *root;  /* arch_view: the container's folder ("ID-NAME/") names are relative to, or NULL */
	char *label; /* arch_view: "PATH//NAME" for messages, or NULL */
};

/* Open and index path. Refuses files that are not tar archives, truncated
 * ones, archives without a checkpoint/ directory, and link members named
 * like a file critlua reads (arch_is_read_name), with e naming path and the
 * member. */
int arch_open(struct arch *a, const char *path, struct err *e);
void arch_close(struct arch *a);

/* Make a (a pod checkpoint) the view of one container: root is its folder
 * ("ID-NAME/"), label names it in messages. The names its Lua side takes and
 * gives are then relative to root (larchive.c); the core's stay whole. */
int arch_view(struct arch *a, const char *root, const char *label, struct err *e);

/* Whether critlua reads a member so named: an image (checkpoint/...*.img),
 * CRIU's stats, the engine's metadata. A link member so named is refused. */
int arch_is_read_name(const char *name);

/* The bound on the bytes written to $TMPDIR for an archive of file_size
 * bytes: CRITLUA_ARCHIVE_TMP_MAX (bytes, K/M/G/T suffixes), else
 * max(256 MiB, 64 x file_size). -1 with e set when the variable is bad. */
int arch_tmp_limit(uint64_t file_size, uint64_t *out, struct err *e);

/* The member called name (normalised as above), or NULL. */
const struct arch_member *arch_find(const struct arch *a, const char *name);
/* Whether some member's name starts with prefix (a directory that exists). */
int arch_has_prefix(const struct arch *a, const char *prefix);

/* name with the symbolic link members among its directories (and, with
 * follow_last, its last component) followed inside the archive, as in the
 * unpacked tree: Podman's checkpoint/parent -> ../pre-checkpoint makes
 * "checkpoint/parent/pages-1.img" "pre-checkpoint/pages-1.img". *out is
 * malloc'ed (the name itself when no link is crossed; what it names may not
 * exist). -1 with e naming the link when one is absolute, leads out of the
 * archive, or links go round. */
int arch_resolve(const struct arch *a, const char *name, int follow_last, char **out, struct err *e);

/* Read len bytes at off of a regular member; all of them, or -1 with e set.
 * Holes read as zeros. The first read of a member of a compressed archive
 * decompresses it into the temporary file (the archive object is const to
 * its readers: that cache is not part of what it says). A link member is an
 * error naming it. */
int arch_pread(const struct arch *a, const struct arch_member *m, uint64_t off, void *buf, size_t len,
	       struct err *e);
/* A whole member, malloc'ed (NUL one past len); at most ARCH_READ_ALL_MAX. */
#define ARCH_READ_ALL_MAX ((uint64_t)1 << 30)
int arch_read_all(const struct arch *a, const struct arch_member *m, uint8_t **out, size_t *len,
		  struct err *e);
/* Decode the image member name as img_load does a file; errors start with label. */
int arch_load_img(const struct arch *a, const char *name, const char *label, struct img *out,
		  struct err *e);

/* Walk a tar archive given as a byte stream (any compression libarchive
 * reads: a tmpfs-dev-N.tar.gz.img), start to end, holding one block at a
 * time: pull(pctx, buf, cap, e) supplies the next bytes (0 at the end, -1
 * with e set). For each member, member(name, type, size, ctx) says whether
 * to read its data (1), skip it (0) or stop (-1); data(off, p, len, ctx) gets
 * its stored runs in order (a sparse member's holes left out; non-zero
 * stops and is returned). A damaged stream is an error naming label, the
 * member and how many bytes of the stream had been read. */
typedef long (*arch_pull_fn)(void *pctx, void *buf, size_t cap, struct err *e);
typedef int (*arch_stream_member_fn)(const char *name, enum arch_type type, uint64_t size, void *ctx);
typedef int (*arch_stream_data_fn)(uint64_t off, const void *p, size_t len, void *ctx);
int arch_stream_walk(arch_pull_fn pull, void *pctx, const char *label, arch_stream_member_fn member,
		     arch_stream_data_fn data, void *ctx, struct err *e);

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
