/* pgcomp.h: recognising the compressed memory pages of CRIU's development
 * branch (criu PR #2895), which critlua refuses rather than misreads. */
#ifndef CRITLUA_PGCOMP_H
#define CRITLUA_PGCOMP_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "util.h"

/* PE_PAYLOAD_ALIGNED: the pagemap flag criu-dev sets on entries of compressed
 * pages (their payload starts at a page boundary of the pages file). */
#define PGCOMP_PE_PAYLOAD_ALIGNED 8u

/* m is entry `entry` of `file` (an inventory_entry, pagemap_head or
 * pagemap_entry). 0 when it has no field unknown to CRIU 4.2's schema; else -1
 * with an error naming the file, the entry and the field, and saying when the
 * field is criu-dev's compressed-pages metadata. */
int pgcomp_refuse_unknown(const ProtobufCMessage *m, const char *file, size_t entry, struct err *e);

/* flags of pagemap entry `entry`: 0 when they hold only PE_PARENT, PE_LAZY and
 * PE_PRESENT; else -1 with an error naming what else they hold. */
int pgcomp_refuse_flags(uint32_t flags, const char *file, size_t entry, struct err *e);

#endif
