// Prepare, the destination's end: refuses, before the source freezes anything, what cannot work
// here, and decides where the checkpoint lands and whether the restore is lazy.
import fs from 'node:fs';
import { lazyPagesSupported } from '../../criu/criu-check';
import { MigrationError } from '../../protocol/migration-error';
import type { Prepare } from '../../rpc/messages';
import type { DestinationContext } from '../context';
import type { PrepareSpec } from '../prepare-spec';
import { scratchRoot } from '../scratch-dir';
import { checkSpecPolicy } from '../spec-policy';
import { findDockerInit, sha256File } from '../../host/docker-init';
import { fixedAddressRefusal } from '../network-addresses';
import { shareMountsTool } from './restore-into-container';

export interface TargetPlace {
  /** Where the pre-copy store and CRIU's images go, side by side (a dir per migration below it). */
  scratchUnder: string;
  /** Resume before the memory is in (see lazyPagesArgs). */
  lazyPages: boolean;
  /** This host's docker-init, for a container that runs with --init. */
  dockerInit?: string;
}

export async function checkPrepare(ctx: DestinationContext, prepare: Prepare, spec: PrepareSpec): Promise<TargetPlace> {
  const { docker } = ctx;
  const c = spec.container;
  const here = `on ${ctx.nodeName}`;
  // The peer's spec is a request: this host's policy decides (the same function as the source's).
  checkSpecPolicy(c, ctx.policy, here);
  const cold = prepare.cold === true; // created, not started: no restore, so no CRIU or helper needed
  const tool = shareMountsTool(ctx.helperPath);
  if (!cold && !isExecutable(tool)) throw new MigrationError('precondition', `${tool} is missing ${here} (make -C packages/restore-init)`);
  const criu = cold ? { ok: true, message: '' } : await ctx.criuCheck();
  if (!criu.ok) throw new MigrationError('precondition', `criu check fails ${here}: ${criu.message}`);
  const image = await docker.inspectImage(c.imageId);
  if (!image) throw new MigrationError('precondition', `base image ${c.imageRef} (${c.imageId.slice(0, 19)}) is missing ${here}`);
  if (await docker.inspectContainer(c.name)) throw new MigrationError('precondition', `a container named ${c.name} already exists ${here}`);
  for (const m of c.mounts) {
    if (m.type === 'volume' && (await docker.volumeExists(m.name))) {
      throw new MigrationError('precondition', `volume ${m.name} already exists ${here}`);
    }
    if (m.type === 'bind' && !fs.existsSync(m.source)) {
      throw new MigrationError('precondition', `bind mount source ${m.source} does not exist ${here}`);
    }
  }
  for (const n of c.networks) {
    const addresses = await docker.networkAddresses(n.name);
    if (!addresses) throw new MigrationError('precondition', `network ${n.name} does not exist ${here}`);
    const taken = fixedAddressRefusal(n, addresses);
    if (taken) throw new MigrationError('precondition', `${taken} ${here}`);
  }
  // Cold, Docker's own --init runs it at its start: any docker-init does.
  const dockerInit = c.hostConfig.Init === true && !cold ? sameDockerInit(spec, here) : undefined;
  const lazyPages = cold ? false : await lazyRestoreHere(ctx, prepare, here);
  const scratchUnder = scratchRoot(ctx.memScratchDir, ctx.stateDir, prepare.estimatedBytes + prepare.precopyBytes, here);
  return { scratchUnder, lazyPages, ...(dockerInit ? { dockerInit } : {}) };
}

/**
 * This host's docker-init, when it is the binary the source's tini runs: CRIU reopens the
 * restored tini's binary by its path, and another build of it would not match its memory.
 */
function sameDockerInit(spec: PrepareSpec, here: string): string {
  const found = findDockerInit();
  if (!found) throw new MigrationError('precondition', `docker-init (Docker's --init) is not installed ${here}`);
  if (sha256File(found) !== spec.tree.dockerInitSha256) {
    throw new MigrationError('precondition', `docker-init ${here} (${found}) is not the binary the container's --init runs on the source`);
  }
  return found;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function lazyRestoreHere(ctx: DestinationContext, prepare: Prepare, here: string): Promise<boolean> {
  const asked = prepare.lazyRestore;
  if (asked === 'LAZY_RESTORE_NO') return false;
  if (await lazyPagesSupported(ctx.criuPath)) return true;
  if (asked === 'LAZY_RESTORE_IF_SUPPORTED') return false;
  throw new MigrationError('precondition', `cannot restore lazily ${here}: criu check --feature uffd-noncoop fails (push with --lazy-pages never)`);
}
