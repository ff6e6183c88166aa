// A small JSON record per migration in the agent's state dir, so that an agent that crashed
// mid-migration can finish or undo it when it starts again.
import fs from 'node:fs';
import path from 'node:path';

export type MigrationRecord =
  /** Source: the tree may be frozen; resume it unless the destination committed. */
  | { role: 'source'; containerId: string; name: string; cgroupDir: string; committed: boolean; keepSource: boolean }
  /** Destination: remove what was made unless committed. */
  | { role: 'destination'; containerId: string; name: string; volumes: string[]; committed: boolean };

const RECORD = 'record.json';

export function migrationsDir(stateDir: string): string {
  return path.join(stateDir, 'migrations');
}

/** Written atomically (rename), so a crash never leaves half a record. */
export function writeRecord(workDir: string, record: MigrationRecord): void {
  fs.mkdirSync(workDir, { recursive: true });
  const tmp = path.join(workDir, `${RECORD}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(record));
  fs.renameSync(tmp, path.join(workDir, RECORD));
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
