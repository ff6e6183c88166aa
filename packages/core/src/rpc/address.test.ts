import { describe, expect, it } from 'vitest';
import { agentAddress } from './address';

describe('agentAddress', () => {
  it('adds the default port to a bare host', () => {
    expect(agentAddress('node2')).toBe('node2:7411');
  });
  it('keeps an explicit port', () => {
    expect(agentAddress('10.0.0.2:9000')).toBe('10.0.0.2:9000');
  });
  it('brackets a bare IPv6 address', () => {
    expect(agentAddress('::1')).toBe('[::1]:7411');
    expect(agentAddress('[::1]:9000')).toBe('[::1]:9000');
  });
  it('refuses empty and odd input', () => {
    expect(() => agentAddress(' ')).toThrow(/empty/);
    expect(() => agentAddress('a b')).toThrow(/invalid/);
  });
});
