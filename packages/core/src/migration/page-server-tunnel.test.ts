import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCriu } from '../criu/criu-runner';
import type { MigrateRequest } from '../rpc/messages';
import { dumpThroughPageServer, PageServerSink, type RunWithSocket } from './page-server-tunnel';

// Stand-ins for criu dump and criu page-server, speaking a page-server-like protocol with round
// trips over fd 3 (blocking, as CRIU sees it): the dump waits for an answer before it goes on, so
// the tunnel must hand over small, unfinished chunks at once.
const DUMP = `
const fs = require('fs');
const ask = (msg) => { fs.writeSync(3, msg); const b = Buffer.alloc(2); fs.readSync(3, b); if (b.toString() !== 'OK') process.exit(3); };
ask('OPEN');
const page = Buffer.alloc(4096);
for (let i = 0; i < 512; i++) { page.fill(i % 251); fs.writeSync(3, page); }
ask('SHUT');
`;
const PAGE_SERVER = `
const fs = require('fs'); const crypto = require('crypto');
const read = (n) => { const b = Buffer.alloc(n); let got = 0; while (got < n) { const r = fs.readSync(3, b, got, n - got); if (!r) process.exit(4); got += r; } return b; };
if (read(4).toString() !== 'OPEN') process.exit(5);
fs.writeSync(3, 'OK');
const pages = read(512 * 4096);
if (read(4).toString() !== 'SHUT') process.exit(6);
fs.writeFileSync('received.sha256', crypto.createHash('sha256').update(pages).digest('hex'));
fs.writeSync(3, 'OK');
`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-tunnel-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function fake(script: string): (withSocket: Parameters<RunWithSocket>[0], signal?: AbortSignal) => Promise<void> {
  return (withSocket, signal) =>
    runCriu({ prefix: [], criuPath: process.execPath, args: ['-e', script], imagesDir: dir, logName: 'fake.log', withSocket, signal });
}

/** Both ends joined by an in-memory Migrate stream; resolves with what each side returned. */
function tunnel(level: number, pageServer: string, dump: string) {
  const queue: MigrateRequest[] = [];
  let wake: (() => void) | undefined;
  let answerSource: (data: Buffer) => void = () => undefined;
  const sink = PageServerSink.start(fake(pageServer), (data) => answerSource(data));
  const next = async (): Promise<MigrateRequest> => {
    while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return queue.shift() as MigrateRequest;
  };
  const received = sink.receive(next, level);
  received.catch(() => undefined);
  const sent = dumpThroughPageServer(
    {
      send: async (req) => {
        queue.push(req);
        wake?.();
      },
      onPageServerData: (handler) => (answerSource = handler),
      // As over gRPC: the destination failing ends the call, and the source hears of it.
      failed: () => received.then(() => new Promise<never>(() => undefined)),
    },
    level,
    fake(dump),
    () => undefined,
  );
  sent.catch(() => undefined);
  return { sent, received, sink };
}

describe('page-server tunnel', () => {
  it.each([-1, 0])('carries a dump with round trips to the page server (zstd level %i)', async (level) => {
    fs.rmSync(path.join(dir, 'received.sha256'), { force: true });
    const { sent, received } = tunnel(level, PAGE_SERVER, DUMP);
    const totals = await sent;
    const end = await received;
    expect(totals.raw).toBe(4 + 512 * 4096 + 4);
    expect(end.rawBytes).toBe(totals.raw);
    if (level !== 0) expect(totals.wire).toBeLessThan(totals.raw / 10); // pages of one byte value

    const pages = Buffer.concat(Array.from({ length: 512 }, (_, i) => Buffer.alloc(4096, i % 251)));
    expect(fs.readFileSync(path.join(dir, 'received.sha256'), 'utf8')).toBe(crypto.createHash('sha256').update(pages).digest('hex'));
  });

  it('fails both sides when the page server fails, with its reason', async () => {
    // It takes the dump's request, then dies instead of answering.
    const dies = `require('fs').readSync(3, Buffer.alloc(4)); process.exit(7)`;
    const { sent, received, sink } = tunnel(-1, dies, DUMP);
    // The dump waits for an answer that never comes: only the destination's failure ends it.
    await expect(received).rejects.toThrow(/failed \(exit 7\)/);
    await expect(sent).rejects.toThrow(/failed \(exit 7\)/);
    sink.stop();
  });
});
