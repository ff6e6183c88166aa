// Whether a destination's network can give the container the fixed addresses it had (--ip,
// --ip6): checked at Prepare, so that a push that cannot keep them is refused before the freeze
// (Docker would refuse them only when the new container starts).
import net from 'node:net';
import type { NetworkAddresses } from '../docker/docker-client';
import type { NetworkSpec } from './container-spec';

function family(address: string): 'ipv4' | 'ipv6' {
  return net.isIPv6(address) ? 'ipv6' : 'ipv4';
}

function inSubnet(address: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  if (!net.isIP(base) || family(base) !== family(address)) return false;
  const list = new net.BlockList();
  list.addSubnet(base, Number(bits), family(base));
  return list.check(address, family(address));
}

function sameAddress(a: string, b: string): boolean {
  if (!net.isIP(b) || family(a) !== family(b)) return false;
  const list = new net.BlockList();
  list.addAddress(a, family(a));
  return list.check(b, family(b)); // compares the addresses, not their spellings (IPv6 "::")
}

/** What keeps network `n` here from giving the container its fixed addresses, or undefined. */
export function fixedAddressRefusal(n: NetworkSpec, here: NetworkAddresses): string | undefined {
  for (const [flag, address] of [['--ip', n.ipv4Address], ['--ip6', n.ipv6Address]] as const) {
    if (!address) continue;
    if (!here.subnets.some((s) => inSubnet(address, s))) {
      return `address ${address} (${flag}) is outside network ${n.name}'s subnets (${here.subnets.join(', ') || 'none'})`;
    }
    if (here.used.some((u) => sameAddress(address, u))) return `address ${address} (${flag}) on network ${n.name} is taken`;
  }
  return undefined;
}
