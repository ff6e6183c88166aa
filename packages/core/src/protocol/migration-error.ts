/**
 * A failure with a kind the other side and the CLI can act on:
 * precondition = refused before anything was frozen; aborted = the peer went away;
 * protocol = the peer sent something out of order; failed = an operation failed.
 */
export type MigrationErrorKind = 'precondition' | 'aborted' | 'protocol' | 'failed';

export class MigrationError extends Error {
  constructor(
    readonly kind: MigrationErrorKind,
    message: string,
  ) {
    super(message);
  }
}
