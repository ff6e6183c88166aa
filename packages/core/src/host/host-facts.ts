import fs from 'node:fs';
import os from 'node:os';
import { run } from '../util/exec';

export interface CriuFacts {
  version: string;
  checkOk: boolean;
  checkMessage: string;
}

/** `criu --version` and `criu check`, as the agent reports them. */
export async function criuFacts(criuPath = 'criu'): Promise<CriuFacts> {
  let version = '';
  try {
    const v = await run(criuPath, ['--version'], { timeoutMs: 10_000 });
    version = /Version:\s*(\S+)/.exec(v.stdout)?.[1] ?? '';
  } catch {
    return { version: '', checkOk: false, checkMessage: `${criuPath} not found` };
  }
  const c = await run(criuPath, ['check'], { timeoutMs: 60_000 });
  const out = `${c.stdout}\n${c.stderr}`.trim();
  const ok = c.code === 0 && /Looks good/.test(out);
  const lastError = out.split('\n').filter((l) => /Error/.test(l)).pop();
  return { version, checkOk: ok, checkMessage: ok ? 'Looks good.' : (lastError ?? out.split('\n').pop() ?? '') };
}

export type CgroupMode = 'v1' | 'v2' | 'hybrid';

/** cgroup v2 when /sys/fs/cgroup is cgroup2 itself; v1 (or hybrid) when it is a tmpfs of controllers. */
export function cgroupMode(): CgroupMode {
  if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'v2';
  return fs.existsSync('/sys/fs/cgroup/unified/cgroup.controllers') ? 'hybrid' : 'v1';
}

export function kernelRelease(): string {
  return os.release();
}
