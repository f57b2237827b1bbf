/* ps.c: print a checkpoint's process tree as `critlua x DIR ps` does,
 * through libcrit.
 *   cc -o ps ps.c $(pkg-config --cflags --libs libcrit)
 *   ./ps DIR        (a checkpoint directory or a container archive) */
#include <stdio.h>
#include <string.h>

#include <crit/crit.h>

static void show(const crit_process *p, size_t n, size_t i, int depth, unsigned char *seen)
{
	if (seen[i])
		return; /* a loop in the parents: each process once */
	seen[i] = 1;
	printf("%7u%7u%7u   %*s%s\n", p[i].pid, p[i].pgid, p[i].sid, 4 * depth, "",
	       p[i].comm ? p[i].comm : "?");
	for (size_t k = 0; k < n; k++) /* children in pstree order */
		if (k != i && p[k].ppid == p[i].pid)
			show(p, n, k, depth + 1, seen);
}

static int in_dump(const crit_process *p, size_t n, uint32_t pid)
{
	for (size_t k = 0; k < n; k++)
		if (p[k].pid == pid)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CHECKPOINT\n", argv[0]);
		return 2;
	}
	crit_error err;
	crit_checkpoint *ck;
	if (crit_checkpoint_open(argv[1], &ck, &err) < 0) {
		fprintf(stderr, "ps: %s\n", err.message);
		return 1;
	}
	size_t n;
	const crit_process *p = crit_checkpoint_processes(ck, &n, &err);
	if (!p) {
		fprintf(stderr, "ps: %s\n", err.message);
		crit_checkpoint_close(ck);
		return 1;
	}
	unsigned char seen[n + 1];
	memset(seen, 0, n + 1);
	printf("%7s%7s%7s   %s\n", "PID", "PGID", "SID", "COMM");
	/* the roots: as CRIT, the last process with ppid 0 first, then the others */
	size_t last = n;
	for (size_t i = 0; i < n; i++)
		if (p[i].ppid == 0)
			last = i;
	if (last < n)
		show(p, n, last, 0, seen);
	for (size_t i = 0; i < n; i++)
		if (p[i].ppid == 0)
			show(p, n, i, 0, seen);
	for (size_t i = 0; i < n; i++) /* parents not in the dump, then loops */
		if (!in_dump(p, n, p[i].ppid))
			show(p, n, i, 0, seen);
	for (size_t i = 0; i < n; i++)
		show(p, n, i, 0, seen);
	crit_checkpoint_close(ck);
	return 0;
}
