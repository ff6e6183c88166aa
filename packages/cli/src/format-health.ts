import type { HealthReply } from '@livemig/core';

/** One line describing an agent's host. */
export function formatHealth(h: HealthReply): string {
  const criu = h.criuVersion ? `criu ${h.criuVersion} (check: ${h.criuCheckOk ? 'ok' : `FAILED: ${h.criuCheckMessage}`})` : 'criu missing';
  return [
    `${h.nodeName}:`,
    `agent ${h.agentVersion} (protocol ${h.protocolVersion}),`,
    `${criu},`,
    `docker ${h.dockerVersion}${h.dockerApiVersion ? ` (api ${h.dockerApiVersion})` : ''},`,
    `kernel ${h.kernel}, cgroup ${h.cgroupMode},`,
    `lazy restore ${h.lazyPages ? 'yes' : 'no (no userfaultfd)'}`,
  ].join(' ');
}
