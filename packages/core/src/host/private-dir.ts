// Dirs that root's secrets go through (CRIU's images hold process memory: keys, tokens; CRIU's
// kernel-probe cache is trusted by a root criu) must be root's alone. One that another user owns
// or may write to could be read, or have files swapped under the agent (a symlink where an image
// goes), so it is refused at the agent's start, with the reason, rather than tightened or used.
import fs from 'node:fs';

/** Why a dir with these stats is not this user's alone, or '' when it is. */
function whyNotPrivate(st: fs.Stats): string {
  if (st.isSymbolicLink()) return 'it is a symlink';
  if (!st.isDirectory()) return 'it is not a directory';
  const uid = process.getuid?.();
  if (st.uid !== uid) return `it is owned by uid ${st.uid}, not ${uid}`;
  if ((st.mode & 0o022) !== 0) return `group or others may write to it (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`;
  return '';
}

/**
 * Makes `dir` 0700 if missing (with its missing parents, or, `parents: false`, only when its
 * parent exists: false if it could not be made), then refuses it (throws, one line) unless only
 * this user can write it. `what`: what the dir is for, named in the error.
 */
export function ensurePrivateDir(dir: string, what: string, { parents = true } = {}): boolean {
  try {
    fs.mkdirSync(dir, { recursive: parents, mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      if (!parents) return false;
      throw err;
    }
  }
  const why = whyNotPrivate(fs.lstatSync(dir));
  if (why) throw new Error(`${dir} (${what}) is not a directory that only this user can write: ${why}; remove it`);
  return true;
}
