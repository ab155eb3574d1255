/**
 * Structured logs: one JSON object per line on stderr, `{"ts","level","component","msg",...fields}`.
 * The level comes from TWOPC_LOG_LEVEL (debug|info|warn|error; default info).
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

function levelFromEnv(): LogLevel {
  const raw = process.env.TWOPC_LOG_LEVEL;
  return (LOG_LEVELS as readonly string[]).includes(raw ?? '') ? (raw as LogLevel) : 'info';
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

export function createLogger(
  component: string,
  level: LogLevel = levelFromEnv(),
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (LOG_LEVELS.indexOf(lvl) < threshold) return;
    const record = { ts: new Date().toISOString(), level: lvl, component, msg, ...fields };
    write(JSON.stringify(record, replacer) + '\n');
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (sub) => createLogger(`${component}.${sub}`, level, write),
  };
}

export const silentLogger: Logger = createLogger('silent', 'silent');
