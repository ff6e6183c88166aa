import { makeCertificates, type CertSubject } from '@livemig/core';

/** "node2=10.0.0.2" -> a node certificate for node2, localhost and those addresses. */
export function parseNodeSpec(spec: string): CertSubject {
  const [name, ips = ''] = spec.split('=');
  const addresses = ips.split(',').filter(Boolean);
  for (const a of addresses) {
    if (!/^[0-9a-fA-F:.]+$/.test(a)) throw new Error(`--node ${spec}: "${a}" is not an IP address`);
  }
  return { name, role: 'node', dns: [name, 'localhost'], ips: ['127.0.0.1', ...addresses] };
}

/** The CLI's certificate (file stem "client", as the CLI loads it): an operator's. */
export const OPERATOR_SUBJECT: CertSubject = { name: 'client', role: 'operator', dns: [], ips: [] };

export interface CertsOptions {
  out: string;
  nodes: string[];
  reissue: boolean;
}

/** `migrate-cli certs --out DIR --node node1=IP --node node2=IP`: CA, node and operator certificates. */
export async function certsCommand(o: CertsOptions): Promise<void> {
  const subjects = [...o.nodes.map(parseNodeSpec), OPERATOR_SUBJECT];
  const made = await makeCertificates(o.out, subjects, { reissue: o.reissue });
  console.log(made.length ? `made ${made.join(', ')}` : `all certificates already in ${o.out}`);
  // Nodes need ca.pem, NAME.pem and NAME-key.pem only: the CA key signs new certificates.
  console.log(`copy to each node only ca.pem, NAME.pem and NAME-key.pem; ${o.out}/ca-key.pem stays with the operator`);
}
