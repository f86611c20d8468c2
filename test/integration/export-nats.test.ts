/**
 * The NATS JetStream sink against a private nats-server: a server's interactions arrive on
 * `<NATS_SUBJECT>.<type>`, and a batch delivered twice (the exporter's at-least-once) is
 * stored once, by `Nats-Msg-Id`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { TsidGenerator } from '../../src/domain/ids.ts';
import { NatsSink } from '../../src/export/nats-sink.ts';
import type { InteractionEvent } from '../../src/protocol/interactions.ts';
import { startNats, type PrivateServer } from '../helpers/clickhouse.ts';
import { eventually, liveClient, newUser, startServer } from '../helpers/server.ts';

describe('NATS JetStream sink', () => {
  let nats: PrivateServer;
  let nc: NatsConnection;

  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
  });
  after(async () => {
    await nc?.close();
    await nats?.cleanup();
  });

  const messages = async (stream: string) => (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;

  it('stores a batch delivered twice once (Nats-Msg-Id)', async () => {
    const sink = await NatsSink.open({ url: nats.url, stream: 'DEDUP', subject: 'dedup' });
    try {
      const ids = new TsidGenerator({ nodeId: 3 });
      const batch: InteractionEvent[] = Array.from({ length: 25 }, () => ({ v: 1, id: ids.next(), type: 'view', at: Date.now(), sessionId: 'anon-test-1', videoId: ids.next() }));
      await sink.write(batch);
      await sink.write(batch);
      assert.equal(await messages('DEDUP'), 25);
    } finally {
      await sink.close();
    }
  });

  it('receives a server\'s interactions, by type, each once', async () => {
    const server = await startServer({ NATS_URL: nats.url, NATS_STREAM: 'LIVE', NATS_SUBJECT: 'tremolo.live', EXPORT_BATCH_WAIT: '10ms' });
    try {
      const owner = await newUser(server, 'own');
      const fan = await newUser(server, 'fan');
      const video = await owner.http.createVideo({ title: 'to nats' });
      const live = await liveClient(server, { token: fan.token });
      try {
        await live.like(video.id);
        await live.comment(video.id, 'hi');
        await live.follow(owner.id);
      } finally {
        live.close();
      }
      await eventually(async () => (await server.store.interactions.lag()).total === 0, 'the exporter to drain', 20_000);
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info('LIVE', { subjects_filter: '>' });
      assert.deepEqual(info.state.subjects, { 'tremolo.live.like': 1, 'tremolo.live.comment': 1, 'tremolo.live.follow': 1 });
      const like = await jsm.streams.getMessage('LIVE', { last_by_subj: 'tremolo.live.like' });
      const event = like?.json<InteractionEvent>();
      assert.equal(event?.type, 'like');
      assert.equal(like?.header.get('Nats-Msg-Id'), event?.id);
    } finally {
      await server.close();
    }
  });
});
