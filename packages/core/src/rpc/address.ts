import { DEFAULT_AGENT_PORT } from '../version';

/** "node2" -> "node2:7411"; "node2:9000" and "[::1]:9000" stay as they are. */
export function agentAddress(hostOrAddress: string): string {
  const value = hostOrAddress.trim();
  if (value === '') throw new Error('empty agent address');
  if (/[\s/]/.test(value)) throw new Error(`invalid agent address "${value}"`);
  if (value.startsWith('[')) return value.includes(']:') ? value : `${value}:${DEFAULT_AGENT_PORT}`;
  const colons = value.split(':').length - 1;
  if (colons === 0) return `${value}:${DEFAULT_AGENT_PORT}`;
  if (colons === 1) return value;
  return `[${value}]:${DEFAULT_AGENT_PORT}`; // bare IPv6 address
}
