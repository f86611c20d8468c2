/** The one line every benchmark ends with. */
export function report(bench: string, unit: string, value: number, baseline: number): void {
  const round = (n: number) => Math.round(n * 100) / 100;
  console.log(JSON.stringify({ bench, unit, value: round(value), baseline: round(baseline), ratio: round(value / baseline) }));
}
