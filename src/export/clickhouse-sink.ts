/** The ClickHouse sink: one JSONEachRow INSERT per batch into the behaviour log. */
import type { InteractionEvent } from '../protocol/interactions.ts';
import type { BehaviourLog } from '../storage/clickhouse/behaviour-log.ts';
import type { InteractionSink } from './sink.ts';

export class ClickHouseSink implements InteractionSink {
  readonly name = 'clickhouse';

  constructor(private readonly log: BehaviourLog) {}

  write(events: readonly InteractionEvent[]): Promise<void> {
    return this.log.insert(events);
  }

  close(): Promise<void> {
    return this.log.close();
  }
}
