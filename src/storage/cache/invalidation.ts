/**
 * Tells other processes that a cached key changed. On the memory driver there is one
 * process and nothing to tell; on Redis it is a pub/sub channel.
 */
import type { Cluster, Redis } from 'ioredis';

export interface InvalidationBus {
  /** Announces that `key` changed; `onRemote` handlers in OTHER processes hear it. */
  publish(key: string): void;
  onRemote(handler: (key: string) => void): void;
  close(): Promise<void>;
}

export class LocalInvalidationBus implements InvalidationBus {
  publish(): void {}
  onRemote(): void {}
  async close(): Promise<void> {}
}

/** Redis pub/sub; messages carry the sender's id so a process ignores its own. */
export class RedisInvalidationBus implements InvalidationBus {
  private readonly handlers: ((key: string) => void)[] = [];

  constructor(
    private readonly pub: Redis | Cluster,
    private readonly sub: Redis | Cluster,
    private readonly channel: string,
    private readonly senderId: string,
    private readonly onError: (err: unknown) => void,
  ) {
    sub.on('message', (ch: string, message: string) => {
      if (ch !== channel) return;
      const sep = message.indexOf('|');
      if (message.slice(0, sep) === this.senderId) return;
      const key = message.slice(sep + 1);
      for (const h of this.handlers) h(key);
    });
    sub.subscribe(channel).catch(onError);
  }

  publish(key: string): void {
    this.pub.publish(this.channel, `${this.senderId}|${key}`).catch(this.onError);
  }

  onRemote(handler: (key: string) => void): void {
    this.handlers.push(handler);
  }

  async close(): Promise<void> {
    // not awaited: with Redis away it would wait for a reconnect; the owner disconnects `sub`
    this.sub.unsubscribe(this.channel).catch(() => {});
  }
}
