// The source's pre-flight: everything the push needs to know about the container, read while it
// runs, and the refusals that must come before anything is frozen.
import fs from 'node:fs';
import path from 'node:path';
import { externalMountPoints } from '../../criu/criu-options';
import { parseMountInfo, type MountInfo } from '../../criu/mountinfo';
import { overlayDirs, type ContainerInspect } from '../../docker/docker-client';
import { MigrationError } from '../../protocol/migration-error';
import { canFreeze } from '../cgroup-freezer';
import { checkSupported, DOCKER_INIT_IN_CONTAINER, isRestoredContainer, movesCold, specFromInspect } from '../container-spec';
import { sha256File } from '../../host/docker-init';
import type { SourceContext } from '../context';
import { readRecords } from '../migration-record';
import type { PrepareSpec } from '../prepare-spec';
import { cgroupPids, commandLine, dumpRootPid, outsideTree, processCgroupDirs, stdioOf, stdioToReattach, ttyKeyOfFd } from '../process-facts';
import { scratchRoot } from '../scratch-dir';

/** Facts read before the freeze, all from the running container (a stopped one: coldFacts). */
export interface SourceFacts {
  inspect: ContainerInspect;
  name: string;
  /** Stopped: it moves cold (disk rounds, then Commit); no process facts, nothing frozen. */
  cold: boolean;
  dumpPid: number;
  mounts: MountInfo[]; // the dumped tree's mountinfo
  upperDir: string;
  freezerDir: string; // the container's freezer cgroup (v1) or its cgroup (v2)
  prepare: PrepareSpec;
  dockerMountTargets: string[];
  estimatedBytes: number;
  /** The container's memory cgroup usage. */
  memoryBytes: number;
  /** Bytes of the rootfs diff and volumes, walked before the freeze (for progress). */
  fileBytes: number;
  /** The json-file log's size (0 without one): it goes with the checkpoint. */
  logBytes: number;
}

/**
 * Total size of the regular files below a directory (no symlinks followed), for progress: read
 * while the container runs, a file or directory gone meanwhile counts as nothing.
 */
export function treeBytes(root: string): number {
  let total = 0;
  const walk = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += fs.lstatSync(p, { throwIfNoEntry: false })?.size ?? 0;
    }
  };
  if (fs.existsSync(root)) walk(root);
  return total;
}

function memoryUsage(dirs: Map<string, string>): number {
  for (const f of [`${dirs.get('memory')}/memory.usage_in_bytes`, `${dirs.get('')}/memory.current`]) {
    try {
      return Number(fs.readFileSync(f, 'utf8').trim());
    } catch {
      // not this cgroup version
    }
  }
  return 0;
}

/**
 * A `docker exec` running in the container is refused: CRIU dumps only the tree below the
 * container's init, and the exec's stdio and exit code belong to its `docker exec` client and
 * this host's dockerd, which the destination's Docker never hears of. The push would end it.
 */
function refuseExecSessions(name: string, pids: number[], root: number, init: number): void {
  const outside = outsideTree(pids, root, init);
  if (outside.length === 0) return;
  const what = outside.slice(0, 3).map((pid) => `PID ${pid}: ${commandLine(pid).slice(0, 60) || '?'}`).join('; ');
  throw new MigrationError('precondition', `container ${name} has a docker exec session running (${what}), which cannot be migrated: end it and push again`);
}

export async function gatherFacts(ctx: SourceContext, container: string): Promise<SourceFacts> {
  const inspect = await ctx.docker.inspectContainer(container);
  if (!inspect) throw new MigrationError('precondition', `no such container: ${container} on ${ctx.nodeName}`);
  checkSupported(inspect);
  const name = inspect.Name.replace(/^\//, '');
  if (movesCold(inspect)) return coldFacts(inspect, name);
  const dumpPid = dumpRootPid(inspect.State.Pid, isRestoredContainer(inspect));
  // Docker's pipes (logs; stdin with -i) and its terminal (-t): the new container's own replace them.
  const stdio = stdioToReattach(stdioOf(dumpPid), ttyKeyOfFd(dumpPid));
  // Read once: parsed for the dump options, the external lines verbatim for the destination.
  const mountLines = fs.readFileSync(`/proc/${dumpPid}/mountinfo`, 'utf8').split('\n').filter((l) => l.trim());
  const mounts = mountLines.map((l) => parseMountInfo(l)[0]);
  const spec = specFromInspect(inspect, inspect.Config.Image);
  // --init: Docker bind-mounts its init into the container, from the host, as it does volumes.
  const init = spec.hostConfig.Init === true;
  const dockerMountTargets = [...spec.mounts.map((m) => m.destination), ...(init ? [DOCKER_INIT_IN_CONTAINER] : [])];
  const external = new Set(externalMountPoints(mounts, dockerMountTargets));
  const externalMountLines = mountLines.filter((_l, i) => external.has(mounts[i].mountPoint)).join('\n');
  const dirs = processCgroupDirs(inspect.State.Pid);
  const memoryBytes = memoryUsage(dirs);
  const freezerDir = dirs.get('freezer') ?? dirs.get('');
  if (!freezerDir || !canFreeze(freezerDir)) throw new MigrationError('precondition', `cannot find the freezer cgroup of ${name}`);
  refuseExecSessions(name, cgroupPids(freezerDir), dumpPid, inspect.State.Pid);
  const upperDir = overlayDirs(inspect).upper;
  return {
    inspect,
    name,
    cold: false,
    dumpPid,
    mounts,
    upperDir,
    freezerDir,
    prepare: {
      container: spec,
      tree: {
        externalMounts: externalMountLines,
        stdio,
        ...(init ? { dockerInitSha256: sha256File(`/proc/${dumpPid}/exe`) } : {}),
      },
    },
    dockerMountTargets,
    estimatedBytes: memoryBytes + 64 * 1024 * 1024,
    memoryBytes,
    fileBytes: treeBytes(upperDir) +
      spec.mounts.filter((m) => m.type === 'volume').reduce((n, m) => n + treeBytes(m.source), 0),
    logBytes: (inspect.LogPath && fs.statSync(inspect.LogPath, { throwIfNoEntry: false })?.size) || 0,
  };
}

/**
 * A stopped container: its config, upper dir and volumes are final, so there is no process to
 * read (no tree facts: the destination creates it with its own command and does not start it)
 * and no memory to make room for.
 */
function coldFacts(inspect: ContainerInspect, name: string): SourceFacts {
  const spec = specFromInspect(inspect, inspect.Config.Image);
  const upperDir = overlayDirs(inspect).upper;
  return {
    inspect,
    name,
    cold: true,
    dumpPid: 0,
    mounts: [],
    upperDir,
    freezerDir: '',
    prepare: { container: spec, tree: { externalMounts: '', stdio: [] } },
    dockerMountTargets: spec.mounts.map((m) => m.destination),
    estimatedBytes: 0,
    memoryBytes: 0,
    fileBytes: treeBytes(upperDir) + spec.mounts.filter((m) => m.type === 'volume').reduce((n, m) => n + treeBytes(m.source), 0),
    logBytes: 0,
  };
}

/**
 * Refuses a container that this agent is already pushing or whose last push has an unknown
 * outcome; returns where its checkpoint will be written (CRIU writes it there before or while
 * it is sent).
 */
export function scratchFor(ctx: SourceContext, f: SourceFacts): string {
  if (ctx.inFlight.has(f.inspect.Id)) throw new MigrationError('precondition', `container ${f.name} is already being migrated`);
  const scratch = scratchRoot(ctx.memScratchDir, ctx.stateDir, f.estimatedBytes, `on ${ctx.nodeName} for the checkpoint of ${f.name}`);
  const undecided = readRecords(ctx.stateDir).find((r) => r.record?.role === 'source' && r.record.containerId === f.inspect.Id);
  if (undecided?.record?.role === 'source') {
    throw new MigrationError('precondition', `container ${f.name} stays frozen: its migration to ${undecided.record.destination} has an unknown outcome; restart this agent once ${undecided.record.destination} answers`);
  }
  return scratch;
}
