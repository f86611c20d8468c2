import type { Point, RawImage } from './types.ts';

/** How 8-bit pixels become a model's float input: (px / 255 - mean[c]) / std[c], channels in `order`. */
export interface Normalisation {
  order: 'rgb' | 'bgr';
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/**
 * Per tensor channel, the byte offset of that channel inside an image pixel, so any source order
 * feeds any model order without a copy.
 */
function channelOffsets(src: RawImage['order'], dst: Normalisation['order']): [number, number, number] {
  return src === dst ? [0, 1, 2] : [2, 1, 0];
}

/**
 * Samples an oriented rectangle of `img` into a planar (CHW) float tensor of outW x outH, with
 * bilinear interpolation. Output pixel (x, y) is read at origin + (x+0.5)/outW * xAxis +
 * (y+0.5)/outH * yAxis, so one routine does plain resizing (axis-aligned) and the crop of a
 * rotated text box. Samples outside the image clamp to its edge.
 */
export function sampleToTensor(
  img: RawImage,
  origin: Point,
  xAxis: Point,
  yAxis: Point,
  outW: number,
  outH: number,
  norm: Normalisation,
  into: Float32Array,
  offset = 0,
  rowStride = outW,
): void {
  const { data, width, height } = img;
  const plane = outH * rowStride;
  const off = channelOffsets(img.order, norm.order);
  const scale = [0, 1, 2].map((c) => 1 / (255 * (norm.std[c] ?? 1)));
  const bias = [0, 1, 2].map((c) => (norm.mean[c] ?? 0) / (norm.std[c] ?? 1));
  const [s0, s1, s2] = scale as [number, number, number];
  const [b0, b1, b2] = bias as [number, number, number];
  const [o0, o1, o2] = off;
  for (let y = 0; y < outH; y++) {
    const fy = (y + 0.5) / outH;
    const rowX = origin[0] + fy * yAxis[0];
    const rowY = origin[1] + fy * yAxis[1];
    for (let x = 0; x < outW; x++) {
      const fx = (x + 0.5) / outW;
      // Pixel centres sit at integer + 0.5 in continuous coordinates.
      let sx = rowX + fx * xAxis[0] - 0.5;
      let sy = rowY + fx * xAxis[1] - 0.5;
      sx = sx < 0 ? 0 : sx > width - 1 ? width - 1 : sx;
      sy = sy < 0 ? 0 : sy > height - 1 ? height - 1 : sy;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const x1 = x0 + 1 < width ? x0 + 1 : x0;
      const y1 = y0 + 1 < height ? y0 + 1 : y0;
      const ax = sx - x0;
      const ay = sy - y0;
      const w00 = (1 - ax) * (1 - ay);
      const w01 = ax * (1 - ay);
      const w10 = (1 - ax) * ay;
      const w11 = ax * ay;
      const p00 = (y0 * width + x0) * 3;
      const p01 = (y0 * width + x1) * 3;
      const p10 = (y1 * width + x0) * 3;
      const p11 = (y1 * width + x1) * 3;
      const at = offset + y * rowStride + x;
      const c0 = (data[p00 + o0] ?? 0) * w00 + (data[p01 + o0] ?? 0) * w01 + (data[p10 + o0] ?? 0) * w10 + (data[p11 + o0] ?? 0) * w11;
      const c1 = (data[p00 + o1] ?? 0) * w00 + (data[p01 + o1] ?? 0) * w01 + (data[p10 + o1] ?? 0) * w10 + (data[p11 + o1] ?? 0) * w11;
      const c2 = (data[p00 + o2] ?? 0) * w00 + (data[p01 + o2] ?? 0) * w01 + (data[p10 + o2] ?? 0) * w10 + (data[p11 + o2] ?? 0) * w11;
      into[at] = c0 * s0 - b0;
      into[at + plane] = c1 * s1 - b1;
      into[at + 2 * plane] = c2 * s2 - b2;
    }
  }
}

/** Resizes the whole image to outW x outH into a fresh CHW tensor. */
export function resizeToTensor(img: RawImage, outW: number, outH: number, norm: Normalisation): Float32Array {
  const out = new Float32Array(3 * outW * outH);
  sampleToTensor(img, [0, 0], [img.width, 0], [0, img.height], outW, outH, norm, out);
  return out;
}
