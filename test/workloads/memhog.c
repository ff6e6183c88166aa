/*
 * memhog MiB: test workload holding MiB of deterministic, half-compressible memory.
 * Prints "filled <checksum>" once the memory is written; on SIGUSR1 re-reads the whole region
 * and prints "checksum <checksum>", so a test can compare memory before and after a migration.
 * SIGTERM exits with status 42, so tests can tell that the application itself handled it.
 *
 * memhog MiB churn PAGES: besides, rewrites PAGES pages every millisecond, round robin (the first
 * word of page k holds a value derived from k and how often it was rewritten, kept in gen[k]),
 * so that memory changes between a pre-copy and the freeze. On SIGUSR1 it prints "verify ok N"
 * when every page holds what its history says (N rewrites so far), or "verify BAD page K".
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t want_sum, want_exit;
static void on_usr1(int s) { (void)s; want_sum = 1; }
static void on_term(int s) { (void)s; want_exit = 1; }

static uint64_t checksum(const uint64_t *p, size_t words) {
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < words; i++) h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static uint64_t stamp(size_t k, uint32_t g) { return ((uint64_t)k << 32 | g) * 0x9e3779b97f4a7c15ULL; }

/* The whole region matches its history: first word of each page from gen[], the rest as filled. */
static long verify(const uint64_t *mem, const uint64_t *orig_first, const uint32_t *gen, size_t pages) {
	for (size_t k = 0; k < pages; k++) {
		uint64_t want = gen[k] ? stamp(k, gen[k]) : orig_first[k];
		if (mem[k * 512] != want) return (long)k;
	}
	return -1;
}

int main(int argc, char **argv) {
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
	size_t words = mib * 1024 * 1024 / 8;
	uint64_t *mem = malloc(words * 8);
	if (!mem) { perror("malloc"); return 1; }
	/* Per 4 KiB page: first half pseudo-random (incompressible), second half a constant. */
	uint64_t x = 88172645463325252ULL;
	for (size_t i = 0; i < words; i++) {
		if ((i % 512) < 256) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; mem[i] = x; }
		else mem[i] = 0x5a5a5a5a5a5a5a5aULL;
	}
	signal(SIGUSR1, on_usr1);
	signal(SIGTERM, on_term);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("filled %zu MiB %016llx\n", mib, (unsigned long long)checksum(mem, words));
	if (argc > 3 && strcmp(argv[2], "churn") == 0) {
		size_t pages = words / 512, per_ms = strtoul(argv[3], NULL, 10), next = 0;
		uint64_t rewrites = 0;
		uint32_t *gen = calloc(pages, sizeof *gen);
		uint64_t *orig_first = malloc(pages * sizeof *orig_first);
		if (!gen || !orig_first) { perror("malloc"); return 1; }
		for (size_t k = 0; k < pages; k++) orig_first[k] = mem[k * 512];
		struct timespec ms = { 0, 1000000 };
		for (;;) {
			for (size_t i = 0; i < per_ms; i++, next = (next + 1) % pages, rewrites++) mem[next * 512] = stamp(next, ++gen[next]);
			nanosleep(&ms, NULL);
			if (want_sum) {
				want_sum = 0;
				long bad = verify(mem, orig_first, gen, pages);
				if (bad < 0) printf("verify ok %llu\n", (unsigned long long)rewrites);
				else printf("verify BAD page %ld\n", bad);
			}
			if (want_exit) { printf("exiting on SIGTERM\n"); return 42; }
		}
	}
	for (;;) {
		pause();
		if (want_sum) { want_sum = 0; printf("checksum %016llx\n", (unsigned long long)checksum(mem, words)); }
		if (want_exit) { printf("exiting on SIGTERM\n"); return 42; }
	}
}
