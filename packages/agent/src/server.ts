import type * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import {
  AgentClient,
  CHANNEL_OPTIONS,
  MigrationError,
  UnsupportedContainerError,
  agentService,
  clientCredentials,
  cgroupMode,
  compatRefusal,
  cpuFlags,
  criuFacts,
  injectedFault,
  migrationState,
  servingMigrations,
  FreezeTurns,
  serverCredentials,
  inventory,
  runPush,
  runCheckpoint,
  restoreFromFile,
  restoreFromImage,
  inspectFile,
  inspectImage,
  serveMigration,
  type CheckpointEvent,
  type CheckpointRequest,
  type DockerClient,
  type InspectReply,
  type InspectRequest,
  type RestoreReply,
  type RestoreRequest,
  type HealthReply,
  type InventoryReply,
  type MigrateReply,
  type MigrateRequest,
  type MigrationStatusReply,
  type MigrationStatusRequest,
  type PeerIdentity,
  type PeerStatusReply,
  type PeerStatusRequest,
  type PushEvent,
  type PushRequest,
  type SourceChannel,
  type SourceContext,
  type DestinationContext,
} from '@livemig/core';
import { admitPrepare } from './admit-prepare';
import type { AgentConfig } from './agent-config';
import { commitQuery } from './commit-query';
import { destinationChannel, sourceChannel } from './grpc-channels';
import { healthReply } from './health';
import { IncomingLimit } from './incoming-limit';
import { MigrationsInFlight } from './migrations-in-flight';
import { PermissionDeniedError, admitPeer, type AgentRpc, type PeerCall } from './peer-access';

/**
 * A gRPC status for an error: refusals are FAILED_PRECONDITION, a caller whose certificate's role
 * may not make the call PERMISSION_DENIED, the rest INTERNAL or ABORTED.
 */
function statusOf(err: unknown): Partial<grpc.StatusObject> {
  const details = err instanceof Error ? err.message : String(err);
  let code = grpc.status.INTERNAL;
  if (err instanceof PermissionDeniedError) code = err.code;
  if (err instanceof UnsupportedContainerError) code = grpc.status.FAILED_PRECONDITION;
  if (err instanceof MigrationError) {
    code = { precondition: grpc.status.FAILED_PRECONDITION, aborted: grpc.status.ABORTED,
      protocol: grpc.status.INVALID_ARGUMENT, failed: grpc.status.INTERNAL }[err.kind];
  }
  return { code, details };
}

function log(msg: string): void {
  console.log(`${new Date().toISOString()} ${msg}`);
}

/**
 * Opens the Migrate stream to a destination agent that answers, passes `criu check`, and where
 * nothing blocks a restore of what this host dumps (host-compat.ts: CPU flags, cgroup, storage).
 */
async function connectDestination(destination: string, config: AgentConfig, docker: DockerClient): Promise<SourceChannel> {
  const client = new AgentClient(destination, clientCredentials(config.transport));
  try {
    const health = await client.health();
    if (!health.criuCheckOk) throw new Error(`criu check fails on ${health.nodeName}: ${health.criuCheckMessage}`);
    const here = { nodeName: config.nodeName, cpuFlags: cpuFlags(), cgroupMode: cgroupMode(), storageDriver: await docker.storageDriver() };
    const refusal = compatRefusal(here, health);
    if (refusal) throw new Error(`cannot restore on ${health.nodeName}: ${refusal}`);
  } catch (err) {
    client.close();
    throw new MigrationError('precondition', err instanceof Error ? err.message : String(err));
  }
  const migrate = client.migrate();
  migrate.on('close', () => client.close());
  return sourceChannel(migrate, client.address);
}

/** What a push from this agent is handed (the source's side). */
/** What every push from this agent shares: the containers in flight, the turn to be frozen. */
interface SourceShared {
  inFlight: Set<string>;
  freezeTurns: FreezeTurns;
}

function sourceContext(config: AgentConfig, docker: DockerClient, shared: SourceShared): SourceContext {
  return {
    docker, inFlight: shared.inFlight, freezeTurns: shared.freezeTurns, timeouts: config.timeouts, nodeName: config.nodeName, stateDir: config.stateDir, memScratchDir: config.memScratchDir,
    criuPath: config.criuPath, log, askCommitted: commitQuery(config), leaseMs: config.leaseMs,
  };
}

/** What a migration into this agent is handed (the destination's side). */
function destinationContext(config: AgentConfig, docker: DockerClient): DestinationContext {
  return {
    docker,
    nodeName: config.nodeName,
    stateDir: config.stateDir,
    memScratchDir: config.memScratchDir,
    criuPath: config.criuPath,
    helperPath: config.helperPath,
    criuCheck: async () => {
      const f = await criuFacts(config.criuPath);
      return { ok: f.checkOk, message: f.checkMessage };
    },
    policy: config.specPolicy,
    idleTimeoutMs: config.idleTimeoutMs,
    leaseMs: config.leaseMs,
    log,
  };
}

/** This agent's health beside a peer's, and how long the peer took to answer. */
async function peerStatusReply(config: AgentConfig, health: () => Promise<HealthReply>, peerAddress: string): Promise<PeerStatusReply> {
  const local = await health();
  let peer: HealthReply | null = null;
  let peerError = '';
  let peerClockSkewMs = 0;
  const started = performance.now();
  let client: AgentClient | undefined;
  try {
    client = new AgentClient(peerAddress, clientCredentials(config.transport));
    peer = await client.health();
    peerClockSkewMs = peer.clockMs - Date.now();
  } catch (err) {
    peerError = err instanceof Error ? err.message : String(err);
  } finally {
    client?.close();
  }
  return { local, peer, peerError, peerRttMs: performance.now() - started, peerClockSkewMs };
}

/** Push: runs it, streaming its events to the CLI, then the summary (or the error). */
function runPushCall(call: grpc.ServerWritableStream<PushRequest, PushEvent>, config: AgentConfig, docker: DockerClient, shared: SourceShared, migrations: MigrationsInFlight): void {
  const req = call.request;
  // Tracked to its last reply: a stopping agent exits once the CLI has been told.
  migrations.track(runPush(sourceContext(config, docker, shared), {
    container: req.container,
    destination: req.destination,
    keepSource: req.keepSource,
    compressLevel: req.compressLevel,
    serial: req.serial,
    precopy: !req.noPrecopy,
    lazyPages: req.lazyPages,
    turnBeforeCopy: req.turnBeforeCopy,
    emit: (ev) => call.write(ev),
    connect: () => connectDestination(req.destination, config, docker),
    signal: migrations.signal,
  }).then(
    (summary) => {
      log(`pushed ${summary.container} to ${summary.destinationNode}: downtime ${summary.downtimeMs.toFixed(0)} ms`);
      call.write({ body: 'summary', summary });
      call.end();
    },
    (err: unknown) => {
      log(`push of ${req.container} failed: ${err instanceof Error ? err.message : String(err)}`);
      call.emit('error', statusOf(err));
    },
  ));
}

/** Checkpoint: into a file on this host, streaming its events to the CLI, then what was written. */
function runCheckpointCall(call: grpc.ServerWritableStream<CheckpointRequest, CheckpointEvent>, config: AgentConfig, docker: DockerClient, shared: SourceShared): void {
  const req = call.request;
  runCheckpoint(sourceContext(config, docker, shared), {
    container: req.container,
    file: req.file,
    image: req.image || undefined,
    leaveRunning: req.leaveRunning,
    compressLevel: req.compressLevel,
    whenLog: req.whenLog ? { regex: req.whenLog, logFile: req.logFile, timeoutMs: req.timeoutS * 1000 } : undefined,
    emit: (ev) => {
      if (ev.body !== 'summary') call.write(ev); // phases and progress (a checkpoint has no push summary)
    },
  }).then(
    (done) => {
      call.write({ body: 'done', done });
      call.end();
    },
    (err: unknown) => {
      log(`checkpoint of ${req.container} failed: ${err instanceof Error ? err.message : String(err)}`);
      call.emit('error', statusOf(err));
    },
  );
}

/** gRPC handlers of the Agent service. */
export function agentHandlers(config: AgentConfig, docker: DockerClient, migrations = new MigrationsInFlight()): grpc.UntypedServiceImplementation {
  const health = (): Promise<HealthReply> => healthReply(config.nodeName, docker, config.criuPath, config.capacity);
  // IDs of containers being pushed from here; one of them frozen at a time.
  const shared: SourceShared = { inFlight: new Set<string>(), freezeTurns: new FreezeTurns() };
  const incoming = new IncomingLimit(config.maxIncoming);
  /** The caller's identity, or the status to end the call with when its role may not make it. */
  const admit = (call: PeerCall, rpc: AgentRpc): { peer: PeerIdentity | null } | { refusal: Partial<grpc.StatusObject> } => {
    try {
      return { peer: admitPeer(call, rpc, config.access) };
    } catch (err) {
      log(`denied ${rpc}: ${err instanceof Error ? err.message : String(err)}`);
      return { refusal: statusOf(err) };
    }
  };
  return {
    push(call: grpc.ServerWritableStream<PushRequest, PushEvent>) {
      const caller = admit(call, 'push');
      if ('refusal' in caller) return void call.emit('error', caller.refusal);
      runPushCall(call, config, docker, shared, migrations);
    },
    migrate(call: grpc.ServerDuplexStream<MigrateRequest, MigrateReply>) {
      const caller = admit(call, 'migrate');
      if ('refusal' in caller) return void call.emit('error', caller.refusal);
      const release = incoming.take(); // before anything is read or created
      if (!release) {
        const details = incoming.refusal(config.nodeName);
        log(`refused an incoming migration: ${details}`);
        return void call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details });
      }
      const ctx = destinationContext(config, docker);
      // The caller must be the source node it names (here), and its container one this host's
      // policy allows (the migration code's Prepare check): both before anything is created.
      const ch = migrations.incoming(destinationChannel(call), config.nodeName);
      migrations.track(admitPrepare(ch, { peer: caller.peer, idleTimeoutMs: config.idleTimeoutMs })
        .then((admitted) => serveMigration(ctx, admitted))
        .finally(release)
        .then(
          () => call.end(),
          (err: unknown) => {
            log(`incoming migration failed: ${err instanceof Error ? err.message : String(err)}`);
            call.emit('error', statusOf(err));
          },
        ));
    },
    checkpoint(call: grpc.ServerWritableStream<CheckpointRequest, CheckpointEvent>) {
      const caller = admit(call, 'checkpoint');
      if ('refusal' in caller) return void call.emit('error', caller.refusal);
      runCheckpointCall(call, config, docker, shared);
    },
    restore(call: grpc.ServerUnaryCall<RestoreRequest, RestoreReply>, cb: grpc.sendUnaryData<RestoreReply>) {
      const caller = admit(call, 'restore');
      if ('refusal' in caller) return cb(caller.refusal);
      const release = incoming.take(); // a restore is a migration into this host: it counts against --max-incoming
      if (!release) return cb({ code: grpc.status.FAILED_PRECONDITION, details: incoming.refusal(config.nodeName) });
      const { file, name, image } = call.request;
      const ctx = destinationContext(config, docker);
      const o = { name: name || undefined };
      (image ? restoreFromImage(ctx, { ...o, image }) : restoreFromFile(ctx, { ...o, file }))
        .finally(release)
        .then(
          (r) => cb(null, r),
          (err: unknown) => {
            log(`restore from ${image ? `image ${image}` : file} failed: ${err instanceof Error ? err.message : String(err)}`);
            cb(statusOf(err));
          },
        );
    },
    inspect(call: grpc.ServerUnaryCall<InspectRequest, InspectReply>, cb: grpc.sendUnaryData<InspectReply>) {
      const caller = admit(call, 'inspect');
      if ('refusal' in caller) return cb(caller.refusal);
      const { file, image } = call.request;
      (image ? inspectImage(docker, config.stateDir, image) : inspectFile(file)).then(
        (c) => cb(null, { contentsJson: JSON.stringify(c) }),
        (err: unknown) => cb(statusOf(err)),
      );
    },
    migrationStatus(
      call: grpc.ServerUnaryCall<MigrationStatusRequest, MigrationStatusReply>,
      cb: grpc.sendUnaryData<MigrationStatusReply>,
    ) {
      const caller = admit(call, 'migrationStatus');
      if ('refusal' in caller) return cb(caller.refusal);
      if (injectedFault('refuse-status')) return cb({ code: grpc.status.UNAVAILABLE, details: 'injected fault: no status' });
      // A migration still being served here answers once it committed or rolled back (the lease
      // bounds how long that takes).
      servingMigrations.settled(call.request.migrationId, 20_000).then(
        () => {
          const state = migrationState(config.stateDir, call.request.migrationId);
          cb(null, { committed: state === 'COMMITTED', state });
        },
        (err: Error) => cb({ code: grpc.status.UNAVAILABLE, details: err.message }),
      );
    },
    health(call: grpc.ServerUnaryCall<object, HealthReply>, cb: grpc.sendUnaryData<HealthReply>) {
      const caller = admit(call, 'health');
      if ('refusal' in caller) return cb(caller.refusal);
      health().then((r) => cb(null, r), (err) => cb(statusOf(err)));
    },
    inventory(call: grpc.ServerUnaryCall<object, InventoryReply>, cb: grpc.sendUnaryData<InventoryReply>) {
      const caller = admit(call, 'inventory');
      if ('refusal' in caller) return cb(caller.refusal);
      inventory(sourceContext(config, docker, shared)).then((containers) => cb(null, { containers }), (err) => cb(statusOf(err)));
    },
    peerStatus(
      call: grpc.ServerUnaryCall<PeerStatusRequest, PeerStatusReply>,
      cb: grpc.sendUnaryData<PeerStatusReply>,
    ) {
      const caller = admit(call, 'peerStatus');
      if ('refusal' in caller) return cb(caller.refusal);
      peerStatusReply(config, health, call.request.peer).then((r) => cb(null, r), (err) => cb(statusOf(err)));
    },
  };
}

/** HTTP/2 flow-control window for incoming migration streams. */
const RECEIVE_WINDOW = 16 * 1024 * 1024;

/**
 * grpc-js has no server option for HTTP/2 windows, so a server receives with the protocol's
 * default 64 KiB: every 1 MiB chunk then waits for 16 window updates, which held transfers
 * to ~40 MB/s in the lab. Widen the windows of the http2 servers grpc-js made (a private
 * field; if it changes, we keep the defaults and are only slower).
 */
function widenReceiveWindows(server: grpc.Server, log: (msg: string) => void): void {
  const servers = (server as unknown as { http2Servers?: Map<http2.Http2Server, unknown> }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) {
    log('warning: cannot widen HTTP/2 receive windows (grpc-js internals changed); transfers will be slower');
    return;
  }
  for (const h2 of servers.keys()) {
    h2.updateSettings({ initialWindowSize: RECEIVE_WINDOW }); // per stream, for new sessions
    h2.on('session', (session: http2.ServerHttp2Session) => session.setLocalWindowSize(RECEIVE_WINDOW)); // per connection
  }
}

/** Binds the server; resolves once it listens. */
export async function startServer(config: AgentConfig, docker: DockerClient, migrations: MigrationsInFlight): Promise<grpc.Server> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  server.addService(agentService().service, agentHandlers(config, docker, migrations));
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(config.listen, serverCredentials(config.transport), (err, port) =>
      err ? reject(new Error(`cannot listen on ${config.listen}: ${err.message}`)) : resolve(port),
    ),
  );
  widenReceiveWindows(server, log);
  return server;
}
