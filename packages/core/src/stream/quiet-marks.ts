/** The items of `src`, with an `undefined` between two of them that came more than `ms` apart. */
export async function* withQuietMarks<T>(src: AsyncIterable<T>, ms: number): AsyncGenerator<T | undefined> {
  const it = src[Symbol.asyncIterator]();
  let marked = true; // nothing since the last mark (or the start)
  try {
    for (;;) {
      const next = it.next();
      let r: IteratorResult<T> | 'quiet';
      if (marked) r = await next;
      else {
        let timer: NodeJS.Timeout | undefined;
        const quiet = new Promise<'quiet'>((resolve) => (timer = setTimeout(() => resolve('quiet'), ms)));
        r = await Promise.race([next, quiet]);
        clearTimeout(timer);
        if (r === 'quiet') {
          yield undefined;
          r = await next;
        }
      }
      if (r.done) return;
      marked = false;
      yield r.value;
    }
  } finally {
    // Not awaited: after a mark the source's next() is still pending, and its return() would
    // wait for it (the caller destroys the source anyway).
    void Promise.resolve(it.return?.()).catch(() => undefined);
  }
}
