// Whether the destination resumes the container before its memory is in (criu restore
// --lazy-pages, served from the destination's own images by CRIU's lazy-pages daemon).
import type { LazyPagesMode, LazyRestore } from '../rpc/messages';

/**
 * Below this the two are even (16 MiB: criu restore 39-50 ms lazy, 41-44 ms eager): the daemon
 * must be up (~6 ms) before criu restore starts, and the memory reading it saves is ~0.5-3 ms
 * per MiB on this VM kind. Eager also answers the source sooner: the commit waits for the last
 * page.
 */
export const LAZY_PAGES_MIN_BYTES = 64 * 1024 * 1024;

export function lazyRestoreFor(mode: LazyPagesMode, memoryBytes: number, serial: boolean): LazyRestore {
  // --serial measures the CRIU floor: criu dump, then a plain criu restore.
  if (serial || mode === 'LAZY_PAGES_NEVER') return 'LAZY_RESTORE_NO';
  if (mode === 'LAZY_PAGES_ALWAYS') return 'LAZY_RESTORE_YES';
  return memoryBytes >= LAZY_PAGES_MIN_BYTES ? 'LAZY_RESTORE_IF_SUPPORTED' : 'LAZY_RESTORE_NO';
}
