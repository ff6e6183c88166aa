// TypeScript shapes of the messages in proto/livemig.proto, as @grpc/proto-loader delivers them
// with the options in load-proto.ts (camelCase fields, uint64 as number, bytes as Buffer,
// defaults filled in, a `body` field naming the oneof member that is set).

export interface HealthReply {
  agentVersion: string;
  protocolVersion: number;
  nodeName: string;
  criuVersion: string;
  criuCheckOk: boolean;
  criuCheckMessage: string;
  dockerVersion: string;
  dockerApiVersion: string;
  kernel: string;
  cgroupMode: string;
  lazyPages: boolean;
  memoryAvailableBytes: number;
  diskAvailableBytes: number;
  criuFeatures: string[];
  storageDriver: string;
  cpuFlags: string[];
  clockMs: number;
  imageIds: string[];
}

export interface ContainerFacts {
  id: string;
  name: string;
  running: boolean;
  labels: Record<string, string>;
  memoryBytes: number;
  memoryLimitBytes: number;
  fileBytes: number;
  volumes: string[];
  refusal: string;
  imageId: string;
}

export interface InventoryReply {
  containers: ContainerFacts[];
}

export interface PeerStatusRequest {
  peer: string;
}

export interface PeerStatusReply {
  local: HealthReply;
  peer: HealthReply | null;
  peerError: string;
  peerRttMs: number;
  peerClockSkewMs: number;
}

export interface PushRequest {
  container: string;
  destination: string;
  keepSource: boolean;
  compressLevel: number;
  serial: boolean;
  noPrecopy: boolean;
  lazyPages: LazyPagesMode;
  /** Take the freeze turn before the disk rounds and the pre-copy (a drain's push: its pre-flight ran ahead). */
  turnBeforeCopy: boolean;
}

export type LazyPagesMode = 'LAZY_PAGES_AUTO' | 'LAZY_PAGES_ALWAYS' | 'LAZY_PAGES_NEVER';
export type LazyRestore = 'LAZY_RESTORE_NO' | 'LAZY_RESTORE_YES' | 'LAZY_RESTORE_IF_SUPPORTED';

export interface PhaseEvent {
  name: string;
  state: 'start' | 'done';
  elapsedMs: number;
  detail: string;
}

export interface ProgressEvent {
  bytesRaw: number;
  bytesWire: number;
  bytesRawTotal: number;
  phase: string;
}

export interface Summary {
  container: string;
  sourceNode: string;
  destinationNode: string;
  destinationContainerId: string;
  downtimeMs: number;
  totalMs: number;
  bytesRaw: number;
  bytesWire: number;
  criuImageBytes: number;
  rootfsBytes: number;
  volumeBytes: number;
  phaseMs: Record<string, number>;
  sourceKept: boolean;
  /** '' unless the move committed and removing the source copy failed (finished at the agent's next start) */
  sourceCleanupError: string;
  compressLevel: number;
  pipelined: boolean;
  precopyBytesRaw: number;
  precopyBytesWire: number;
  pagesReused: number;
  pagesSent: number;
  lazyPages: boolean;
  diskRounds: DiskRound[];
  /** The checkpoint stream, sent while the container was frozen (in bytesRaw/Wire). */
  frozenBytesRaw: number;
  frozenBytesWire: number;
  /** A stopped container moved cold: created there, not started. */
  cold?: boolean;
}

export interface DiskRound {
  bytesRaw: number;
  bytesWire: number;
  fileBytes: number;
  deleted: number;
  ms: number;
}

export type PushEvent =
  | { body: 'phase'; phase: PhaseEvent }
  | { body: 'progress'; progress: ProgressEvent }
  | { body: 'summary'; summary: Summary };

export interface Prepare {
  protocolVersion: number;
  migrationId: string;
  sourceNode: string;
  specJson: string;
  estimatedBytes: number;
  compressLevel: number;
  precopyBytes: number;
  lazyRestore: LazyRestore;
  diskRounds: boolean;
  fileBytes: number;
  /** The lease (protocol/lease.ts); 0 from a source without one. */
  leaseMs: number;
  /** A stopped container moves cold: disk rounds, then Commit; created there, not started. */
  cold?: boolean;
}

/** The lease's beat (destination -> source) and its echo (source -> destination). */
export interface Heartbeat {
  seq: number;
}

export interface Chunk {
  seq: number;
  data: Buffer;
  crc32: number;
  /** Pre-copy only: the segment (one per process) its pages belong to. */
  segment: number;
}

export interface End {
  chunks: number;
  wireBytes: number;
  rawBytes: number;
  crc32: number;
}

export type MigrateRequest =
  | { body: 'prepare'; prepare: Prepare }
  | { body: 'chunk'; chunk: Chunk }
  | { body: 'end'; end: End }
  | { body: 'commit'; commit: Record<string, never> }
  | { body: 'precopy'; precopy: Chunk }
  | { body: 'precopyEnd'; precopyEnd: End }
  | { body: 'disk'; disk: Chunk }
  | { body: 'diskEnd'; diskEnd: End }
  | { body: 'diskDone'; diskDone: Record<string, never> }
  | { body: 'heartbeat'; heartbeat: Heartbeat };

export interface Prepared {
  containerId: string;
  nodeName: string;
}

export interface Restored {
  receiveMs: number;
  restoreMs: number;
  appPid: number;
  lazyPages: boolean;
  pagesInMs: number;
}

export interface Resumed {
  restoreMs: number;
}

export interface PrecopyStored {
  pages: number;
}

export interface DiskStored {
  entries: number;
  bytes: number;
}

export type MigrateReply =
  | { body: 'prepared'; prepared: Prepared }
  | { body: 'precopyStored'; precopyStored: PrecopyStored }
  | { body: 'resumed'; resumed: Resumed }
  | { body: 'restored'; restored: Restored }
  | { body: 'committed'; committed: Record<string, never> }
  | { body: 'diskStored'; diskStored: DiskStored }
  | { body: 'heartbeat'; heartbeat: Heartbeat };

export interface MigrationStatusRequest {
  migrationId: string;
}

/** What a destination knows of a migration (see the .proto: UNKNOWN is not NOT_COMMITTED). */
export type MigrationState = 'UNKNOWN' | 'NOT_COMMITTED' | 'COMMITTED';

export interface MigrationStatusReply {
  committed: boolean;
  /** 'MIGRATION_STATE_UNSPECIFIED' from an agent before this field: read `committed` then. */
  state: MigrationState | 'MIGRATION_STATE_UNSPECIFIED';
}

export interface CheckpointRequest {
  container: string;
  file: string;
  leaveRunning: boolean;
  compressLevel: number;
  whenLog: string;
  logFile: string;
  timeoutS: number;
  image: string;
}

export interface CheckpointDone {
  container: string;
  file: string;
  bytes: number;
  digest: string;
  frozenMs: number;
  totalMs: number;
  leftRunning: boolean;
  phaseMs: Record<string, number>;
  sourceCleanupError: string;
  image: string;
}

export type CheckpointEvent =
  | { body: 'phase'; phase: PhaseEvent }
  | { body: 'progress'; progress: ProgressEvent }
  | { body: 'done'; done: CheckpointDone };

export interface RestoreRequest {
  file: string;
  name: string;
  image: string;
}

export interface InspectRequest {
  file: string;
  image: string;
}

export interface InspectReply {
  contentsJson: string;
}

export interface RestoreReply {
  container: string;
  containerId: string;
  appPid: number;
  restoreMs: number;
  totalMs: number;
}
