#!/usr/bin/env -S node --single-threaded-gc --max-semi-space-size=4
// Node flags (also in scripts/lab.sh and the systemd unit; V8 takes them only on the command line):
// --single-threaded-gc: the agents share the host's cores with CRIU and each other while pages
// stream, and V8's GC helper threads, busy because every MiB moved allocates Buffers
// (external-memory pressure starts a mark-compact every ~50 ms), took CPU from that pipeline.
// Lab, 2 cores, 256 MiB: dump phase 1.47-1.67 s with the default GC, 1.27-1.35 s without helper
// threads.
// --max-semi-space-size=4 (MiB; V8's default grows it to 16): a disk round's walk of 20k small
// files made V8 grow its young generation, and the agents kept the extra ~30-40 MiB of heap for
// the rest of the push (heap total 50-77 MiB against 17-39 MiB with 4 MiB semi-spaces; peak RSS
// with the 2 GiB volume, call-queue-depth.ts being in: 204-211 MiB without it, 151-169 MiB with).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import {
  AgentClient,
  DEFAULT_TIMEOUTS,
  DockerodeClient,
  clientCredentials,
  recoverMigrations,
  clearScratch,
  clearImageScratch,
  checkNodeCertificate,
  ensureKdatDir,
  ensurePrivateDir,
  CERT_NAME,
  criuFacts,
  criuFeatures,
  lazyPagesSupported,
  MIN_LEASE_MS,
  type CommitQuery,
  type Timeouts,
} from '@livemig/core';
import { defaultConfig, type AgentConfig } from './agent-config';
import { commitQuery } from './commit-query';
import { MigrationsInFlight } from './migrations-in-flight';
import { startServer } from './server';

function peerTimeouts(seconds: number | undefined): Timeouts {
  if (seconds === undefined) return DEFAULT_TIMEOUTS;
  if (!(seconds > 0)) throw new Error(`--peer-timeout must be a positive number of seconds, not ${seconds}`);
  const ms = seconds * 1000;
  return { prepareMs: ms, stallMs: ms, restoreMs: ms, commitMs: ms, turnBeforeCopyMs: Math.min(ms, DEFAULT_TIMEOUTS.turnBeforeCopyMs) };
}

function leaseMs(ms: number): number {
  if (!(ms >= MIN_LEASE_MS)) throw new Error(`--lease-ms must be at least ${MIN_LEASE_MS}, not ${ms}`);
  return ms;
}

/** --peers node1,node2 (repeatable): node names, or null when not given (any node). */
function peerList(values: string[] | undefined): string[] | null {
  if (values === undefined) return null;
  const names = values.flatMap((v) => v.split(',')).map((n) => n.trim()).filter(Boolean);
  const bad = names.find((n) => !CERT_NAME.test(n));
  if (bad !== undefined) throw new Error(`--peers: "${bad}" is not a node name`);
  return names;
}

/** --allow-bind PREFIX: absolute host paths. */
function bindPrefixes(values: string[] | undefined): string[] {
  const bad = (values ?? []).find((p) => !p.startsWith('/') || p.split('/').includes('..'));
  if (bad !== undefined) throw new Error(`--allow-bind: "${bad}" is not an absolute path`);
  return values ?? [];
}

async function main(): Promise<void> {
  const d = defaultConfig();
  const argv = await yargs(hideBin(process.argv))
    .scriptName('livemig-agent')
    .usage('$0 [options]: serve the migration agent on this host')
    .option('listen', { type: 'string', default: d.listen, describe: 'address:port to listen on' })
    .option('node-name', { type: 'string', default: d.nodeName, describe: 'name of this node' })
    .option('docker-socket', { type: 'string', default: d.dockerSocket })
    .option('state-dir', { type: 'string', default: d.stateDir, describe: 'where migrations keep temp state' })
    .option('scratch-dir', {
      type: 'string',
      default: d.memScratchDir,
      describe: 'tmpfs dir for checkpoints that fit in memory (else they go to --state-dir); "" = never in memory',
    })
    .option('criu', { type: 'string', default: d.criuPath, describe: 'criu binary' })
    .option('helper', { type: 'string', default: d.helperPath, describe: 'static restore helper binary' })
    .option('tls-dir', { type: 'string', describe: 'PKI dir: ca.pem, NODE.pem, NODE-key.pem (migrate-cli certs)' })
    .option('peer-timeout', {
      type: 'number',
      describe: 'seconds a source waits on the destination in any phase before rolling back (default: per phase, 30-300)',
    })
    .option('insecure', { type: 'boolean', default: false, describe: 'serve plaintext gRPC, without authentication' })
    .option('peers', {
      type: 'array',
      string: true,
      describe: 'NAME[,NAME]: the only nodes (by certificate) that may migrate containers to this one (default: any node of the CA)',
    })
    .option('allow-bind', {
      type: 'array',
      string: true,
      describe: 'PREFIX: host path under which containers migrated here may have bind mounts (repeatable; default: none)',
    })
    .option('allow-cap', {
      type: 'array',
      string: true,
      describe: 'CAP: capability beyond Docker\'s defaults that containers migrated here may add (repeatable; default: none)',
    })
    .option('max-incoming', {
      type: 'number',
      default: d.maxIncoming,
      describe: 'incoming migrations that may run at once; more are refused before anything is created',
    })
    .option('idle-timeout', {
      type: 'number',
      default: d.idleTimeoutMs / 1000,
      describe: 'seconds an incoming migration\'s source may send nothing before its checkpoint is in; then it is cut off and what it made here removed',
    })
    .option('lease-ms', {
      type: 'number',
      default: d.leaseMs,
      describe: 'the lease: a migrated copy that hears nothing from its source for this long is killed (README: never two copies)',
    })
    .option('capacity-memory', {
      type: 'number',
      default: 0,
      describe: 'MiB of memory to report as free to drain planners instead of the host\'s MemAvailable (tests; 0: the host\'s)',
    })
    .option('capacity-disk', {
      type: 'number',
      default: 0,
      describe: 'MiB of disk to report as free to drain planners instead of Docker\'s data root\'s (tests; 0: the host\'s)',
    })
    .check((a) => {
      if (!(a['idle-timeout'] > 0)) throw new Error(`--idle-timeout must be a positive number of seconds, not ${a['idle-timeout']}`);
      if (!a.insecure && !a['tls-dir']) throw new Error('give --tls-dir DIR (mutual TLS) or, explicitly, --insecure');
      return true;
    })
    .strict()
    .parseAsync();
  const config: AgentConfig = {
    listen: argv.listen,
    nodeName: argv['node-name'],
    dockerSocket: argv['docker-socket'],
    stateDir: argv['state-dir'],
    memScratchDir: argv['scratch-dir'],
    criuPath: argv.criu,
    helperPath: argv.helper,
    timeouts: peerTimeouts(argv['peer-timeout']),
    transport: argv.insecure
      ? { insecure: true }
      : { insecure: false, tls: { dir: argv['tls-dir'] ?? '', name: argv['node-name'] } },
    access: { authenticated: !argv.insecure, peers: peerList(argv.peers) },
    specPolicy: { allowBindPrefixes: bindPrefixes(argv['allow-bind']), allowCaps: argv['allow-cap'] ?? [] },
    maxIncoming: argv['max-incoming'],
    idleTimeoutMs: argv['idle-timeout'] * 1000,
    leaseMs: leaseMs(argv['lease-ms']),
    capacity: { memoryBytes: argv['capacity-memory'] * 1024 * 1024, diskBytes: argv['capacity-disk'] * 1024 * 1024 },
  };
  // A certificate made before roles would have every peer denied: say how to re-issue it instead.
  if (!config.transport.insecure) checkNodeCertificate(config.transport.tls);
  if (config.transport.insecure) {
    console.log('WARNING: --insecure: plaintext gRPC without authentication; anyone who can reach this port can drive this agent');
  }
  const docker = new DockerodeClient(config.dockerSocket);
  // Checkpoints (process memory) and the records go through these dirs: root's alone, or the
  // agent does not start (private-dir.ts says why).
  ensurePrivateDir(config.stateDir, 'the agent\'s state dir, --state-dir');
  if (config.memScratchDir) ensurePrivateDir(config.memScratchDir, 'where checkpoints go in memory, --scratch-dir');
  // Migrations cut off by a crash of this agent: resume frozen sources, remove half-made targets.
  clearScratch(config.memScratchDir);
  clearImageScratch(config.stateDir);
  ensureKdatDir(); // CRIU's kernel-probe cache: ~35 ms less of each dump and restore
  await recoverMigrations(config.stateDir, docker, (msg) => console.log(`${new Date().toISOString()} ${msg}`), commitQuery(config));
  const migrations = new MigrationsInFlight();
  const server = await startServer(config, docker, migrations);
  const mode = config.transport.insecure ? 'plaintext, --insecure' : `mutual TLS, ${config.transport.tls.dir}`;
  console.log(`livemig-agent ${config.nodeName} listening on ${config.listen} (${mode}; docker ${config.dockerSocket})`);
  if (!process.execArgv.includes('--single-threaded-gc')) {
    console.log('note: node runs without --single-threaded-gc (the #! line has it): memory pages will stream slower');
  }
  if (!process.execArgv.some((a) => a.startsWith('--max-semi-space-size'))) {
    console.log('note: node runs without --max-semi-space-size=4 (the #! line has it): the agent will peak higher in memory');
  }
  // Asked now, not by the first Health: `criu check` takes seconds on a slow host (6+ s in the
  // emulated Debian VMs), past a peer's deadline; later callers share these cached answers.
  // After the lines above: starting criu takes a while, and the log says "listening" first.
  void Promise.all([criuFacts(config.criuPath), lazyPagesSupported(config.criuPath), criuFeatures(config.criuPath)]).catch(() => undefined);
  // Stopping never leaves a container frozen nor a half-made target: what is in flight rolls
  // back (or, committing, finishes) first (migrations-in-flight.ts). Each phase is bounded by
  // its own timeouts; a service manager's kill after its stop timeout is what a crash is, and
  // the next start recovers from it (recoverMigrations).
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    const log = (msg: string): void => console.log(`${new Date().toISOString()} ${msg}`);
    log(`${signal}: stopping; ${migrations.count} migration(s) in flight roll back (or finish, if committing)`);
    // No new calls; the last replies (a push's rollback, told to its CLI) go out before the exit.
    const callsClosed = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    void migrations.stop()
      .then(() => Promise.race([callsClosed, new Promise((resolve) => setTimeout(resolve, 2_000))]))
      .then(() => {
        log('stopped: no migration in flight');
        server.forceShutdown();
        process.exit(0);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`livemig-agent: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
