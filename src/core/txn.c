/* txn.c: the one write path of a checkpoint: a flock'ed lock file beside it,
 * a staged sibling directory of hard links and new images exchanged with it
 * in one renameat2(RENAME_EXCHANGE), and the recovery of a killed writer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "txn.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

struct txn_keep {
	char *name, *as;
};

struct txn {
	char *path;	      /* the checkpoint, symbolic links resolved */
	char *lockname;	      /* .BASE.critlua-lock, in the parent */
	char *stagename;      /* .BASE.critlua-txn, in the parent */
	char *base;	      /* the checkpoint's name in its parent */
	int is_dir;
	int pfd, dfd, lockfd; /* parent, checkpoint directory, lock file */
	struct stat st;	      /* the checkpoint as found by txn_begin */
	/* what is staged */
	int staging, sfd;     /* sfd: the staged directory, or the new archive */
	char **names;
	size_t nnames;
	struct txn_keep *keeps;
	size_t nkeeps;
	char *keep_suffix;
	sigset_t oldmask;
	int blocked;
};

/* ---- small helpers ---- */

/* Directories that cannot be synced (some file systems say EINVAL) are as
 * durable as they can be made. */
static int txn_fsync_dir(int fd)
{
	if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS)
		return -1;
	return 0;
}

/* NULL when memory runs out */
static char *txn_sibling(const char *base, const char *suffix)
{
	size_t n = strlen(base) + strlen(suffix) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, ".%s%s", base, suffix);
	return s;
}

/* SIGINT, SIGTERM, SIGHUP and SIGQUIT wait while a change is staged and
 * committed: the change then completes (or is undone) and the signal ends
 * the run right after. */
static void txn_block_signals(struct txn *t)
{
	if (t->blocked)
		return;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigprocmask(SIG_BLOCK, &set, &t->oldmask);
	t->blocked = 1;
}

static void txn_unblock_signals(struct txn *t)
{
	if (!t->blocked)
		return;
	t->blocked = 0;
	/* a signal that waited ends the run as soon as it is let through: let go
	 * of the lock first, so that nothing is left beside the checkpoint */
	sigset_t pending;
	if (t->lockfd >= 0 && sigpending(&pending) == 0 &&
	    (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1 ||
	     sigismember(&pending, SIGHUP) == 1 || sigismember(&pending, SIGQUIT) == 1)) {
		unlinkat(t->pfd, t->lockname, 0);
		close(t->lockfd);
		t->lockfd = -1;
	}
	sigprocmask(SIG_SETMASK, &t->oldmask, NULL);
}

/* Remove the tree name under dirfd without following any symbolic link;
 * `last` (in its top level) is removed after everything else, so that a
 * staged directory keeps its marker until it is all but gone. The entries
 * are read with getdents64 into a buffer on the stack, not opendir's on the
 * heap: undoing a change (and tidying up after one) must not fail for want
 * of memory. With 4 KiB a level on the stack, the depth is bounded: what
 * critlua stages is a checkpoint, a level or two deep; a staged directory
 * planted deeper than TXN_RM_DEPTH is refused (ELOOP), never a stack
 * overflow, whatever the limit on open files. */
#define TXN_RM_DEPTH 64

static int txn_rm_tree_at(int dirfd, const char *name, const char *last, int depth)
{
	if (depth > TXN_RM_DEPTH) {
		errno = ELOOP;
		return -1;
	}
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno == ENOTDIR || errno == ELOOP)
			return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
		return -1;
	}
	int rc = 0, has_last = 0;
	_Alignas(struct dirent64) char buf[4096];
	for (;;) {
		ssize_t got = getdents64(fd, buf, sizeof buf);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got < 0)
				rc = -1;
			break;
		}
		for (ssize_t at = 0; at < got;) {
			const struct dirent64 *de = (const struct dirent64 *)(buf + at);
			at += de->d_reclen;
			const char *n = de->d_name;
			if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
				continue;
			if (last && strcmp(n, last) == 0) {
				has_last = 1;
				continue;
			}
			if (unlinkat(fd, n, 0) == 0 || errno == ENOENT)
				continue;
			if ((errno == EISDIR || errno == EPERM) && txn_rm_tree_at(fd, n, NULL, depth + 1) == 0)
				continue;
			rc = -1;
		}
	}
	if (rc == 0 && has_last && unlinkat(fd, last, 0) < 0 && errno != ENOENT)
		rc = -1;
	close(fd);
	if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

static int txn_rm_tree(int dirfd, const char *name, const char *last)
{
	return txn_rm_tree_at(dirfd, name, last, 0);
}

/* Why txn_rm_tree failed, for a message. */
static const char *txn_rm_why(void)
{
	return errno == ELOOP ? "it holds directories nested deeper than critlua ever stages (planted?)"
			      : strerror(errno);
}

/* ---- the lock ---- */

static double txn_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* flock on a file beside the checkpoint: it outlives the directory
 * exchanges, and the kernel drops it when its holder dies, so a killed
 * writer's lock is simply taken over. */
static int txn_lock(struct txn *t, double wait_secs, struct err *e)
{
	double deadline = wait_secs < 0 ? -1 : txn_now() + wait_secs;
	for (;;) {
		int fd = openat(t->pfd, t->lockname, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
				0600);
		if (fd < 0)
			return err_set(e, "%s: cannot create its lock file %s beside it: %s", t->path, t->lockname,
				       strerror(errno));
		struct stat a, b;
		if (fstat(fd, &a) < 0 || !S_ISREG(a.st_mode)) {
			close(fd);
			return err_set(e, "%s: its lock file %s is not a regular file", t->path, t->lockname);
		}
		/* critlua's lock file has one name. Another name is another file's (a
		 * hard link planted beside the checkpoint, found by fuzz-txn): writing
		 * the pid into it would truncate a file outside the checkpoint. */
		if (a.st_nlink > 1) {
			close(fd);
			return err_set(e, "%s: its lock file %s is a hard link to another file (%lu names), not critlua's",
				       t->path, t->lockname, (unsigned long)a.st_nlink);
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			/* the previous holder removes the file as it lets go: a lock on a
			 * name no longer there locks nothing */
			if (fstatat(t->pfd, t->lockname, &b, AT_SYMLINK_NOFOLLOW) < 0 || a.st_ino != b.st_ino ||
			    a.st_dev != b.st_dev) {
				close(fd);
				continue;
			}
			char pid[32];
			int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
			if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) < 0) {
				/* the pid is only for others' messages */
			}
			t->lockfd = fd;
			/* the directory opened before the wait may since have been
			 * exchanged by the writer we waited for: the one now under the
			 * name is the checkpoint */
			if (t->is_dir) {
				int dfd = openat(t->pfd, t->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (dfd < 0) {
					err_set(e, "%s: %s", t->path, strerror(errno));
					close(fd);
					t->lockfd = -1;
					return -1;
				}
				close(t->dfd);
				t->dfd = dfd;
			}
			return 0;
		}
		int saved = errno;
		if (saved != EWOULDBLOCK && saved != EINTR) {
			close(fd);
			return err_set(e, "%s: cannot lock %s: %s", t->path, t->lockname, strerror(saved));
		}
		if (deadline < 0 || txn_now() < deadline) {
			close(fd);
			struct timespec ts = { 0, 20 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			continue;
		}
		/* The holder writes its pid just after it takes the lock: a read in
		 * between finds the file empty, so look again for a moment. */
		char holder[32] = "";
		for (int tries = 0; tries < 50 && !*holder; tries++) {
			if (tries) {
				struct timespec ts = { 0, 2 * 1000 * 1000 };
				nanosleep(&ts, NULL);
			}
			ssize_t got = pread(fd, holder, sizeof holder - 1, 0);
			holder[got > 0 ? got : 0] = 0;
			holder[strcspn(holder, "\n")] = 0;
		}
		close(fd);
		return err_set(e,
			       "%s: another critlua (pid %s) is changing this checkpoint; nothing was "
			       "changed (wait for it with --wait[=SECONDS])",
			       t->path, *holder ? holder : "unknown");
	}
}

/* ---- recovery ---- */

/* NULL when memory runs out: a report or a note is then not made (what it
 * would say was done all the same); a path in an error is an error. */
static char *txn_fmt(const char *fmt, const char *a, const char *b)
{
	size_t n = strlen(fmt) + strlen(a) + strlen(b) + 1;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, fmt, a, b);
	return s;
}

/* Under the lock: what a killed writer left. The marker is in the checkpoint
 * directory once the exchange is done (the new images are in place: finish,
 * removing the old copy), else in the staged directory (undo: remove it). */
static int txn_recover(struct txn *t, char **report, struct err *e)
{
	struct stat st;
	int staged = fstatat(t->pfd, t->stagename, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!t->is_dir) {
		if (!staged)
			return 0;
		if (txn_rm_tree(t->pfd, t->stagename, NULL) < 0)
			return err_set(e, "%s: cannot remove %s, left by an interrupted change: %s", t->path,
				       t->stagename, txn_rm_why());
		txn_fsync_dir(t->pfd);
		*report = txn_fmt("%s: an interrupted change was undone: the archive is as it was (%s removed)",
				  t->path, t->stagename);
		return 0;
	}
	char pid[32] = "";
	int mfd = openat(t->dfd, TXN_MARKER, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int marked = mfd >= 0 || errno == ELOOP || errno == ENXIO;
	if (mfd >= 0) {
		ssize_t n = read(mfd, pid, sizeof pid - 1);
		pid[n > 0 ? n : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		close(mfd);
	}
	if (!marked && !staged)
		return 0;
	char by[64] = "";
	if (*pid && strspn(pid, "0123456789") == strlen(pid))
		snprintf(by, sizeof by, " (critlua pid %s)", pid);
	if (marked) {
		if (staged && txn_rm_tree(t->pfd, t->stagename, NULL) < 0)
			return err_set(e, "%s: cannot remove the old copy %s: %s", t->path, t->stagename,
				       txn_rm_why());
		if (txn_fsync_dir(t->pfd) < 0 || (unlinkat(t->dfd, TXN_MARKER, 0) < 0 && errno != ENOENT) ||
		    txn_fsync_dir(t->dfd) < 0)
			return err_set(e, "%s: cannot finish an interrupted change: %s", t->path, strerror(errno));
		*report = txn_fmt("%s: an interrupted change%s was finished: the new images are in place", t->path,
				  by);
		return 0;
	}
	if (txn_rm_tree(t->pfd, t->stagename, TXN_MARKER) < 0)
		return err_set(e, "%s: cannot remove %s, left by an interrupted change: %s", t->path, t->stagename,
			       txn_rm_why());
	txn_fsync_dir(t->pfd);
	*report = txn_fmt("%s: an interrupted change was undone: the images are as they were (%s removed)",
			  t->path, t->stagename);
	return 0;
}

/* ---- begin / end ---- */

static void txn_free(struct txn *t)
{
	if (t->pfd >= 0)
		close(t->pfd);
	if (t->dfd >= 0)
		close(t->dfd);
	free(t->path);
	free(t->lockname);
	free(t->stagename);
	free(t->base);
	free(t);
}

static int txn_open(struct txn **out, const char *path, struct err *e)
{
	char *real = realpath(path, NULL);
	if (!real)
		return err_set(e, "%s: %s", path, strerror(errno));
	struct txn *t = calloc(1, sizeof *t);
	if (!t) {
		free(real);
		return err_set(e, "%s: out of memory", path);
	}
	t->path = real;
	t->pfd = t->dfd = t->lockfd = t->sfd = -1;
	if (stat(real, &t->st) < 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		txn_free(t);
		return -1;
	}
	t->is_dir = S_ISDIR(t->st.st_mode);
	if (!t->is_dir && !S_ISREG(t->st.st_mode)) {
		err_set(e, "%s: is a %s, not a checkpoint directory or archive", path, file_kind(t->st.st_mode));
		txn_free(t);
		return -1;
	}
	char *slash = strrchr(real, '/');
	if (!slash || !slash[1]) {
		err_set(e, "%s: the root directory cannot be changed as a checkpoint", path);
		txn_free(t);
		return -1;
	}
	t->base = strdup(slash + 1);
	char *parent = slash == real ? strdup("/") : strndup(real, (size_t)(slash - real));
	if (!t->base || !parent) {
		free(parent);
		txn_free(t);
		return err_set(e, "%s: out of memory", path);
	}
	t->pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int saved = errno;
	if (t->pfd < 0) {
		err_set(e, "%s: cannot open %s: %s", path, parent, strerror(saved));
		free(parent);
		txn_free(t);
		return -1;
	}
	free(parent);
	if (t->is_dir && (t->dfd = openat(t->pfd, t->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		txn_free(t);
		return -1;
	}
	t->lockname = txn_sibling(t->base, TXN_LOCK_SUFFIX);
	t->stagename = txn_sibling(t->base, TXN_STAGE_SUFFIX);
	if (!t->lockname || !t->stagename) {
		txn_free(t);
		return err_set(e, "%s: out of memory", path);
	}
	*out = t;
	return 0;
}

int txn_begin(struct txn **out, const char *path, double wait_secs, char **report, struct err *e)
{
	*report = NULL;
	struct txn *t;
	if (txn_open(&t, path, e) < 0)
		return -1;
	if (txn_lock(t, wait_secs, e) < 0) {
		txn_free(t);
		return -1;
	}
	if (txn_recover(t, report, e) < 0) {
		txn_end(t);
		return -1;
	}
	*out = t;
	return 0;
}

void txn_recover_quick(const char *path, char **report)
{
	*report = NULL;
	struct txn *t;
	struct err e;
	if (txn_open(&t, path, &e) < 0)
		return;
	struct stat st;
	int left = fstatat(t->pfd, t->stagename, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
		   (t->is_dir && fstatat(t->dfd, TXN_MARKER, &st, AT_SYMLINK_NOFOLLOW) == 0);
	/* a writer at work holds the lock: its staged copy is not a leftover */
	if (left && txn_lock(t, 0, &e) == 0) {
		if (txn_recover(t, report, &e) < 0) {
			free(*report);
			*report = strdup(e.msg); /* NULL when out of memory: a reader goes on regardless */
		}
		txn_end(t);
		return;
	}
	txn_free(t);
}

const char *txn_path(const struct txn *t)
{
	return t->path;
}

static void txn_clear(struct txn *t)
{
	for (size_t i = 0; i < t->nnames; i++)
		free(t->names[i]);
	free(t->names);
	t->names = NULL;
	t->nnames = 0;
	for (size_t i = 0; i < t->nkeeps; i++) {
		free(t->keeps[i].name);
		free(t->keeps[i].as);
	}
	free(t->keeps);
	t->keeps = NULL;
	t->nkeeps = 0;
	free(t->keep_suffix);
	t->keep_suffix = NULL;
	if (t->sfd >= 0)
		close(t->sfd);
	t->sfd = -1;
	t->staging = 0;
}

void txn_abort(struct txn *t)
{
	if (t->staging) {
		if (t->is_dir) {
			/* the marker goes last: a kill meanwhile still reads as "undo" */
			txn_rm_tree(t->pfd, t->stagename, TXN_MARKER);
		} else {
			unlinkat(t->pfd, t->stagename, 0);
		}
		txn_fsync_dir(t->pfd);
	}
	txn_clear(t);
	txn_unblock_signals(t);
}

void txn_end(struct txn *t)
{
	if (!t)
		return;
	txn_abort(t);
	if (t->lockfd >= 0) {
		/* removed while still held: a waiter that opened it retries on the new one */
		unlinkat(t->pfd, t->lockname, 0);
		close(t->lockfd);
	}
	txn_free(t);
}

/* ---- staging ---- */

static int txn_check_name(struct txn *t, const char *name, struct err *e)
{
	if (!t->is_dir)
		return err_set(e, "%s: is an archive: its members are staged as a whole new archive", t->path);
	if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strcmp(name, TXN_MARKER) == 0 || strlen(name) > NAME_MAX)
		return err_set(e, "%s: '%s' is not the name of a file directly in the checkpoint", t->path, name);
	return 0;
}

/* The staged directory, made on the first staged file: marker first (and on
 * disk), so that a kill from here on reads as "undo" until the exchange. */
static int txn_start(struct txn *t, struct err *e)
{
	if (t->staging)
		return 0;
	struct stat pst;
	if (fstat(t->pfd, &pst) < 0 || fstat(t->dfd, &t->st) < 0)
		return err_set(e, "%s: %s", t->path, strerror(errno));
	if (pst.st_dev != t->st.st_dev)
		return err_set(e,
			       "%s: is a mount point: critlua changes a checkpoint by exchanging it with a copy "
			       "staged beside it, which cannot cross file systems; nothing was changed",
			       t->path);
	txn_block_signals(t);
	if (mkdirat(t->pfd, t->stagename, 0700) < 0) {
		int saved = errno;
		txn_unblock_signals(t);
		return err_set(e, "%s: cannot create %s beside it: %s; nothing was changed", t->path, t->stagename,
			       strerror(saved));
	}
	t->staging = 1;
	t->sfd = openat(t->pfd, t->stagename, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int mfd = t->sfd < 0 ? -1
			     : openat(t->sfd, TXN_MARKER, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	int rc = 0;
	if (mfd < 0 || write_all(mfd, pid, (size_t)n) < 0 || fsync(mfd) < 0 || txn_fsync_dir(t->sfd) < 0 ||
	    txn_fsync_dir(t->pfd) < 0)
		rc = err_set(e, "%s: cannot stage a copy in %s: %s; nothing was changed", t->path, t->stagename,
			     strerror(errno));
	if (mfd >= 0)
		close(mfd);
	if (rc < 0)
		txn_abort(t);
	return rc;
}

static int txn_has(char **list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return 1;
	return 0;
}

/* The new file name in the staged directory, empty and opened for writing:
 * the old file's mode and owner (a new one, or one replacing a link or a
 * special file, gets the umask's). Returns the descriptor, or -1. */
static int txn_create_staged(struct txn *t, const char *name, struct err *e)
{
	struct stat st;
	mode_t mode;
	int keep_owner = 0;
	if (fstatat(t->dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
		mode = st.st_mode & 07777;
		keep_owner = 1;
	} else {
		mode_t um = umask(0);
		umask(um);
		mode = 0666 & ~um;
	}
	unlinkat(t->sfd, name, 0); /* staged twice: the last one counts */
	int fd = openat(t->sfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(e, "%s/%s: cannot write its new copy in %s: %s; nothing was changed", t->path, name,
			       t->stagename, strerror(errno));
	if (keep_owner && fchown(fd, st.st_uid, st.st_gid) < 0) {
		/* not fatal: an unprivileged user cannot give files away */
	}
	if (fchmod(fd, mode) < 0) {
		int saved = errno;
		close(fd);
		return err_set(e, "%s/%s: cannot write its new copy in %s: %s; nothing was changed", t->path, name,
			       t->stagename, strerror(saved));
	}
	return fd;
}

static int txn_add_name(struct txn *t, const char *name)
{
	if (txn_has(t->names, t->nnames, name))
		return 0;
	char **v = realloc(t->names, (t->nnames + 1) * sizeof *t->names);
	if (!v)
		return -1;
	t->names = v;
	if (!(v[t->nnames] = strdup(name)))
		return -1;
	t->nnames++;
	return 0;
}

int txn_stage(struct txn *t, const char *name, const void *data, size_t len, struct err *e)
{
	if (txn_check_name(t, name, e) < 0 || txn_start(t, e) < 0)
		return -1;
	int fd = txn_create_staged(t, name, e);
	if (fd < 0) {
		txn_abort(t);
		return -1;
	}
	int rc = 0;
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0)
		rc = -1;
	if (close(fd) < 0)
		rc = -1;
	if (rc < 0) {
		err_set(e, "%s/%s: cannot write its new copy in %s: %s; nothing was changed", t->path, name,
			t->stagename, strerror(errno));
		txn_abort(t);
		return -1;
	}
	if (txn_add_name(t, name) < 0) { /* as any other failure to stage: all is dropped */
		err_set(e, "%s/%s: out of memory; nothing was changed", t->path, name);
		txn_abort(t);
		return -1;
	}
	return 0;
}

/* All of in (from its start) into out: the file system's own copy when it
 * has one (copy_file_range: a reflink or a server-side copy, no bytes through
 * user space), else read and write. */
static int txn_copy_fd(int in, int out)
{
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1u << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP && errno != EBADF)
			return -1;
		break; /* not here: copy it by hand, from where it stopped */
	}
	char buf[65536];
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (n > 0 && write_all(out, buf, (size_t)n) < 0))
			return -1;
		if (n == 0)
			return 0;
	}
}

int txn_stage_patched(struct txn *t, const char *name, const struct txn_patch *p, size_t np, struct err *e)
{
	if (txn_check_name(t, name, e) < 0)
		return -1;
	/* the old file is read (through a link: reading is not writing through it),
	 * never blocking, and must be a regular file long enough for every patch */
	int in = openat(t->dfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (in < 0)
		return err_set(e, "%s/%s: cannot open: %s; nothing was changed", t->path, name, strerror(errno));
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return err_set(e, "%s/%s: is not a regular file; nothing was changed", t->path, name);
	}
	for (size_t i = 0; i < np; i++)
		if (p[i].off > (uint64_t)st.st_size || p[i].len > (uint64_t)st.st_size - p[i].off) {
			close(in);
			return err_set(e, "%s/%s: a change of %zu bytes at offset 0x%llx is past its end (%lld bytes); "
					  "nothing was changed",
				       t->path, name, p[i].len, (unsigned long long)p[i].off, (long long)st.st_size);
		}
	if (txn_start(t, e) < 0) {
		close(in);
		return -1;
	}
	int fd = txn_create_staged(t, name, e);
	if (fd < 0) {
		close(in);
		txn_abort(t);
		return -1;
	}
	int rc = txn_copy_fd(in, fd);
	close(in);
	struct stat got;
	if (rc == 0 && (fstat(fd, &got) < 0 || got.st_size != st.st_size)) {
		/* the file changed under us (only critlua writes it, under the lock) */
		errno = EIO;
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < np; i++) {
		const uint8_t *d = p[i].data;
		size_t left = p[i].len;
		off_t at = (off_t)p[i].off;
		while (left) {
			ssize_t n = pwrite(fd, d, left, at);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				rc = -1;
				break;
			}
			d += n;
			left -= (size_t)n;
			at += n;
		}
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -1;
	if (close(fd) < 0)
		rc = -1;
	if (rc < 0) {
		err_set(e, "%s/%s: cannot write its new copy in %s: %s; nothing was changed", t->path, name,
			t->stagename, strerror(errno ? errno : EIO));
		txn_abort(t);
		return -1;
	}
	if (txn_add_name(t, name) < 0) { /* as any other failure to stage: all is dropped */
		err_set(e, "%s/%s: out of memory; nothing was changed", t->path, name);
		txn_abort(t);
		return -1;
	}
	return 0;
}

int txn_keep(struct txn *t, const char *name, const char *as, struct err *e)
{
	if (txn_check_name(t, name, e) < 0 || txn_check_name(t, as, e) < 0 || txn_start(t, e) < 0)
		return -1;
	struct txn_keep *v = realloc(t->keeps, (t->nkeeps + 1) * sizeof *t->keeps);
	if (v)
		t->keeps = v;
	char *n = v ? strdup(name) : NULL, *a = n ? strdup(as) : NULL;
	if (!a) { /* nothing added: what was staged before stays */
		free(n);
		return err_set(e, "%s/%s: out of memory", t->path, name);
	}
	t->keeps[t->nkeeps].name = n;
	t->keeps[t->nkeeps].as = a;
	t->nkeeps++;
	return 0;
}

int txn_stage_file(struct txn *t, int *fd, struct err *e)
{
	if (t->is_dir)
		return err_set(e, "%s: is a directory, not an archive", t->path);
	if (t->staging) {
		*fd = t->sfd;
		return 0;
	}
	txn_block_signals(t);
	t->sfd = openat(t->pfd, t->stagename, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (t->sfd < 0) {
		int saved = errno;
		txn_unblock_signals(t);
		return err_set(e, "%s: cannot create %s beside it: %s; nothing was changed", t->path, t->stagename,
			       strerror(saved));
	}
	t->staging = 1;
	if (fchown(t->sfd, t->st.st_uid, t->st.st_gid) < 0) {
		/* not fatal: an unprivileged user cannot give files away */
	}
	if (fchmod(t->sfd, t->st.st_mode & 07777) < 0) {
		err_set(e, "%s: %s: %s", t->path, t->stagename, strerror(errno));
		txn_abort(t);
		return -1;
	}
	*fd = t->sfd;
	return 0;
}

int txn_keep_file(struct txn *t, const char *suffix, struct err *e)
{
	if (t->is_dir)
		return err_set(e, "%s: is a directory, not an archive", t->path);
	if (strchr(suffix, '/'))
		return err_set(e, "%s: a backup suffix cannot hold '/'", t->path);
	char *copy = strdup(suffix);
	if (!copy)
		return err_set(e, "%s: out of memory", t->path);
	free(t->keep_suffix);
	t->keep_suffix = copy;
	return 0;
}

/* ---- commit ---- */

/* A regular file that cannot be hard-linked (owned by another user under
 * protected_hardlinks, or too many links): copied instead. */
static int txn_copy(int from, int to, const char *name, const struct stat *st)
{
	int in = openat(from, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (in < 0)
		return -1;
	int out = openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return -1;
	}
	int rc = txn_copy_fd(in, out);
	if (fchown(out, st->st_uid, st->st_gid) < 0) {
		/* not fatal */
	}
	if (rc == 0 && (fchmod(out, st->st_mode & 07777) < 0 || fsync(out) < 0))
		rc = -1;
	close(in);
	if (close(out) < 0)
		rc = -1;
	return rc;
}

/* A symbolic link that cannot be hard-linked: made again, pointing at the
 * same text (never followed). */
static int txn_copy_link(int from, int to, const char *name)
{
	char target[PATH_MAX + 1];
	ssize_t n = readlinkat(from, name, target, sizeof target - 1);
	if (n < 0)
		return -1;
	target[n] = 0;
	return symlinkat(target, to, name);
}

/* Every entry of `from` (but the skipped names, at the top) into `to`: hard
 * links, never following a symbolic link (linkat without
 * AT_SYMLINK_FOLLOW links the link itself); subdirectories made and filled. */
static int txn_link_tree(struct txn *t, int from, int to, const char *where, int top, struct err *e)
{
	int fd = dup(from);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return err_set(e, "%s: cannot list it: %s", where, strerror(errno));
	}
	rewinddir(d);
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d))) {
		const char *n = de->d_name;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		if (top && (strcmp(n, TXN_MARKER) == 0 || txn_has(t->names, t->nnames, n)))
			continue;
		int skip = 0;
		for (size_t i = 0; top && i < t->nkeeps; i++)
			skip |= strcmp(t->keeps[i].as, n) == 0;
		if (skip)
			continue;
		struct stat st;
		if (fstatat(from, n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			rc = err_set(e, "%s/%s: %s", where, n, strerror(errno));
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			if (st.st_dev != t->st.st_dev) {
				rc = err_set(e, "%s/%s: is a mount point inside the checkpoint: it cannot be moved "
						"with it; nothing was changed",
					     where, n);
				break;
			}
			int sub = -1, nsub = -1;
			char *w = txn_fmt("%s/%s", where, n);
			if (!w) {
				rc = err_set(e, "%s/%s: out of memory; nothing was changed", where, n);
				break;
			}
			if (mkdirat(to, n, 0700) < 0 ||
			    (sub = openat(from, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
			    (nsub = openat(to, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
				rc = err_set(e, "%s: cannot copy it into the staged checkpoint: %s", w, strerror(errno));
			else if ((rc = txn_link_tree(t, sub, nsub, w, 0, e)) == 0) {
				if (fchown(nsub, st.st_uid, st.st_gid) < 0) {
					/* not fatal */
				}
				if (fchmod(nsub, st.st_mode & 07777) < 0 || txn_fsync_dir(nsub) < 0)
					rc = err_set(e, "%s: %s", w, strerror(errno));
			}
			free(w);
			if (sub >= 0)
				close(sub);
			if (nsub >= 0)
				close(nsub);
			continue;
		}
		if (linkat(from, n, to, n, 0) == 0)
			continue;
		int saved = errno;
		if (S_ISREG(st.st_mode) && (saved == EPERM || saved == EMLINK || saved == EXDEV) &&
		    txn_copy(from, to, n, &st) == 0)
			continue;
		if (S_ISLNK(st.st_mode) && (saved == EPERM || saved == EMLINK) && txn_copy_link(from, to, n) == 0)
			continue;
		rc = err_set(e, "%s/%s: cannot link it into the staged checkpoint: %s; nothing was changed", where, n,
			     strerror(saved));
	}
	closedir(d);
	return rc;
}

/* For tests: CRITLUA_TXN_FAIL=stage|exchange makes the commit fail there. */
static int txn_injected(const char *where)
{
	const char *v = getenv("CRITLUA_TXN_FAIL");
	return v && strcmp(v, where) == 0;
}

static int txn_commit_dir(struct txn *t, char **note, struct err *e)
{
	int rc = txn_link_tree(t, t->dfd, t->sfd, t->path, 1, e);
	for (size_t i = 0; rc == 0 && i < t->nkeeps; i++) {
		if (linkat(t->dfd, t->keeps[i].name, t->sfd, t->keeps[i].as, 0) < 0 && errno != ENOENT)
			rc = err_set(e, "%s/%s: cannot keep it as %s: %s; nothing was changed", t->path,
				     t->keeps[i].name, t->keeps[i].as, strerror(errno));
	}
	if (rc == 0) {
		if (fchown(t->sfd, t->st.st_uid, t->st.st_gid) < 0) {
			/* not fatal */
		}
		if (fchmod(t->sfd, t->st.st_mode & 07777) < 0 || txn_fsync_dir(t->sfd) < 0)
			rc = err_set(e, "%s: %s: %s; nothing was changed", t->path, t->stagename, strerror(errno));
	}
	if (rc == 0 && txn_injected("stage"))
		rc = err_set(e, "%s: failure injected by CRITLUA_TXN_FAIL=stage; nothing was changed", t->path);
	if (rc == 0) {
		long r = txn_injected("exchange") ? (errno = EINVAL, -1)
						  : syscall(SYS_renameat2, t->pfd, t->stagename, t->pfd, t->base,
							    RENAME_EXCHANGE);
		if (r < 0) {
			int saved = errno;
			if (saved == EINVAL || saved == ENOSYS)
				rc = err_set(e,
					     "%s: its file system cannot exchange two directories "
					     "(renameat2 RENAME_EXCHANGE: %s), which critlua needs to change "
					     "a checkpoint all at once; nothing was changed",
					     t->path, strerror(saved));
			else if (saved == EBUSY || saved == EXDEV)
				rc = err_set(e,
					     "%s: cannot be exchanged with its staged copy (%s): is it a mount "
					     "point? nothing was changed",
					     t->path, strerror(saved));
			else
				rc = err_set(e, "%s: cannot exchange it with its staged copy: %s; nothing was changed",
					     t->path, strerror(saved));
		}
	}
	if (rc < 0) {
		txn_abort(t);
		return -1;
	}
	/* done: the checkpoint holds the new images. What follows only tidies
	 * up, and the next run finishes it if this one is killed. */
	int old = t->dfd;
	t->dfd = t->sfd;
	t->sfd = -1;
	close(old);
	if (txn_fsync_dir(t->pfd) < 0 || txn_rm_tree(t->pfd, t->stagename, NULL) < 0 || txn_fsync_dir(t->pfd) < 0 ||
	    unlinkat(t->dfd, TXN_MARKER, 0) < 0 || txn_fsync_dir(t->dfd) < 0)
		*note = txn_fmt("%s: the change is made, but tidying up failed (%s); the next critlua run on it "
				"finishes that",
				t->path, strerror(errno));
	t->staging = 0;
	txn_clear(t);
	txn_unblock_signals(t);
	return 0;
}

static int txn_commit_file(struct txn *t, char **note, struct err *e)
{
	int rc = 0;
	char *bk = NULL; /* the backup this commit made, removed again if it fails */
	if (fsync(t->sfd) < 0)
		rc = err_set(e, "%s: cannot write %s: %s; nothing was changed", t->path, t->stagename, strerror(errno));
	if (rc == 0 && t->keep_suffix) {
		bk = txn_fmt("%s%s", t->base, t->keep_suffix);
		if (!bk)
			rc = err_set(e, "%s: out of memory; nothing was changed", t->path);
		else if (linkat(t->pfd, t->base, t->pfd, bk, 0) < 0) {
			if (errno == EEXIST)
				*note = txn_fmt("%s%s already exists: kept as the older original", t->path,
						t->keep_suffix);
			else
				rc = err_set(e, "%s: cannot keep it as %s: %s; nothing was changed", t->path, bk,
					     strerror(errno));
			free(bk);
			bk = NULL;
		}
	}
	if (rc == 0 && txn_injected("stage"))
		rc = err_set(e, "%s: failure injected by CRITLUA_TXN_FAIL=stage; nothing was changed", t->path);
	if (rc == 0 && renameat(t->pfd, t->stagename, t->pfd, t->base) < 0)
		rc = err_set(e, "%s: cannot rename %s over it: %s; nothing was changed", t->path, t->stagename,
			     strerror(errno));
	if (rc < 0) {
		/* "nothing was changed": not even a backup left beside it (fuzz-txn
		 * found one left by a commit that failed after making it) */
		if (bk)
			unlinkat(t->pfd, bk, 0);
		free(bk);
		free(*note);
		*note = NULL;
		txn_abort(t);
		return -1;
	}
	free(bk);
	txn_fsync_dir(t->pfd);
	t->staging = 0;
	txn_clear(t);
	txn_unblock_signals(t);
	return 0;
}

int txn_commit(struct txn *t, char **note, struct err *e)
{
	*note = NULL;
	if (!t->staging) {
		txn_clear(t);
		return 0;
	}
	return t->is_dir ? txn_commit_dir(t, note, e) : txn_commit_file(t, note, e);
}

/* ---- reading images without blocking ---- */

int txn_read_regular(const char *path, uint8_t **out, size_t *len, struct err *e)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int saved = errno;
		err_set(e, "cannot open: %s", strerror(saved));
		return saved == ENOENT ? 1 : -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int saved = errno;
		close(fd);
		return err_set(e, "cannot open: %s", strerror(saved));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, "is a %s, not an image file", file_kind(st.st_mode));
	}
	int rc = read_fd(fd, (size_t)st.st_size, out, len, e);
	close(fd);
	return rc;
}

/* ---- one file written into a checkpoint ---- */

int txn_write_path(const char *path, const void *data, size_t len, struct err *e)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? (slash == path ? strdup("/") : strndup(path, (size_t)(slash - path))) : strdup(".");
	const char *name = slash ? slash + 1 : path;
	size_t n = dir ? strlen(dir) + 16 : 0;
	char *inv = dir ? malloc(n) : NULL;
	if (!inv) {
		free(dir);
		return err_oom(e);
	}
	snprintf(inv, n, "%s/inventory.img", dir);
	struct stat st;
	int in_checkpoint = *name && strcmp(path, "-") != 0 && lstat(inv, &st) == 0;
	free(inv);
	if (!in_checkpoint) {
		free(dir);
		return write_file_atomic(path, data, len, e);
	}
	struct txn *t;
	char *report, *note = NULL;
	int rc = txn_begin(&t, dir, 10, &report, e);
	free(dir);
	if (rc < 0)
		return -1;
	if (report) {
		fprintf(stderr, "critlua: %s\n", report);
		free(report);
	}
	rc = txn_stage(t, name, data, len, e);
	if (rc == 0)
		rc = txn_commit(t, &note, e);
	if (note) {
		fprintf(stderr, "critlua: %s\n", note);
		free(note);
	}
	txn_end(t);
	return rc;
}
