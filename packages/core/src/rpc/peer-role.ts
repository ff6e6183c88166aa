// What a certificate from the lab CA allows: every certificate says, in a SAN URI, whether it is
// a node's (agents: migrations between them) or an operator's (the CLI: push, status). Being
// signed by the CA is no longer enough to drive an agent; the role decides which RPCs.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';

export type PeerRole = 'node' | 'operator';

/** Who a certificate says its holder is. */
export interface PeerIdentity {
  role: PeerRole;
  name: string;
}

/** Certificate names: file stems, node names (also what `migrate-cli certs` accepts). */
export const CERT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The SAN URI that carries a role: `livemig:node:node1`, `livemig:operator:client`. */
export function roleUri(id: PeerIdentity): string {
  return `livemig:${id.role}:${id.name}`;
}

const ROLE_URI = /(?:^|, )URI:livemig:([^,]*)/g;

/**
 * The identity in a certificate (DER or PEM), or null when it carries no livemig URI (a
 * certificate made before roles). Several livemig URIs, or one that does not parse, is an error:
 * a certificate must not be read as two things.
 */
export function identityOfCertificate(cert: Buffer | string): PeerIdentity | null {
  const san = new X509Certificate(cert).subjectAltName ?? '';
  const uris = [...san.matchAll(ROLE_URI)].map((m) => m[1]);
  if (uris.length === 0) return null;
  if (uris.length > 1) throw new Error(`certificate has ${uris.length} livemig role URIs (${uris.join(', ')}); it must have one`);
  const [role, name = '', ...rest] = uris[0].split(':');
  if ((role !== 'node' && role !== 'operator') || !CERT_NAME.test(name) || rest.length) {
    throw new Error(`certificate has an invalid livemig role URI "livemig:${uris[0]}"`);
  }
  return { role, name };
}

/** identityOfCertificate for a PEM file. */
export function identityOfCertificateFile(file: string): PeerIdentity | null {
  return identityOfCertificate(fs.readFileSync(file));
}

/** The certificate's common name, to name a certificate without a role in messages. */
export function commonNameOf(cert: Buffer | string): string {
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(new X509Certificate(cert).subject);
  return cn ? cn[1] : '?';
}
