/**
 * The scenarios: each is one virtual user's behaviour, run by the shard for every user
 * until the stop time. They use only the shard's scenario API (connect, watch,
 * toggleLike, comment, http), which goes through the public SDK.
 */
import type { ScenarioName } from '../options.ts';
import type { Shard, VirtualUser } from '../shard.ts';
import { connectStorm } from './connect-storm.ts';
import { feedReader } from './feed.ts';
import { interact } from './interact.ts';
import { mixed } from './mixed.ts';
import { watch } from './watch.ts';

export type ScenarioRunner = (shard: Shard, vu: VirtualUser) => Promise<void>;

export const SCENARIO_RUNNERS: Record<ScenarioName, ScenarioRunner> = {
  watch,
  interact,
  feed: feedReader,
  mixed,
  'connect-storm': connectStorm,
};

/** One line per scenario, for the report. */
export const SCENARIO_DOC: Record<ScenarioName, string> = {
  watch: 'viewers swipe through videos chosen by Zipf popularity, staying --dwell on each',
  interact: 'viewers watch (Zipf) and like/unlike and comment at --like-rate and --comment-rate',
  feed: 'REST readers page their following feed, the hot feed, videos and comments at --http-rate',
  mixed: '80% viewers swiping (each view liked with p=0.15, commented with p=0.03), 20% REST feed readers',
  'connect-storm': 'connections ramp to --users over --ramp, each replaced after an exponential --churn lifetime',
};
