import path from 'node:path';
import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Finds proto/livemig.proto from this file, in the source tree and in dist/. */
function protoPath(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'proto', 'livemig.proto');
    if (fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(`proto/livemig.proto not found above ${__dirname}`);
}

let cached: grpc.ServiceClientConstructor | undefined;

/** The Agent service definition, loaded once. */
export function agentService(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const def = protoLoader.loadSync(protoPath(), {
    keepCase: false,
    longs: Number,
    enums: String,
    bytes: Buffer,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    livemig: { v1: { Agent: grpc.ServiceClientConstructor } };
  };
  cached = pkg.livemig.v1.Agent;
  return cached;
}
