// Whether this host can restore lazily: CRIU's lazy-pages daemon needs non-cooperative
// userfaultfd (fork, mremap and exit events of the restored tree). Asked of criu once per agent.
import { execFile } from 'node:child_process';

const answers = new Map<string, Promise<boolean>>();

export function lazyPagesSupported(criuPath: string): Promise<boolean> {
  let answer = answers.get(criuPath);
  if (!answer) {
    answer = new Promise<boolean>((resolve) => {
      execFile(criuPath, ['check', '--feature', 'uffd-noncoop'], { timeout: 30_000 }, (err) => resolve(!err));
    });
    answers.set(criuPath, answer);
  }
  return answer;
}
