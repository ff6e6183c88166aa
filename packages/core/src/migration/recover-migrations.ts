// Run when an agent starts: every migration dir left in the state dir belongs to a migration
// that was cut off by a crash. Undo it, or finish it when the destination had committed.
import fs from 'node:fs';
import path from 'node:path';
import type { DockerClient } from '../docker/docker-client';
import { DEFAULT_LEASE_MS, LEASE_MARGIN_MS } from '../protocol/lease';
import type { CommitQuery } from './commit-outcome';
import { isRestoredContainer } from './container-spec';
import { isCommitted, markRolledBack, pruneOldRecords, readRecords, type SourceRecord } from './migration-record';
import { thawCgroup } from './cgroup-freezer';
import { untilCopyGone } from './source/lease';
import { removeSourceCopy } from './source-copy';

export async function recoverMigrations(
  stateDir: string,
  docker: DockerClient,
  log: (msg: string) => void,
  askDestination: CommitQuery,
): Promise<void> {
  pruneOldRecords(stateDir);
  for (const { workDir, record } of readRecords(stateDir)) {
    const migrationId = path.basename(workDir);
    if (record?.role === 'source') {
      if ((await settleSource(docker, record, askDestination, log)) === 'frozen') continue; // keep the record for the next start
    } else if (record?.role === 'destination' && !isCommitted(stateDir, migrationId)) {
      // The commit marker, not the record, says whether it committed: a crash between the
      // record's "committed" and the marker is a migration the source may hear "not committed" of.
      const containerId = record.containerId || (await madeBeforeItsId(docker, record.name));
      if (containerId) await docker.removeContainer(containerId, { force: true }).catch(() => undefined);
      for (const v of record.volumes) await docker.removeVolume(v).catch(() => undefined);
      if (!containerId || (await docker.inspectContainer(containerId).catch(() => undefined)) === null) markRolledBack(stateDir, migrationId);
      log(`recovery: removed half-made ${record.name} of a migration cut off by a crash`);
    }
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * A target container created by a crashed agent before its record got the ID (the window between
 * createContainer's request and its answer): found by its name, which was free at Prepare, and
 * only if it is a restore target (the helper as its entry point), never someone else's container.
 */
async function madeBeforeItsId(docker: DockerClient, name: string): Promise<string> {
  const c = await docker.inspectContainer(name).catch(() => null);
  return c && isRestoredContainer(c) ? c.Id : '';
}

/** A checkpoint's "destination" (a file or an image on this host): no copy that runs. */
const LOCAL_DESTINATION = /^(file|image):/;

/**
 * A source cut off with its tree frozen. Commit sent: only the destination's answer decides
 * (COMMITTED: the copy here goes; NOT_COMMITTED: it resumes; else it stays frozen). Commit not
 * sent: it resumes once the destination's copy is gone: NOT_COMMITTED, or its lease run out
 * (L + margin from now: the lease was last renewed before this agent's crash).
 */
export async function settleSource(
  docker: DockerClient,
  record: SourceRecord,
  ask: CommitQuery,
  log: (msg: string) => void,
): Promise<'removed' | 'resumed' | 'frozen' | 'gone'> {
  const c = await docker.inspectContainer(record.containerId);
  if (!c) return 'gone';
  let committed = record.committed;
  if (!committed && LOCAL_DESTINATION.test(record.destination)) {
    // A checkpoint cut off before it removed the container: the file (complete or not) is no
    // running copy, so the container resumes; nothing to ask.
  } else if (!committed && record.commitSent) {
    // Commit may have reached the destination: only it knows which copy must live.
    const answer = await ask(record.destination, record.migrationId);
    if (answer !== 'COMMITTED' && answer !== 'NOT_COMMITTED') {
      const why = answer === 'UNKNOWN' ? 'it has no trace of it' : 'it cannot be asked';
      log(`recovery: ${record.name} left frozen: ${record.destination} cannot say whether migration ${record.migrationId} committed (${why}); it is asked again later`);
      return 'frozen';
    }
    committed = answer === 'COMMITTED';
  } else if (!committed) {
    const thawAt = performance.now() + (record.leaseMs ?? DEFAULT_LEASE_MS) + LEASE_MARGIN_MS;
    await untilCopyGone(thawAt, () => ask(record.destination, record.migrationId));
  }
  if (committed) {
    await removeSourceCopy(docker, { ...record, volumes: record.volumes ?? [] }); // records before volumes: none
    log(`recovery: ${record.name} had moved to ${record.destination} before the crash; removed the source copy`);
    return 'removed';
  }
  thawCgroup(record.cgroupDir);
  log(`recovery: resumed ${record.name}, frozen by a migration cut off by a crash`);
  return 'resumed';
}
