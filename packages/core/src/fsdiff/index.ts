export { packTree, type PackTreeOptions, type PackStats } from './upper-dir-pack';
export { SentTree } from './sent-tree';
export { DiffApplier, stripPrefix, type DiffApplierOptions } from './diff-applier';
export { UnsafeEntryError } from './entry-checks';
export { FlatFileApplier } from './flat-file-applier';
export { readTreeXattrs, parseGetfattrDump, setXattr, type XattrSet } from './xattrs';
export { type EntryHeader, type EntryBody, type TreeApplier } from './tar-format';
