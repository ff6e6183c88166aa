import {
  AGENT_VERSION,
  PROTOCOL_VERSION,
  cgroupMode,
  cpuFlags,
  criuFacts,
  criuFeatures,
  diskAvailableBytes,
  injectedFault,
  memoryAvailableBytes,
  kernelRelease,
  lazyPagesSupported,
  type DockerClient,
  type HealthReply,
} from '@livemig/core';

/** --capacity-memory / --capacity-disk: reported instead of the host's (0: the host's). */
export interface CapacityOverride {
  memoryBytes: number;
  diskBytes: number;
}

/** This host's facts, as reported by Health. */
export async function healthReply(nodeName: string, docker: DockerClient, criuPath: string, capacity: CapacityOverride): Promise<HealthReply> {
  const [criu, lazyPages, dockerVersion, dockerRoot, features, storageDriver, imageIds] = await Promise.all([
    criuFacts(criuPath),
    lazyPagesSupported(criuPath),
    docker.version().catch((err: Error) => ({ version: `unreachable: ${err.message}`, apiVersion: '' })),
    docker.rootDir().catch(() => '/'),
    criuFeatures(criuPath),
    docker.storageDriver().catch(() => ''),
    docker.listImageIds().catch(() => []),
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
    memoryAvailableBytes: capacity.memoryBytes || memoryAvailableBytes(),
    diskAvailableBytes: capacity.diskBytes || diskAvailableBytes(dockerRoot),
    criuFeatures: features,
    storageDriver,
    cpuFlags: injectedFault('hide-cpu-flags') ? cpuFlags().filter((f) => !/^(avx|sse4)/.test(f)) : cpuFlags(),
    imageIds,
    clockMs: Date.now(), // last: the peer compares it with its clock when the reply arrives
  };
}
