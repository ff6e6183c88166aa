// docker run -t, -i and -it containers move: the destination's own terminal or stdin pipe is
// handed to the restored tree, which is talked to through `docker attach` on the destination.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, docker, logs, push, removeEverywhere, state, waitFor } from './lab';

const LAB = path.join(ROOT, 'scripts', 'lab.sh');

// A counter in a file, and a loop that answers each line read from stdin with the counter, whether
// stdin is a terminal, and the terminal's size. "hold" makes it stop reading until /tmp/go exists.
const COUNTER = '(i=0; while :; do i=$((i+1)); echo $i > /tmp/c; sleep 0.2; done) &';
const ANSWER = 'got $l $(cat /tmp/c) tty=$([ -t 0 ] && echo yes || echo no) size=$(stty size 2>/dev/null)';
const TALKER = `${COUNTER} while read l; do echo "${ANSWER}"; [ "$l" = hold ] && while [ ! -e /tmp/go ]; do sleep 0.2; done; done`;
// -t alone: nothing can be typed; it says the same every second.
const TICKER = `${COUNTER} while :; do l=tick; echo "${ANSWER}"; sleep 1; done`;

interface Answer {
  line: string;
  count: number;
  tty: string;
  size: string;
}

function answers(text: string, line?: string): Answer[] {
  return [...text.matchAll(/got (\S+) (\d+) tty=(yes|no) size=([\d ]*)\r?$/gm)]
    .map((m) => ({ line: m[1], count: Number(m[2]), tty: m[3], size: m[4].trim() }))
    .filter((a) => line === undefined || a.line === line);
}

/**
 * `docker attach` on a node, as a user would run it: on a terminal (`script` gives it a pty of
 * 33 rows and 101 columns, which the CLI passes on to the container's tty) when `tty`. Writes the
 * lines, waits for the answer to `answered` (default: the last line; none: any answer) to come
 * through the attach, then detaches by ending the CLI.
 */
async function attach(node: string, name: string, lines: string[], tty: boolean, answered = lines[lines.length - 1]): Promise<string> {
  const attachCmd = `exec bash ${LAB} docker ${node} attach ${name}`;
  const [cmd, args] = tty
    ? ['script', ['-qfec', `stty rows 33 cols 101; ${attachCmd}`, '/dev/null']]
    : ['bash', ['-c', attachCmd]];
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    // The CLI is attached once Docker answers it: give it a moment before typing (700 ms was too
    // short once on a loaded machine: a clean-clone CI run lost the typed line after a push back).
    await new Promise((r) => setTimeout(r, 2_000));
    for (const l of lines) child.stdin.write(`${l}\n`);
    await waitFor(`${name} answering on ${node}`, () => answers(out, answered).length > 0, 15_000);
    return out;
  } finally {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  }
}

describe('push containers with a TTY and an open stdin', () => {
  const names = ['tty-t', 'tty-i', 'tty-it'];
  beforeAll(() => removeEverywhere(...names));
  afterAll(() => removeEverywhere(...names));

  it('-it: the application keeps its terminal; docker attach on the destination types into it, and it moves back', async () => {
    docker('node1', 'run', '-dit', '--name', 'tty-it', 'busybox:latest', 'sh', '-c', TALKER);
    const before = answers(await attach('node1', 'tty-it', ['one'], true), 'one')[0];
    expect(before.tty).toBe('yes');

    push('node1', 'tty-it', 'node2');
    expect(state('node1', 'tty-it')).toBeNull();
    const there = answers(await attach('node2', 'tty-it', ['two'], true), 'two')[0];
    // A terminal, sized by the destination's docker attach, and the same process: its count went on.
    expect(there).toMatchObject({ tty: 'yes', size: '33 101' });
    expect(there.count).toBeGreaterThan(before.count);
    expect(answers(logs('node2', 'tty-it').join('\n')).map((a) => a.line)).toEqual(['one', 'two']);

    // A container made by a migration moves again (its helper holds the pts; the tree has its own).
    push('node2', 'tty-it', 'node1');
    const back = answers(await attach('node1', 'tty-it', ['three'], true), 'three')[0];
    expect(back).toMatchObject({ tty: 'yes', size: '33 101' });
    expect(back.count).toBeGreaterThan(there.count);
  });

  it('-t: docker logs and docker attach go on showing the application, which still sees a terminal', async () => {
    docker('node1', 'run', '-dt', '--name', 'tty-t', 'busybox:latest', 'sh', '-c', TICKER);
    await waitFor('ticks', () => answers(logs('node1', 'tty-t').join('\n')).length >= 2);
    const before = answers(logs('node1', 'tty-t').join('\n'));

    push('node1', 'tty-t', 'node2');
    const seen = answers(await attach('node2', 'tty-t', [], true));
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[seen.length - 1].tty).toBe('yes');
    const after = await waitFor('ticks on node2', () => {
      const all = answers(logs('node2', 'tty-t').join('\n'));
      return all.length > before.length + 1 && all;
    });
    // The history, then more of the same count (no restart).
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after[after.length - 1].count).toBeGreaterThan(before[before.length - 1].count);
    expect(after.every((a) => a.tty === 'yes')).toBe(true);
  });

  it('-i: stdin stays open; a line typed on the source and not yet read is answered on the destination', async () => {
    docker('node1', 'run', '-di', '--name', 'tty-i', 'busybox:latest', 'sh', '-c', TALKER);
    // "hold" is read and answered; the application then stops reading: "in-flight" waits in the pipe.
    await attach('node1', 'tty-i', ['hold', 'in-flight'], false, 'hold');
    expect(answers(logs('node1', 'tty-i').join('\n')).map((a) => a.line)).toEqual(['hold']);

    push('node1', 'tty-i', 'node2');
    docker('node2', 'exec', 'tty-i', 'touch', '/tmp/go'); // read on
    await waitFor('in-flight answered on node2', () => answers(logs('node2', 'tty-i').join('\n'), 'in-flight').length > 0);
    const there = answers(await attach('node2', 'tty-i', ['typed-on-node2'], false), 'typed-on-node2')[0];
    expect(there.tty).toBe('no');
    const all = answers(logs('node2', 'tty-i').join('\n'));
    expect(all.map((a) => a.line)).toEqual(['hold', 'in-flight', 'typed-on-node2']);
    expect(all[2].count).toBeGreaterThan(all[0].count);
  });
});
