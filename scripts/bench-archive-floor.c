/* bench-archive-floor.c: the floor under the archive views (inspect, x on an
 * archive), for scripts/bench.sh: what any reader of a checkpoint archive
 * built on libarchive must do at least -- load the library and walk every
 * member's header to the end of the archive, skipping the data -- with no
 * index kept, nothing decoded and no output but the count.
 * usage: bench-archive-floor ARCHIVE   (prints the number of members) */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fputs("usage: bench-archive-floor ARCHIVE\n", stderr);
		return 2;
	}
	struct archive *ar = archive_read_new();
	archive_read_support_filter_all(ar);
	archive_read_support_format_tar(ar);
	archive_read_support_format_gnutar(ar);
	if (archive_read_open_filename(ar, argv[1], 65536) != ARCHIVE_OK) {
		fprintf(stderr, "bench-archive-floor: %s: %s\n", argv[1], archive_error_string(ar));
		return 1;
	}
	struct archive_entry *en;
	long n = 0;
	int r;
	while ((r = archive_read_next_header(ar, &en)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		n++;
		archive_read_data_skip(ar);
	}
	if (r != ARCHIVE_EOF) {
		fprintf(stderr, "bench-archive-floor: %s: %s\n", argv[1], archive_error_string(ar));
		return 1;
	}
	archive_read_free(ar);
	printf("%ld\n", n);
	return 0;
}
