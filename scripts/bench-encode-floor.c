/* bench-encode-floor.c: the floor under `encode`, for scripts/bench.sh: what
 * any JSON-to-image encoder built on json-c and protobuf-c must do at least --
 * read the JSON, parse it with json_tokener_parse, and pack the messages the
 * image holds -- with nothing in between (no checks, no conversion).
 * The messages are those critlua's encode produces from that JSON: unpacked
 * from the image the JSON came from, before the clock starts.
 * usage: bench-encode-floor JSON IMAGE > OUT
 * Writes the packed image to OUT, and "WALL CPU" (seconds of the timed part)
 * on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "image.h"
#include "util.h"

static double bef_clock(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct err e;
	struct img img;
	if (argc != 3) {
		fprintf(stderr, "usage: bench-encode-floor JSON IMAGE > OUT\n");
		return 2;
	}
	if (img_load(argv[2], &img, &e) < 0) {
		fprintf(stderr, "bench-encode-floor: %s\n", e.msg);
		return 1;
	}
	double w0 = bef_clock(CLOCK_MONOTONIC), c0 = bef_clock(CLOCK_PROCESS_CPUTIME_ID);
	uint8_t *text;
	size_t len;
	if (read_file(argv[1], &text, &len, &e) < 0) {
		fprintf(stderr, "bench-encode-floor: %s: %s\n", argv[1], e.msg);
		return 1;
	}
	struct json_object *o = json_tokener_parse((const char *)text);
	if (!o) {
		fprintf(stderr, "bench-encode-floor: %s: json-c cannot parse it\n", argv[1]);
		return 1;
	}
	json_object_put(o);
	free(text);
	struct buf out = { 0 };
	if (img_encode(&img, &out, &e) < 0) {
		fprintf(stderr, "bench-encode-floor: %s: %s\n", argv[2], e.msg);
		return 1;
	}
	for (size_t at = 0; at < out.len;) {
		ssize_t n = write(1, out.p + at, out.len - at);
		if (n <= 0) {
			perror("bench-encode-floor: write");
			return 1;
		}
		at += (size_t)n;
	}
	double w1 = bef_clock(CLOCK_MONOTONIC), c1 = bef_clock(CLOCK_PROCESS_CPUTIME_ID);
	fprintf(stderr, "%.4f %.3f\n", w1 - w0, c1 - c0);
	buf_free(&out);
	img_free(&img);
	return 0;
}
