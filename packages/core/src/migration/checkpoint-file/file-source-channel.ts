// The source's end of Migrate when the destination is a file: each request is written as a
// record, and the replies a destination would give come from here. Prepared: the file is open.
// Committed: the file is complete and verified (the phase list finishes it before Commit), so the
// source copy may go. No pre-copy or disk rounds: a file has no destination to store them ahead.
import { MigrationError } from '../../protocol/migration-error';
import type { CheckpointFileWriter, CheckpointHeader } from '../../protocol/checkpoint-file';
import type { SourceChannel } from '../../protocol/channels';
import type { MigrateReply, MigrateRequest, Prepare } from '../../rpc/messages';

export class FileSourceChannel implements SourceChannel {
  private readonly replies: MigrateReply[] = [];
  private committed = false;

  constructor(
    private readonly writer: CheckpointFileWriter,
    /** The file's header, made from the Prepare (what a restore recreates) and the source's facts. */
    private readonly header: (prepare: Prepare) => CheckpointHeader,
  ) {}

  async send(req: MigrateRequest): Promise<void> {
    switch (req.body) {
      case 'prepare':
        await this.writer.header(this.header(req.prepare));
        await this.writer.record(req);
        this.replies.push({ body: 'prepared', prepared: { containerId: '', nodeName: `file ${this.writer.file}` } });
        return;
      case 'commit':
        this.committed = true;
        this.replies.push({ body: 'committed', committed: {} });
        return;
      case 'chunk':
      case 'end':
        return this.writer.record(req);
      default:
        throw new MigrationError('protocol', `a checkpoint file holds no ${req.body}`);
    }
  }

  reply(): Promise<MigrateReply> {
    const r = this.replies.shift();
    return r ? Promise.resolve(r) : Promise.reject(new MigrationError('protocol', 'no reply: the file is not finished'));
  }

  /** The checkpoint failed: the partial file goes (after Commit the file is the container's only copy). */
  cancel(): void {
    if (!this.committed) this.writer.abandon();
  }

  close(): void {}
}
