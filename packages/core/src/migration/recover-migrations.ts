// Run when an agent starts: every migration dir left in the state dir belongs to a migration
// that was cut off by a crash. Undo it, or finish it when the destination had committed.
import fs from 'node:fs';
import type { DockerClient } from '../docker/docker-client';
import { readRecords } from './migration-record';
import { resumeFrozen } from './source-migration';

export async function recoverMigrations(stateDir: string, docker: DockerClient, log: (msg: string) => void): Promise<void> {
  for (const { workDir, record } of readRecords(stateDir)) {
    if (record?.role === 'source') {
      const c = await docker.inspectContainer(record.containerId);
      if (c && record.committed) {
        await docker.killContainer(record.containerId);
        if (!record.keepSource) await docker.removeContainer(record.containerId, { force: true });
        log(`recovery: ${record.name} had moved before the crash; removed the source copy`);
      } else if (c) {
        resumeFrozen(record.cgroupDir);
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
