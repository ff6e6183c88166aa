// The drain's plan, made before anything is frozen: which containers the filters select, which
// of them the push's pre-flight refuses (the agent's Inventory says), and where each of the rest
// goes. Pure: the agents' facts in, the plan out.
import type { ContainerFacts } from '@livemig/core';

/** --filter name=NAME (a * matches any run of characters) or label=KEY[=VALUE]. */
export interface DrainFilter {
  kind: 'name' | 'label';
  key: string;
  value?: string;
}

/** A destination as its agent reports it (Health through PeerStatus). */
export interface DestinationRoom {
  address: string; // as given in --to
  nodeName: string;
  memoryBytes: number;
  diskBytes: number;
}

export interface PlanEntry {
  container: string;
  id: string;
  /** --to address; '' when refused. */
  destination: string;
  destinationNode: string;
  /** 'moves cold': a stopped container (--include-stopped), created there, not started. */
  verdict: 'moves live' | 'moves cold' | 'refused';
  reason: string;
  memoryBytes: number; // what it takes of the destination's memory
  diskBytes: number;   // and of its disk
}

export function parseFilter(text: string): DrainFilter {
  const eq = text.indexOf('=');
  const kind = text.slice(0, eq);
  const rest = text.slice(eq + 1);
  if (eq < 0 || (kind !== 'name' && kind !== 'label') || !rest) {
    throw new Error(`--filter ${text}: expected name=NAME or label=KEY[=VALUE]`);
  }
  if (kind === 'name') return { kind, key: rest };
  const [key, ...value] = rest.split('=');
  return value.length ? { kind, key, value: value.join('=') } : { kind, key };
}

function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(s);
}

/** As `docker ps --filter`: several names are alternatives, every label must hold. */
export function selects(filters: readonly DrainFilter[], c: ContainerFacts): boolean {
  const names = filters.filter((f) => f.kind === 'name');
  if (names.length && !names.some((f) => globMatch(f.key, c.name))) return false;
  return filters
    .filter((f) => f.kind === 'label')
    .every((f) => f.key in c.labels && (f.value === undefined || c.labels[f.key] === f.value));
}

/**
 * Memory a container takes on its destination: its --memory limit when set (it may grow to it),
 * else what it uses now. Disk: its files, and its checkpoint images while they are restored.
 * A stopped one (moved cold) takes no memory there until someone starts it.
 */
export function needs(c: ContainerFacts): { memoryBytes: number; diskBytes: number } {
  if (!c.running) return { memoryBytes: 0, diskBytes: c.fileBytes };
  return { memoryBytes: Math.max(c.memoryLimitBytes, c.memoryBytes), diskBytes: c.fileBytes + c.memoryBytes };
}

/**
 * Containers that share a named volume with another container of this host: a push moves one
 * container and its volumes while the other still writes to them, so they would have to be frozen
 * together, which a push cannot do. The reason, by container name.
 */
function sharedVolumeRefusals(all: readonly ContainerFacts[]): Map<string, string> {
  const users = new Map<string, string[]>();
  for (const c of all) for (const v of c.volumes) users.set(v, [...(users.get(v) ?? []), c.name]);
  const out = new Map<string, string>();
  for (const c of all) {
    for (const v of c.volumes) {
      const others = (users.get(v) ?? []).filter((n) => n !== c.name);
      if (others.length && !out.has(c.name)) {
        out.set(c.name, `shares volume ${v} with ${others.join(', ')}: they would have to be frozen together, which a push does not do; move them by hand or stop the others`);
      }
    }
  }
  return out;
}

const MIB = 1024 * 1024;
const mib = (n: number): string => `${(n / MIB).toFixed(0)} MiB`;

/**
 * The plan: every selected container with its destination or its refusal. Placement: the largest
 * first, each to the destination with the most memory left where both its memory and its disk fit;
 * nothing goes over a destination's room.
 */
export function makePlan(all: readonly ContainerFacts[], filters: readonly DrainFilter[], destinations: readonly DestinationRoom[]): PlanEntry[] {
  const shared = sharedVolumeRefusals(all);
  const left = destinations.map((d) => ({ ...d }));
  const selected = all.filter((c) => selects(filters, c));
  const order = [...selected].sort((a, b) => needs(b).memoryBytes - needs(a).memoryBytes || a.name.localeCompare(b.name));
  const byName = new Map<string, PlanEntry>();
  for (const c of order) {
    const need = needs(c);
    const entry: PlanEntry = { container: c.name, id: c.id, destination: '', destinationNode: '', verdict: 'refused', reason: '', ...need };
    byName.set(c.name, entry);
    const refusal = c.refusal || shared.get(c.name);
    if (refusal) {
      entry.reason = refusal;
      continue;
    }
    const fits = left.filter((d) => d.memoryBytes >= need.memoryBytes && d.diskBytes >= need.diskBytes).sort((a, b) => b.memoryBytes - a.memoryBytes);
    if (!fits.length) {
      const room = left.map((d) => `${d.nodeName} ${mib(d.memoryBytes)} memory, ${mib(d.diskBytes)} disk`).join('; ');
      entry.reason = `no destination has room for it (needs ${mib(need.memoryBytes)} memory, ${mib(need.diskBytes)} disk; left: ${room || 'no destination'})`;
      continue;
    }
    const d = fits[0];
    d.memoryBytes -= need.memoryBytes;
    d.diskBytes -= need.diskBytes;
    Object.assign(entry, { destination: d.address, destinationNode: d.nodeName, verdict: c.running ? 'moves live' : 'moves cold' });
  }
  return selected.map((c) => byName.get(c.name) as PlanEntry);
}
