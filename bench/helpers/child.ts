/**
 * Benchmark processes: the server and the load generators each run in their own child
 * process (so a client's CPU is not counted as the server's), talking to the parent
 * over the IPC channel with a tiny request/reply protocol: `{ id, cmd, ...args }` in,
 * `{ id, ok, ...result }` out.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Sends a command and waits for its reply (rejects with the child's error). */
  call<T extends object = Record<string, unknown>>(cmd: string, args?: object): Promise<T>;
  /** The first unsolicited message, e.g. `{ ready: true, url }`. */
  readonly ready: Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

interface Reply {
  id?: number;
  ok?: boolean;
  error?: string;
  [k: string]: unknown;
}

export function startChild(script: URL, env: Record<string, string> = {}, execArgv: string[] = []): Child {
  const proc = fork(script.pathname, [], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...execArgv],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  let seq = 0;
  let readyResolve: (m: Record<string, unknown>) => void = () => {};
  let readyReject: (e: Error) => void = () => {};
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  proc.on('message', (m: Reply) => {
    if (m.id === undefined) return readyResolve(m);
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.ok) w?.resolve(m);
    else w?.reject(new Error(m.error ?? 'child failed'));
  });
  proc.on('exit', (code) => {
    const err = new Error(`${script.pathname} exited with ${code}`);
    readyReject(err);
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  });
  return {
    process: proc,
    pid: proc.pid ?? 0,
    ready,
    call: <T extends object>(cmd: string, args: object = {}) =>
      new Promise<T>((resolve, reject) => {
        const id = ++seq;
        waiting.set(id, { resolve: (r) => resolve(r as T), reject });
        proc.send({ id, cmd, ...args });
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 5000).unref();
      }),
  };
}

/** The child's CPU time so far (user + system, all its threads), in seconds: its built-in `stats`. */
export async function cpuSecondsOf(child: Child): Promise<number> {
  return (await child.call<{ cpuS: number }>('stats')).cpuS;
}

/**
 * A real tremolo server as a child (helpers/tremolo-server.ts), configured by `env`. With
 * BENCH_CPU_PROF=<dir> it writes a V8 CPU profile there (open it in Chrome DevTools): V8
 * writes it on a clean exit only, so `stop` first asks the server to exit by itself.
 */
export function startTremoloChild(env: Record<string, string> = {}, execArgv: string[] = []): Child {
  const dir = process.env.BENCH_CPU_PROF;
  const child = startChild(new URL('./tremolo-server.ts', import.meta.url), env, [...execArgv, ...(dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : [])]);
  if (!dir) return child;
  return {
    ...child,
    stop: async () => {
      const exited = new Promise((resolve) => (child.process.exitCode !== null ? resolve(null) : child.process.once('exit', resolve)));
      await child.call('close').catch(() => {});
      await child.call('exit').catch(() => {});
      await exited;
    },
  };
}

type Handler = (args: Record<string, unknown>) => Promise<object> | object;

/** In a child: answers the parent's commands with `handlers`; `stats` and `exit` are built in. */
export function serveParent(handlers: Record<string, Handler>): void {
  let profiler: Session | undefined;
  const all: Record<string, Handler> = {
    stats: async (args) => {
      if (args.gc === true && typeof globalThis.gc === 'function') {
        for (let i = 0; i < 3; i++) {
          globalThis.gc();
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      const mem = process.memoryUsage();
      const cpu = process.cpuUsage();
      return { rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, arrayBuffers: mem.arrayBuffers, cpuS: (cpu.user + cpu.system) / 1e6 };
    },
    /**
     * `{ file }`: starts a V8 CPU profile of this process; `{ file, stop: true }` writes it there
     * (open it in Chrome DevTools). `heap: true` (both times): also a sampling heap profile,
     * written beside it as .heapprofile.
     */
    profile: async (args) => {
      profiler ??= new Session();
      if (args.stop !== true) {
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.start');
        if (args.heap === true) await profiler.post('HeapProfiler.startSampling', { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
        return {};
      }
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(String(args.file), JSON.stringify(profile));
      if (args.heap === true) {
        // what was allocated while profiling, by allocating function (sampled): where GC time comes from
        const { profile: heap } = await profiler.post('HeapProfiler.stopSampling');
        writeFileSync(String(args.file).replace(/\.cpuprofile$/, '.heapprofile'), JSON.stringify(heap));
      }
      profiler.disconnect();
      profiler = undefined;
      return { file: args.file };
    },
    exit: () => {
      setTimeout(() => process.exit(0), 10);
      return {};
    },
    ...handlers,
  };
  process.on('message', (m: { id: number; cmd: string } & Record<string, unknown>) => {
    const h = all[m.cmd];
    Promise.resolve()
      .then(() => (h ? h(m) : Promise.reject(new Error(`unknown command ${m.cmd}`))))
      .then(
        (r) => process.send?.({ id: m.id, ok: true, ...r }),
        (err: unknown) => process.send?.({ id: m.id, ok: false, error: String((err as Error)?.stack ?? err) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
}

/** Source addresses 127.0.0.1..n, so many sockets from one machine do not run out of ports. */
export function sourceAddress(i: number, spread = 8): string {
  return `127.0.0.${1 + (i % spread)}`;
}
