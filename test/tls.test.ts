// Agents talk mutual TLS: a peer without a certificate from the lab's CA gets nothing, and one
// with a certificate gets only what its role (node or operator) may call.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cli, docker, inNode, lab, removeEverywhere, sh, state, waitFor } from './lab';

const ROGUE = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-rogue-pki-'));
/** The operator's PKI dir of the lab (with the CA key), and node2's (without). */
const LAB_PKI = '/var/lib/livemig-lab/pki';
const NODE2_PKI = '/var/lib/livemig-lab/node2/pki';
/** Certificates from the lab CA that a test arranges: made before roles, or a node's in the CLI's place. */
const ODD = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-odd-pki-'));

/** test/tools/raw-peer.cjs on node1 against node2: a Migrate stream (env: see the tool). */
function rawPeer(tlsDir: string, env: Record<string, string> = {}): { code: number; details: string; replies: string[] } {
  const imageId = docker('node2', 'image', 'inspect', '-f', '{{.Id}}', 'busybox:latest');
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const r = inNode('node1', 'env', `LIVEMIG_TLS_DIR=${tlsDir}`, ...vars, 'node', path.join(ROOT, 'test/tools/raw-peer.cjs'),
    'corrupt-chunk', 'node2', imageId, '/tmp/unused');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { code: number; details: string; replies: string[] };
}

/** A Migrate stream from raw-peer denied for its certificate: PERMISSION_DENIED, one line, nothing created on node2. */
function expectDenied(tlsDir: string, env: Record<string, string>, details: string): void {
  const r = rawPeer(tlsDir, env);
  expect(r.code).toBe(7);
  expect(r.details).toBe(details);
  expect(r.replies).toEqual([]);
  expect(state('node2', 'hostile-target')).toBeNull();
}

/** A certificate for `name` signed by the lab CA as `migrate-cli certs` did before roles: no livemig URI. */
function rolelessCertificate(name: string): void {
  const ext = path.join(ODD, `${name}.ext`);
  fs.writeFileSync(ext, `subjectAltName=DNS:${name}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  const run = (args: string[]): void => expect(sh('openssl', args).code).toBe(0);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(ODD, `${name}-key.pem`),
    '-out', path.join(ODD, `${name}.csr`), '-subj', `/CN=${name}`]);
  run(['x509', '-req', '-in', path.join(ODD, `${name}.csr`), '-CA', path.join(LAB_PKI, 'ca.pem'), '-CAkey', path.join(LAB_PKI, 'ca-key.pem'),
    '-CAcreateserial', '-out', path.join(ODD, `${name}.pem`), '-days', '1', '-extfile', ext]);
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
    fs.rmSync(ODD, { recursive: true, force: true });
    removeEverywhere('hostile-target');
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

  it('nodes keep no CA key: each agent serves from ca.pem and its own pair', () => {
    expect(fs.readdirSync(NODE2_PKI).sort()).toEqual(['ca.pem', 'node2-key.pem', 'node2.pem']);
    expect(cli('node1', 'status', '--to', 'node2').code).toBe(0);
    expect(cli('node2', 'status', '--to', 'node1').code).toBe(0);
  });

  it('an operator certificate calling Migrate: PERMISSION_DENIED, nothing created', () => {
    expectDenied(LAB_PKI, { LIVEMIG_TLS_NAME: 'client' },
      'permission denied: Migrate needs a node certificate; the caller presented the operator certificate of client');
  });

  it('a node certificate calling Push (the CLI given node1\'s certificate): PERMISSION_DENIED, in one line', () => {
    for (const [from, to] of [['ca.pem', 'ca.pem'], ['node1.pem', 'client.pem'], ['node1-key.pem', 'client-key.pem']]) {
      fs.copyFileSync(path.join(LAB_PKI, from), path.join(ODD, to));
    }
    const r = cli('node1', 'push', 'anything', '--to', 'node2', '--tls-dir', ODD);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe('migrate-cli: error: permission denied: Push needs an operator certificate; ' +
      'the caller presented the node certificate of node1');
  });

  it('a Prepare naming another source node than the certificate: denied, nothing created', () => {
    expectDenied(LAB_PKI, { LIVEMIG_SOURCE_NODE: 'node3' },
      'permission denied: Prepare names source node "node3", the caller presented the node certificate of node1');
  });

  it('a peer certificate from the CA without a role (made before roles): denied, saying so', () => {
    rolelessCertificate('oldnode');
    fs.copyFileSync(path.join(LAB_PKI, 'ca.pem'), path.join(ODD, 'ca.pem'));
    expectDenied(ODD, { LIVEMIG_TLS_NAME: 'oldnode' },
      'permission denied: Migrate needs a node certificate; the caller\'s certificate (CN=oldnode) has no livemig role ' +
      '(made before roles: re-issue it with migrate-cli certs --reissue)');
  });

  it('an agent whose certificate has no role refuses to start, saying how to re-issue it', () => {
    rolelessCertificate('oldnode');
    const r = sh('node', [path.join(ROOT, 'packages/agent/dist/main.js'), '--listen', '127.0.0.1:0', '--tls-dir', ODD, '--node-name', 'oldnode']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe(`livemig-agent: ${ODD}/oldnode.pem has no livemig role (made before roles): where the CA key is, ` +
      'run migrate-cli certs --out PKI_DIR --reissue --node oldnode=IP ... and copy oldnode.pem and oldnode-key.pem here');
  });

  it('--peers: a node not in the list may not migrate here', () => {
    expect(lab('restart-agent', 'node2', '--peers', 'node3').code).toBe(0);
    expectDenied(LAB_PKI, {},
      'permission denied: Migrate needs a node certificate of node3 (--peers); the caller presented the node certificate of node1');
    // The operator's status still works: Health is not limited by --peers.
    expect(cli('node1', 'status', '--to', 'node2').code).toBe(0);
    expect(lab('restart-agent', 'node2', '--peers', 'node1').code).toBe(0);
    expect(rawPeer(LAB_PKI).details).toMatch(/chunk 0 fails its CRC32 check/);
    expect(state('node2', 'hostile-target')).toBeNull();
  });

  it('runs plaintext only when told --insecure, and says so', async () => {
    expect(lab('restart-agent', 'node2', '--insecure').code).toBe(0);
    // The port opens (what restart-agent waits for) a moment before the line is written.
    const lastLines = (): string => fs.readFileSync('/run/livemig-lab/node2/agent.log', 'utf8').trim().split('\n').slice(-2).join('\n');
    await waitFor('the agent\'s listening line', () => /listening on/.test(lastLines()), 10_000);
    const log = lastLines();
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
