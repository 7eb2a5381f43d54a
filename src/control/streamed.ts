/**
 * A reply produced in slices: the control server asks for one slice at a time, writes it as a
 * `{"id":N,"part":[...]}` line, and yields to the event loop (and to the client's pace) before
 * the next, so a listing of any size never holds the dataplane for more than one slice.
 *
 * Callers inside the process that want the whole answer (tests, the rules code) use collect();
 * JSON.stringify() of a StreamedResult is the whole list too.
 */
export interface StreamedResult<T = unknown> {
  readonly streamed: true;
  /** The next slice (possibly empty), or null when there is nothing more. */
  next(): T[] | null;
}

export function isStreamed(v: unknown): v is StreamedResult {
  return typeof v === 'object' && v !== null && (v as { streamed?: unknown }).streamed === true;
}

/** Every remaining slice, concatenated. */
export function collect<T>(r: StreamedResult<T>): T[] {
  const out: T[] = [];
  for (let part = r.next(); part !== null; part = r.next()) for (const x of part) out.push(x);
  return out;
}
