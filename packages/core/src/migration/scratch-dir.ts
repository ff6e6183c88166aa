// Where a migration writes its checkpoint (CRIU's images; on the destination also the pre-copy
// store): in memory, on the agent's tmpfs scratch dir, when it fits there with room to spare;
// else in the state dir on disk. Measured in the lab: a 256 MiB file is written to tmpfs in
// ~100 ms, to ext4 in 150-700 ms (writeback), and without a pre-copy the destination writes
// every byte of the checkpoint inside the downtime. The images are only needed until the restore: a crash or a
// reboot loses nothing that the records in the state dir (always on disk) do not cover.
import fs from 'node:fs';
import path from 'node:path';
import { requireFreeDisk } from './disk-space';
import { MigrationError } from '../protocol/migration-error';
import { migrationsDir } from './migration-record';

const TMPFS_MAGIC = 0x01021994;

/** MemAvailable of /proc/meminfo, in bytes (0 if unreadable). */
function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/**
 * A checkpoint of `bytes` fits in memory when the tmpfs has room for it (20% headroom) and the
 * host keeps as much again available (the restored container, the rest of the host).
 */
function fitsInMemory(memDir: string, bytes: number): boolean {
  try {
    fs.mkdirSync(memDir, { recursive: true, mode: 0o700 });
    const st = fs.statfsSync(memDir);
    return st.type === TMPFS_MAGIC && st.bavail * st.bsize >= bytes * 1.2 && memAvailable() >= bytes * 2;
  } catch {
    return false;
  }
}

/**
 * The directory under which this migration's scratch dir goes: `memDir` ('' = never in memory)
 * when the checkpoint fits there, else the state dir's migrations dir, whose disk must then have
 * room (refused before anything is frozen).
 */
export function scratchRoot(memDir: string, stateDir: string, bytes: number, where: string): string {
  if (memDir && fitsInMemory(memDir, bytes)) return memDir;
  try {
    requireFreeDisk(migrationsDir(stateDir), bytes, where);
  } catch (err) {
    if (memDir && err instanceof MigrationError) err.message += `, and it does not fit in memory (${memDir}) either`;
    throw err;
  }
  return migrationsDir(stateDir);
}

/**
 * A migration's own scratch dir (its images: process memory, secrets included): root's alone
 * whatever the dir above it allows. An existing one (a retry under the same id) is made so too.
 */
export function makeMigrationScratch(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
}

/**
 * At an agent's start nothing is in flight: the migrations' dirs in its memory scratch dir were
 * cut off by a crash. Only those go (named by migration id), whatever else the operator keeps there.
 */
export function clearScratch(memDir: string): void {
  if (!memDir || !fs.existsSync(memDir)) return;
  for (const name of fs.readdirSync(memDir)) {
    if (MIGRATION_ID.test(name)) fs.rmSync(path.join(memDir, name), { recursive: true, force: true });
  }
}

const MIGRATION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
