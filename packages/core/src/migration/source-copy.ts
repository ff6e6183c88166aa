import type { DockerClient } from '../docker/docker-client';
import { killFrozen } from './cgroup-freezer';

/**
 * After the destination committed (a push, or crash recovery): the frozen tree goes, the container
 * is removed or kept stopped, and the named volumes that moved with it are dropped here unless
 * another container still uses them. Our SIGKILL and thaw come before Docker's kill, which waits
 * for an exit that frozen tasks never make; Docker's returns once it has seen the container exit.
 */
export interface SourceCopy {
  cgroupDir: string;
  containerId: string;
  keepSource: boolean;
  volumes: string[];
}

export async function removeSourceCopy(docker: DockerClient, source: SourceCopy): Promise<void> {
  if (source.cgroupDir) killFrozen(source.cgroupDir); // '' after a cold move: no process
  await docker.killContainer(source.containerId, 'SIGKILL');
  if (source.keepSource) return;
  await docker.removeContainer(source.containerId, { force: true });
  for (const v of source.volumes) {
    if ((await docker.containersUsingVolume(v)).length === 0) await docker.removeVolume(v);
  }
}
