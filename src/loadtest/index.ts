/** The load tester: drives a tremolo deployment through the public SDK and checks it lost nothing. */
export { runLoadtest, type ProgressLine, type RunHooks } from './coordinator.ts';
export { resolveOptions, parseCliArgs, SCENARIOS, type LoadtestOptions, type ScenarioName } from './options.ts';
export type { LoadtestReport } from './report.ts';
export { renderHtmlReport } from './report-html.ts';
export { Rng, Zipf, mulberry32, streamSeed } from './random.ts';
