// What `drain` plans with: every container of this host, each judged by the push's own
// pre-flight (facts.ts), read while it runs and before anything is frozen.
import type { ContainerFacts } from '../../rpc/messages';
import type { SourceContext } from '../context';
import { gatherFacts, scratchFor } from './facts';

/** One container: its facts, and why a push would refuse it ('' when it moves live). */
export async function containerFacts(ctx: SourceContext, id: string): Promise<ContainerFacts | null> {
  const inspect = await ctx.docker.inspectContainer(id);
  if (!inspect) return null; // removed while listed
  const base: ContainerFacts = {
    id: inspect.Id,
    name: inspect.Name.replace(/^\//, ''),
    running: inspect.State.Running,
    labels: inspect.Config.Labels ?? {},
    memoryBytes: 0,
    memoryLimitBytes: inspect.HostConfig.Memory ?? 0,
    fileBytes: 0,
    volumes: (inspect.Mounts ?? []).filter((m) => m.Type === 'volume' && m.Name).map((m) => m.Name as string),
    refusal: '',
    imageId: inspect.Image,
  };
  try {
    const f = await gatherFacts(ctx, id);
    scratchFor(ctx, f); // in flight, undecided, no room for the checkpoint: the push's refusals
    return { ...base, memoryBytes: f.memoryBytes, fileBytes: f.fileBytes };
  } catch (err) {
    return { ...base, refusal: err instanceof Error ? err.message : String(err) };
  }
}

/** Every container of this host (stopped ones too: they are listed with their refusal). */
export async function inventory(ctx: SourceContext): Promise<ContainerFacts[]> {
  const ids = await ctx.docker.listContainerIds(true);
  const facts: ContainerFacts[] = [];
  // One at a time: each walks the container's files, and the host may be busy.
  for (const id of ids) {
    const f = await containerFacts(ctx, id);
    if (f) facts.push(f);
  }
  return facts.sort((a, b) => a.name.localeCompare(b.name));
}
