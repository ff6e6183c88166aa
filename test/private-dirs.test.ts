// Checkpoints hold process memory: an agent whose scratch dir someone else made (and could read,
// or swap files in) refuses to start, and says why in one line.
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { lab } from './lab';

const SCRATCH = '/dev/shm/livemig-lab/node2'; // node2's --scratch-dir in scripts/lab.sh
const LOG = '/run/livemig-lab/node2/agent.log';

describe('private dirs', () => {
  afterAll(() => {
    // The normal agent again, with its own scratch dir.
    fs.rmSync(SCRATCH, { recursive: true, force: true });
    expect(lab('restart-agent', 'node2').code).toBe(0);
  });

  it("refuses to start when its scratch dir was made by another user", () => {
    fs.rmSync(SCRATCH, { recursive: true, force: true });
    fs.mkdirSync(SCRATCH, { mode: 0o700 });
    fs.chownSync(SCRATCH, 65534, 65534);
    const logBefore = fs.statSync(LOG).size;
    const r = lab('restart-agent', 'node2'); // lab.sh gives up once the agent does not listen
    expect(r.code).not.toBe(0);
    // What the new agent said (the old one's SIGTERM lines come first in the same log).
    const said = fs.readFileSync(LOG, 'utf8').slice(logBefore).trim().split('\n').filter((l) => l.startsWith('livemig-agent:'));
    expect(said).toEqual([
      `livemig-agent: ${SCRATCH} (where checkpoints go in memory, --scratch-dir) is not a directory that only this user can write: ` +
        'it is owned by uid 65534, not 0; remove it',
    ]);
    expect(fs.statSync(SCRATCH).uid).toBe(65534); // left as it was, for the operator to look at
  });
});
