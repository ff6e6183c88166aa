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

/**
 * The `criu check --feature` names `migrate-cli doctor` compares between two hosts: the ones a
 * dump may use that a restore then needs (dirty tracking, userfaultfd, namespaces, seccomp...).
 */
export const CRIU_FEATURES = [
  'mem_dirty_track', 'uffd', 'uffd-noncoop', 'userns', 'seccomp_suspend', 'seccomp_filters', 'cgroupns', 'timens',
  'clone3_set_tid', 'pidfd_store', 'network_lock_nftables', 'tcp_half_closed', 'get_rseq_conf', 'move_mount_set_group',
  'openat2', 'memfd_hugetlb', 'can_map_vdso',
] as const;

const featureSets = new Map<string, Promise<string[]>>();

/** The CRIU_FEATURES this host's criu has, asked once per criu binary (the kernel does not change). */
export function criuFeatures(criuPath: string): Promise<string[]> {
  let set = featureSets.get(criuPath);
  if (!set) {
    set = (async () => {
      const have: string[] = [];
      for (const f of CRIU_FEATURES) {
        const r = await run(criuPath, ['check', '--feature', f], { timeoutMs: 30_000 }).catch(() => ({ code: 1 }));
        if (r.code === 0) have.push(f);
      }
      return have;
    })();
    featureSets.set(criuPath, set);
  }
  return set;
}
