// What this host's CRIU can do: its version and `criu check` (Health, the destination's
// pre-flight), and the features a migration may ask for. Each answer is asked of criu once per
// agent process and binary: `criu check` takes ~0.3-1 s of probing (it forks, ptraces, makes
// namespaces) and Health, which operators and every source's pre-flight call, must stay cheap.
// A new criu binary (another path, or the same one reinstalled: a new mtime) is asked again.
import fs from 'node:fs';
import path from 'node:path';
import { run } from '../util/exec';

/** The file `criuPath` runs (looked up in PATH as exec does) and its mtime, or undefined if there is none. */
export function criuBinaryKey(criuPath: string): string | undefined {
  const candidates = criuPath.includes('/') ? [criuPath] : (process.env.PATH ?? '').split(':').filter(Boolean).map((d) => path.join(d, criuPath));
  for (const file of candidates) {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      const st = fs.statSync(file);
      if (st.isFile()) return `${path.resolve(file)}@${st.mtimeMs}`;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** Answers by binary key and question. */
const cache = new Map<string, Promise<unknown>>();

/** `ask()` once per binary and `question`; a run that could not even start is asked again next time. */
function oncePerBinary<T>(criuPath: string, question: string, ask: () => Promise<T>): Promise<T> | undefined {
  const key = criuBinaryKey(criuPath);
  if (key === undefined) return undefined;
  const k = `${question} ${key}`;
  let answer = cache.get(k) as Promise<T> | undefined;
  if (!answer) {
    answer = ask();
    cache.set(k, answer);
    answer.catch(() => cache.delete(k));
  }
  return answer;
}

export interface CriuFacts {
  version: string;
  checkOk: boolean;
  checkMessage: string;
}

/** `criu --version` and `criu check`, as the agent reports them (asked once per binary). */
export async function criuFacts(criuPath = 'criu'): Promise<CriuFacts> {
  return (await oncePerBinary(criuPath, 'facts', () => askFacts(criuPath))) ?? notFound(criuPath);
}

function notFound(criuPath: string): CriuFacts {
  return { version: '', checkOk: false, checkMessage: `${criuPath} not found` };
}

async function askFacts(criuPath: string): Promise<CriuFacts> {
  let version = '';
  try {
    version = await criuVersion(criuPath);
  } catch {
    return notFound(criuPath);
  }
  const c = await run(criuPath, ['check'], { timeoutMs: 60_000 });
  const out = `${c.stdout}\n${c.stderr}`.trim();
  const ok = c.code === 0 && /Looks good/.test(out);
  const lastError = out.split('\n').filter((l) => /Error/.test(l)).pop();
  return { version, checkOk: ok, checkMessage: ok ? 'Looks good.' : (lastError ?? out.split('\n').pop() ?? '') };
}

/** `criu --version`'s number ('' if it prints none); rejects when criu cannot be run. */
export async function criuVersion(criuPath: string): Promise<string> {
  const v = await run(criuPath, ['--version'], { timeoutMs: 10_000 });
  return /Version:\s*(\S+)/.exec(v.stdout)?.[1] ?? '';
}

/**
 * Whether this host can restore lazily: CRIU's lazy-pages daemon needs non-cooperative
 * userfaultfd (fork, mremap and exit events of the restored tree). `criu check --feature
 * uffd-noncoop`, asked once per criu binary.
 */
export async function lazyPagesSupported(criuPath: string): Promise<boolean> {
  const ask = (): Promise<boolean> => run(criuPath, ['check', '--feature', 'uffd-noncoop'], { timeoutMs: 30_000 }).then((r) => r.code === 0);
  return (await oncePerBinary(criuPath, 'uffd-noncoop', ask)?.catch(() => false)) ?? false;
}

/**
 * The `criu check --feature` names `migrate-cli doctor` compares between two hosts: the ones a
 * dump may use that a restore then needs (dirty tracking, userfaultfd, namespaces, seccomp...).
 */
export const CRIU_FEATURES = [
  'mem_dirty_track', 'uffd', 'uffd-noncoop', 'userns', 'seccomp_suspend', 'seccomp_filters', 'cgroupns', 'timens',
  'clone3_set_tid', 'pidfd_store', 'network_lock_nftables', 'tcp_half_closed', 'get_rseq_conf', 'move_mount_set_group',
  'openat2', 'memfd_hugetlb', 'can_map_vdso',
] as const;

/** The CRIU_FEATURES this host's criu has, asked once per criu binary (the kernel does not change). */
export async function criuFeatures(criuPath: string): Promise<string[]> {
  const ask = async (): Promise<string[]> => {
    const have: string[] = [];
    for (const f of CRIU_FEATURES) {
      const r = await run(criuPath, ['check', '--feature', f], { timeoutMs: 30_000 }).catch(() => ({ code: 1 }));
      if (r.code === 0) have.push(f);
    }
    return have;
  };
  return (await oncePerBinary(criuPath, 'features', ask)) ?? [];
}
