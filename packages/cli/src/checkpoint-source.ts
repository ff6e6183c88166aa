import path from 'node:path';

/**
 * What `restore` and `inspect` read: a checkpoint FILE on the agent's host (a relative path taken
 * from the CLI's directory) or a checkpoint --image there, one of the two, as the RPCs take them.
 */
export function checkpointSource(a: { file: string | undefined; image: string | undefined }): { file: string; image: string } {
  if ((a.file === undefined) === (a.image === undefined)) throw new Error('give either a FILE or --image NAME:TAG');
  return { file: a.file === undefined ? '' : path.resolve(a.file), image: a.image ?? '' };
}
