// --when-log: checkpoint at the moment a container's output (or a file inside it) shows a line
// matching a regex, as criu-for-docker's LOG_MESSAGE / LOG_LOCATION did: e.g. once a service
// printed READY after its warm-up. The output is Docker's json-file log (its host file, written by
// dockerd); a file inside the container is read through /proc/PID/root. Both are polled from
// where they were read up to, so a long log is read once.
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerInspect, DockerClient } from '../../docker/docker-client';
import { MigrationError } from '../../protocol/migration-error';

export interface LogWait {
  regex: string;
  /** A file inside the container ('' = its output). */
  logFile: string;
  timeoutMs: number;
}

/** How often the log is looked at: a line comes out at most this long before the freeze starts. */
const POLL_MS = 20;

/** The source of lines being watched: new complete lines since the last call. */
export interface LineSource {
  what: string;
  lines(): string[];
}

/** Complete lines appended to a file since the last call (a partial last line waits for its end). */
export function tailLines(file: string, decode: (line: string) => string = (l) => l): () => string[] {
  let offset = 0;
  let partial = '';
  return () => {
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch {
      return []; // not there yet
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < offset) offset = 0; // truncated or rotated: from its start again
      const out: string[] = [];
      const buf = Buffer.allocUnsafe(256 * 1024);
      while (offset < size) {
        const got = fs.readSync(fd, buf, 0, Math.min(buf.length, size - offset), offset);
        if (got === 0) break;
        offset += got;
        const parts = (partial + buf.subarray(0, got).toString('utf8')).split('\n');
        partial = parts.pop() ?? '';
        out.push(...parts.map(decode));
      }
      return out;
    } finally {
      fs.closeSync(fd);
    }
  };
}

/** A json-file log line's text ("log" without its newline). */
function jsonLogText(line: string): string {
  try {
    const text = (JSON.parse(line) as { log?: unknown }).log;
    return typeof text === 'string' ? text.replace(/\r?\n$/, '') : '';
  } catch {
    return '';
  }
}

/** Where --when-log reads the container's lines; refused (before anything is done) where it cannot. */
export function lineSource(c: ContainerInspect, name: string, logFile: string): LineSource {
  if (!logFile) {
    if (c.HostConfig.LogConfig?.Type !== 'json-file' || !c.LogPath) {
      throw new MigrationError('precondition', `--when-log reads the container's json-file log; ${name} logs to ${c.HostConfig.LogConfig?.Type ?? 'nothing'} (give --log-file)`);
    }
    return { what: `${name}'s output`, lines: tailLines(c.LogPath, jsonLogText) };
  }
  if (!path.isAbsolute(logFile) || logFile.split('/').includes('..')) {
    throw new MigrationError('precondition', `--log-file must be an absolute path inside the container without "..": ${logFile}`);
  }
  const root = `/proc/${c.State.Pid}/root`;
  // The container owns its tree: a symlink in it could point anywhere on this host. Refused
  // (the last component by O_NOFOLLOW, the directories here).
  let dir = root;
  for (const part of path.dirname(logFile).split('/').filter(Boolean)) {
    dir = path.join(dir, part);
    if (fs.lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink()) {
      throw new MigrationError('precondition', `--log-file ${logFile}: ${dir.slice(root.length)} is a symlink in ${name}`);
    }
  }
  return { what: `${logFile} in ${name}`, lines: tailLines(path.join(root, logFile)) };
}

export function parseRegex(regex: string): RegExp {
  try {
    return new RegExp(regex);
  } catch (err) {
    throw new MigrationError('precondition', `--when-log: ${(err as Error).message}`);
  }
}

/**
 * Resolves with the first line of `src` matching `re` (lines already there count); rejects when
 * the time runs out or `running` says the container is gone first.
 */
export async function waitForLine(src: LineSource, re: RegExp, timeoutMs: number, running: () => Promise<boolean>): Promise<string> {
  const end = performance.now() + timeoutMs;
  let lastRunCheck = 0;
  for (;;) {
    const hit = src.lines().find((l) => re.test(l));
    if (hit !== undefined) return hit;
    const now = performance.now();
    if (now - lastRunCheck >= 500) {
      lastRunCheck = now;
      if (!(await running())) throw new MigrationError('precondition', `${src.what} ended (the container exited) before a line matched /${re.source}/; nothing was checkpointed`);
    }
    if (now >= end) throw new MigrationError('precondition', `no line matched /${re.source}/ in ${src.what} within ${timeoutMs / 1000} s; nothing was checkpointed`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** --when-log on a running container: resolves with the matching line, or rejects (nothing done yet). */
export async function waitForLog(docker: DockerClient, container: string, w: LogWait): Promise<string> {
  const re = parseRegex(w.regex);
  const c = await docker.inspectContainer(container);
  if (!c?.State.Running) throw new MigrationError('precondition', `no running container ${container}`);
  const src = lineSource(c, c.Name.replace(/^\//, ''), w.logFile);
  const sameProcess = async (): Promise<boolean> => {
    const now = await docker.inspectContainer(c.Id);
    return now?.State.Running === true && now.State.Pid === c.State.Pid;
  };
  return waitForLine(src, re, w.timeoutMs, sameProcess);
}
