import { describe, expect, it } from 'vitest';
import { fixedAddressRefusal } from './network-addresses';

const net = { name: 'app', ipv4Address: '172.31.78.50', ipv6Address: '', aliases: [] };
const here = { subnets: ['172.31.78.0/24', 'fd00:78::/64'], used: ['172.31.78.1', '172.31.78.2', 'fd00:78::2'] };

describe('fixedAddressRefusal', () => {
  it('accepts a free address inside the network', () => {
    expect(fixedAddressRefusal(net, here)).toBeUndefined();
    expect(fixedAddressRefusal({ ...net, ipv4Address: '' }, here)).toBeUndefined();
    expect(fixedAddressRefusal({ ...net, ipv6Address: 'fd00:78::50' }, here)).toBeUndefined();
  });

  it('refuses an address in use, however it is spelled', () => {
    expect(fixedAddressRefusal({ ...net, ipv4Address: '172.31.78.2' }, here)).toBe('address 172.31.78.2 (--ip) on network app is taken');
    expect(fixedAddressRefusal({ ...net, ipv6Address: 'fd00:78:0::0:2' }, here)).toMatch(/fd00:78:0::0:2 \(--ip6\) on network app is taken/);
  });

  it('refuses an address outside the network\'s subnets', () => {
    expect(fixedAddressRefusal({ ...net, ipv4Address: '10.1.2.3' }, here))
      .toBe("address 10.1.2.3 (--ip) is outside network app's subnets (172.31.78.0/24, fd00:78::/64)");
    expect(fixedAddressRefusal(net, { subnets: ['fd00:78::/64'], used: [] })).toMatch(/outside/);
  });
});
