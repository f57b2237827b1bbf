/* progress.c: the progress line (see progress.h). One task at a time, as
 * critlua runs one command; state is global. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "progress.h"

#define PROGRESS_INTERVAL_NS 100000000LL /* at most 10 draws a second */
#define PROGRESS_DELAY_NS 500000000LL    /* nothing for runs shorter than this */

static struct {
	int on;
	int depth;         /* nesting of progress_start */
	int drawn;         /* the line is on the terminal */
	int atexit_set;
	char label[96];
	char unit[24];     /* "" for bytes */
	uint64_t done, total;
	long long next_ns; /* the earliest time of the next draw */
} P;

static long long progress_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CRITLUA_PROGRESS_DELAY: seconds before the first draw (0.5 unless set). */
static long long progress_delay(void)
{
	const char *s = getenv("CRITLUA_PROGRESS_DELAY");
	if (!s || !*s)
		return PROGRESS_DELAY_NS;
	char *end;
	double d = strtod(s, &end);
	if (*end || !(d >= 0) || d > 3600)
		return PROGRESS_DELAY_NS;
	return (long long)(d * 1e9);
}

void progress_enable(int on)
{
	if (!on)
		progress_clear();
	P.on = on;
}

int progress_enabled(void)
{
	return P.on;
}

static void progress_bytes(char *out, size_t size, uint64_t n)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, size, "%llu B", (unsigned long long)n);
	else
		snprintf(out, size, "%.1f %s", v, units[u]);
}

static void progress_draw(void)
{
	char line[256], a[32], b[32];
	int pct = -1;
	if (P.total) {
		uint64_t d = P.done < P.total ? P.done : P.total;
		pct = (int)((double)d * 100.0 / (double)P.total);
	}
	if (P.unit[0]) {
		if (P.total)
			snprintf(line, sizeof line, "%s: %d%% (%llu of %llu %s)", P.label, pct,
				 (unsigned long long)P.done, (unsigned long long)P.total, P.unit);
		else
			snprintf(line, sizeof line, "%s: %llu %s", P.label, (unsigned long long)P.done,
				 P.unit);
	} else {
		progress_bytes(a, sizeof a, P.done);
		if (P.total) {
			progress_bytes(b, sizeof b, P.total);
			snprintf(line, sizeof line, "%s: %d%% (%s of %s)", P.label, pct, a, b);
		} else {
			snprintf(line, sizeof line, "%s: %s", P.label, a);
		}
	}
	fflush(stdout); /* what is written goes before the line */
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	P.drawn = 1;
	if (!P.atexit_set) { /* os.exit() in a script must not leave the line behind */
		P.atexit_set = 1;
		atexit(progress_clear);
	}
}

static void progress_tick(void)
{
	long long now = progress_now();
	if (now < P.next_ns)
		return;
	P.next_ns = now + PROGRESS_INTERVAL_NS;
	progress_draw();
}

void progress_start(const char *label, uint64_t total, const char *unit)
{
	if (!P.on)
		return;
	if (P.depth++ > 0)
		return;
	snprintf(P.label, sizeof P.label, "%s", label ? label : "critlua");
	snprintf(P.unit, sizeof P.unit, "%s", unit ? unit : "");
	P.done = 0;
	P.total = total;
	P.next_ns = progress_now() + progress_delay();
}

void progress_label(const char *label)
{
	if (!P.on || P.depth == 0)
		return;
	snprintf(P.label, sizeof P.label, "%s", label ? label : "critlua");
	if (P.drawn)
		progress_tick();
}

void progress_add(uint64_t n)
{
	if (!P.on || P.depth == 0)
		return;
	P.done += n;
	progress_tick();
}

void progress_set(uint64_t done)
{
	if (!P.on || P.depth != 1)
		return;
	P.done = done;
	progress_tick();
}

void progress_clear(void)
{
	if (!P.drawn)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	P.drawn = 0;
}

void progress_stop(void)
{
	if (!P.on || P.depth == 0)
		return;
	if (--P.depth == 0)
		progress_clear();
}
