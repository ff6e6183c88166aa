// Migrate's requests as bytes and back, with the serializers gRPC uses on the wire: a checkpoint
// file's records are exactly what a source sends a destination.
import type { RecordCodec } from '../protocol/checkpoint-file';
import { agentService } from './load-proto';
import type { MigrateRequest } from './messages';

export function migrateCodec(): RecordCodec {
  const m = agentService().service.Migrate;
  return {
    encode: (req) => m.requestSerialize(req),
    decode: (buf) => m.requestDeserialize(buf) as MigrateRequest,
  };
}
