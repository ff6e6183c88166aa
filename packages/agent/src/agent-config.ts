import os from 'node:os';
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_LEASE_MS, type SpecPolicyOptions, type Timeouts, type Transport } from '@livemig/core';
import path from 'node:path';
import type { AccessPolicy } from './peer-access';
import type { CapacityOverride } from './health';

/** Everything the agent needs to know about its host, from flags. */
export interface AgentConfig {
  listen: string;
  nodeName: string;
  dockerSocket: string;
  stateDir: string;
  /** tmpfs dir where checkpoints that fit in memory are written ('' = always the state dir). */
  memScratchDir: string;
  criuPath: string;
  /** The static restore helper on this host (bind-mounted into restored containers). */
  helperPath: string;
  /** Mutual TLS with this node's certificate, or plaintext when started with --insecure. */
  transport: Transport;
  /** How long a source waits on the destination (each phase) before it rolls back. */
  timeouts: Timeouts;
  /** Which peers may call which RPC (roles in certificates; --peers). */
  access: AccessPolicy;
  /** What containers migrated here may have (--allow-bind, --allow-cap). */
  specPolicy: SpecPolicyOptions;
  /** How many incoming migrations may run at once (--max-incoming); more are refused. */
  maxIncoming: number;
  /** A source silent this long before its checkpoint is in is cut off, its target removed (--idle-timeout). */
  idleTimeoutMs: number;
  /** The lease (--lease-ms; protocol/lease.ts): a silent peer's copy lives this long. */
  leaseMs: number;
  /** --capacity-memory / --capacity-disk: room reported to drain instead of the host's (tests). */
  capacity: CapacityOverride;
}

export function defaultConfig(): Omit<AgentConfig, 'transport' | 'timeouts' | 'access' | 'specPolicy'> {
  return {
    listen: '0.0.0.0:7411',
    nodeName: os.hostname(),
    dockerSocket: '/var/run/docker.sock',
    stateDir: '/var/lib/livemig',
    memScratchDir: '/dev/shm/livemig',
    criuPath: 'criu',
    helperPath: path.resolve(__dirname, '../../restore-init/restore-init'),
    maxIncoming: 4,
    idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
    leaseMs: DEFAULT_LEASE_MS,
    capacity: { memoryBytes: 0, diskBytes: 0 },
  };
}
