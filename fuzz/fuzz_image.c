/* fuzz_image.c: libFuzzer target for the image decoder.
 *
 * Any input is decoded as an image file. What decodes must also survive the
 * rest of the pipeline a user runs on it, with two properties checked:
 *   - re-encoding is stable: decode(encode(decode(x))) encodes to the same bytes;
 *   - CRIT's JSON is lossless: the plain JSON of the image, read back by
 *     `encode`, gives the image's own encoding (v1.1 form, as encode writes).
 * The pretty JSON and the --nopl form are written too (for crashes only). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "json_in.h"
#include "json_out.h"

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_image: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img img;
	struct err e;
	if (img_decode(data, size, &img, &e) < 0)
		return 0;

	struct buf enc = { 0 };
	if (img_encode(&img, &enc, &e) < 0) {
		/* Decoded but cannot be written back: only a missing required field may say so
		 * (protobuf-c unpacks messages without them when they come from unknown data). */
		if (!strstr(e.msg, "required") && !strstr(e.msg, "missing"))
			fail("decoded image does not encode", e.msg);
		buf_free(&enc);
		img_free(&img);
		return 0;
	}

	struct img again;
	if (img_decode(enc.p, enc.len, &again, &e) < 0)
		fail("re-encoded image does not decode", e.msg);
	struct buf enc2 = { 0 };
	if (img_encode(&again, &enc2, &e) < 0)
		fail("re-decoded image does not encode", e.msg);
	if (enc2.len != enc.len || memcmp(enc2.p, enc.p, enc.len) != 0)
		fail("encoding is not stable", NULL);
	img_free(&again);

	/* JSON: plain, pretty and --nopl, each from the original bytes. */
	struct buf js = { 0 };
	for (int mode = 0; mode < 3; mode++) {
		struct buf out = { 0 };
		if (jw_image_buf(data, size, "fuzz", &out, mode == 1, mode == 2, &e) < 0)
			fail("decodable image has no JSON", e.msg);
		if (mode == 0)
			js = out;
		else
			buf_free(&out);
	}

	/* The plain JSON back to an image: the same bytes as encoding the image in the
	 * form encode writes (a bare v1 image gets its head). */
	struct img fromjs;
	if (json_to_img((const char *)js.p, js.len, &fromjs, &e) < 0)
		fail("critlua's own JSON does not encode", e.msg);
	struct buf enc3 = { 0 }, want = { 0 };
	if (img_encode(&fromjs, &enc3, &e) < 0)
		fail("image from JSON does not encode", e.msg);
	img.form = img.mi->head;
	if (img_encode(&img, &want, &e) < 0)
		fail("image in encode's form does not encode", e.msg);
	if (enc3.len != want.len || memcmp(enc3.p, want.p, want.len) != 0)
		fail("JSON round trip changed the image", NULL);

	img_free(&fromjs);
	buf_free(&enc3);
	buf_free(&want);
	buf_free(&js);
	buf_free(&enc2);
	buf_free(&enc);
	img_free(&img);
	return 0;
}
