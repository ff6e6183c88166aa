import * as grpc from '@grpc/grpc-js';
import { agentService } from './load-proto';
import { agentAddress } from './address';
import type {
  CheckpointEvent,
  CheckpointRequest,
  HealthReply,
  InspectReply,
  InspectRequest,
  InventoryReply,
  MigrateReply,
  MigrateRequest,
  MigrationStatusReply,
  MigrationStatusRequest,
  PeerStatusReply,
  PushEvent,
  PushRequest,
  RestoreReply,
  RestoreRequest,
} from './messages';

/** Channel options shared by clients and the server: large chunks, generous HTTP/2 windows. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  'grpc.max_send_message_length': 16 * 1024 * 1024,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  // Receive window of the client side of a connection (the server side: see the agent).
  'grpc-node.flow_control_window': 16 * 1024 * 1024,
};

/** A gRPC error with the remote's message only, for one-line reporting. */
export function rpcErrorMessage(err: unknown, address: string): string {
  const e = err as Partial<grpc.ServiceError>;
  if (e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED) {
    return `cannot reach agent at ${address}: ${e.details || e.message}`;
  }
  return e.details || (err instanceof Error ? err.message : String(err));
}

type Unary<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: Res) => void,
) => grpc.ClientUnaryCall;

/** Typed client of one agent. */
export class AgentClient {
  readonly address: string;
  private readonly client: grpc.Client;

  constructor(hostOrAddress: string, credentials = grpc.credentials.createInsecure()) {
    this.address = agentAddress(hostOrAddress);
    const Ctor = agentService();
    this.client = new Ctor(this.address, credentials, CHANNEL_OPTIONS);
  }

  /** Generous: a host answers after its `criu check`, seconds on a slow or busy host (asked once per binary). */
  health(timeoutMs = 30_000): Promise<HealthReply> {
    return this.unary<object, HealthReply>('health', {}, timeoutMs);
  }

  /** Longer than the agent's own wait for the peer's Health (30 s): a hung peer is reported as the peer's error, not this agent's. */
  peerStatus(peer: string, timeoutMs = 60_000): Promise<PeerStatusReply> {
    return this.unary<{ peer: string }, PeerStatusReply>('peerStatus', { peer }, timeoutMs);
  }

  inventory(timeoutMs = 60_000): Promise<InventoryReply> {
    return this.unary<object, InventoryReply>('inventory', {}, timeoutMs);
  }

  migrationStatus(migrationId: string, timeoutMs = 10_000): Promise<MigrationStatusReply> {
    return this.unary<MigrationStatusRequest, MigrationStatusReply>('migrationStatus', { migrationId }, timeoutMs);
  }

  push(req: PushRequest): grpc.ClientReadableStream<PushEvent> {
    const method = this.method<(r: PushRequest) => grpc.ClientReadableStream<PushEvent>>('push');
    return method(req);
  }

  checkpoint(req: CheckpointRequest): grpc.ClientReadableStream<CheckpointEvent> {
    return this.method<(r: CheckpointRequest) => grpc.ClientReadableStream<CheckpointEvent>>('checkpoint')(req);
  }

  /** A restore reads and checks the whole file before it restores: as long as a push may take. */
  restore(req: RestoreRequest, timeoutMs = 30 * 60_000): Promise<RestoreReply> {
    return this.unary<RestoreRequest, RestoreReply>('restore', req, timeoutMs);
  }

  inspect(req: InspectRequest, timeoutMs = 30 * 60_000): Promise<InspectReply> {
    return this.unary<InspectRequest, InspectReply>('inspect', req, timeoutMs);
  }

  migrate(): grpc.ClientDuplexStream<MigrateRequest, MigrateReply> {
    return this.method<() => grpc.ClientDuplexStream<MigrateRequest, MigrateReply>>('migrate')();
  }

  close(): void {
    this.client.close();
  }

  private method<F>(name: string): F {
    const fn = (this.client as unknown as Record<string, unknown>)[name];
    if (typeof fn !== 'function') throw new Error(`agent service has no method ${name}`);
    return (fn as (...args: unknown[]) => unknown).bind(this.client) as F;
  }

  private unary<Req, Res>(name: string, req: Req, timeoutMs: number): Promise<Res> {
    const fn = this.method<Unary<Req, Res>>(name);
    return new Promise((resolve, reject) => {
      fn(req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new Error(rpcErrorMessage(err, this.address)));
        else if (res === undefined) reject(new Error(`empty reply from ${this.address}`));
        else resolve(res);
      });
    });
  }
}
