// Run when an agent starts: every migration dir left in the state dir belongs to a migration
// that was cut off by a crash. Undo it, or finish it when the destination had committed.
import fs from 'node:fs';
import type { DockerClient } from '../docker/docker-client';
import type { CommitQuery } from './commit-outcome';
import { pruneOldRecords, readRecords } from './migration-record';
import { thawCgroup } from './cgroup-freezer';
import { removeSourceCopy } from './source-copy';

export async function recoverMigrations(
  stateDir: string,
  docker: DockerClient,
  log: (msg: string) => void,
  askDestination: CommitQuery,
): Promise<void> {
  pruneOldRecords(stateDir);
  for (const { workDir, record } of readRecords(stateDir)) {
    if (record?.role === 'source') {
      const c = await docker.inspectContainer(record.containerId);
      let committed = record.committed;
      if (c && !committed && record.commitSent) {
        // Commit may have reached the destination: only it knows which copy must live.
        const answer = await askDestination(record.destination, record.migrationId);
        if (answer === null) {
          log(`recovery: ${record.name} left frozen: cannot ask ${record.destination} whether migration ${record.migrationId} committed; restart this agent once it answers`);
          continue; // keep the record for the next start
        }
        committed = answer;
      }
      if (c && committed) {
        await removeSourceCopy(docker, { ...record, volumes: record.volumes ?? [] }); // records before volumes: none
        log(`recovery: ${record.name} had moved to ${record.destination} before the crash; removed the source copy`);
      } else if (c) {
        thawCgroup(record.cgroupDir);
        log(`recovery: resumed ${record.name}, frozen by a migration cut off by a crash`);
      }
    } else if (record?.role === 'destination' && !record.committed) {
      await docker.removeContainer(record.containerId, { force: true }).catch(() => undefined);
      for (const v of record.volumes) await docker.removeVolume(v).catch(() => undefined);
      log(`recovery: removed half-made ${record.name} of a migration cut off by a crash`);
    }
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}
