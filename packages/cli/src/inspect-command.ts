import { inspectFile, type CheckpointContents } from '@livemig/core';
import { formatBytes } from './format-summary';

/** `migrate-cli inspect FILE`: reads a checkpoint file here (root: it is 0600) and tells what it holds. */
export async function inspectCommand(a: { file: string; json: boolean }): Promise<void> {
  const c = await inspectFile(a.file);
  console.log(a.json ? JSON.stringify(c, null, 2) : formatContents(c));
}

export function formatContents(c: CheckpointContents): string {
  const h = c.header;
  const p = c.parts;
  const volumes = Object.entries(p.volumes).map(([v, n]) => `, volume ${v} ${formatBytes(n)}`).join('');
  return [
    `checkpoint ${c.file}: format ${c.formatVersion}, ${formatBytes(c.fileBytes)}, sha256 ${c.digest} (verified)`,
    `  container:   ${h.container} (${h.containerId.slice(0, 12)}), image ${h.image}`,
    `  created:     ${h.created} on ${h.host}`,
    `  dumped with: CRIU ${h.criuVersion}, kernel ${h.kernel}, ${h.arch}, protocol ${h.protocolVersion}, ${h.compressLevel === 0 ? 'uncompressed' : `zstd ${h.compressLevel}`}`,
    `  restores as: ${c.restoresAs.name} from ${c.restoresAs.image}; networks ${c.restoresAs.networks.join(', ') || '-'}; mounts ${c.restoresAs.mounts.join(', ') || '-'}`,
    `  parts:       memory pages ${formatBytes(p.memoryPages)}, CRIU images ${formatBytes(p.criuImages)}, rootfs diff ${formatBytes(p.rootfs)}${volumes}, log ${formatBytes(p.log)}`,
    `  stream:      ${formatBytes(c.stream.rawBytes)} raw, ${formatBytes(c.stream.storedBytes)} stored in ${c.stream.chunks} chunks`,
    `  processes:   ${h.processes.length}`,
    ...h.processes.map((pr) => `    ${String(pr.pid).padStart(7)}  ${pr.command}`),
  ].join('\n');
}
