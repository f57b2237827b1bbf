/* fuzz_json.c: libFuzzer target for `encode`'s path, JSON text to image.
 *
 * Any input is read as CRIT's JSON. What is accepted must encode, decode,
 * and come back to the same image through critlua's own JSON, plain and
 * pretty: json -> image -> JSON -> image gives the same bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "json_in.h"
#include "json_out.h"

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_json: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img img;
	struct err e;
	if (json_to_img((const char *)data, size, &img, &e) < 0)
		return 0;
	/* json_to_img checks the JSON's types and ranges; what only the writer can
	 * check (payload lengths against the message, ...) may still be refused,
	 * with its message, as `encode` then reports it. */
	struct buf enc = { 0 };
	int rc = img_encode(&img, &enc, &e);
	img_free(&img);
	if (rc < 0) {
		if (!e.msg[0])
			fail("encode refused the image without saying why", NULL);
		buf_free(&enc);
		return 0;
	}

	for (int pretty = 0; pretty < 2; pretty++) {
		struct buf js = { 0 };
		if (jw_image_buf(enc.p, enc.len, "fuzz", &js, pretty, 0, &e) < 0)
			fail("encoded image does not decode to JSON", e.msg);
		struct img back;
		if (json_to_img((const char *)js.p, js.len, &back, &e) < 0)
			fail(pretty ? "critlua's pretty JSON is refused" : "critlua's JSON is refused", e.msg);
		struct buf enc2 = { 0 };
		if (img_encode(&back, &enc2, &e) < 0)
			fail("image from critlua's JSON does not encode", e.msg);
		if (enc2.len != enc.len || memcmp(enc2.p, enc.p, enc.len) != 0)
			fail(pretty ? "pretty JSON round trip changed the image" : "JSON round trip changed the image",
			     NULL);
		img_free(&back);
		buf_free(&enc2);
		buf_free(&js);
	}
	buf_free(&enc);
	return 0;
}
