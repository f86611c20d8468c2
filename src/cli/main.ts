#!/usr/bin/env node
/**
 * The `tremolo` command.
 *   tremolo serve                         start the server (settings from the environment)
 *   tremolo healthcheck [--target H:P] [--timeout 5s] [--path /healthz]
 *   tremolo export                        the behaviour-log exporter as its own process
 *   tremolo migrate-likers                move likers stored by older versions into the compact layout
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, tokenSettings } from '../config.ts';
import { healthcheck, parseDuration } from './healthcheck.ts';

const USAGE = `usage:
  tremolo serve
  tremolo healthcheck [--target HOST:PORT] [--timeout 5s] [--path /healthz]
  tremolo export                 export interactions to CLICKHOUSE_URL / NATS_URL (STORAGE=redis)
  tremolo migrate-likers         move likers stored by older versions into the compact layout (STORAGE=redis)
  tremolo config                 print every setting as a Markdown table
  tremolo service-token NAME [--ttl 30d]
                                 print a service token for gRPC callers (signed with JWT_SECRET or JWT_PRIVATE_KEY)
  tremolo loadtest --target http://HOST:PORT --scenario NAME [--duration 60s] [--users N] ...
                                 drive a server through the SDK and check it lost nothing (--help)`;

function configOrExit() {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
}

async function serve(): Promise<void> {
  const config = configOrExit();
  const { startTremolo } = await import('../main.ts');
  const tremolo = await startTremolo(config);
  tremolo.app.log.info({ url: tremolo.url, metrics: tremolo.metricsUrl, storage: config.storage, nodeId: config.nodeId }, 'tremolo is serving');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    tremolo.app.log.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      console.error(`shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting`);
      process.exit(1);
    }, config.shutdownTimeoutMs + 1000);
    deadline.unref();
    tremolo.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('shutdown failed:', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function runHealthcheck(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      target: { type: 'string', default: `127.0.0.1:${process.env.PORT ?? '3000'}` },
      timeout: { type: 'string', default: '5s' },
      path: { type: 'string', default: '/healthz' },
    },
  });
  const result = await healthcheck({ target: values.target, path: values.path, timeoutMs: parseDuration(values.timeout) });
  console.log(result.line);
  process.exit(result.ok ? 0 : 1);
}

/** A token for a backend service calling the gRPC interface (`role: service`). */
async function serviceToken(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { ttl: { type: 'string', default: '30d' } } });
  const name = positionals[0];
  const ttl = /^(\d+)([smhd])$/.exec(values.ttl);
  if (!name || positionals.length !== 1 || !ttl) {
    console.error(`usage: tremolo service-token NAME [--ttl 30d] (s, m, h or d)\n${USAGE}`);
    process.exit(2);
  }
  const config = loadConfig();
  if (config.generatedSecrets.includes('JWT_SECRET')) {
    console.error('JWT_SECRET (or JWT_PRIVATE_KEY) is not set: a token signed with a random secret would be refused by every server');
    process.exit(2);
  }
  const { TokenService } = await import('../transport/auth/tokens.ts');
  const tokens = new TokenService(tokenSettings(config));
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[ttl[2] as 's' | 'm' | 'h' | 'd'];
  const { token } = await tokens.issueService(name, Number(ttl[1]) * unit);
  console.log(token);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve();
    case 'healthcheck':
      return runHealthcheck(rest);
    case 'export': {
      const { runExport } = await import('./export.ts');
      return process.exit(await runExport(configOrExit()));
    }
    case 'migrate-likers': {
      const { runMigrateLikers } = await import('./migrate-likers.ts');
      return process.exit(await runMigrateLikers(configOrExit()));
    }
    case 'loadtest': {
      const { runLoadtestCommand } = await import('./loadtest.ts');
      return process.exit(await runLoadtestCommand(rest));
    }
    case 'config': {
      const { configTable } = await import('../config.ts');
      console.log(configTable());
      return;
    }
    case 'service-token':
      return serviceToken(rest);
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      console.log(USAGE);
      return;
    default:
      console.error(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
      process.exit(2);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
