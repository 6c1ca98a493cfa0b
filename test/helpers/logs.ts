import { pino } from 'pino';

import { type Logger, loggerOptions } from '../../src/logger.js';

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/**
 * A pino logger built with the project's own options (redaction included) whose lines land in
 * memory, parsed. `lines` keeps growing; empty it with `lines.length = 0`.
 */
export function captureLogs(level: 'trace' | 'debug' | 'info' = 'debug'): {
  logger: Logger;
  lines: LogLine[];
} {
  const lines: LogLine[] = [];
  const logger = pino(loggerOptions({ logLevel: level, env: 'test' }), {
    write: (line: string) => lines.push(JSON.parse(line) as LogLine),
  });
  return { logger, lines };
}
