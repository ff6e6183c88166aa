import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, inNode, logs, push, removeEverywhere, sh, sleep, state, tryDocker, waitFor } from './lab';

function mergedDir(node: string, name: string): string {
  return docker(node, 'inspect', '-f', '{{.GraphDriver.Data.MergedDir}}', name);
}

describe('push keeps state', () => {
  beforeAll(() => removeEverywhere('memhog', 'files', 'web', 'configured'));
  afterAll(() => {
    removeEverywhere('memhog', 'files', 'web', 'configured');
    for (const node of ['node1', 'node2']) tryDocker(node, 'volume', 'rm', 'webdata');
  });

  it('keeps 64 MiB of process memory bit for bit', async () => {
    docker('node1', 'run', '-d', '--name', 'memhog', 'livemig-testkit:latest', 'memhog', '64');
    const filled = await waitFor('memhog filled', () => logs('node1', 'memhog').find((l) => l.startsWith('filled')), 30_000);
    const sum = filled.split(' ').pop();
    expect(sum).toMatch(/^[0-9a-f]{16}$/);

    const s = push('node1', 'memhog', 'node2');
    expect(s.bytesRaw).toBeGreaterThan(64 * 1024 * 1024);
    expect(s.pipelined).toBe(true); // the pages went while CRIU wrote them
    expect(s.compressLevel).toBe(-1); // the measured default, zstd --fast=1
    expect(s.bytesWire).toBeLessThan(s.bytesRaw * 0.6); // memhog's memory is half compressible

    docker('node2', 'kill', '-s', 'USR1', 'memhog');
    const line = await waitFor('checksum after the move', () => logs('node2', 'memhog').find((l) => l.startsWith('checksum')));
    expect(line).toBe(`checksum ${sum}`);

    // And back the serial way (dump to disk, then transfer), at another zstd level.
    const back = push('node2', 'memhog', 'node1', '--serial', '--compress', '3');
    expect(back.pipelined).toBe(false);
    expect(back.compressLevel).toBe(3);
    expect(back.criuImageBytes).toBeGreaterThan(64 * 1024 * 1024);
    const checksums = (): string[] => logs('node1', 'memhog').filter((l) => l.startsWith('checksum'));
    const before = checksums().length; // the log moved too: node2's line is in it
    docker('node1', 'kill', '-s', 'USR1', 'memhog');
    const lines = await waitFor('checksum after the way back', () => checksums().length > before && checksums());
    expect(lines[lines.length - 1]).toBe(`checksum ${sum}`);
  });

  it('keeps the filesystem: new, deleted, owned, linked and xattr-carrying files', () => {
    docker('node1', 'run', '-d', '--name', 'files', 'busybox:latest', 'sleep', '100000');
    docker('node1', 'exec', 'files', 'sh', '-c', [
      'echo before-the-move > /root/written.txt',
      'rm /etc/livemig-base.txt',
      'mkdir -p /srv/private && chmod 0750 /srv/private && chown 1000:1000 /srv/private',
      'echo secret > /srv/private/inside',
      'ln -s /root/written.txt /root/link',
    ].join(' && '));
    const m1 = mergedDir('node1', 'files');
    expect(sh('setfattr', ['-n', 'user.livemig', '-v', 'kept', `${m1}/root/written.txt`]).code).toBe(0);

    push('node1', 'files', 'node2');

    const check = (cmd: string): string => docker('node2', 'exec', 'files', 'sh', '-c', cmd);
    expect(check('cat /root/written.txt')).toBe('before-the-move');
    expect(tryDocker('node2', 'exec', 'files', 'test', '-e', '/etc/livemig-base.txt').code).toBe(1);
    expect(check('stat -c "%a %u:%g" /srv/private')).toBe('750 1000:1000');
    expect(check('cat /srv/private/inside')).toBe('secret');
    expect(check('readlink /root/link')).toBe('/root/written.txt');
    const m2 = mergedDir('node2', 'files');
    expect(sh('getfattr', ['--only-values', '-n', 'user.livemig', `${m2}/root/written.txt`]).stdout).toBe('kept');
    // The base image is untouched on node1 for other containers.
    expect(docker('node1', 'run', '--rm', 'busybox:latest', 'cat', '/etc/livemig-base.txt')).toBe('base image file');
  });

  it('moves a named volume and a published TCP port', async () => {
    docker('node1', 'run', '-d', '--name', 'web', '-v', 'webdata:/data', '-p', '8080:80',
      'busybox:latest', 'sh', '-c', 'echo hello-from-the-volume > /data/index.html && exec httpd -f -p 80 -h /data');
    const get = (node: string, addr: string): string => inNode(node, 'busybox', 'wget', '-qO-', `http://${addr}:8080/index.html`).stdout.trim();
    await waitFor('httpd on node1', () => get('node1', '10.77.0.1') === 'hello-from-the-volume');

    push('node1', 'web', 'node2');

    await waitFor('httpd on node2', () => get('node2', '10.77.0.2') === 'hello-from-the-volume');
    expect(docker('node2', 'volume', 'inspect', '-f', '{{.Name}}', 'webdata')).toBe('webdata');
    expect(tryDocker('node1', 'volume', 'inspect', 'webdata').code).not.toBe(0);
    expect(docker('node2', 'port', 'web', '80')).toMatch(/:8080$/m);
    // Writes after the move land in node2's volume.
    docker('node2', 'exec', 'web', 'sh', '-c', 'echo second > /data/second.html');
    expect(inNode('node2', 'busybox', 'wget', '-qO-', 'http://10.77.0.2:8080/second.html').stdout.trim()).toBe('second');
  });

  it('recreates the config: env, labels, workdir, user, hostname, restart policy', async () => {
    docker('node1', 'run', '-d', '--name', 'configured', '-e', 'GREETING=hi there', '-l', 'team=ops',
      '-l', 'tier=cache', '-w', '/home/app', '-u', '1000:1000', '--hostname', 'cfg-host',
      '--restart', 'on-failure:3', '--memory', '64m', 'busybox:latest', 'sh', '-c', 'while true; do sleep 1; done');
    const fmt = '{{json .Config.Env}}|{{json .Config.Labels}}|{{.Config.WorkingDir}}|{{.Config.User}}|' +
      '{{.Config.Hostname}}|{{json .HostConfig.RestartPolicy}}|{{.HostConfig.Memory}}';
    const before = docker('node1', 'inspect', '-f', fmt, 'configured');

    push('node1', 'configured', 'node2');

    expect(docker('node2', 'inspect', '-f', fmt, 'configured')).toBe(before);
    expect(docker('node2', 'exec', 'configured', 'sh', '-c', 'echo "$GREETING $(id -u) $(pwd) $(hostname)"'))
      .toBe('hi there 1000 /home/app cfg-host');
    // The application runs as before: same user, under the helper.
    const app = docker('node2', 'top', 'configured', '-o', 'pid,uid,args').split('\n').find((l) => /while true/.test(l));
    expect(app?.trim().split(/\s+/)[1]).toBe('1000');
    await sleep(200);
    expect(state('node2', 'configured')?.running).toBe(true);
  });
});
