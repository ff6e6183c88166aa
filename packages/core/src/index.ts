// The core's public face: what the agent, the CLI and the test tools use. Internals (the phases
// of a migration, the stream's inner layout, CRIU's options) stay inside.
export { AGENT_VERSION, PROTOCOL_VERSION } from './version';
export * from './rpc/messages';
export { agentService } from './rpc/load-proto';
export { AgentClient, CHANNEL_OPTIONS, rpcErrorMessage } from './rpc/agent-client';
export { checkNodeCertificate, clientCredentials, makeCertificates, serverCredentials, type CertSubject, type MakeCertificatesOptions, type TlsIdentity, type Transport } from './rpc/tls';
export { DockerodeClient, type DockerClient } from './docker/docker-client';
export { cgroupMode, diskAvailableBytes, kernelRelease, memoryAvailableBytes, type CgroupMode } from './host/host-facts';
export { criuFacts, lazyPagesSupported, type CriuFacts } from './criu/criu-check';
export { ensureKdatDir } from './criu/kdat-cache';
export { ensurePrivateDir } from './host/private-dir';
export { run, runOk } from './util/exec';
export { injectedFault } from './util/fault';
export { MigrationError, type MigrationErrorKind } from './protocol/migration-error';
export type { DestinationChannel, SourceChannel } from './protocol/channels';
export { ChunkSealer } from './stream/chunk-stream';
export { compressName, DEFAULT_COMPRESS, parseCompress } from './stream/compress-level';
export { UnsupportedContainerError } from './migration/container-spec';
export { DEFAULT_TIMEOUTS, type DestinationContext, type SourceContext, type Timeouts } from './migration/context';
export type { CommitQuery } from './migration/commit-outcome';
export { isCommitted } from './migration/migration-record';
export { recoverMigrations } from './migration/recover-migrations';
export { clearScratch } from './migration/scratch-dir';
export { MAX_PRECOPY_BYTES, runPush, type PushOptions } from './migration/source/push';
export { inventory } from './migration/source/inventory';
export { serveMigration, servingMigrations } from './migration/destination/serve';
export { checkSpecPolicy, specRefusal, hostConfigRefusal, DEFAULT_SPEC_POLICY, SOURCE_SPEC_POLICY, type SpecPolicyOptions, type Refusal } from './migration/spec-policy';
export { identityOfCertificate, identityOfCertificateFile, commonNameOf, roleUri, CERT_NAME, type PeerRole, type PeerIdentity } from './rpc/peer-role';
