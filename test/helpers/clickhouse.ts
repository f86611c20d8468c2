/**
 * Private ClickHouse and NATS servers for the export tests: Debian's clickhouse-server (18.16;
 * scripts/provision.mjs installs it) and nats-server with JetStream, each on free ports with a
 * data directory of its own, which the test can stop (SIGTERM or SIGKILL) and start again on
 * the same ports and data.
 *
 * ClickHouse needs three ports; they are taken from CLICKHOUSE_TEST_PORTS (`first-last`,
 * default 41600-41699: the range this project's shared machine gives the export tests), each
 * checked to be free.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './eventually.ts';
import { freePort } from './redis.ts';

const CLICKHOUSE_SERVER = process.env.CLICKHOUSE_SERVER ?? '/usr/sbin/clickhouse-server';
const CLICKHOUSE_CONFIG = '/etc/clickhouse-server/config.xml';
const NATS_SERVER = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';

function portRange(): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(process.env.CLICKHOUSE_TEST_PORTS ?? '41600-41699');
  if (!m) throw new Error('CLICKHOUSE_TEST_PORTS must be first-last');
  return [Number(m[1]), Number(m[2])];
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Ports handed out in this process, so two servers of one test file never pick the same. */
const taken = new Set<number>();

async function rangePorts(n: number): Promise<number[]> {
  const [first, last] = portRange();
  const out: number[] = [];
  // start at a pid-dependent offset so test files running side by side rarely race for a port
  const span = last - first + 1;
  for (let i = 0; i < span && out.length < n; i++) {
    const port = first + ((process.pid + i * 7) % span);
    if (taken.has(port) || !(await isFree(port))) continue;
    taken.add(port);
    out.push(port);
  }
  if (out.length < n) throw new Error(`no ${n} free ports in ${first}-${last} for ClickHouse`);
  return out;
}

export interface PrivateServer {
  url: string;
  start(): Promise<void>;
  /** SIGTERM (or `signal`), and waits until the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Stops it and removes its data. */
  cleanup(): Promise<void>;
}

async function untilExit(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await gone;
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** A private clickhouse-server, started. `url` is its HTTP interface. */
export async function startClickHouse(): Promise<PrivateServer> {
  const [http, tcp, interserver] = (await rangePorts(3)) as [number, number, number];
  const dir = mkdtempSync(join(tmpdir(), 'tremolo-ch-'));
  for (const sub of ['tmp', 'uf', 'fs']) mkdirSync(join(dir, sub));
  let child: ChildProcess | undefined;
  const url = `http://127.0.0.1:${http}`;
  const server: PrivateServer = {
    url,
    async start() {
      child = spawn(
        CLICKHOUSE_SERVER,
        [
          `--config-file=${CLICKHOUSE_CONFIG}`,
          '--',
          `--http_port=${http}`,
          `--tcp_port=${tcp}`,
          `--interserver_http_port=${interserver}`,
          `--path=${dir}/`,
          `--tmp_path=${dir}/tmp/`,
          `--user_files_path=${dir}/uf/`,
          `--format_schema_path=${dir}/fs/`,
          `--logger.log=${dir}/log`,
          `--logger.errorlog=${dir}/err`,
        ],
        { stdio: 'ignore' },
      );
      await eventually(() => answers(`${url}/ping`), `clickhouse-server on port ${http} to answer`, 20_000);
    },
    stop: (signal = 'SIGTERM') => untilExit(child, signal),
    async cleanup() {
      await untilExit(child, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      for (const p of [http, tcp, interserver]) taken.delete(p);
    },
  };
  await server.start();
  return server;
}

/** A private nats-server with JetStream, started. `url` is nats://127.0.0.1:<port>. */
export async function startNats(): Promise<PrivateServer & { monitorUrl: string }> {
  const [port, monitor] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'tremolo-nats-'));
  let child: ChildProcess | undefined;
  const monitorUrl = `http://127.0.0.1:${monitor}`;
  const server = {
    url: `nats://127.0.0.1:${port}`,
    monitorUrl,
    async start() {
      child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-m', String(monitor), '-js', '-sd', dir], { stdio: 'ignore' });
      await eventually(() => answers(`${monitorUrl}/healthz`), `nats-server on port ${port} to answer`, 20_000);
    },
    stop: (signal: NodeJS.Signals = 'SIGTERM') => untilExit(child, signal),
    async cleanup() {
      await untilExit(child, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
