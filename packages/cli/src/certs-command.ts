import { makeCertificates, type CertSubject } from '@livemig/core';

/** "node2=10.0.0.2" -> a node certificate for node2, localhost and those addresses. */
export function parseNodeSpec(spec: string): CertSubject {
  const [name, ips = ''] = spec.split('=');
  const addresses = ips.split(',').filter(Boolean);
  for (const a of addresses) {
    if (!/^[0-9a-fA-F:.]+$/.test(a)) throw new Error(`--node ${spec}: "${a}" is not an IP address`);
  }
  return { name, dns: [name, 'localhost'], ips: ['127.0.0.1', ...addresses] };
}

/** `migrate-cli certs --out DIR --node node1=IP --node node2=IP`: CA, node and operator certificates. */
export async function certsCommand(out: string, nodes: string[]): Promise<void> {
  const subjects = [...nodes.map(parseNodeSpec), { name: 'client', dns: [], ips: [] }];
  const made = await makeCertificates(out, subjects);
  console.log(made.length ? `made ${made.join(', ')}` : `all certificates already in ${out}`);
}
