// Each incoming migration takes memory (its checkpoint in the scratch dir, a restored container)
// and disk: a host that takes any number of them at once can be filled by one busy (or hostile)
// source. Beyond the cap a Migrate is refused before anything is created, and the source, which
// has frozen nothing yet, reports it and leaves its container running.

/** At most `max` incoming migrations at once; each holds its slot until it has ended. */
export class IncomingLimit {
  private active = 0;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`--max-incoming must be a whole number of migrations, 1 or more, not ${max}`);
  }

  /** A slot (call the function it returns once the migration has ended), or null when all are taken. */
  take(): (() => void) | null {
    if (this.active >= this.max) return null;
    this.active++;
    let released = false;
    return () => {
      if (!released) this.active--;
      released = true;
    };
  }

  /** The one line a refused source gets. */
  refusal(nodeName: string): string {
    return `${nodeName} already receives ${this.max} migration${this.max === 1 ? '' : 's'} (its --max-incoming): try again once one has ended`;
  }
}
