// A small JSON record per migration in the agent's state dir, so that an agent that crashed
// mid-migration can finish or undo it when it starts again.
import fs from 'node:fs';
import path from 'node:path';
import type { MigrationState } from '../rpc/messages';
import { makeDirDurably, writeFileDurably } from '../util/durable-write';

export type MigrationRecord =
  /**
   * Source: the tree may be frozen. Before Commit is sent, thaw it; once Commit may have
   * reached the destination (commitSent), only the destination can say which copy lives.
   */
  | {
      role: 'source';
      migrationId: string;
      destination: string;
      containerId: string;
      name: string;
      cgroupDir: string; // the container's freezer cgroup, frozen from before the dump
      commitSent: boolean;
      committed: boolean;
      keepSource: boolean;
      volumes: string[]; // named volumes that move with it: the source copies go once committed
      leaseMs?: number; // the lease announced (protocol/lease.ts); records before it: none
    }
  /** Destination: remove what was made unless committed. */
  | { role: 'destination'; containerId: string; name: string; volumes: string[]; committed: boolean };

export type SourceRecord = Extract<MigrationRecord, { role: 'source' }>;

const RECORD = 'record.json';

export function migrationsDir(stateDir: string): string {
  return path.join(stateDir, 'migrations');
}

/**
 * Written atomically and durably (write-file-durably), so neither a crash nor a power cut leaves
 * half a record, or none where the migration had gone on as if it was there. The work dir is
 * root-only (0700): it may hold the checkpoint's images.
 */
export function writeRecord(workDir: string, record: MigrationRecord): void {
  makeDirDurably(workDir);
  writeFileDurably(path.join(workDir, RECORD), JSON.stringify(record));
}

export function readRecords(stateDir: string): Array<{ workDir: string; record: MigrationRecord | null }> {
  const dir = migrationsDir(stateDir);
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).map((id) => {
    const workDir = path.join(dir, id);
    try {
      return { workDir, record: JSON.parse(fs.readFileSync(path.join(workDir, RECORD), 'utf8')) as MigrationRecord };
    } catch {
      return { workDir, record: null };
    }
  });
}

/**
 * Removes a finished migration's work dir without waiting for it: a GiB of images takes seconds
 * to unlink (the kernel waits for their writeback), which is not the operator's time. The dir is
 * renamed away at once (it no longer counts as a migration to recover), then deleted in the
 * background; what a crash leaves in trash/ goes at the next start. `scratch`: where the
 * migration's checkpoint was written, if not in the work dir.
 */
export function discardWorkDir(stateDir: string, workDir: string, scratch = workDir): void {
  // A scratch dir in memory (scratch-dir.ts) is removed in the background too.
  if (path.resolve(scratch) !== path.resolve(workDir)) fs.promises.rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  const trash = path.join(stateDir, 'trash', path.basename(workDir));
  try {
    fs.mkdirSync(path.dirname(trash), { recursive: true });
    fs.renameSync(workDir, trash);
  } catch {
    fs.rmSync(workDir, { recursive: true, force: true }); // gone already, or another filesystem
    return;
  }
  fs.promises.rm(trash, { recursive: true, force: true }).catch(() => undefined);
}

/**
 * Destination: a migration committed here (kept after its work dir is gone, for the source).
 * Durable before Committed is sent: a destination that lost it in a power cut would tell a
 * recovering source "not committed" and both hosts would run the container.
 */
export function markCommitted(stateDir: string, migrationId: string): void {
  const dir = path.join(stateDir, 'committed');
  makeDirDurably(dir);
  writeFileDurably(path.join(dir, migrationId), '');
}

export function isCommitted(stateDir: string, migrationId: string): boolean {
  return /^[a-zA-Z0-9-]{1,64}$/.test(migrationId) && fs.existsSync(path.join(stateDir, 'committed', migrationId));
}

/**
 * Destination: a migration rolled back here, its container gone (written after the removal).
 * What lets MigrationStatus say "not committed", a definite answer on which a source may thaw,
 * rather than "unknown" (no trace of it: never seen here, or this state dir is not that one).
 */
export function markRolledBack(stateDir: string, migrationId: string): void {
  const dir = path.join(stateDir, 'rolled-back');
  makeDirDurably(dir);
  writeFileDurably(path.join(dir, migrationId), '');
}

/** What this destination knows of a migration, for MigrationStatus. */
export function migrationState(stateDir: string, migrationId: string): MigrationState {
  if (!/^[a-zA-Z0-9-]{1,64}$/.test(migrationId)) return 'UNKNOWN';
  if (isCommitted(stateDir, migrationId)) return 'COMMITTED';
  return fs.existsSync(path.join(stateDir, 'rolled-back', migrationId)) ? 'NOT_COMMITTED' : 'UNKNOWN';
}

/**
 * A failed migration's work dir goes with its rollback; the CRIU log that says why is kept (a
 * copy, named by migration). Returns the sentence for the error message, or '' if there is none.
 */
export function keepCriuLog(stateDir: string, migrationId: string, logFile: string): string {
  try {
    const kept = path.join(stateDir, 'criu-logs', `${migrationId}-${path.basename(logFile)}`);
    fs.mkdirSync(path.dirname(kept), { recursive: true });
    fs.copyFileSync(logFile, kept);
    return ` (CRIU log: ${kept})`;
  } catch {
    return ''; // no log: the failure came before criu started
  }
}

/** Commit and rollback markers and kept CRIU logs older than `maxAgeMs` are no longer needed; trash never is. */
export function pruneOldRecords(stateDir: string, maxAgeMs = 7 * 24 * 3600_000): void {
  fs.rmSync(path.join(stateDir, 'trash'), { recursive: true, force: true });
  for (const sub of ['committed', 'rolled-back', 'criu-logs']) {
    const dir = path.join(stateDir, sub);
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir)) {
      const p = path.join(dir, f);
      if (Date.now() - fs.statSync(p).mtimeMs > maxAgeMs) fs.rmSync(p, { force: true });
    }
  }
}
