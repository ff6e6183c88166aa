import path from 'node:path';
import { AgentClient, clientCredentials, type CheckpointEvent, type Transport } from '@livemig/core';
import { followPhases } from './follow-phases';

export interface CheckpointArgs {
  agent: string;
  transport: Transport;
  container: string;
  /** On the agent's host (a relative path is taken from here: the agent is usually this host's). */
  out: string | undefined;
  /** Instead of --out: the checkpoint image NAME:TAG to build on the agent's host. */
  image: string | undefined;
  leaveRunning: boolean;
  compress: number;
  whenLog: string | undefined;
  logFile: string | undefined;
  timeoutS: number;
  json: boolean;
}

/** `migrate-cli checkpoint CTR --out FILE`: the agent writes CTR's checkpoint into FILE on its host. */
export async function checkpointCommand(a: CheckpointArgs): Promise<void> {
  if ((a.out === undefined) === (a.image === undefined)) throw new Error('give either --out FILE or --image NAME:TAG');
  if (a.logFile !== undefined && a.whenLog === undefined) throw new Error('--log-file goes with --when-log');
  if (!(a.timeoutS > 0)) throw new Error(`--timeout must be a positive number of seconds: ${a.timeoutS}`);
  const client = new AgentClient(a.agent, clientCredentials(a.transport));
  const call = client.checkpoint({ container: a.container, file: a.out === undefined ? '' : path.resolve(a.out), image: a.image ?? '', leaveRunning: a.leaveRunning, compressLevel: a.compress,
    whenLog: a.whenLog ?? '', logFile: a.logFile ?? '', timeoutS: a.timeoutS });
  const events = await followPhases(call as AsyncIterable<CheckpointEvent>, client, a.json);
  const done = events.find((ev): ev is Extract<CheckpointEvent, { body: 'done' }> => ev.body === 'done')?.done;
  if (!done) throw new Error('the agent ended the checkpoint without saying what it wrote');
  if (a.json) return console.log(JSON.stringify(done, null, 2));
  const mib = (done.bytes / 1024 / 1024).toFixed(1);
  console.log(`checkpointed ${done.container} to ${done.image ? `image ${done.image}` : done.file}: ${mib} MiB, sha256 ${done.digest}`);
  console.log(`frozen ${done.frozenMs.toFixed(0)} ms, total ${done.totalMs.toFixed(0)} ms; ${done.leftRunning ? 'the container runs on' : 'the container was removed'}`);
  if (done.sourceCleanupError) console.log(`warning: removing the container failed (the agent finishes it at its next start): ${done.sourceCleanupError}`);
}
