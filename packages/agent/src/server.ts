import * as grpc from '@grpc/grpc-js';
import {
  AgentClient,
  CHANNEL_OPTIONS,
  agentService,
  type DockerClient,
  type HealthReply,
  type PeerStatusReply,
  type PeerStatusRequest,
} from '@livemig/core';
import type { AgentConfig } from './agent-config';
import { healthReply } from './health';

function internal(err: unknown): Partial<grpc.StatusObject> {
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

/** gRPC handlers of the Agent service. */
export function agentHandlers(config: AgentConfig, docker: DockerClient): grpc.UntypedServiceImplementation {
  const health = (): Promise<HealthReply> => healthReply(config.nodeName, docker, config.criuPath);
  return {
    health(_call: grpc.ServerUnaryCall<object, HealthReply>, cb: grpc.sendUnaryData<HealthReply>) {
      health().then((r) => cb(null, r), (err) => cb(internal(err)));
    },
    peerStatus(
      call: grpc.ServerUnaryCall<PeerStatusRequest, PeerStatusReply>,
      cb: grpc.sendUnaryData<PeerStatusReply>,
    ) {
      (async (): Promise<PeerStatusReply> => {
        const local = await health();
        let peer: HealthReply | null = null;
        let peerError = '';
        const started = performance.now();
        let client: AgentClient | undefined;
        try {
          client = new AgentClient(call.request.peer);
          peer = await client.health();
        } catch (err) {
          peerError = err instanceof Error ? err.message : String(err);
        } finally {
          client?.close();
        }
        return { local, peer, peerError, peerRttMs: performance.now() - started };
      })().then((r) => cb(null, r), (err) => cb(internal(err)));
    },
  };
}

/** Binds the server; resolves once it listens. */
export async function startServer(config: AgentConfig, docker: DockerClient): Promise<grpc.Server> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  server.addService(agentService().service, agentHandlers(config, docker));
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(config.listen, grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(new Error(`cannot listen on ${config.listen}: ${err.message}`)) : resolve(port),
    ),
  );
  return server;
}
