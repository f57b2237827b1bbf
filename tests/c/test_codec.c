/* test_codec.c: the image codec's generic paths (img_write_entry, img_reader,
 * img_encode, pb_check_required, pb_explain_unpack_failure) on tests/proto/testmsg.proto,
 * which uses what CRIU's schema does not: every scalar type at its extremes, defaults,
 * recursion, unknown fields and enum values, bytes with NULs, non-UTF-8 strings. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "image.h"
#include "pipe-data.pb-c.h"
#include "testmsg.pb-c.h"

/* Image types the magic table does not know: the codec must take the
 * descriptor from the magic_info it is given, not look it up. */
static struct magic_info tm_mi = {
	.name = "TEST_ALL", .magic = 0x21436587, .head = FORM_COMMON, .message = "tm_all",
	.payload = PL_NONE, .files = "test-all.img", .desc = &tm_all__descriptor,
};
static struct magic_info old_mi = {
	.name = "TEST_OLD", .magic = 0x21436587, .head = FORM_COMMON, .message = "tm_old",
	.payload = PL_NONE, .files = "test-all.img", .desc = &tm_old__descriptor,
};
static struct magic_info node_mi = {
	.name = "TEST_NODE", .magic = 0x21436588, .head = FORM_COMMON, .message = "tm_node",
	.payload = PL_NONE, .files = "test-node.img", .desc = &tm_node__descriptor,
};

/* ---- deep comparison over descriptors (floats bit for bit) ---- */

static size_t scalar_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

static int msg_equal(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *path);

static int value_equal(const ProtobufCFieldDescriptor *f, const void *va, const void *vb,
		       const char *path)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *sa = *(char *const *)va, *sb = *(char *const *)vb;
		if (!sa || !sb ? sa != sb : strcmp(sa, sb) != 0) {
			check_fail(__FILE__, __LINE__, "%s: strings differ", path);
			return 0;
		}
		return 1;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *ba = va, *bb = vb;
		if (ba->len != bb->len || (ba->len && memcmp(ba->data, bb->data, ba->len) != 0)) {
			check_fail(__FILE__, __LINE__, "%s: bytes differ (%zu vs %zu bytes)", path,
				   ba->len, bb->len);
			return 0;
		}
		return 1;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return msg_equal(*(ProtobufCMessage *const *)va, *(ProtobufCMessage *const *)vb, path);
	default:
		if (memcmp(va, vb, scalar_size(f->type)) != 0) {
			check_fail(__FILE__, __LINE__, "%s: values differ", path);
			return 0;
		}
		return 1;
	}
}

/* Presence must agree too: a field the writer left absent must come back absent. */
static int msg_equal(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *path)
{
	check_count++;
	if (!a || !b) {
		if (a != b)
			check_fail(__FILE__, __LINE__, "%s: one message is absent", path);
		return a == b;
	}
	if (a->descriptor != b->descriptor) {
		check_fail(__FILE__, __LINE__, "%s: types differ", path);
		return 0;
	}
	int ok = 1;
	const ProtobufCMessageDescriptor *d = a->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *pa = (const char *)a + f->offset, *pb = (const char *)b + f->offset;
		char sub[512];
		snprintf(sub, sizeof sub, "%s.%s", path, f->name);
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t na = *(const size_t *)((const char *)a + f->quantifier_offset);
			size_t nb = *(const size_t *)((const char *)b + f->quantifier_offset);
			if (na != nb) {
				check_fail(__FILE__, __LINE__, "%s: %zu vs %zu items", sub, na, nb);
				ok = 0;
				continue;
			}
			const char *arr_a = *(char *const *)pa, *arr_b = *(char *const *)pb;
			size_t sz = scalar_size(f->type);
			for (size_t k = 0; k < na; k++) {
				char item[540];
				snprintf(item, sizeof item, "%s[%zu]", sub, k);
				ok &= value_equal(f, arr_a + k * sz, arr_b + k * sz, item);
			}
			continue;
		}
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset) {
			protobuf_c_boolean ha = *(const protobuf_c_boolean *)((const char *)a + f->quantifier_offset);
			protobuf_c_boolean hb = *(const protobuf_c_boolean *)((const char *)b + f->quantifier_offset);
			if (ha != hb) {
				check_fail(__FILE__, __LINE__, "%s: present in one message only", sub);
				ok = 0;
				continue;
			}
			if (!ha)
				continue;
		}
		ok &= value_equal(f, pa, pb, sub);
	}
	if (a->n_unknown_fields != b->n_unknown_fields) {
		check_fail(__FILE__, __LINE__, "%s: %u vs %u unknown fields", path,
			   a->n_unknown_fields, b->n_unknown_fields);
		ok = 0;
	}
	return ok;
}

/* ---- writing and reading test images through the codec ---- */

static int write_image(const struct magic_info *mi, ProtobufCMessage *const *msgs, size_t n,
		       struct buf *out, struct err *e)
{
	struct img_entry first = { .msg = n ? msgs[0] : NULL };
	img_write_head(out, mi, FORM_COMMON);
	for (size_t i = 0; i < n; i++) {
		struct img_entry en = { .msg = msgs[i] };
		if (img_write_entry(out, mi, i, &first, &en, e) < 0)
			return -1;
	}
	return 0;
}

/* The reader is set up by hand past the head: img_reader_init only knows the
 * table's magics, and these test types are deliberately not in it. */
static int read_image(const struct magic_info *mi, const uint8_t *buf, size_t len, struct img *img,
		      struct err *e)
{
	struct img_reader r = { .buf = buf, .len = len, .off = 8, .mi = mi, .form = FORM_COMMON };
	memset(img, 0, sizeof *img);
	img->mi = mi;
	img->form = FORM_COMMON;
	for (;;) {
		struct img_entry en = { 0 };
		int rc = img_reader_next(&r, &en, e);
		if (rc <= 0) {
			img_entry_free(&en);
			return rc;
		}
		*img_add_entry(img) = en;
	}
}

/* Write msgs, check the bytes are exactly the size-framed packings, read them
 * back, compare, and check that img_encode of what was read gives the same bytes. */
static void roundtrip(const char *what, const struct magic_info *mi, ProtobufCMessage *const *msgs,
		      size_t n)
{
	struct buf out = { 0 }, expect = { 0 }, again = { 0 };
	struct err e = { { 0 } };
	struct img img;

	if (write_image(mi, msgs, n, &out, &e) < 0) {
		check_fail(__FILE__, __LINE__, "%s: write: %s", what, e.msg);
		goto done;
	}
	buf_add_u32(&expect, IMG_COMMON_MAGIC);
	buf_add_u32(&expect, mi->magic);
	for (size_t i = 0; i < n; i++) {
		size_t sz = protobuf_c_message_get_packed_size(msgs[i]);
		buf_add_u32(&expect, (uint32_t)sz);
		buf_reserve(&expect, sz);
		expect.len += protobuf_c_message_pack(msgs[i], expect.p + expect.len);
	}
	CHECK(out.len == expect.len && memcmp(out.p, expect.p, out.len) == 0,
	      "%s: the image is not head, magic and size-framed messages (%zu vs %zu bytes)", what,
	      out.len, expect.len);

	if (read_image(mi, out.p, out.len, &img, &e) < 0) {
		check_fail(__FILE__, __LINE__, "%s: read: %s", what, e.msg);
		img_free(&img);
		goto done;
	}
	CHECK(img.n == n, "%s: %zu entries read, %zu written", what, img.n, n);
	for (size_t i = 0; i < n && i < img.n; i++) {
		char path[64];
		snprintf(path, sizeof path, "%s[%zu]", what, i);
		msg_equal(msgs[i], img.entries[i].msg, path);
		CHECK(!img.entries[i].has_extra, "%s: a payload appeared", path);
	}
	if (img_encode(&img, &again, &e) < 0)
		check_fail(__FILE__, __LINE__, "%s: img_encode: %s", what, e.msg);
	else
		CHECK(again.len == out.len && memcmp(again.p, out.p, out.len) == 0,
		      "%s: img_encode of the decoded image differs from the original", what);
	img_free(&img);
done:
	buf_free(&out);
	buf_free(&expect);
	buf_free(&again);
}

/* ---- the tests ---- */

static uint8_t all_bytes[256];
static uint8_t nul_bytes[] = { 0, 0, 'a', 0, 0xff, 0 };

static void fill_scalars(TmScalars *s, int which)
{
	tm_scalars__init(s);
	switch (which) {
	case 0: /* maxima */
		s->i32 = INT32_MAX; s->i64 = INT64_MAX; s->u32 = UINT32_MAX; s->u64 = UINT64_MAX;
		s->s32 = INT32_MAX; s->s64 = INT64_MAX; s->f32 = UINT32_MAX; s->f64 = UINT64_MAX;
		s->sf32 = INT32_MAX; s->sf64 = INT64_MAX; s->b = 1; s->fl = FLT_MAX; s->db = DBL_MAX;
		s->str = "héllo wörld ✓ 𝄞"; s->by.data = all_bytes; s->by.len = sizeof all_bytes;
		s->color = TM_COLOR__TM_MAX;
		break;
	case 1: /* minima: negative int32 takes ten bytes on the wire */
		s->i32 = INT32_MIN; s->i64 = INT64_MIN; s->u32 = 0; s->u64 = 0;
		s->s32 = INT32_MIN; s->s64 = INT64_MIN; s->f32 = 0; s->f64 = 0;
		s->sf32 = INT32_MIN; s->sf64 = INT64_MIN; s->b = 0; s->fl = -FLT_MAX; s->db = -DBL_MAX;
		s->str = ""; s->by.data = NULL; s->by.len = 0; s->color = TM_COLOR__TM_NEGATIVE;
		break;
	case 2: /* the odd floats, -1 everywhere, bytes with NULs, a string that is not UTF-8 */
		s->i32 = -1; s->i64 = -1; s->u32 = 1; s->u64 = 1; s->s32 = -1; s->s64 = -1;
		s->f32 = 1; s->f64 = 1; s->sf32 = -1; s->sf64 = -1; s->b = 1;
		s->fl = -0.0f; s->db = nan("0x5a5a");
		s->str = "\xff\xfe not utf-8 \xc3\x28 \xed\xa0\x80"; s->by.data = nul_bytes;
		s->by.len = sizeof nul_bytes; s->color = TM_COLOR__TM_SPARSE;
		break;
	default: /* infinities, denormals */
		s->i32 = 0; s->i64 = 0; s->u32 = 0; s->u64 = 0; s->s32 = 0; s->s64 = 0;
		s->fl = INFINITY; s->db = -INFINITY; s->str = "x"; s->color = TM_COLOR__TM_RED;
		s->sf32 = 0; s->sf64 = 0;
		if (which == 4) {
			s->fl = FLT_MIN / 4; s->db = DBL_MIN / 4;
		}
		break;
	}
}

static void test_scalars(void)
{
	TmScalars s[5];
	TmAll all[5];
	ProtobufCMessage *msgs[5];
	for (int i = 0; i < 5; i++) {
		fill_scalars(&s[i], i);
		tm_all__init(&all[i]);
		all[i].scalars = &s[i];
		msgs[i] = &all[i].base;
	}
	roundtrip("scalars", &tm_mi, msgs, 5);
}

/* A few encodings worked out by hand: the codec must write protobuf's wire
 * format, not merely something it can read back. */
static void test_wire(void)
{
	static const struct {
		uint32_t id;
		const char *label;
		const uint8_t *wire;
		size_t len;
	} cases[] = {
		{ 150, NULL, (const uint8_t *)"\x08\x96\x01", 3 },
		{ 1, "a", (const uint8_t *)"\x08\x01\x12\x01\x61", 5 },
		{ UINT32_MAX, "", (const uint8_t *)"\x08\xff\xff\xff\xff\x0f\x12\x00", 8 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		TmNode n;
		tm_node__init(&n);
		n.id = cases[i].id;
		n.label = (char *)cases[i].label;
		struct buf out = { 0 };
		struct err e = { { 0 } };
		ProtobufCMessage *m = &n.base;
		if (write_image(&node_mi, &m, 1, &out, &e) < 0) {
			check_fail(__FILE__, __LINE__, "wire case %zu: %s", i, e.msg);
		} else {
			CHECK(out.len == 12 + cases[i].len && get_u32(out.p) == IMG_COMMON_MAGIC &&
				      get_u32(out.p + 4) == node_mi.magic &&
				      get_u32(out.p + 8) == cases[i].len &&
				      memcmp(out.p + 12, cases[i].wire, cases[i].len) == 0,
			      "wire case %zu: bytes differ from the hand-made encoding", i);
		}
		buf_free(&out);
	}

	/* int32 -1 is ten bytes, sint32 -1 is one (zigzag), sfixed32 -1 four. */
	TmScalars s;
	fill_scalars(&s, 2);
	uint8_t packed[512];
	size_t len = tm_scalars__pack(&s, packed);
	CHECK(len > 11 && memcmp(packed, "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11) == 0,
	      "int32 -1 is not a ten-byte varint");
	CHECK(memmem(packed, len, "\x28\x01", 2) != NULL, "sint32 -1 is not zigzag 1");
	CHECK(memmem(packed, len, "\x4d\xff\xff\xff\xff", 5) != NULL, "sfixed32 -1 is not 4 bytes");
}

static void test_defaults(void)
{
	TmDefaults absent, given;
	TmAll a, b;
	tm_defaults__init(&absent);
	tm_defaults__init(&given);
	/* Every field set explicitly to its default: present on the wire, and must stay present. */
	given.has_i32 = given.has_i64 = given.has_u32 = given.has_u64 = 1;
	given.has_s32 = given.has_s64 = given.has_f32 = given.has_f64 = 1;
	given.has_sf32 = given.has_sf64 = given.has_b = given.has_fl = given.has_db = 1;
	given.has_by = given.has_color = given.has_plain = 1;
	given.str = "dflt"; /* a copy, not the default's pointer, so it is written */
	static uint8_t dflt_by[] = { 'a', 0, 'b' };
	given.by.data = dflt_by;
	given.by.len = 3;
	tm_all__init(&a);
	tm_all__init(&b);
	a.defaults = &absent;
	b.defaults = &given;
	ProtobufCMessage *msgs[] = { &a.base, &b.base };
	roundtrip("defaults", &tm_mi, msgs, 2);

	/* Read back, the absent fields show their defaults and no presence. */
	struct buf out = { 0 };
	struct err e = { { 0 } };
	struct img img = { 0 };
	if (write_image(&tm_mi, msgs, 2, &out, &e) < 0 || read_image(&tm_mi, out.p, out.len, &img, &e) < 0) {
		check_fail(__FILE__, __LINE__, "defaults: %s", e.msg);
	} else if (img.n == 2) {
		const TmDefaults *d = ((TmAll *)img.entries[0].msg)->defaults;
		CHECK(out.len == 8 + 4 + 2 + 4 + protobuf_c_message_get_packed_size(&b.base),
		      "an all-absent tm_defaults is not written as an empty message");
		CHECK(d && !d->has_i32 && !d->has_u64 && !d->has_b && !d->has_by && !d->has_color &&
			      !d->has_plain,
		      "absent optional fields came back present");
		CHECK(d && d->i32 == -7 && d->i64 == -INT64_MAX && d->u32 == UINT32_MAX &&
			      d->u64 == UINT64_MAX && d->s32 == -1 && d->s64 == -2 && d->f32 == 7 &&
			      d->f64 == 8 && d->sf32 == -9 && d->sf64 == -10 && d->b == 1 && d->fl == 1.5f &&
			      d->db == -2.25 && d->color == TM_COLOR__TM_SPARSE && d->plain == 0,
		      "absent fields do not read as their defaults");
		CHECK(d && d->str && strcmp(d->str, "dflt") == 0 && d->by.len == 3 &&
			      memcmp(d->by.data, "a\0b", 3) == 0,
		      "string/bytes defaults wrong");
		const TmDefaults *g = ((TmAll *)img.entries[1].msg)->defaults;
		CHECK(g && g->has_i32 && g->has_u64 && g->has_b && g->has_by && g->has_color && g->has_plain,
		      "fields set to their default value lost their presence");
	}
	img_free(&img);
	buf_free(&out);
}

static TmNode *make_tree(TmNode *pool, size_t *used, size_t cap, unsigned depth, unsigned fanout)
{
	TmNode *n = &pool[(*used)++];
	tm_node__init(n);
	n->id = (uint32_t)*used;
	n->label = depth % 2 ? NULL : "level";
	if (depth == 0 || *used + fanout > cap)
		return n;
	n->children = malloc(fanout * sizeof *n->children);
	n->n_children = fanout;
	for (unsigned i = 0; i < fanout; i++)
		n->children[i] = make_tree(pool, used, cap, depth - 1, fanout);
	return n;
}

static void free_tree(TmNode *n)
{
	for (size_t i = 0; i < n->n_children; i++)
		free_tree(n->children[i]);
	free(n->children);
}

static void test_nested_repeated(void)
{
	enum { POOL = 4000 };
	TmNode *pool = calloc(POOL, sizeof *pool);
	size_t used = 0;
	TmAll a;
	tm_all__init(&a);
	a.tree = make_tree(pool, &used, POOL, 6, 3);
	/* Also a chain 64 deep: recursion within limits must simply work. */
	TmNode *chain = make_tree(pool, &used, POOL, 64, 1);
	TmNode *nodes[] = { chain, &pool[1], &pool[2] };
	a.nodes = nodes;
	a.n_nodes = 3;

	int32_t r_i32[] = { INT32_MIN, -1, 0, 1, INT32_MAX };
	int64_t r_i64[] = { INT64_MIN, -1, 0, INT64_MAX };
	uint32_t r_u32[] = { 0, 1, 127, 128, UINT32_MAX };
	uint64_t r_u64[] = { 0, (uint64_t)1 << 63, UINT64_MAX };
	int32_t r_s32[] = { INT32_MIN, -1, INT32_MAX };
	int64_t r_s64[] = { INT64_MIN, -1, INT64_MAX };
	uint32_t r_f32[] = { 0, UINT32_MAX };
	uint64_t r_f64[] = { 0, UINT64_MAX };
	int32_t r_sf32[] = { INT32_MIN, INT32_MAX };
	int64_t r_sf64[] = { INT64_MIN, INT64_MAX };
	protobuf_c_boolean r_b[] = { 1, 0, 1 };
	float r_fl[] = { -0.0f, FLT_MAX, FLT_MIN, FLT_TRUE_MIN };
	double r_db[] = { DBL_MAX, -DBL_MIN, DBL_TRUE_MIN, -0.0 };
	char *r_str[] = { "", "a", "\xff", "multi\nline\ttext" };
	ProtobufCBinaryData r_by[] = { { 0, NULL }, { sizeof nul_bytes, nul_bytes },
				       { sizeof all_bytes, all_bytes } };
	TmColor r_color[] = { TM_COLOR__TM_NEGATIVE, TM_COLOR__TM_RED, TM_COLOR__TM_MAX, 77 /* unknown */ };
#define SET(f) (a.f = f, a.n_##f = sizeof f / sizeof f[0])
	SET(r_i32); SET(r_i64); SET(r_u32); SET(r_u64); SET(r_s32); SET(r_s64); SET(r_f32);
	SET(r_f64); SET(r_sf32); SET(r_sf64); SET(r_b); SET(r_fl); SET(r_db); SET(r_str);
	SET(r_by); SET(r_color);
#undef SET
	a.has_last = 1;
	a.last = 0xdeadbeef;

	/* Many entries in one image, too. */
	enum { MANY = 1000 };
	TmAll *many = calloc(MANY, sizeof *many);
	ProtobufCMessage **msgs = calloc(MANY + 1, sizeof *msgs);
	msgs[0] = &a.base;
	for (size_t i = 0; i < MANY; i++) {
		tm_all__init(&many[i]);
		many[i].has_last = i % 2;
		many[i].last = (uint32_t)i;
		msgs[i + 1] = &many[i].base;
	}
	roundtrip("nested+repeated", &tm_mi, msgs, MANY + 1);
	free(msgs);
	free(many);
	free_tree(a.tree);
	free_tree(chain);
	free(pool);
}

/* Fields from a newer schema travel through an older one untouched, and
 * survive a change to the fields that are known (SPEC §4). */
static void test_unknown_fields(void)
{
	TmScalars s;
	fill_scalars(&s, 0);
	TmDefaults d;
	tm_defaults__init(&d);
	d.has_plain = 1;
	d.plain = 42;
	TmNode leaf, root, *kids[] = { &leaf };
	tm_node__init(&leaf);
	tm_node__init(&root);
	leaf.id = 2;
	root.id = 1;
	root.children = kids;
	root.n_children = 1;
	uint64_t r_u64[] = { UINT64_MAX, 0 };
	ProtobufCBinaryData r_by[] = { { sizeof nul_bytes, nul_bytes } };
	TmAll a;
	tm_all__init(&a);
	a.scalars = &s;
	a.defaults = &d;
	a.tree = &root;
	a.r_u64 = r_u64;
	a.n_r_u64 = 2;
	a.r_by = r_by;
	a.n_r_by = 1;
	a.has_last = 1;
	a.last = 7;
	ProtobufCMessage *msgs[] = { &a.base };

	struct buf out = { 0 }, again = { 0 }, changed = { 0 };
	struct err e = { { 0 } };
	struct img old = { 0 }, back = { 0 };
	if (write_image(&tm_mi, msgs, 1, &out, &e) < 0 || read_image(&old_mi, out.p, out.len, &old, &e) < 0) {
		check_fail(__FILE__, __LINE__, "unknown fields: %s", e.msg);
		goto done;
	}
	CHECK(old.n == 1, "unknown fields: %zu entries", old.n);
	if (old.n != 1)
		goto done;
	/* defaults, tree, 2 x r_u64, r_by, last */
	CHECK(old.entries[0].msg->n_unknown_fields == 6, "unknown fields: %u kept, 6 expected",
	      old.entries[0].msg->n_unknown_fields);
	if (img_encode(&old, &again, &e) < 0)
		check_fail(__FILE__, __LINE__, "unknown fields: encode: %s", e.msg);
	else
		CHECK(again.len == out.len && memcmp(again.p, out.p, out.len) == 0,
		      "unknown fields: re-encoding through the old schema changed the bytes");

	/* Change a known field, write, read with the new schema: all else intact. */
	TmOld *o = (TmOld *)old.entries[0].msg;
	o->scalars->i32 = 5;
	if (img_encode(&old, &changed, &e) < 0 || read_image(&tm_mi, changed.p, changed.len, &back, &e) < 0) {
		check_fail(__FILE__, __LINE__, "unknown fields after a change: %s", e.msg);
		goto done;
	}
	s.i32 = 5;
	if (back.n == 1)
		msg_equal(&a.base, back.entries[0].msg, "unknown-after-change");
	else
		check_fail(__FILE__, __LINE__, "unknown fields after a change: %zu entries", back.n);
done:
	img_free(&old);
	img_free(&back);
	buf_free(&out);
	buf_free(&again);
	buf_free(&changed);
}

static void test_required(void)
{
	TmScalars s;
	fill_scalars(&s, 0);
	s.str = NULL; /* required string missing */
	TmAll a;
	tm_all__init(&a);
	a.scalars = &s;
	struct buf out = { 0 };
	struct err e = { { 0 } };
	img_write_head(&out, &tm_mi, FORM_COMMON);
	size_t before = out.len;
	struct img_entry en = { .msg = &a.base };
	int rc = img_write_entry(&out, &tm_mi, 0, &en, &en, &e);
	CHECK(rc < 0, "a missing required string was written");
	CHECK(rc >= 0 || strstr(e.msg, "scalars.str"), "the error does not name scalars.str: %s", e.msg);
	CHECK(out.len == before, "a refused entry left %zu bytes behind", out.len - before);

	memset(&e, 0, sizeof e);
	CHECK(pb_check_required(&a.base, "entries[3]", &e) < 0 && strstr(e.msg, "entries[3].scalars.str"),
	      "pb_check_required: %s", e.msg);
	s.str = "ok";
	memset(&e, 0, sizeof e);
	CHECK(pb_check_required(&a.base, "entries[3]", &e) == 0, "pb_check_required refused a full message: %s",
	      e.msg);

	/* Deep inside repeated messages too. */
	TmScalars bad;
	fill_scalars(&bad, 1);
	bad.str = NULL;
	TmOld o;
	tm_old__init(&o);
	o.scalars = &bad;
	memset(&e, 0, sizeof e);
	CHECK(pb_check_required(&o.base, "x", &e) < 0 && strstr(e.msg, "str"), "pb_check_required nested: %s",
	      e.msg);
	buf_free(&out);
}

/* Entries img_write_entry must refuse, saying why, without writing any of them. */
static void test_write_refusals(void)
{
	const struct magic_info *pd = magic_by_name("PIPES_DATA");
	PipeDataEntry p;
	pipe_data_entry__init(&p);
	p.pipe_id = 7;
	p.bytes = 5;
	TmNode node;
	tm_node__init(&node);
	uint8_t three[3] = { 1, 2, 3 };
	const struct {
		const char *what;
		const struct magic_info *mi;
		struct img_entry en;
		const char *want;
	} cases[] = {
		{ "payload shorter than bytes", pd, { .msg = &p.base, .extra = three, .extra_len = 3, .has_extra = 1 },
		  "entries[0].extra: 3 bytes, but bytes says 5" },
		{ "payload missing", pd, { .msg = &p.base }, "payload (extra) is missing" },
		{ "wrong message type", pd, { .msg = &node.base }, "a tm_node where a PIPES_DATA image needs a pipe_data_entry" },
		{ "payload where none belongs", &node_mi, { .msg = &node.base, .extra = three, .extra_len = 3, .has_extra = 1 },
		  "has no payload" },
		{ "no message", &node_mi, { .msg = NULL }, "no message" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf out = { 0 };
		struct err e = { { 0 } };
		img_write_head(&out, cases[i].mi, FORM_COMMON);
		size_t before = out.len;
		int rc = img_write_entry(&out, cases[i].mi, 0, &cases[i].en, &cases[i].en, &e);
		CHECK(rc < 0 && strstr(e.msg, cases[i].want), "%s: \"%s\" expected, got rc %d: %s", cases[i].what,
		      cases[i].want, rc, e.msg);
		CHECK(out.len == before, "%s: the refused entry left %zu bytes behind", cases[i].what, out.len - before);
		buf_free(&out);
	}
}

/* Each case: bytes that are not a valid message of the type, and words the
 * explanation must contain. */
static void test_explain(void)
{
	static const struct {
		const char *what;
		const ProtobufCMessageDescriptor *desc;
		const char *data;
		size_t len;
		const char *want1, *want2;
	} cases[] = {
		{ "missing required", &tm_scalars__descriptor, "\x08\x01", 2, "i64", "required" },
		{ "varint cut", &tm_node__descriptor, "\x08\xff", 2, "id", "byte 1" },
		{ "length past end", &tm_node__descriptor, "\x08\x01\x12\x05\x61", 5, "label", "byte 3" },
		{ "wrong wire type", &tm_node__descriptor, "\x09\x01\x02\x03\x04\x05\x06\x07\x08", 9, "id",
		  "wire type" },
		{ "bad tag", &tm_node__descriptor, "\x08\x01\x00", 3, "byte 2", "field number 0" },
		{ "garbage", &tm_node__descriptor, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11, "byte 0", "" },
		{ "nested cut", &tm_node__descriptor, "\x08\x01\x1a\x02\x08\xff", 6, "children", "" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ProtobufCMessage *m =
			protobuf_c_message_unpack(cases[i].desc, NULL, cases[i].len, (const uint8_t *)cases[i].data);
		CHECK(m == NULL, "%s: protobuf-c accepted it", cases[i].what);
		if (m)
			protobuf_c_message_free_unpacked(m, NULL);
		struct err e = { { 0 } };
		pb_explain_unpack_failure(cases[i].desc, (const uint8_t *)cases[i].data, cases[i].len, &e);
		CHECK(e.msg[0] && strstr(e.msg, cases[i].want1) && strstr(e.msg, cases[i].want2),
		      "%s: explanation lacks \"%s\"/\"%s\": %s", cases[i].what, cases[i].want1, cases[i].want2,
		      e.msg);
	}

	/* Through the reader: the error names the entry and its offset. */
	struct buf img = { 0 };
	struct err e = { { 0 } };
	buf_add_u32(&img, IMG_COMMON_MAGIC);
	buf_add_u32(&img, node_mi.magic);
	buf_add_u32(&img, 2);
	buf_add(&img, "\x08\x01", 2);
	buf_add_u32(&img, 3);
	buf_add(&img, "\x08\x01\x00", 3);
	struct img out;
	int rc = read_image(&node_mi, img.p, img.len, &out, &e);
	CHECK(rc < 0, "a garbage entry was read");
	CHECK(rc >= 0 || (strstr(e.msg, "entry 1 at offset 0xe") && strstr(e.msg, "byte 2")),
	      "the reader's error does not name entry 1 at offset 0xe and byte 2: %s", e.msg);
	img_free(&out);
	buf_free(&img);
}

/* Wrap `inner` depth times as field `tag` of a message that starts with the
 * bytes `head` (its required fields): built from the inside out. */
static uint8_t *nest(const char *head, size_t head_len, uint8_t tag, size_t depth, size_t *len)
{
	size_t cap = depth * (head_len + 6) + head_len + 8, at = cap;
	uint8_t *p = malloc(cap);
	at -= head_len;
	memcpy(p + at, head, head_len);
	for (size_t d = 0; d < depth; d++) {
		size_t inner = cap - at;
		uint8_t v[10];
		int n = 0;
		do {
			v[n++] = (uint8_t)((inner & 0x7f) | (inner > 0x7f ? 0x80 : 0));
			inner >>= 7;
		} while (inner);
		while (n)
			p[--at] = v[--n];
		p[--at] = tag;
		at -= head_len;
		memcpy(p + at, head, head_len);
	}
	*len = cap - at;
	memmove(p, p + at, *len);
	return p;
}

/* Messages nested far deeper than any real one must be refused or read, and
 * never overflow the stack: aa_namespace in CRIU's schema is recursive, so an
 * apparmor.img can nest as deep as its size allows. */
static void test_deep_nesting(void)
{
	static const size_t depths[] = { 50, 1000, 200000 };
	for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
		size_t len;
		uint8_t *p = nest("\x08\x01", 2, 0x1a, depths[i], &len); /* tm_node{id=1, children=...} */
		struct buf img = { 0 };
		buf_add_u32(&img, IMG_COMMON_MAGIC);
		buf_add_u32(&img, node_mi.magic);
		buf_add_u32(&img, (uint32_t)len);
		buf_add(&img, p, len);
		free(p);
		struct img out;
		struct err e = { { 0 } };
		int rc = read_image(&node_mi, img.p, img.len, &out, &e);
		/* Fifty levels must simply work; beyond some limit a refusal is fine. */
		CHECK(depths[i] > 50 ? rc < 0 || out.n == 1 : rc == 0 && out.n == 1, "tm_node nested %zu deep: %s",
		      depths[i], rc < 0 ? e.msg : "read");
		printf("tm_node nested %zu deep: %s\n", depths[i], rc < 0 ? e.msg : "read");
		img_free(&out);
		buf_free(&img);

		/* The same through a real image type and img_decode. */
		const struct magic_info *aa = magic_by_name("APPARMOR");
		p = nest("\x0a\x01\x61", 3, 0x1a, depths[i], &len); /* aa_namespace{name="a", namespaces=...} */
		buf_add_u32(&img, IMG_COMMON_MAGIC);
		buf_add_u32(&img, aa->magic);
		buf_add_u32(&img, (uint32_t)len + 2 + (len > 127) + (len > 16383) + (len > 2097151));
		buf_addc(&img, 0x0a); /* apparmor_entry.namespaces */
		for (size_t v = len; v; v >>= 7)
			buf_addc(&img, (char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
		buf_add(&img, p, len);
		free(p);
		memset(&e, 0, sizeof e);
		rc = img_decode(img.p, img.len, &out, &e);
		CHECK(depths[i] > 50 ? rc < 0 || out.n == 1 : rc == 0 && out.n == 1, "apparmor nested %zu deep: %s",
		      depths[i], rc < 0 ? e.msg : "read");
		printf("apparmor.img nested %zu deep: %s\n", depths[i], rc < 0 ? e.msg : "read");
		img_free(&out);
		buf_free(&img);
	}
}

int main(int argc, char **argv)
{
	/* "deep" alone: a stack overflow must not hide the other results. */
	if (argc > 1 && strcmp(argv[1], "deep") == 0) {
		setvbuf(stdout, NULL, _IOLBF, 0);
		test_deep_nesting();
		return check_report("test_codec deep");
	}
	for (int i = 0; i < 256; i++)
		all_bytes[i] = (uint8_t)i;
	test_scalars();
	test_wire();
	test_defaults();
	test_nested_repeated();
	test_unknown_fields();
	test_required();
	test_write_refusals();
	test_explain();
	return check_report("test_codec");
}
