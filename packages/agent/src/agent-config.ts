import os from 'node:os';
import type { Transport } from '@livemig/core';
import path from 'node:path';

/** Everything the agent needs to know about its host, from flags. */
export interface AgentConfig {
  listen: string;
  nodeName: string;
  dockerSocket: string;
  stateDir: string;
  criuPath: string;
  /** The static restore helper on this host (bind-mounted into restored containers). */
  helperPath: string;
  /** Mutual TLS with this node's certificate, or plaintext when started with --insecure. */
  transport: Transport;
}

export function defaultConfig(): Omit<AgentConfig, 'transport'> {
  return {
    listen: '0.0.0.0:7411',
    nodeName: os.hostname(),
    dockerSocket: '/var/run/docker.sock',
    stateDir: '/var/lib/livemig',
    criuPath: 'criu',
    helperPath: path.resolve(__dirname, '../../restore-init/restore-init'),
  };
}
