// Docker's init (tini), as dockerd finds it for `docker run --init`: the file a migrated --init
// container runs on this host. CRIU restores the running tini from its image and reopens its
// binary here by path: that file must be the same one the source ran.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Where dockerd looks for docker-init after $PATH (daemon/config: the libexec dirs). */
const LIBEXEC_DIRS = ['/usr/local/libexec/docker', '/usr/libexec/docker', '/usr/local/lib/docker', '/usr/lib/docker'];

/** The host path of docker-init (symlinks resolved), or undefined when there is none. */
export function findDockerInit(searchPath = process.env.PATH ?? ''): string | undefined {
  const dirs = [...searchPath.split(':').filter((d) => path.isAbsolute(d)), ...LIBEXEC_DIRS];
  for (const dir of dirs) {
    const p = path.join(dir, 'docker-init');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.realpathSync(p);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** SHA-256 of a file (a running process's binary: /proc/PID/exe), hex. */
export function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}
