// The destination's end of Migrate when the source is a checkpoint file: its records are the
// requests, read as the serve phases ask for them. The file holds no Commit (it was finished before
// the source committed): once the restore said Restored and the file's end mark and digest have
// been read, Commit comes from here. A file that ends before that ends the stream: a rollback.
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
  let first = true;
  let committed = false;
  const done: IteratorResult<MigrateRequest> = { done: true, value: undefined };
  const next = (): IteratorResult<MigrateRequest> => {
    const req = reader.next();
    if (req === null) {
      if (committed || !replies.some((r) => r.body === 'restored')) return done;
      committed = true;
      return { done: false, value: { body: 'commit', commit: {} } };
    }
    if (req.body === 'commit') throw new MigrationError('protocol', `${reader.file} holds a Commit record`);
    if (first) {
      first = false;
      if (req.body === 'prepare') return { done: false, value: renamed(req, name) };
    }
    return { done: false, value: req };
  };
  return {
    replies,
    send: (reply) => void replies.push(reply),
    requests: {
      next: () => {
        try {
          return Promise.resolve(next());
        } catch (err) {
          return Promise.reject(err);
        }
      },
    },
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
