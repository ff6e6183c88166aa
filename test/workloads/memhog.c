/*
 * memhog MiB: test workload holding MiB of deterministic, half-compressible memory.
 * Prints "filled <checksum>" once the memory is written; on SIGUSR1 re-reads the whole region
 * and prints "checksum <checksum>", so a test can compare memory before and after a migration.
 * SIGTERM exits with status 42, so tests can tell that the application itself handled it.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t want_sum, want_exit;
static void on_usr1(int s) { (void)s; want_sum = 1; }
static void on_term(int s) { (void)s; want_exit = 1; }

static uint64_t checksum(const uint64_t *p, size_t words) {
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < words; i++) h = (h ^ p[i]) * 1099511628211ULL;
	return h;
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
	for (;;) {
		pause();
		if (want_sum) { want_sum = 0; printf("checksum %016llx\n", (unsigned long long)checksum(mem, words)); }
		if (want_exit) { printf("exiting on SIGTERM\n"); return 42; }
	}
}
