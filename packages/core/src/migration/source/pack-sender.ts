// A tar pack -> a sealed stream to the destination, with backpressure all the way: what the
// disk rounds and the checkpoint both send.
import type * as tar from 'tar-stream';
import type { BufferPool } from '../../stream/buffer-pool';
import { withQuietMarks } from '../../stream/quiet-marks';
import type { SealedSender } from '../../stream/sealed-sender';

export interface PackToSend<T> {
  pack: tar.Pack;
  out: SealedSender;
  /** Buffers of the pack's entries that come back once encoded. */
  pool: BufferPool;
  /** What fills the pack (and finalizes it); its failure ends the stream with its reason. */
  packing: Promise<T>;
  /**
   * A pause this long in the pack's output sends what the encoder holds (the destination may
   * need it before more comes: the runs of reused pages while CRIU still dumps).
   */
  quietMs: number;
}

/** Sends the pack's output, then End; resolves with what `packing` resolved with. */
export async function sendPack<T>(s: PackToSend<T>): Promise<T> {
  s.packing.catch((err: Error) => s.pack.destroy(err)); // ends the loop below with the reason
  try {
    for await (const data of withQuietMarks(s.pack as AsyncIterable<Buffer>, s.quietMs)) {
      if (!data) {
        await s.out.flush();
        continue;
      }
      const sent = s.out.push(data); // copies data
      s.pool.giveBack(data);
      await sent;
    }
    const result = await s.packing;
    await s.out.end();
    return result;
  } catch (err) {
    s.packing.catch(() => undefined); // a consequence of this error
    s.pack.destroy();
    throw err;
  }
}
