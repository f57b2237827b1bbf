/* progress.h: a progress line on stderr for long runs (decoding a large image,
 * searching memory, checking a checkpoint). Off unless progress_enable(1):
 * critlua turns it on when stderr is a terminal and --quiet is not given.
 * When off, every call returns at once. When on, the line is drawn at most
 * ten times a second, not before CRITLUA_PROGRESS_DELAY seconds (0.5 by
 * default) have passed since progress_start, and erased by progress_stop. */
#ifndef CRITLUA_PROGRESS_H
#define CRITLUA_PROGRESS_H

#include <stdint.h>

void progress_enable(int on);
int progress_enabled(void);

/* Begin a task: label (copied), total (0: unknown), unit NULL for bytes or
 * a plural noun ("images") for a count. A start inside a running task only
 * nests: the outer task goes on counting, the inner one's set() is ignored. */
void progress_start(const char *label, uint64_t total, const char *unit);
/* Change the running task's label (e.g. the process being searched). */
void progress_label(const char *label);
void progress_add(uint64_t n);
void progress_set(uint64_t done);
/* End a task (the outer one: erase the line). */
void progress_stop(void);
/* Erase the line now if it is drawn, before other output goes to the terminal. */
void progress_clear(void);

#endif
