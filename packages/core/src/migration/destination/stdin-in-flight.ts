// Open stdin (-i): what the source's application had not yet read from Docker's stdin pipe when it
// froze. criu dump saved it (pipes-data.img); criu restore writes pipe data only into pipes it
// makes, and the tree's stdin is the new container's pipe (--inherit-fd): those bytes go in here,
// before the tree runs, so it reads them first, as it would have on the source.
import fs from 'node:fs';
import path from 'node:path';
import { PIPES_DATA_IMAGE, unreadPipeData } from '../../criu/pipe-data-image';
import { trace } from '../../util/trace';
import type { ReattachedStdio } from '../process-facts';

/** The stdin pipe among the re-attached stdio, if the tree reads one (-i without -t). */
export function stdinPipe(stdio: ReattachedStdio[]): ReattachedStdio | undefined {
  return stdio.find((s) => s.fd === 0 && s.key.startsWith('pipe:'));
}

/**
 * Writes the source pipe's unread bytes into the helper's stdin pipe (the tree's, once restored);
 * returns how many. A pipe too full to take them all fails the restore (a rollback: the source
 * still has them) rather than drop part of the input.
 */
export function carryUnreadStdin(helperPid: number, imagesDir: string, stdin: ReattachedStdio): number {
  const imagePath = path.join(imagesDir, PIPES_DATA_IMAGE);
  if (!fs.existsSync(imagePath)) return 0; // no pipe held data
  const data = unreadPipeData(fs.readFileSync(imagePath), Number(/^pipe:\[(\d+)\]$/.exec(stdin.key)?.[1]));
  if (data.length === 0) return 0;
  // A pipe opened through /proc for writing is the same pipe: the helper holds its read end.
  const fd = fs.openSync(`/proc/${helperPid}/fd/0`, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  try {
    let written = 0;
    while (written < data.length) written += fs.writeSync(fd, data, written);
  } catch (err) {
    throw new Error(`cannot carry ${data.length} unread stdin bytes into the new container: ${(err as Error).message}`);
  } finally {
    fs.closeSync(fd);
  }
  trace(`dst: ${data.length} unread stdin bytes carried`);
  return data.length;
}
