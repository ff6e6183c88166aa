import { lab } from './lab';

// The lab must be up for every end-to-end test; `up` is idempotent and quick when it already is.
export default function setup(): void {
  const r = lab('up');
  if (r.code !== 0) throw new Error(`lab.sh up failed:\n${r.stdout}\n${r.stderr}`);
}
