import {
  AGENT_VERSION,
  PROTOCOL_VERSION,
  cgroupMode,
  criuFacts,
  kernelRelease,
  lazyPagesSupported,
  type DockerClient,
  type HealthReply,
} from '@livemig/core';

/** This host's facts, as reported by Health. */
export async function healthReply(nodeName: string, docker: DockerClient, criuPath: string): Promise<HealthReply> {
  const [criu, lazyPages, dockerVersion] = await Promise.all([
    criuFacts(criuPath),
    lazyPagesSupported(criuPath),
    docker.version().catch((err: Error) => ({ version: `unreachable: ${err.message}`, apiVersion: '' })),
  ]);
  return {
    agentVersion: AGENT_VERSION,
    protocolVersion: PROTOCOL_VERSION,
    nodeName,
    criuVersion: criu.version,
    criuCheckOk: criu.checkOk,
    criuCheckMessage: criu.checkMessage,
    dockerVersion: dockerVersion.version,
    dockerApiVersion: dockerVersion.apiVersion,
    kernel: kernelRelease(),
    cgroupMode: cgroupMode(),
    lazyPages,
  };
}
