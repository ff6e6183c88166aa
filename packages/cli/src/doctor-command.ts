import { AgentClient, clientCredentials, doctorLines, rpcErrorMessage, type CompatLine, type Transport } from '@livemig/core';

export interface DoctorArgs {
  agent: string;
  transport: Transport;
  to?: string;
  json: boolean;
}

const MARK = { ok: 'ok', warn: 'WARN', block: 'BLOCK' } as const;

export function formatDoctor(lines: readonly CompatLine[], source: string, destination?: string): string {
  const rows = [['FACT', source, ...(destination ? [destination] : []), 'VERDICT'],
    ...lines.map((l) => [l.fact, l.source, ...(destination ? [l.destination] : []), MARK[l.verdict]])];
  const widths = rows[0].map((_c, i) => Math.max(...rows.map((r) => r[i].length)));
  const out = rows.map((r, i) => {
    const hint = i > 0 && lines[i - 1].hint ? `  fix: ${lines[i - 1].hint}` : '';
    return (r.map((c, j) => c.padEnd(widths[j])).join('  ') + hint).trimEnd();
  });
  const blocks = lines.filter((l) => l.verdict === 'block').length;
  const warns = lines.filter((l) => l.verdict === 'warn').length;
  out.push(blocks ? `verdict: ${blocks} blocking, ${warns} warnings: push and drain refuse` : `verdict: nothing blocks${warns ? ` (${warns} warnings)` : ''}`);
  return out.join('\n');
}

/**
 * `migrate-cli doctor [--to HOST]`: this host's facts beside the destination's (agent to agent),
 * a verdict and a fix per line; exit 1 when something blocks a migration there.
 */
export async function doctorCommand(a: DoctorArgs): Promise<void> {
  const client = new AgentClient(a.agent, clientCredentials(a.transport));
  try {
    // Without --to: this host against itself, where only its own faults show (CRIU, storage).
    const s = await client.peerStatus(a.to ?? a.agent);
    if (!s.peer) throw new Error(s.peerError || `no answer from ${a.to}`);
    const running = (await client.inventory()).containers.filter((c) => c.running);
    const lines = doctorLines({
      source: s.local,
      destination: a.to ? s.peer : s.local,
      clockSkewMs: a.to ? s.peerClockSkewMs : 0,
      neededImageIds: [...new Set(running.map((c) => c.imageId))],
    });
    console.log(a.json
      ? JSON.stringify({ source: s.local.nodeName, destination: a.to ? s.peer.nodeName : null, lines }, null, 2)
      : formatDoctor(lines, s.local.nodeName, a.to ? s.peer.nodeName : undefined));
    if (lines.some((l) => l.verdict === 'block')) process.exitCode = 1;
  } catch (err) {
    throw new Error(rpcErrorMessage(err, client.address));
  } finally {
    client.close();
  }
}
