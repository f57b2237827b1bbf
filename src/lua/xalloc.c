/* xalloc.c: the bindings' and the CLI's policy on out-of-memory: a clear
 * message and exit status 1 (abort's 134 would look like a crash). Only
 * this layer may end the process; libcrit returns the error instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void xoom(void)
{
	fputs("critlua: out of memory\n", stderr);
	exit(1);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		xoom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		xoom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		xoom();
	return p;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}
