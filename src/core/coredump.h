/* coredump.h: an ELF64 x86_64 core file of a checkpointed process, written
 * from its registers, auxv, mappings and the memory the checkpoint stores. */
#ifndef CRITLUA_COREDUMP_H
#define CRITLUA_COREDUMP_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"
#include "util.h"

#define CD_NREGS 27 /* x86_64 user_regs_struct: r15 ... gs */

/* x86_64 FXSAVE area, as user_x86_fpregs_entry holds it */
struct cd_fpregs {
	uint16_t cwd, swd, twd, fop;
	uint64_t rip, rdp;
	uint32_t mxcsr, mxcsr_mask;
	uint32_t st_space[32], xmm_space[64], padding[24];
};

struct cd_thread {
	uint32_t tid;
	uint64_t regs[CD_NREGS]; /* in user_regs_struct order */
	uint64_t sigblocked;
	int has_fp;
	struct cd_fpregs fp;
};

struct cd_vma {
	uint64_t start, end, pgoff; /* pgoff in bytes */
	uint32_t prot;		    /* PROT_READ 1, PROT_WRITE 2, PROT_EXEC 4 */
	const char *path;	    /* a file-backed mapping (NT_FILE), or NULL */
	struct mem_map *mem;	    /* where its pages are, or NULL: none stored */
	uint64_t mem_base;	    /* the address in mem of start */
	int zero_holes;		    /* pages not in mem read as zeros (anonymous memory) */
};

struct cd_proc {
	uint32_t pid, ppid, pgid, sid, uid, gid;
	char sname;	 /* ps's state letter: 'S', 'T', 'Z', ... */
	char fname[16];	 /* the command name */
	char psargs[80]; /* the command line */
	const uint64_t *auxv;
	size_t nauxv; /* words: pairs of type, value */
	const struct cd_thread *threads; /* the main thread first */
	size_t nthreads;
	const struct cd_vma *vmas; /* in address order */
	size_t nvmas;
	size_t page_size;
};

/* Write p's core to path atomically (a temporary file beside it, renamed
 * over it at the end): on failure path is untouched and e says why. Memory
 * is copied in pieces of at most 1 MiB. Stored pages go in PT_LOAD segments;
 * pages the checkpoint does not hold are zeros in anonymous memory (never
 * touched) and left out elsewhere (p_filesz 0: a file's unchanged pages,
 * lazy pages, a missing parent/). */
int coredump_write(const struct cd_proc *p, const char *path, struct err *e);

#endif
