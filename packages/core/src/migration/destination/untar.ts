// A tar stream's entries, each handed to `entry` in order, as fast as it takes them.
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import type { EntryBody } from '../../fsdiff';
import { MigrationError } from '../../protocol/migration-error';

export async function untar(tarBytes: Readable, entry: (header: tar.Header, body: EntryBody) => Promise<void>): Promise<void> {
  const extract = tar.extract();
  let entryError: Error | undefined;
  let entryInFlight: Promise<void> = Promise.resolve();
  extract.on('entry', (header, body, done) => {
    // An entry refused from its header leaves its body unread; the extract, destroyed with the
    // reason, destroys the body with it too: that error is the entry's, reported below.
    body.on('error', () => undefined);
    entryInFlight = entry(header, body).then(
      () => done(),
      (err: Error) => {
        entryError ??= err;
        done(err);
      },
    );
  });
  // extract() is a streamx Writable: pipe into it and wait for its own finish.
  await new Promise<void>((resolve, reject) => {
    tarBytes.on('error', reject);
    extract.on('error', reject);
    extract.on('finish', resolve);
    // An entry whose reader stopped early (e.g. ENOSPC) destroys extract without an error:
    // it then only closes, and the reason is the entry's.
    extract.on('close', () => {
      void entryInFlight.then(() => reject(entryError ?? new MigrationError('failed', 'the tar stream closed early')));
    });
    tarBytes.pipe(extract);
  }).catch((err: unknown) => {
    tarBytes.destroy();
    extract.destroy();
    throw err;
  });
}
