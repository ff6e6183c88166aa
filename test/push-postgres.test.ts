// A real database moves: PostgreSQL 15 from Debian's packages (scripts/server-images.sh), its
// data in a named volume, a client inserting all through the push. Every insert the client saw
// committed is there afterwards, reads and new writes work.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, docker, inNode, lab, loadServerImage, removeEverywhere, sh, tryDocker, waitFor, type PushSummary } from './lab';

const NODES = { node1: '10.77.0.1', node2: '10.77.0.2' };

/** psql on `host` from node1's network namespace, one statement, tuples only. */
function psql(host: string, sql: string): { code: number; out: string } {
  const r = inNode('node1', 'env', 'PGCONNECT_TIMEOUT=2', 'psql', '-h', host, '-U', 'postgres', '-qtAX', '-v', 'ON_ERROR_STOP=1', '-c', sql);
  return { code: r.code, out: r.stdout.trim() };
}

describe('PostgreSQL with its data in a named volume, written to during the push', () => {
  beforeAll(() => {
    loadServerImage();
    removeEverywhere('pg');
    for (const node of Object.keys(NODES)) tryDocker(node, 'volume', 'rm', '-f', 'pgdata');
  }, 1_300_000);
  afterAll(() => {
    removeEverywhere('pg');
    for (const node of Object.keys(NODES)) tryDocker(node, 'volume', 'rm', '-f', 'pgdata');
  });

  it('keeps every committed insert; SELECT and new writes work on the destination', async () => {
    docker('node1', 'run', '-d', '--name', 'pg', '-p', '5432:5432', '-v', 'pgdata:/var/lib/postgresql/data', 'livemig-servers:latest', 'livemig-postgres');
    await waitFor('PostgreSQL to answer', () => psql(NODES.node1, 'select 1').code === 0, 60_000, 250);
    expect(psql(NODES.node1, 'create table t (v bigint primary key, pad text)').code).toBe(0);
    expect(psql(NODES.node1, "insert into t select g, repeat('x', 200) from generate_series(-300000, -1) g").code).toBe(0);

    // The client: one connection per insert, to whichever node answers; prints each value whose
    // INSERT returned success (committed: autocommit).
    const client = spawn('bash', [path.join(ROOT, 'scripts/lab.sh'), 'exec', 'node1', 'bash', '-c', `
      i=0
      while [ ! -e /tmp/livemig-pg-stop ]; do
        i=$((i + 1))
        for h in ${NODES.node1} ${NODES.node2}; do
          if PGCONNECT_TIMEOUT=1 psql -h $h -U postgres -qtAX -v ON_ERROR_STOP=1 -c "insert into t values ($i, 'live')" >/dev/null 2>&1; then echo "$i $h"; break; fi
        done
      done`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const committed: Array<{ v: number; host: string }> = [];
    let partial = '';
    client.stdout.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l) committed.push({ v: Number(l.split(' ')[0]), host: l.split(' ')[1] });
    });
    const exited = new Promise((resolve) => client.on('close', resolve));
    try {
      await waitFor('inserts on node1', () => committed.length >= 20, 30_000);
      const r = lab('cli', 'node1', 'push', 'pg', '--to', 'node2', '--json');
      expect(r.code, r.stderr).toBe(0);
      const s = JSON.parse(r.stdout) as PushSummary & { pagesSent: number; pagesReused: number };
      expect(s.diskRounds.length).toBeGreaterThanOrEqual(1);
      // Its shared buffers (128 MiB: 32768 pages, most of them filled by the load) went before
      // the freeze with the rest of its memory: what the dump sent is what changed since, and the
      // private memory of the backends started meanwhile (one connection per insert). Without
      // the shared memory in the pre-copy it sent ~28000 pages here; with it 60-1933.
      expect(s.pagesReused).toBeGreaterThan(16384);
      expect(s.pagesSent).toBeLessThan(8192);
      await waitFor('inserts on node2', () => committed.filter((c) => c.host === NODES.node2).length >= 20, 60_000);
    } finally {
      sh('touch', ['/tmp/livemig-pg-stop']);
      await exited;
      sh('rm', ['-f', '/tmp/livemig-pg-stop']);
    }
    const present = new Set(psql(NODES.node2, 'select v from t where v > 0').out.split('\n').map(Number));
    const lost = committed.filter((c) => !present.has(c.v));
    expect(lost, `${lost.length} of ${committed.length} committed inserts missing`).toEqual([]);
    expect(psql(NODES.node2, 'select count(*) from t where v < 0').out).toBe('300000');
    expect(psql(NODES.node2, "insert into t values (999999999, 'after')").code).toBe(0);
    expect(psql(NODES.node2, 'select pad from t where v = 999999999').out).toBe('after');
    expect(tryDocker('node1', 'inspect', 'pg').code).not.toBe(0);
  }, 600_000);
});
