// SIGTERM to an agent mid-migration: what is in flight rolls back before the agent exits; the
// container keeps running where it was, with its memory, and nothing is left on the other node.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lab, memhogChecksum, pushInBackground, removeEverywhere, startMemhog, state, waitFor } from './lab';

const NAME = 'stop-memhog';

/** The pre-copy of a migration has started arriving in node's scratch dir (in memory). */
function precopyArriving(node: string): boolean {
  const scratch = `/dev/shm/livemig-lab/${node}`;
  if (!fs.existsSync(scratch)) return false;
  return fs.readdirSync(scratch).some((id) => {
    const dir = `${scratch}/${id}/precopy`;
    try {
      return fs.readdirSync(dir).some((f) => fs.statSync(`${dir}/${f}`).size > 0);
    } catch {
      return false; // not yet, or gone
    }
  });
}

function nothingLeftOn(node: string): boolean {
  const dirs = [`/var/lib/livemig-lab/${node}/agent/migrations`, `/dev/shm/livemig-lab/${node}`];
  return state(node, NAME) === null && dirs.every((d) => !fs.existsSync(d) || fs.readdirSync(d).length === 0);
}

/** SIGTERM to a node's agent, once its migration's pre-copy arrives on node2; resolves once it has exited. */
async function stopAgentMidPrecopy(node: string): Promise<string> {
  await waitFor('the pre-copy to arrive on node2', () => precopyArriving('node2'), 60_000, 10);
  const pidFile = `/run/livemig-lab/${node}/agent.pid`;
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  process.kill(pid, 'SIGTERM');
  await waitFor(`the agent on ${node} to exit`, () => !fs.existsSync(`/proc/${pid}`), 60_000, 50);
  return fs.readFileSync(`/run/livemig-lab/${node}/agent.log`, 'utf8');
}

describe('SIGTERM to an agent mid-transfer', () => {
  let sum: string;
  beforeAll(async () => {
    removeEverywhere(NAME);
    sum = await startMemhog('node1', NAME, ['256']);
  });
  afterAll(() => {
    lab('restart-agent', 'node1');
    lab('restart-agent', 'node2');
    removeEverywhere(NAME);
  });

  it.each([['node1', 'the source'], ['node2', 'the destination']])('to %s (%s) mid pre-copy: the container runs on node1 with its memory, nothing is left on node2', async (node) => {
    const pushing = pushInBackground('node1', NAME, 'node2');
    const log = await stopAgentMidPrecopy(node);
    const r = await pushing;
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`the agent on ${node} is stopping \\(SIGTERM\\)`));
    expect(log).toMatch(/SIGTERM: stopping; 1 migration\(s\) in flight roll back/);
    expect(log).toMatch(/stopped: no migration in flight/);
    expect(state('node1', NAME)?.running).toBe(true);
    expect(await memhogChecksum('node1', NAME)).toBe(sum);
    // Started again (as systemd would): a work dir whose background removal the exit cut short
    // is in the trash, which the start empties.
    expect(lab('restart-agent', node).code).toBe(0);
    await waitFor('node2 clean', () => nothingLeftOn('node2'), 30_000);
  });
});
