// tsc emits only JavaScript: copy the non-TypeScript files the runtime reads (Lua scripts).
import { cpSync } from 'node:fs';

cpSync('src/storage/redis/lua', 'dist/storage/redis/lua', { recursive: true });
cpSync('src/storage/clickhouse/migrations', 'dist/storage/clickhouse/migrations', { recursive: true });
