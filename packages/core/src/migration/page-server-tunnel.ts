// CRIU's page server, carried over Migrate: the source's dump writes its pages into a socket we
// hold; we compress them into `pages` chunks while the dump runs; the destination decompresses
// them into a `criu page-server` socket, which writes the pagemap/pages images there. CRIU's few
// answers (open, close) travel back as `pageServer` replies. So the bulk of a checkpoint moves
// during the dump instead of after it.
import type { Duplex } from 'node:stream';
import type { End, MigrateRequest } from '../rpc/messages';
import { ChunkEncoder, ChunkSealer, decompressed } from '../stream/chunk-stream';
import { MigrationError } from './migration-error';
import { verifiedChunks } from './verified-chunks';
import { trace } from '../util/trace';

/** The part of the source's channel the tunnel needs. */
export interface PageTunnelChannel {
  send(req: MigrateRequest): Promise<void>;
  onPageServerData(handler: (data: Buffer) => void): void;
  failed(): Promise<never>;
}

export interface TunnelTotals {
  raw: number;
  wire: number;
}

/** How long CRIU may stay quiet before what it sent is flushed to the destination. */
const IDLE_FLUSH_MS = 1;

/** Resolves with `p`'s value, or 'quiet' if it takes longer than `ms`. */
async function quietFor<T>(ms: number, p: Promise<T>): Promise<T | 'quiet'> {
  let timer: NodeJS.Timeout | undefined;
  const quiet = new Promise<'quiet'>((resolve) => (timer = setTimeout(() => resolve('quiet'), ms)));
  try {
    return await Promise.race([p, quiet]);
  } finally {
    clearTimeout(timer);
  }
}

function written(socket: Duplex, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())));
}

/** Starts criu with a socket (its --ps-socket); calls `withSocket` with our end right after the spawn. */
export type RunWithSocket = (withSocket: (ours: Duplex) => void) => Promise<void>;

/**
 * Source: runs the dump and carries its page-server traffic until criu closes the socket (it
 * exits); ends with `pagesEnd`.
 */
export async function dumpThroughPageServer(
  ch: PageTunnelChannel,
  level: number,
  dump: RunWithSocket,
  progress: (t: TunnelTotals) => void,
): Promise<TunnelTotals> {
  const encoder = new ChunkEncoder(level);
  const sealer = new ChunkSealer();
  let raw = 0;
  let ours: Duplex | undefined;
  const send = async (chunks: Buffer[]): Promise<void> => {
    for (const c of chunks) await ch.send({ body: 'pages', pages: sealer.seal(c) });
  };
  const pump = async (socket: Duplex): Promise<void> => {
    const reads = (socket as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    let pending = false; // pushed into the encoder, not yet sent
    for (;;) {
      const next = reads.next();
      // CRIU quiet for a moment with bytes still held here: it may be waiting for an answer to
      // them (its page-server protocol has a few round trips), so they must leave now. While it
      // streams, chunks stay full-size.
      let r = pending ? await quietFor(IDLE_FLUSH_MS, next) : await next;
      if (r === 'quiet') {
        await send(encoder.flush());
        pending = false;
        r = await next;
      }
      if (r.done) break;
      if (raw === 0) trace('src: first page-server bytes');
      raw += r.value.length;
      await send(encoder.push(r.value));
      pending = true;
      progress({ raw, wire: sealer.bytes });
    }
    trace('src: criu closed the page-server socket');
    await send(encoder.end());
    await ch.send({ body: 'pagesEnd', pagesEnd: sealer.end(raw) });
  };
  let pumped: Promise<void> = Promise.resolve();
  ch.onPageServerData((data) => ours?.write(data));
  // runCriu hands the socket over synchronously, right after the spawn: `pumped` is set below.
  const dumped = dump((socket) => {
    ours = socket;
    pumped = pump(socket);
  });
  try {
    await Promise.race([Promise.all([dumped, pumped]), ch.failed()]);
  } catch (err) {
    ours?.destroy(); // a dump still writing fails at once
    await Promise.allSettled([dumped, pumped]);
    throw err;
  } finally {
    ch.onPageServerData(() => undefined);
  }
  return { raw, wire: sealer.bytes };
}

/**
 * Destination: a `criu page-server` started before the freeze, fed from `pages` chunks until
 * `pagesEnd`.
 */
export class PageServerSink {
  private constructor(
    private readonly ours: Duplex,
    private readonly exited: Promise<void>,
    private readonly abort: AbortController,
  ) {}

  static start(run: (withSocket: (ours: Duplex) => void, signal: AbortSignal) => Promise<void>, answer: (data: Buffer) => void): PageServerSink {
    const abort = new AbortController();
    let ours: Duplex | undefined;
    const exited = run((socket) => (ours = socket), abort.signal);
    exited.catch(() => undefined); // observed in receive()
    if (!ours) throw new Error('criu page-server did not start');
    ours.on('data', answer);
    ours.on('error', () => undefined); // a page server that died shows in receive()
    return new PageServerSink(ours, exited, abort);
  }

  /** Writes the page stream into the page server; returns after pagesEnd, once criu is done. */
  async receive(next: () => Promise<MigrateRequest>, level: number): Promise<End> {
    const got: { end?: End } = {};
    const feed = async (): Promise<void> => {
      for await (const data of decompressed(verifiedChunks(next, 'pages', got), level, { reuseOutput: true })) {
        // The decompressor reuses `data` for its next output: wait until the socket took it.
        const w = written(this.ours, data);
        w.catch(() => undefined); // a page server that died shows through `exited`
        await Promise.race([w, this.exited]);
      }
    };
    // A page server that fails while the dump waits for its answer would leave both sides
    // waiting: its exit ends this at once. (A clean exit comes before pagesEnd: it answers the
    // dump's close, then the dump finishes and the source sends pagesEnd.)
    const failed = this.exited.then(() => new Promise<never>(() => undefined));
    try {
      await Promise.race([feed(), failed]);
    } catch (err) {
      // A page server that failed (e.g. disk full) broke our socket: its own reason is the one to give.
      throw (await this.failure()) ?? err;
    }
    if (!got.end) throw new MigrationError('protocol', 'the page stream ended before pagesEnd');
    trace('dst: pagesEnd');
    this.ours.end();
    await this.exited; // criu page-server wrote the images and exited 0
    trace('dst: page server exited');
    return got.end;
  }

  /** The page server's error if it exits with one within a moment, else undefined. */
  private async failure(): Promise<Error | undefined> {
    const r = await quietFor(2000, this.exited.then(() => undefined, (err: Error) => err));
    return r === 'quiet' ? undefined : r;
  }

  /** Stops a page server that is still running (rollback). */
  stop(): void {
    this.abort.abort();
    this.ours.destroy();
  }
}
