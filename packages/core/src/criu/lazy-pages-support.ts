// Whether this host can restore lazily: CRIU's lazy-pages daemon needs non-cooperative
// userfaultfd (fork, mremap and exit events of the restored tree). Asked of criu once per agent.
import { run } from '../util/exec';

const answers = new Map<string, Promise<boolean>>();

export function lazyPagesSupported(criuPath: string): Promise<boolean> {
  let answer = answers.get(criuPath);
  if (!answer) {
    answer = run(criuPath, ['check', '--feature', 'uffd-noncoop'], { timeoutMs: 30_000 }).then((r) => r.code === 0, () => false);
    answers.set(criuPath, answer);
  }
  return answer;
}
