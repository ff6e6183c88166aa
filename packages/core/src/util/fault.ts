// Fault injection for the end-to-end tests (as CRIU_FAULT in CRIU's own): LIVEMIG_FAULT=a,b in an
// agent's environment makes it misbehave at the named points. Unset in normal operation.
export type Fault =
  | 'lose-committed' // destination: commits, then never sends Committed (the call fails)
  | 'refuse-status' // destination: MigrationStatus fails as if unreachable
  | 'fail-source-cleanup' // source: removing its copy after the commit fails
  | 'crash-before-commit-marker' // destination: SIGKILLs itself after the record says committed, before the marker
  | 'hold-commit' // destination: waits 2 s after Commit came, before it commits (the lease tests act then)
  | 'hide-cpu-flags'; // Health: reports the CPU without its AVX and SSE4 flags (another CPU model)

export function injectedFault(name: Fault): boolean {
  return (process.env.LIVEMIG_FAULT ?? '').split(',').includes(name);
}
