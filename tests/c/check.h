/* check.h: the assertion helpers the C test programs share: a failed check
 * says where and why, is counted, and the test goes on to report them all. */
#ifndef CRITLUA_TEST_CHECK_H
#define CRITLUA_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Exit status ctest reads as "skipped" (SKIP_RETURN_CODE in tests/CMakeLists.txt). */
#define CHECK_SKIP 77

static int check_failures, check_count;

__attribute__((format(printf, 3, 4))) static inline void check_fail(const char *file, int line,
								      const char *fmt, ...)
{
	va_list ap;
	check_failures++;
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* CHECK(cond, "printf format", ...): the message says what was expected. */
#define CHECK(cond, ...)                                          \
	do {                                                      \
		check_count++;                                    \
		if (!(cond))                                      \
			check_fail(__FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

static inline int check_report(const char *name)
{
	if (check_failures) {
		fprintf(stderr, "%s: %d of %d checks failed\n", name, check_failures, check_count);
		return 1;
	}
	printf("%s: all %d checks passed\n", name, check_count);
	return 0;
}

#endif
