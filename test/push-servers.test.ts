// Real servers from Debian's packages (scripts/server-images.sh) move with their state: nginx
// (master and workers: the same processes serve the file written before the move) and a JVM
// service (OpenJDK 17: its heap, a warm cache and a request counter, intact; requests answered).
// PostgreSQL has its own file (push-postgres.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, inNode, loadServerImage, logs, push, removeEverywhere, waitFor } from './lab';

const ADDR = { node1: '10.77.0.1', node2: '10.77.0.2' } as const;

/** An HTTP GET from node1's network namespace; the body, or null when nothing answered. */
function get(node: keyof typeof ADDR, port: number, urlPath: string): string | null {
  const r = inNode('node1', 'curl', '-sf', '--max-time', '3', `http://${ADDR[node]}:${port}${urlPath}`);
  return r.code === 0 ? r.stdout.trim() : null;
}

/** The container's processes' command lines, but for the restore helper (PID 1 of a restored
 *  container: the restored tree gets new PIDs below it). */
function processes(node: string, name: string): string[] {
  return docker(node, 'exec', name, 'ps', '-eo', 'args=').split('\n').map((l) => l.trim())
    .filter((l) => l && !/^ps -eo\b/.test(l) && !l.startsWith('/.livemig/restore-init')).sort();
}

describe('real servers from Debian packages', () => {
  beforeAll(() => {
    loadServerImage();
    removeEverywhere('web', 'jvm');
  }, 1_300_000);
  afterAll(() => removeEverywhere('web', 'jvm'));

  it('nginx: the same master and workers serve, on node2, the file written before the move', async () => {
    docker('node1', 'run', '-d', '--name', 'web', '-p', '8080:80', 'livemig-servers:latest', 'nginx', '-g', 'daemon off;');
    await waitFor('nginx to answer', () => get('node1', 8080, '/') !== null, 30_000, 250);
    const token = `written-before-the-move-${Date.now()}`;
    docker('node1', 'exec', 'web', 'sh', '-c', `echo ${token} > /var/www/html/before.txt`);
    expect(get('node1', 8080, '/before.txt')).toBe(token);
    const before = processes('node1', 'web');
    const pidFile = docker('node1', 'exec', 'web', 'cat', '/run/nginx.pid');
    expect(before.filter((l) => /nginx: worker process/.test(l)).length).toBeGreaterThanOrEqual(1);
    expect(before.some((l) => /nginx: master process/.test(l))).toBe(true);

    push('node1', 'web', 'node2');
    expect(get('node2', 8080, '/before.txt')).toBe(token);
    expect(processes('node2', 'web')).toEqual(before);
    // Not started anew there: a new master would have written its own PID into the file.
    expect(docker('node2', 'exec', 'web', 'cat', '/run/nginx.pid')).toBe(pidFile);
    // Still a working server: a new file is served too.
    docker('node2', 'exec', 'web', 'sh', '-c', 'echo after > /var/www/html/after.txt');
    expect(get('node2', 8080, '/after.txt')).toBe('after');
  }, 180_000);

  it('a JVM service: request counter and warm heap intact, requests answered on node2', async () => {
    docker('node1', 'run', '-d', '--name', 'jvm', '-p', '8081:8080', '-e', 'WARM_ROUNDS=30', 'livemig-servers:latest', 'livemig-jvm');
    await waitFor('the JVM service READY', () => logs('node1', 'jvm').some((l) => l.startsWith('READY')), 120_000, 250);
    const digest = get('node1', 8081, '/digest');
    expect(digest).toMatch(/^-?\d+$/);
    for (let i = 1; i <= 3; i++) expect(get('node1', 8081, '/count')).toBe(`${i} ${digest}`);

    push('node1', 'jvm', 'node2');
    // The 4th request overall: the counter lives in the heap that moved; the digest is
    // recomputed from the warm cache, so a damaged heap shows.
    expect(get('node2', 8081, '/count')).toBe(`4 ${digest}`);
    expect(get('node2', 8081, '/digest')).toBe(digest);
    expect(logs('node2', 'jvm').filter((l) => l.startsWith('READY')).length).toBe(1);
  }, 300_000);
});
