// The processes of a container's tree, for a checkpoint file's header (inspect shows them).
import fs from 'node:fs';

export interface ProcessLine {
  pid: number;
  command: string;
}

/** `root` and its descendants, from /proc (read before the freeze; a process gone meanwhile is skipped). */
export function treeProcesses(root: number): ProcessLine[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // comm may hold spaces and parentheses: the fields after its last ')' are fixed.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const out: ProcessLine[] = [];
  const walk = (pid: number): void => {
    const command = commandOf(pid);
    if (command === null) return;
    out.push({ pid, command });
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  return out;
}

function commandOf(pid: number): string | null {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return (argv || `[${fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()}]`).slice(0, 200);
  } catch {
    return null;
  }
}
