// The lease: what keeps a migrated container from running on both hosts when the link between
// them goes silent (a cut cable, a stopped or killed agent: a silent link gives no reset).
//
// From the checkpoint's End on, the destination sends a Heartbeat every beatEveryMs(L) and the
// source echoes each one it reads. The destination's copy (restored, so incomplete while lazy
// pages come in, and unconfirmed until Commit) may run only until
//     (when the destination SENT the newest beat the source echoed) + L,
// and a fence process that outlives a stopped or killed agent (destination/fence.ts) kills it
// then. The source, while it has not sent Commit, thaws its frozen copy only after
//     (when it last READ anything from the destination) + L + LEASE_MARGIN_MS,
// or on a definite answer (MigrationStatus says NOT_COMMITTED: that copy was removed). Since an
// echoed beat was read by the source after it was sent, the destination's deadline always comes
// before the source's, even when only one direction of the link is cut (beats that still arrive
// are not echoes, so they extend nothing). The margin covers the fence firing late (a scheduler
// delay) and the kernel killing the copy's PID namespace. Once Commit is sent the lease no longer
// decides for the source: the destination may have committed, so only its answer does.
//
// L, measured in the lab (README, "Never two copies"): beats sent every 750 ms were read at most
// 753 ms apart on both sides, through a 1 GiB lazy restore (4.1 s of lazy pages) and a 1 GiB eager
// one. So L is not about the network or the restore: it bounds how long a stalled agent (a GC
// pause, an fsync of a record on a slow disk) may go silent without failing a healthy migration
// (3 of 4 beats may be lost: 2.25 s), against how long a cut link leaves neither copy running.
// gRPC's keepalive (10 s + 10 s) would take 20 s to see the same silence.
export const DEFAULT_LEASE_MS = 3_000;

/** Past the lease, before the source may thaw: the fence firing late, the kernel's kill. */
export const LEASE_MARGIN_MS = 500;

/** The shortest lease an agent takes (tests use short ones: --lease-ms). */
export const MIN_LEASE_MS = 200;

/** How often the destination beats: four chances per lease for one to get through. */
export function beatEveryMs(leaseMs: number): number {
  return Math.max(25, Math.floor(leaseMs / 4));
}

/**
 * The lease a destination runs a migration under: the source's (it waits for that one), or the
 * destination's own when shorter (ending sooner is always safe). A source without a lease
 * (protocol before it: 0) gets the destination's.
 */
export function leaseFor(announcedMs: number, ownMs: number): number {
  return announcedMs >= MIN_LEASE_MS ? Math.min(announcedMs, ownMs) : ownMs;
}

/**
 * When the source may thaw after losing the destination before Commit: at once if no beat came
 * after End (the destination resumes only under a lease, which needs an echoed beat), else L plus
 * the margin after it last read anything from the destination.
 */
export function sourceThawAt(s: { leaseMs: number; lastBeatAt: number | undefined; lastHeardAt: number; now: number }): number {
  if (s.lastBeatAt === undefined) return s.now;
  return Math.max(s.lastBeatAt, s.lastHeardAt) + s.leaseMs + LEASE_MARGIN_MS;
}
