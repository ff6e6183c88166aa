// Agents talk mutual TLS: a peer without a certificate from the lab's CA gets nothing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cli, docker, inNode, lab, removeEverywhere, sh, state } from './lab';

const ROGUE = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-rogue-pki-'));

function rawPeer(tlsDir: string): { code: number; details: string; replies: string[] } {
  const imageId = docker('node2', 'image', 'inspect', '-f', '{{.Id}}', 'busybox:latest');
  const r = inNode('node1', 'env', `LIVEMIG_TLS_DIR=${tlsDir}`, 'node', path.join(ROOT, 'test/tools/raw-peer.cjs'),
    'corrupt-chunk', 'node2', imageId, '/tmp/unused');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { code: number; details: string; replies: string[] };
}

describe('mutual TLS between agents', () => {
  beforeAll(() => {
    removeEverywhere('hostile-target');
    // A CA of its own, with certificates for the same names: right names, wrong CA.
    const r = sh('node', [path.join(ROOT, 'packages/cli/dist/main.js'), 'certs', '--out', ROGUE, '--node', 'node1=10.77.0.1']);
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(() => {
    fs.rmSync(ROGUE, { recursive: true, force: true });
    lab('restart-agent', 'node2');
  });

  it('serves the CLI with the lab certificate', () => {
    expect(cli('node1', 'status', '--to', 'node2').code).toBe(0);
  });

  it('refuses a CLI whose certificate comes from another CA', () => {
    const r = cli('node1', 'status', '--to', 'node2', '--tls-dir', ROGUE);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^migrate-cli: error: cannot reach agent at localhost:7411/);
  });

  it('refuses a peer agent with a foreign certificate, and one without any, before any migration starts', () => {
    for (const tlsDir of [ROGUE, '']) {
      const r = rawPeer(tlsDir);
      expect(r.code).toBe(14); // UNAVAILABLE: no TLS session, no call
      expect(r.replies).toEqual([]);
      expect(state('node2', 'hostile-target')).toBeNull();
    }
  });

  it('runs plaintext only when told --insecure, and says so', () => {
    expect(lab('restart-agent', 'node2', '--insecure').code).toBe(0);
    const log = fs.readFileSync('/run/livemig-lab/node2/agent.log', 'utf8').trim().split('\n').slice(-2).join('\n');
    expect(log).toMatch(/WARNING: --insecure: plaintext gRPC without authentication/);
    expect(log).toMatch(/listening on 0\.0\.0\.0:7411 \(plaintext, --insecure/);
    // The TLS side (node1's agent) cannot talk to it: no silent downgrade.
    const r = cli('node1', 'status', '--to', 'node2');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot reach agent at node2:7411/);
  });

  it('refuses to start without --tls-dir or --insecure', () => {
    const r = sh('node', [path.join(ROOT, 'packages/agent/dist/main.js'), '--listen', '127.0.0.1:0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/give --tls-dir DIR \(mutual TLS\) or, explicitly, --insecure/);
  });
});
