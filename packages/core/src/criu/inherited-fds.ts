// Files a child process inherits past stdin, stdout and stderr. Each gets its number in the
// child where it is added (as runc's criu code numbers its ExtraFiles), so a number passed to
// criu on its command line is never worked out again somewhere else.
import fs from 'node:fs';

/** The child's first inherited fd: 0-2 are its stdio. */
const FIRST = 3;

export class InheritedFds {
  /** Our fds, in the order the child gets them. */
  readonly fds: number[] = [];

  /** Adds an fd of ours; returns its number in the child. */
  add(fd: number): number {
    this.fds.push(fd);
    return FIRST + this.fds.length - 1;
  }

  /** Closes our copies (the child has its own once it is spawned). */
  close(): void {
    for (const fd of this.fds) fs.closeSync(fd);
  }
}
