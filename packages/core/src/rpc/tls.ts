// Mutual TLS between agents and from the CLI: a small CA signs one certificate per node (used
// both to serve and, agent to agent, as a client) and one for operators (the CLI). An agent
// accepts only peers presenting a certificate from that CA.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { runOk } from '../util/exec';

/** Where the PEM files live and which certificate (file stem) is ours. */
export interface TlsIdentity {
  dir: string;
  name: string; // node name, or "client" for the CLI
}

/** Plaintext, or mutual TLS with an identity. */
export type Transport = { insecure: true } | { insecure: false; tls: TlsIdentity };

function files(id: TlsIdentity): { ca: Buffer; cert: Buffer; key: Buffer } {
  const read = (f: string): Buffer => {
    const p = path.join(id.dir, f);
    if (!fs.existsSync(p)) throw new Error(`TLS file ${p} is missing (make one with: migrate-cli certs --out ${id.dir} --node ...)`);
    return fs.readFileSync(p);
  };
  return { ca: read('ca.pem'), cert: read(`${id.name}.pem`), key: read(`${id.name}-key.pem`) };
}

export function clientCredentials(t: Transport): grpc.ChannelCredentials {
  if (t.insecure) return grpc.credentials.createInsecure();
  const f = files(t.tls);
  return grpc.credentials.createSsl(f.ca, f.key, f.cert);
}

export function serverCredentials(t: Transport): grpc.ServerCredentials {
  if (t.insecure) return grpc.ServerCredentials.createInsecure();
  const f = files(t.tls);
  // true: refuse clients without a certificate signed by our CA.
  return grpc.ServerCredentials.createSsl(f.ca, [{ private_key: f.key, cert_chain: f.cert }], true);
}

export interface CertSubject {
  name: string;        // file stem and common name
  dns: string[];
  ips: string[];
}

/** Makes (or completes) a CA and certificates with openssl. Existing files are kept. */
export async function makeCertificates(dir: string, subjects: CertSubject[]): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const made: string[] = [];
  const ca = path.join(dir, 'ca.pem');
  const caKey = path.join(dir, 'ca-key.pem');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  if (!fs.existsSync(ca)) {
    await runOk('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-days', '3650', '-subj', '/CN=livemig CA']);
    made.push(ca);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-certs-'));
  try {
    for (const s of subjects) {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(s.name)) throw new Error(`invalid certificate name "${s.name}"`);
      const cert = path.join(dir, `${s.name}.pem`);
      if (fs.existsSync(cert)) continue;
      const key = path.join(dir, `${s.name}-key.pem`);
      const csr = path.join(tmp, `${s.name}.csr`);
      const ext = path.join(tmp, `${s.name}.ext`);
      const san = [...s.dns.map((d) => `DNS:${d}`), ...s.ips.map((i) => `IP:${i}`)];
      fs.writeFileSync(ext, [
        'basicConstraints=CA:FALSE',
        'keyUsage=digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth,clientAuth',
        ...(san.length ? [`subjectAltName=${san.join(',')}`] : []),
      ].join('\n'));
      await runOk('openssl', ['req', ...ec, '-keyout', key, '-out', csr, '-subj', `/CN=${s.name}`]);
      await runOk('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial',
        '-out', cert, '-days', '825', '-extfile', ext]);
      fs.chmodSync(key, 0o600);
      made.push(cert);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return made;
}
