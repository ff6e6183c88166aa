// Precopy* -> PrecopyEnd -> PrecopyStored: before the freeze, the anonymous memory of the
// container's processes, read while they run, to the destination's pre-copy store, one segment
// per process (each chunk holds pages of one); the index says which pages it holds.
import { expectReply } from '../../protocol/channels';
import { MAX_PIECE, PAGE_SIZE } from '../../protocol/checkpoint-layout';
import { MigrationError } from '../../protocol/migration-error';
import { BufferPool } from '../../stream/buffer-pool';
import { SealedSender } from '../../stream/sealed-sender';
import { cgroupPids } from '../process-facts';
import { memoryPieces } from './memory-reader';
import type { Push } from './one-push';
import { PageIndex } from './page-index';
import { yieldToFreezes } from './freeze-turns';

export interface Precopied {
  index: PageIndex;
  raw: number;
  wire: number;
}

export async function precopy(p: Push): Promise<Precopied> {
  const { ctx, opts, f, ch } = p;
  const maxBytes = p.state.precopyBytes;
  const stallMs = ctx.timeouts.stallMs;
  p.clock.start('precopy');
  const index = new PageIndex();
  const out = new SealedSender({ ch, stream: 'precopy', compressLevel: opts.compressLevel, stallMs, rawTotal: maxBytes, emit: opts.emit, yieldTo: yieldToFreezes(ctx.freezeTurns) });
  const pool = new BufferPool(MAX_PIECE);
  let nextProcess = false;
  for (const piece of memoryPieces(cgroupPids(f.freezerDir), pool, Math.floor(maxBytes / PAGE_SIZE), () => (nextProcess = true))) {
    if (nextProcess) {
      await out.flush(); // the previous process's last chunk
      out.segment = index.startSegment();
      nextProcess = false;
    }
    index.add(piece);
    await out.push(piece);
    pool.giveBack(piece);
  }
  await out.end();
  // Frozen only once the destination holds it all (its last writes would slow criu dump).
  const stored = (await expectReply(ch, 'precopyStored', stallMs)).precopyStored;
  if (stored.pages !== index.pages) throw new MigrationError('protocol', `the destination stored ${stored.pages} pre-copied pages, ${index.pages} were sent`);
  p.clock.done('precopy', `${index.pages} pages (${out.raw} bytes) sent while ${f.name} runs, ${out.wire} on the wire`);
  return { index, raw: out.raw, wire: out.wire };
}
