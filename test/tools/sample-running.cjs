// Samples, every INTERVAL ms until SIGTERM, whether each of two copies of a container runs:
//   node test/tools/sample-running.cjs INTERVAL SOURCE_PID DESTINATION_HELPER_PID
// prints "ms source destination" lines (1 = running). The source's copy runs when its init is
// alive and its cgroup not frozen (a push freezes it); the destination's when its helper (the
// PID namespace's init, waiting until the restore) has a child, the restored tree, and is not
// frozen. Only /proc and /sys reads: a sample costs well under a millisecond.
const fs = require('node:fs');

const [interval, sourcePid, helperPid] = process.argv.slice(2).map(Number);

function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

function frozen(pid) {
  try {
    const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
    const v1 = lines.find((l) => /^\d+:freezer:/.test(l));
    if (v1) return fs.readFileSync(`/sys/fs/cgroup/freezer${v1.split(':')[2]}/freezer.state`, 'utf8').trim() !== 'THAWED';
    const v2 = lines.find((l) => l.startsWith('0::')) || '';
    return /^frozen 1$/m.test(fs.readFileSync(`/sys/fs/cgroup${v2.slice(3)}/cgroup.events`, 'utf8'));
  } catch {
    return false; // gone meanwhile: alive() says so
  }
}

function hasChild(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim() !== '';
  } catch {
    return false;
  }
}

const t0 = Date.now();
const sample = () => {
  const source = alive(sourcePid) && !frozen(sourcePid) ? 1 : 0;
  const destination = alive(helperPid) && hasChild(helperPid) && !frozen(helperPid) ? 1 : 0;
  process.stdout.write(`${Date.now() - t0} ${source} ${destination}\n`);
};
sample();
const timer = setInterval(sample, interval);
process.on('SIGTERM', () => {
  clearInterval(timer);
  sample();
  process.exit(0);
});
