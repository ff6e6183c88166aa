import { AgentClient, clientCredentials, type CommitQuery } from '@livemig/core';
import type { AgentConfig } from './agent-config';

/** MigrationStatus on a destination, a few tries; null when it does not answer. */
export function commitQuery(config: AgentConfig): CommitQuery {
  return async (destination, migrationId) => {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 2_000));
      const client = new AgentClient(destination, clientCredentials(config.transport));
      try {
        return (await client.migrationStatus(migrationId)).committed;
      } catch {
        // not reachable, or still busy with this migration: try again
      } finally {
        client.close();
      }
    }
    return null;
  };
}
