/* xtext.h: the text of `x DIR fds` and `x DIR mems` in C, for checkpoints of
 * thousands of processes, where building the Lua records of lua/lib/explore.lua
 * and rendering them would take most of the time. It prints what the Lua
 * views print, byte for byte, for a checkpoint in which they have nothing to
 * note: every image present and decoding, every file found in files.img. For
 * any other it declines, and the Lua views (which say what is missing and go
 * on) do the work. */
#ifndef CRITLUA_XTEXT_H
#define CRITLUA_XTEXT_H

#include <stdio.h>

/* Write the text of view ("fds" or "mems") of the checkpoint directory dir
 * to `to`: 1. Or 0, with nothing written: another view, not a directory, or
 * a checkpoint for the Lua views. Whether the Lua views would note anything
 * is known before the first line. The images are read and decoded by as
 * many threads as there are CPUs (at most 4). Write errors are the stream's
 * (ferror). */
int xtext(const char *dir, const char *view, FILE *to);

#endif
