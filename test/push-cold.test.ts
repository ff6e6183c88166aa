// drain --include-stopped: a stopped container moves cold (no freeze, no CRIU): its config, its
// upper dir (files written and image files deleted) and its named volume's data, created on the
// destination and not started; `docker start` there runs its own command on them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, docker, lab, removeEverywhere, tryDocker } from './lab';

const NAME = 'cold-1';
const CREATED = 'cold-2';
const VOLUME = 'cold-vol';
// First run (node1): writes the volume and the upper dir, deletes an image file, exits.
// A later run (node2, after the move): prints what the first one left.
const SCRIPT = 'if [ -f /data/v.txt ]; then cat /data/v.txt /root/u.txt; [ -e /etc/group ] || echo group-gone; ' +
  'else echo vol-data > /data/v.txt; echo upper-data > /root/u.txt; rm /etc/group; fi';

interface DrainJson {
  plan: Array<{ container: string; verdict: string; destinationNode: string }>;
  results: Array<{ container: string; result: string; reason: string }>;
  remaining: string[];
}

function cleanUp(): void {
  removeEverywhere(NAME, CREATED);
  for (const n of ['node1', 'node2']) tryDocker(n, 'volume', 'rm', '-f', VOLUME);
}

describe('cold move of a stopped container', () => {
  beforeAll(() => {
    expect(lab('up').code).toBe(0);
    cleanUp();
  }, 120_000);
  afterAll(cleanUp, 60_000);

  it('drain --include-stopped creates it on node2 with its files and volume, not started, and removes it here', () => {
    docker('node1', 'run', '--name', NAME, '-v', `${VOLUME}:/data`, 'busybox:latest', 'sh', '-c', SCRIPT);
    expect(docker('node1', 'inspect', '-f', '{{.State.Status}}', NAME)).toBe('exited');

    // Without --include-stopped a drain does not select it.
    const without = cli('node1', 'drain', '--to', 'node2', '--filter', `name=${NAME}`, '--dry-run', '--json');
    expect(without.code, without.stderr).toBe(0);
    expect((JSON.parse(without.stdout) as DrainJson).plan).toEqual([]);

    const r = cli('node1', 'drain', '--to', 'node2', '--filter', `name=${NAME}`, '--include-stopped', '--json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as DrainJson;
    expect(j.plan).toMatchObject([{ container: NAME, verdict: 'moves cold', destinationNode: 'node2' }]);
    expect(j.results).toMatchObject([{ container: NAME, result: 'moved' }]);
    expect(j.remaining).toEqual([]);

    // node2: created, never started; node1: gone with its volume.
    expect(docker('node2', 'inspect', '-f', '{{.State.Status}} {{.State.Running}} {{.State.StartedAt}}', NAME)).toMatch(/^created false 0001-01-01/);
    expect(tryDocker('node1', 'inspect', NAME).code).not.toBe(0);
    expect(tryDocker('node1', 'volume', 'inspect', VOLUME).code).not.toBe(0);

    // Its own command, fresh, on the volume data and upper dir that moved (the deletion too).
    expect(docker('node2', 'start', '-a', NAME).split('\n')).toEqual(['vol-data', 'upper-data', 'group-gone']);
    expect(docker('node2', 'inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', NAME)).toBe('exited 0');
  }, 120_000);

  it('push of a container never started (created) moves it cold too, and says so', () => {
    docker('node1', 'create', '--name', CREATED, 'busybox:latest', 'echo', 'fresh');
    const r = cli('node1', 'push', CREATED, '--to', 'node2');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`moved ${CREATED} cold \\(stopped\\) from node1 to node2 .*created, not started`));
    expect(docker('node2', 'inspect', '-f', '{{.State.Status}}', CREATED)).toBe('created');
    expect(tryDocker('node1', 'inspect', CREATED).code).not.toBe(0);
    expect(docker('node2', 'start', '-a', CREATED)).toBe('fresh');
  }, 60_000);
});
