import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOk } from '../util/exec';
import { commonNameOf, identityOfCertificate, identityOfCertificateFile } from './peer-role';
import { checkNodeCertificate, makeCertificates } from './tls';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-roles-'));
const node1 = { name: 'node1', role: 'node' as const, dns: ['node1', 'localhost'], ips: ['127.0.0.1', '10.77.0.1'] };
const client = { name: 'client', role: 'operator' as const, dns: [], ips: [] };

/** A certificate signed by the same CA the way `migrate-cli certs` did before roles: no URI. */
async function roleless(name: string): Promise<void> {
  const key = path.join(dir, `${name}-key.pem`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(ext, `subjectAltName=DNS:${name}\n`);
  await runOk('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
  await runOk('openssl', ['x509', '-req', '-in', csr, '-CA', path.join(dir, 'ca.pem'), '-CAkey', path.join(dir, 'ca-key.pem'),
    '-CAcreateserial', '-out', path.join(dir, `${name}.pem`), '-days', '1', '-extfile', ext]);
}

describe('roles in certificates', () => {
  beforeAll(async () => {
    await makeCertificates(dir, [node1, client]);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('issues node and operator certificates that say which they are, keeping the node addresses', () => {
    expect(identityOfCertificateFile(path.join(dir, 'node1.pem'))).toEqual({ role: 'node', name: 'node1' });
    expect(identityOfCertificateFile(path.join(dir, 'client.pem'))).toEqual({ role: 'operator', name: 'client' });
    const pem = fs.readFileSync(path.join(dir, 'node1.pem'));
    expect(commonNameOf(pem)).toBe('node1');
    // DER, as grpc-js hands the peer's certificate over, reads the same.
    const der = Buffer.from(pem.toString().replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    expect(identityOfCertificate(der)).toEqual({ role: 'node', name: 'node1' });
    expect(() => checkNodeCertificate({ dir, name: 'node1' })).not.toThrow();
  });

  it('an agent refuses to serve with an operator certificate', () => {
    expect(() => checkNodeCertificate({ dir, name: 'client' }))
      .toThrow(/client\.pem is a livemig operator certificate for client, not a node certificate for client$/);
  });

  it('a certificate made before roles: no identity; the agent and certs say how to re-issue it, in one line', async () => {
    await roleless('old');
    expect(identityOfCertificateFile(path.join(dir, 'old.pem'))).toBeNull();
    expect(() => checkNodeCertificate({ dir, name: 'old' }))
      .toThrow(/old\.pem has no livemig role \(made before roles\): where the CA key is, run migrate-cli certs --out PKI_DIR --reissue --node old=IP/);
    const oldNode = { ...node1, name: 'old' };
    await expect(makeCertificates(dir, [oldNode])).rejects.toThrow(/old\.pem is not a livemig node certificate for old .*--reissue/);
    await makeCertificates(dir, [oldNode], { reissue: true });
    expect(identityOfCertificateFile(path.join(dir, 'old.pem'))).toEqual({ role: 'node', name: 'old' });
  });

  it('issues nothing where the CA key is not (a node\'s PKI dir)', async () => {
    const nodeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-node-pki-'));
    try {
      for (const f of ['ca.pem', 'node1.pem', 'node1-key.pem']) fs.copyFileSync(path.join(dir, f), path.join(nodeDir, f));
      await expect(makeCertificates(nodeDir, [client])).rejects.toThrow(/ca-key\.pem is missing: certificates are issued where the CA key is/);
    } finally {
      fs.rmSync(nodeDir, { recursive: true, force: true });
    }
  });
});
