import { AgentClient, clientCredentials, type CommitQuery } from '@livemig/core';
import type { AgentConfig } from './agent-config';

/** MigrationStatus on a destination, a few tries; null when it does not answer. */
export function commitQuery(config: AgentConfig): CommitQuery {
  return async (destination, migrationId) => {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 2_000));
      const client = new AgentClient(destination, clientCredentials(config.transport));
      try {
        const r = await client.migrationStatus(migrationId);
        // An agent from before the state field knows committed or not only.
        if (r.state === 'MIGRATION_STATE_UNSPECIFIED') return r.committed ? 'COMMITTED' : 'NOT_COMMITTED';
        return r.state;
      } catch {
        // not reachable, or still busy with this migration: try again
      } finally {
        client.close();
      }
    }
    return null;
  };
}
