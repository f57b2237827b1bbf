/* bench-floor.c: the floor under `x DIR fds`, for scripts/bench.sh: a
 * program that does nothing but open, read to the end and close the files
 * named on its command line, on as many threads as `x` uses (one per CPU, at
 * most four), with no decoding and no output. critlua's `x fds` can be no
 * faster than this on the same files.
 * usage: bench-floor DIR FILE...   (FILE relative to DIR) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static int dfd, nfiles;
static char **files;
static atomic_int next, failed;

static void *reader(void *arg)
{
	(void)arg;
	static _Thread_local char buf[1 << 16];
	for (int i; (i = atomic_fetch_add(&next, 1)) < nfiles;) {
		int fd = openat(dfd, files[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			atomic_store(&failed, 1);
			continue;
		}
		while (read(fd, buf, sizeof buf) > 0)
			;
		close(fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs("usage: bench-floor DIR FILE...\n", stderr);
		return 2;
	}
	if ((dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		perror(argv[1]);
		return 1;
	}
	files = argv + 2;
	nfiles = argc - 2;
	cpu_set_t set;
	int nt = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
	if (nt > 4)
		nt = 4;
	pthread_t t[4];
	int started = 1;
	while (started < nt && pthread_create(&t[started], NULL, reader, NULL) == 0)
		started++;
	reader(NULL);
	for (int k = 1; k < started; k++)
		pthread_join(t[k], NULL);
	if (failed) {
		fputs("bench-floor: a file did not open\n", stderr);
		return 1;
	}
	return 0;
}
