// Files that must survive a power cut (migration records, commit markers): a rename alone is
// atomic but not durable; without the fsyncs the kernel may write the rename before the data
// (an empty record after the reboot) or lose both, and a destination could answer "not
// committed" for a container it already runs.
import fs from 'node:fs';
import path from 'node:path';

/** fsync of a directory: makes the names created or renamed in it durable. */
function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * mkdir -p with `mode`, each new level's name made durable in its parent (a record in a dir
 * whose own entry was lost would be lost with it).
 */
export function makeDirDurably(dir: string, mode = 0o700): void {
  const first = fs.mkdirSync(dir, { recursive: true, mode });
  if (first === undefined) return; // there already
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    fsyncDir(path.dirname(d));
    if (d === path.resolve(first)) break;
  }
}

/**
 * Replaces `file` with `data`, all or nothing, durably: a temp file in the same dir, fsynced,
 * renamed over, then the dir fsynced. A crash leaves the old content or the new one.
 */
export function writeFileDurably(file: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    fs.fchmodSync(fd, mode); // a temp file left by a crash keeps its old mode otherwise
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dir);
}
