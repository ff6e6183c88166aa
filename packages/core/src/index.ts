export * from './version';
export * from './rpc/messages';
export * from './rpc/load-proto';
export * from './rpc/address';
export * from './rpc/agent-client';
export * from './docker/docker-client';
export * from './host/host-facts';
export * from './util/exec';
