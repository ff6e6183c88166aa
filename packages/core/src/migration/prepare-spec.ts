// What Prepare carries besides its scalar fields (specJson): the container to recreate and the
// facts about the dumped tree that the restore needs. The source fills it from the running
// container; the destination parses it here before it acts on any of it.
import type { Prepare } from '../rpc/messages';
import { MigrationError } from '../protocol/migration-error';
import { isValidLevel } from '../stream/compress-level';
import { PROTOCOL_VERSION } from '../version';
import { SPEC_VERSION, type ContainerSpec } from './container-spec';
import type { ReattachedStdio } from './process-facts';

/** What the source tells the destination about the dumped tree (read before the freeze). */
export interface DumpedTreeFacts {
  /** The source's mountinfo lines of the external mounts (keys are their mount points). */
  externalMounts: string;
  /**
   * The source's stdio to re-attach to the new container's: its log pipes ("pipe:[inode]" of fd 1
   * and 2), its stdin pipe (-i, fd 0), its terminal (-t, "tty[rdev:dev]").
   */
  stdio: ReattachedStdio[];
  /** --init: SHA-256 of the docker-init the tree's tini runs (the destination needs the same). */
  dockerInitSha256?: string;
}

/** What the source sends in Prepare.specJson. */
export interface PrepareSpec {
  container: ContainerSpec;
  tree: DumpedTreeFacts;
}

/** Prepare's spec, once its versions, names and compression level are ones this agent accepts. */
export function parseSpec(p: Prepare): PrepareSpec {
  if (p.protocolVersion !== PROTOCOL_VERSION) {
    throw new MigrationError('precondition', `protocol version ${p.protocolVersion} is not supported (this agent speaks ${PROTOCOL_VERSION})`);
  }
  const spec = JSON.parse(p.specJson) as PrepareSpec;
  if (spec.container?.specVersion !== SPEC_VERSION) {
    throw new MigrationError('precondition', `container spec version ${spec.container?.specVersion} is not supported`);
  }
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(spec.container.name)) {
    throw new MigrationError('precondition', `invalid container name "${spec.container.name}"`);
  }
  // The keys go onto criu's command line.
  const stdio: unknown = spec.tree?.stdio;
  if (!Array.isArray(stdio) || !stdio.every(isReattachedStdio)) throw new MigrationError('precondition', 'invalid stdio facts');
  if (!/^[a-zA-Z0-9-]{1,64}$/.test(p.migrationId)) throw new MigrationError('precondition', 'invalid migration id');
  if (!isValidLevel(p.compressLevel)) throw new MigrationError('precondition', `unsupported compression level ${p.compressLevel}`);
  return spec;
}

/** A stdio fact as the source makes them: fd 0-2, a pipe or terminal key (stdioToReattach). */
export function isReattachedStdio(s: unknown): s is ReattachedStdio {
  const o = s as Partial<ReattachedStdio> | null;
  return typeof o === 'object' && o !== null && [0, 1, 2].includes(o.fd as number) &&
    typeof o.key === 'string' && /^(pipe:\[\d+\]|tty\[[0-9a-f]+:[0-9a-f]+\])$/.test(o.key);
}
