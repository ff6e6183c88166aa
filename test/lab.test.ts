import { describe, expect, it } from 'vitest';
import { cli, docker, lab, removeEverywhere, sh } from './lab';

function leftovers(): string[] {
  const found: string[] = [];
  const netns = sh('ip', ['netns', 'list']).stdout;
  for (const n of ['node1', 'node2']) if (new RegExp(`^${n}\\b`, 'm').test(netns)) found.push(`netns ${n}`);
  if (/lab-node|lab0/.test(sh('ip', ['-o', 'link']).stdout)) found.push('veth');
  const mounts = sh('cat', ['/proc/self/mountinfo']).stdout.split('\n').filter((l) => /livemig-lab/.test(l));
  if (mounts.length) found.push(`${mounts.length} mounts`);
  const procs = sh('ps', ['-eo', 'pid,args']).stdout.split('\n').filter((l) => /livemig-lab|agent\/dist\/main\.js/.test(l) && !/ps -eo/.test(l));
  if (procs.length) found.push(`processes: ${procs.join('; ')}`);
  if (/livemig-lab/.test(sh('cat', ['/etc/hosts']).stdout)) found.push('/etc/hosts entries');
  if (sh('test', ['-e', '/run/livemig-lab']).code === 0) found.push('/run/livemig-lab');
  if (sh('test', ['-e', '/var/lib/livemig-lab']).code === 0) found.push('/var/lib/livemig-lab');
  return found;
}

describe('one-machine lab', () => {
  it('runs a dockerd per node, each answering and running containers', () => {
    removeEverywhere('lab-probe');
    for (const node of ['node1', 'node2']) {
      expect(docker(node, 'version', '-f', '{{.Server.Version}}')).toMatch(/^\d+\.\d+/);
      docker(node, 'run', '-d', '--name', 'lab-probe', 'busybox:latest', 'sleep', '300');
      expect(docker(node, 'inspect', '-f', '{{.State.Running}}', 'lab-probe')).toBe('true');
    }
    // Two daemons, two namespaces: each sees only its own container.
    const id1 = docker('node1', 'inspect', '-f', '{{.Id}}', 'lab-probe');
    const id2 = docker('node2', 'inspect', '-f', '{{.Id}}', 'lab-probe');
    expect(id1).not.toBe(id2);
    removeEverywhere('lab-probe');
  });

  it('has the same base image on both nodes', () => {
    for (const image of ['busybox:latest', 'livemig-testkit:latest']) {
      expect(docker('node1', 'image', 'inspect', '-f', '{{.Id}}', image)).toBe(
        docker('node2', 'image', 'inspect', '-f', '{{.Id}}', image),
      );
    }
  });

  it('reaches each agent from the other node over gRPC', () => {
    for (const [from, to] of [['node1', 'node2'], ['node2', 'node1']]) {
      const r = cli(from, 'status', '--to', to);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^local  ${from}: agent \\d+\\.\\d+\\.\\d+ \\(protocol \\d+\\), criu 4\\.\\d+(\\.\\d+)? \\(check: ok\\)`, 'm'));
      expect(r.stdout).toMatch(new RegExp(`^peer   ${to}: agent .*criu 4\\.\\d.*check: ok.*docker \\d+\\.\\d+.*lazy restore yes.*reached in`, 'm'));
    }
    const json = JSON.parse(cli('node1', 'status', '--to', 'node2', '--json').stdout) as {
      peer: { nodeName: string; criuCheckOk: boolean; dockerVersion: string };
    };
    expect(json.peer.nodeName).toBe('node2');
    expect(json.peer.criuCheckOk).toBe(true);
  });

  it('status reports every node healthy', () => {
    const r = lab('status');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^node1 dockerd: running/m);
    expect(r.stdout).toMatch(/^node2 agent: running/m);
    expect(r.stdout).toMatch(/^node1 -> node2: ok/m);
    expect(r.stdout).toMatch(/^node2 -> node1: ok/m);
  });

  it('refuses bad input with one clear line and a non-zero exit', () => {
    const bad = lab('frobnicate');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/unknown command 'frobnicate'/);

    const nowhere = cli('node1', 'status', '--to', 'nowhere');
    expect(nowhere.code).not.toBe(0);
    expect(nowhere.stderr.trim().split('\n')).toHaveLength(1);
    expect(nowhere.stderr).toMatch(/^migrate-cli: error: cannot reach agent at nowhere:7411/);

    const badNode = lab('docker', 'node3', 'ps');
    expect(badNode.code).not.toBe(0);
    expect(badNode.stderr).toMatch(/unknown node 'node3'/);
  });

  it('comes down leaving nothing behind, and up again, twice', () => {
    for (let round = 0; round < 2; round++) {
      docker('node1', 'run', '-d', '--name', 'lab-probe', 'busybox:latest', 'sleep', '300');
      const down = lab('down');
      expect(down.code, down.stderr).toBe(0);
      expect(leftovers()).toEqual([]);
      const up = lab('up');
      expect(up.code, up.stderr).toBe(0);
      expect(lab('status').code).toBe(0);
    }
  });
});
