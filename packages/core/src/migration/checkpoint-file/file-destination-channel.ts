// The destination's end of Migrate when the source is a checkpoint file: its records are the
// requests, read as the serve phases ask for them. The file holds no Commit (it was finished before
// the source committed): once the restore said Restored and the file's end mark and digest have
// been read, Commit comes from here. A file that ends before its End ends the stream: a rollback.
// The lease (destination/lease.ts) needs its beats echoed: a file is a source that cannot be cut
// off, so this channel echoes each at once, and after End waits (for Restored or a beat) instead
// of ending.
import crypto from 'node:crypto';
import type { DestinationChannel } from '../../protocol/channels';
import type { CheckpointFileReader } from '../../protocol/checkpoint-file';
import { MigrationError } from '../../protocol/migration-error';
import type { MigrateReply, MigrateRequest } from '../../rpc/messages';
import type { PrepareSpec } from '../prepare-spec';

export interface FileDestinationChannel extends DestinationChannel {
  /** The replies the serve phases sent, in order (the restore's outcome is read from them). */
  readonly replies: MigrateReply[];
}

/**
 * A channel playing `reader`'s records. Its Prepare gets a migration ID of its own (a file may be
 * restored many times) and, when given, another container name.
 */
export function fileDestinationChannel(reader: CheckpointFileReader, name: string | undefined): FileDestinationChannel {
  const replies: MigrateReply[] = [];
  const echoes: MigrateRequest[] = [];
  let first = true;
  let endRead = false;
  let exhausted = false; // the end mark and the digest read (and checked) after the last record
  let committed = false;
  let wake: (() => void) | undefined;
  const done: IteratorResult<MigrateRequest> = { done: true, value: undefined };
  /** The next request, or undefined when there is none yet (End read, Restored not yet sent). */
  const next = (): IteratorResult<MigrateRequest> | undefined => {
    const echo = echoes.shift();
    if (echo) return { done: false, value: echo };
    if (committed) return done;
    const req = exhausted ? null : reader.next();
    if (req === null) {
      exhausted = true;
      if (!endRead) return done;
      if (!replies.some((r) => r.body === 'restored')) return undefined;
      committed = true;
      return { done: false, value: { body: 'commit', commit: {} } };
    }
    if (req.body === 'commit') throw new MigrationError('protocol', `${reader.file} holds a Commit record`);
    if (req.body === 'end') endRead = true;
    if (first) {
      first = false;
      if (req.body === 'prepare') return { done: false, value: renamed(req, name) };
    }
    return { done: false, value: req };
  };
  const read = async (): Promise<IteratorResult<MigrateRequest>> => {
    for (;;) {
      const r = next();
      if (r) return r;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  return {
    replies,
    send: (reply) => {
      if (reply.body === 'heartbeat') echoes.push({ body: 'heartbeat', heartbeat: { seq: reply.heartbeat.seq } });
      else replies.push(reply);
      wake?.();
    },
    requests: { next: read },
  };
}

function renamed(req: Extract<MigrateRequest, { body: 'prepare' }>, name: string | undefined): MigrateRequest {
  let specJson = req.prepare.specJson;
  if (name !== undefined) {
    let spec: PrepareSpec;
    try {
      spec = JSON.parse(specJson) as PrepareSpec;
    } catch {
      throw new MigrationError('protocol', 'the Prepare record\'s spec is not JSON');
    }
    if (typeof spec.container !== 'object' || spec.container === null) throw new MigrationError('protocol', 'the Prepare record has no container spec');
    specJson = JSON.stringify({ ...spec, container: { ...spec.container, name } });
  }
  return { body: 'prepare', prepare: { ...req.prepare, migrationId: crypto.randomUUID(), specJson } };
}
