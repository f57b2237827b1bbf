/* xalloc.h: allocation for the Lua bindings and the CLI, which end the
 * process on out-of-memory ("critlua: out of memory", exit status 1). The
 * core (src/core, libcrit) never does: it returns "out of memory" errors. */
#ifndef CRITLUA_XALLOC_H
#define CRITLUA_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* "critlua: out of memory" on stderr, exit status 1. */
void xoom(void) __attribute__((noreturn));

#endif
