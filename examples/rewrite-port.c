/* rewrite-port.c: change a listening TCP/UDP port in a checkpoint, as
 * `critlua rewrite-ports DIR OLD:NEW` does by default: every inet socket
 * bound to OLD gets NEW, and a connection's peer port follows where the
 * peer is in the checkpoint too. One transaction: nothing changes unless
 * all of it does.
 *   cc -o rewrite-port rewrite-port.c $(pkg-config --cflags --libs libcrit)
 *   ./rewrite-port DIR OLD NEW */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <crit/crit.h>
#include <crit/proto/fdinfo.pb-c.h>

static int same_addr(size_t na, const uint32_t *a, size_t nb, const uint32_t *b)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* The socket in files.img at the other end of s's connection, or NULL. */
static const InetSkEntry *peer_of(const crit_image *files, const InetSkEntry *s)
{
	for (size_t k = 0; k < crit_image_count(files); k++) {
		const InetSkEntry *p = ((const FileEntry *)crit_image_entry(files, k))->isk;
		if (p && p != s && p->family == s->family && p->proto == s->proto &&
		    p->src_port == s->dst_port && p->dst_port == s->src_port &&
		    same_addr(p->n_src_addr, p->src_addr, s->n_dst_addr, s->dst_addr) &&
		    same_addr(p->n_dst_addr, p->dst_addr, s->n_src_addr, s->src_addr))
			return p;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s CHECKPOINT OLD NEW\n", argv[0]);
		return 2;
	}
	uint32_t old = (uint32_t)strtoul(argv[2], NULL, 10), new = (uint32_t)strtoul(argv[3], NULL, 10);
	if (old < 1 || old > 65535 || new < 1 || new > 65535) {
		fprintf(stderr, "rewrite-port: ports are 1..65535\n");
		return 2;
	}
	crit_error err;
	crit_txn *txn;
	crit_image *files = NULL;
	/* the lock first, then read: no other writer changes files.img in between */
	if (crit_txn_begin(argv[1], 10, &txn, &err) < 0 ||
	    crit_checkpoint_image(crit_txn_checkpoint(txn), "files.img", &files, &err) < 0)
		goto fail;
	size_t n = crit_image_count(files), changed = 0;
	/* decide on the ports as they are, then change them */
	unsigned char *src = calloc(n + 1, 1), *dst = calloc(n + 1, 1);
	for (size_t i = 0; i < n; i++) {
		const InetSkEntry *s = ((const FileEntry *)crit_image_entry(files, i))->isk;
		if (!s)
			continue;
		src[i] = s->src_port == old;
		const InetSkEntry *p = s->dst_port == old ? peer_of(files, s) : NULL;
		dst[i] = p && p->src_port == old;
	}
	for (size_t i = 0; i < n; i++) {
		InetSkEntry *s = ((FileEntry *)crit_image_entry(files, i))->isk;
		if (src[i]) {
			printf("files.img: entries[%zu].isk.src_port: %u -> %u\n", i, s->src_port, new);
			s->src_port = new;
			changed++;
		}
		if (dst[i]) {
			printf("files.img: entries[%zu].isk.dst_port: %u -> %u\n", i, s->dst_port, new);
			s->dst_port = new;
			changed++;
		}
	}
	free(src);
	free(dst);
	if (changed && (crit_txn_stage_image(txn, "files.img", files, &err) < 0 ||
			crit_txn_commit(txn, &err) < 0))
		goto fail;
	printf("%zu change(s) written to files.img\n", changed);
	crit_image_free(files);
	crit_txn_end(txn);
	return changed ? 0 : 1;
fail:
	fprintf(stderr, "rewrite-port: %s\n", err.message);
	crit_image_free(files);
	if (txn)
		crit_txn_end(txn);
	return 1;
}
