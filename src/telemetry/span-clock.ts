/**
 * The times a process's spans carry: milliseconds since the epoch, with sub-millisecond
 * resolution, and monotonic within the process.
 *
 * Why not the wall clock at each start, as the SDK does: `Date.now()` moves in whole
 * milliseconds, so a parent started late in one millisecond and a child started early in the
 * next are up to a millisecond apart on paper and not in fact. Add their measured durations and
 * the child could end after its parent. Here the wall clock is read once, and the monotonic clock
 * carries it on; a child's times then always lie within its parent's.
 *
 * Why not `performance.timeOrigin + performance.now()` for the life of the process: the two clocks
 * part over days (NTP slews the wall clock; the monotonic one may stop while a machine sleeps),
 * and spans of one trace from several machines must line up. So the wall clock is read again
 * whenever the two part by more than `maxDriftMs`; only spans in flight across such a step can be
 * out of order, and only by the step.
 */
export class SpanClock {
  #origin: number;

  constructor(
    private readonly wall: () => number = Date.now,
    private readonly monotonic: () => number = () => performance.now(),
    private readonly maxDriftMs = 50,
  ) {
    this.#origin = wall() - monotonic();
  }

  /** Now, in ms since the epoch. */
  now(): number {
    const elapsed = this.monotonic();
    const t = this.#origin + elapsed;
    const wall = this.wall();
    if (Math.abs(wall - t) <= this.maxDriftMs) return t;
    this.#origin = wall - elapsed;
    return wall;
  }
}
