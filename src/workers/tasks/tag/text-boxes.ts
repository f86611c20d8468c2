import type { Point, Quad } from './types.ts';

/** Settings of DB (differentiable binarisation) post-processing, PaddleOCR's defaults. */
export interface TextBoxSettings {
  /** Pixels above this probability belong to text. */
  binaryThreshold: number;
  /** A box is kept when the mean probability inside it is at least this. */
  boxScore: number;
  /** How far a box grows: area * ratio / perimeter, since the model predicts shrunk text kernels. */
  unclipRatio: number;
  /** Most boxes kept per frame (largest scores first), bounding the recognition cost. */
  maxBoxes: number;
}

export const DEFAULT_TEXT_BOX_SETTINGS: TextBoxSettings = {
  binaryThreshold: 0.3,
  boxScore: 0.6,
  unclipRatio: 1.5,
  maxBoxes: 100,
};

/** Smallest side, in map pixels, of a box worth reading (before and after unclipping). */
const MIN_SIDE = 3;

/** An oriented rectangle: centre, unit axes (u reads along the text, v down across it) and sizes. */
export interface OrientedRect {
  centre: Point;
  u: Point;
  v: Point;
  width: number;
  height: number;
}

export interface ScoredBox {
  rect: OrientedRect;
  score: number;
}

/**
 * Turns a probability map (width x height, row-major) into text boxes in map coordinates:
 * threshold, 8-connected components, the minimum-area rotated rectangle of each, its mean
 * probability as score, and the unclip that restores the full text extent.
 */
export function boxesFromProbabilityMap(
  map: Float32Array,
  width: number,
  height: number,
  settings: TextBoxSettings = DEFAULT_TEXT_BOX_SETTINGS,
): ScoredBox[] {
  const labels = new Int32Array(width * height);
  const queue = new Int32Array(width * height);
  const boxes: ScoredBox[] = [];
  let next = 0;
  for (let start = 0; start < map.length; start++) {
    if (labels[start] !== 0 || (map[start] ?? 0) <= settings.binaryThreshold) continue;
    next++;
    const rows = new Map<number, [number, number]>();
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    labels[start] = next;
    while (head < tail) {
      const p = queue[head++] ?? 0;
      const px = p % width;
      const py = (p - px) / width;
      const span = rows.get(py);
      if (span) {
        if (px < span[0]) span[0] = px;
        if (px > span[1]) span[1] = px;
      } else rows.set(py, [px, px]);
      for (let dy = -1; dy <= 1; dy++) {
        const ny = py + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = px + dx;
          if ((dx === 0 && dy === 0) || nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (labels[q] === 0 && (map[q] ?? 0) > settings.binaryThreshold) {
            labels[q] = next;
            queue[tail++] = q;
          }
        }
      }
    }
    if (tail < 4) continue;
    // Only the leftmost and rightmost pixel of each row can lie on the convex hull.
    const points: Point[] = [];
    for (const [y, [x0, x1]] of rows) {
      points.push([x0, y]);
      if (x1 !== x0) points.push([x1, y]);
    }
    const rect = minAreaRect(convexHull(points));
    if (Math.min(rect.width, rect.height) < MIN_SIDE) continue;
    const score = meanInside(map, width, height, rect);
    if (score < settings.boxScore) continue;
    const grown = unclip(rect, settings.unclipRatio);
    if (Math.min(grown.width, grown.height) < MIN_SIDE + 2) continue;
    boxes.push({ rect: grown, score });
  }
  boxes.sort((a, b) => b.score - a.score);
  return boxes.slice(0, settings.maxBoxes);
}

/** Andrew's monotone chain; returns the hull counter-clockwise in image coordinates. */
export function convexHull(points: Point[]): Point[] {
  const pts = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length < 3) return pts;
  const cross = (o: Point, a: Point, b: Point): number => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: Point[] = [];
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2] as Point, lower[lower.length - 1] as Point, p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper: Point[] = [];
  for (let i = pts.length - 1; i >= 0; i--) {
    const p = pts[i] as Point;
    while (upper.length >= 2 && cross(upper[upper.length - 2] as Point, upper[upper.length - 1] as Point, p) <= 0) upper.pop();
    upper.push(p);
  }
  lower.pop();
  upper.pop();
  return lower.concat(upper);
}

/**
 * Minimum-area enclosing rectangle of a convex polygon (rotating calipers: the best rectangle
 * has a side along one of the hull's edges), oriented so that u is the axis nearer horizontal.
 */
export function minAreaRect(hull: Point[]): OrientedRect {
  let best: { area: number; e: Point; n: Point; minE: number; maxE: number; minN: number; maxN: number } | undefined;
  const count = hull.length;
  for (let i = 0; i < Math.max(count, 1); i++) {
    const a = hull[i] ?? [0, 0];
    const b = hull[(i + 1) % count] ?? a;
    const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
    const e: Point = len > 0 ? [(b[0] - a[0]) / len, (b[1] - a[1]) / len] : [1, 0];
    const n: Point = [-e[1], e[0]];
    let minE = Infinity;
    let maxE = -Infinity;
    let minN = Infinity;
    let maxN = -Infinity;
    for (const p of hull) {
      const pe = p[0] * e[0] + p[1] * e[1];
      const pn = p[0] * n[0] + p[1] * n[1];
      if (pe < minE) minE = pe;
      if (pe > maxE) maxE = pe;
      if (pn < minN) minN = pn;
      if (pn > maxN) maxN = pn;
    }
    const area = (maxE - minE) * (maxN - minN);
    if (!best || area < best.area) best = { area, e, n, minE, maxE, minN, maxN };
  }
  if (!best) return { centre: [0, 0], u: [1, 0], v: [0, 1], width: 0, height: 0 };
  const ce = (best.minE + best.maxE) / 2;
  const cn = (best.minN + best.maxN) / 2;
  const centre: Point = [ce * best.e[0] + cn * best.n[0], ce * best.e[1] + cn * best.n[1]];
  let u = best.e;
  let v = best.n;
  let width = best.maxE - best.minE;
  let height = best.maxN - best.minN;
  if (Math.abs(u[0]) < Math.abs(u[1])) {
    [u, v] = [v, u];
    [width, height] = [height, width];
  }
  if (u[0] < 0) u = [-u[0], -u[1]];
  // v is perpendicular to u and points down the image.
  v = [-u[1], u[0]];
  if (v[1] < 0) v = [-v[0], -v[1]];
  return { centre, u, v, width, height };
}

/** Grows a rectangle on every side by area * ratio / perimeter (the DB unclip distance). */
export function unclip(rect: OrientedRect, ratio: number): OrientedRect {
  const perimeter = 2 * (rect.width + rect.height);
  const d = perimeter > 0 ? (rect.width * rect.height * ratio) / perimeter : 0;
  return { ...rect, width: rect.width + 2 * d, height: rect.height + 2 * d };
}

/** Corners top-left, top-right, bottom-right, bottom-left. */
export function rectCorners(rect: OrientedRect): Quad {
  const { centre: c, u, v } = rect;
  const hw = rect.width / 2;
  const hh = rect.height / 2;
  const at = (su: number, sv: number): Point => [c[0] + su * hw * u[0] + sv * hh * v[0], c[1] + su * hw * u[1] + sv * hh * v[1]];
  return [at(-1, -1), at(1, -1), at(1, 1), at(-1, 1)];
}

/** Mean probability of the map pixels whose centres fall inside the rectangle. */
function meanInside(map: Float32Array, width: number, height: number, rect: OrientedRect): number {
  const corners = rectCorners(rect);
  const xs = corners.map((p) => p[0]);
  const ys = corners.map((p) => p[1]);
  const x0 = Math.max(0, Math.floor(Math.min(...xs)));
  const x1 = Math.min(width - 1, Math.ceil(Math.max(...xs)));
  const y0 = Math.max(0, Math.floor(Math.min(...ys)));
  const y1 = Math.min(height - 1, Math.ceil(Math.max(...ys)));
  const hw = rect.width / 2 + 0.5;
  const hh = rect.height / 2 + 0.5;
  let sum = 0;
  let n = 0;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x - rect.centre[0];
      const dy = y - rect.centre[1];
      if (Math.abs(dx * rect.u[0] + dy * rect.u[1]) <= hw && Math.abs(dx * rect.v[0] + dy * rect.v[1]) <= hh) {
        sum += map[y * width + x] ?? 0;
        n++;
      }
    }
  }
  return n > 0 ? sum / n : 0;
}
