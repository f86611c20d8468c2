/**
 * Whether a `Range` header can be served from a file of a given size (RFC 9110 section 14).
 * @fastify/send serves the satisfiable ones (206, or 200 for several ranges); this decides the
 * rest up front, because send's own 416 reaches fastify as an error and loses its
 * `Content-Range: bytes * /size`, which resuming clients (`curl -C -`) rely on to learn that
 * they already have the whole file.
 */
export type RangeVerdict = 'none' | 'satisfiable' | 'unsatisfiable';

const RANGE_SPEC = /^(\d*)-(\d*)$/;

export function rangeVerdict(header: string | undefined, size: number): RangeVerdict {
  if (header === undefined) return 'none';
  const m = /^\s*bytes\s*=(.*)$/i.exec(header);
  // Another unit is not ours to understand: section 14.2 says ignore it and send the whole file.
  if (!m) return 'none';
  let satisfiable = false;
  for (const raw of (m[1] ?? '').split(',')) {
    const spec = RANGE_SPEC.exec(raw.trim());
    // An invalid ranges-specifier may be rejected (section 14.2); we do, as 416, so a client
    // learns the size instead of downloading the whole file by mistake.
    if (!spec || (spec[1] === '' && spec[2] === '')) return 'unsatisfiable';
    const [, first, last] = spec as unknown as [string, string, string];
    if (first === '') {
      if (Number(last) > 0 && size > 0) satisfiable = true; // suffix range: the last N bytes
      continue;
    }
    if (last !== '' && Number(last) < Number(first)) return 'unsatisfiable'; // invalid: last < first
    if (Number(first) < size) satisfiable = true;
  }
  return satisfiable ? 'satisfiable' : 'unsatisfiable';
}
