// What this host's CRIU can do: its version and `criu check` (Health, the destination's
// pre-flight), and the features a migration may ask for.
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
    version = await criuVersion(criuPath);
  } catch {
    return { version: '', checkOk: false, checkMessage: `${criuPath} not found` };
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

// Whether this host can restore lazily: CRIU's lazy-pages daemon needs non-cooperative
// userfaultfd (fork, mremap and exit events of the restored tree). Asked of criu once per agent.
const answers = new Map<string, Promise<boolean>>();

/** `criu check --feature uffd-noncoop`, asked once per criu binary. */
export function lazyPagesSupported(criuPath: string): Promise<boolean> {
  let answer = answers.get(criuPath);
  if (!answer) {
    answer = run(criuPath, ['check', '--feature', 'uffd-noncoop'], { timeoutMs: 30_000 }).then((r) => r.code === 0, () => false);
    answers.set(criuPath, answer);
  }
  return answer;
}
