// Mutual TLS between agents and from the CLI: a small CA signs one certificate per node (used
// both to serve and, agent to agent, as a client) and one for operators (the CLI). An agent
// accepts only peers presenting a certificate from that CA, and each RPC only from the role
// (node or operator) its certificate names (peer-role.ts). The CA key stays where certificates
// are made (the operator's PKI dir): agents read ca.pem, their own certificate and key only.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { runOk } from '../util/exec';
import { CERT_NAME, identityOfCertificateFile, roleUri, type PeerRole } from './peer-role';

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
  name: string;        // file stem, common name and the name in the role URI
  role: PeerRole;
  dns: string[];
  ips: string[];
}

export interface MakeCertificatesOptions {
  /** Issue the named certificates again (same CA), e.g. those made before roles existed. */
  reissue?: boolean;
}

/** Whether an existing certificate already says what the subject should be. */
function hasRoleOf(cert: string, s: CertSubject): boolean {
  const id = identityOfCertificateFile(cert);
  return id !== null && id.role === s.role && id.name === s.name;
}

/**
 * Makes (or completes) a CA and certificates with openssl. Existing certificates are kept, unless
 * `reissue`; one that lacks its role (made before roles) is an error naming the fix.
 */
export async function makeCertificates(dir: string, subjects: CertSubject[], options: MakeCertificatesOptions = {}): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const made: string[] = [];
  const ca = path.join(dir, 'ca.pem');
  const caKey = path.join(dir, 'ca-key.pem');
  if (fs.existsSync(ca) && !fs.existsSync(caKey)) {
    throw new Error(`${caKey} is missing: certificates are issued where the CA key is (the operator's PKI dir, not a node's)`);
  }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  if (!fs.existsSync(ca)) {
    await runOk('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-days', '3650', '-subj', '/CN=livemig CA']);
    made.push(ca);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-certs-'));
  try {
    for (const s of subjects) {
      if (!CERT_NAME.test(s.name)) throw new Error(`invalid certificate name "${s.name}"`);
      const cert = path.join(dir, `${s.name}.pem`);
      if (fs.existsSync(cert) && !options.reissue) {
        if (hasRoleOf(cert, s)) continue;
        throw new Error(`${cert} is not a livemig ${s.role} certificate for ${s.name} (made before roles?): ` +
          `issue it again with migrate-cli certs --out ${dir} --reissue and the same --node flags`);
      }
      const key = path.join(dir, `${s.name}-key.pem`);
      const csr = path.join(tmp, `${s.name}.csr`);
      const ext = path.join(tmp, `${s.name}.ext`);
      const san = [...s.dns.map((d) => `DNS:${d}`), ...s.ips.map((i) => `IP:${i}`), `URI:${roleUri(s)}`];
      fs.writeFileSync(ext, [
        'basicConstraints=CA:FALSE',
        'keyUsage=digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth,clientAuth',
        `subjectAltName=${san.join(',')}`,
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

/**
 * An agent serves only with a node certificate for its own name: one made before roles would
 * have every peer denied, so the agent says how to re-issue it instead of starting.
 */
export function checkNodeCertificate(id: TlsIdentity): void {
  const cert = path.join(id.dir, `${id.name}.pem`);
  if (!fs.existsSync(cert)) return; // serverCredentials names the missing file
  const found = identityOfCertificateFile(cert);
  if (found === null) {
    throw new Error(`${cert} has no livemig role (made before roles): where the CA key is, run ` +
      `migrate-cli certs --out PKI_DIR --reissue --node ${id.name}=IP ... and copy ${id.name}.pem and ${id.name}-key.pem here`);
  }
  if (found.role !== 'node' || found.name !== id.name) {
    throw new Error(`${cert} is a livemig ${found.role} certificate for ${found.name}, not a node certificate for ${id.name}`);
  }
}
