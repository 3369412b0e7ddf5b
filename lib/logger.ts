import pino from 'pino';

export type Logger = pino.Logger;

/** JSON lines to stdout, or to `destination` (tests read the lines back). */
export function createLogger(
  level: string,
  base: Record<string, unknown> = {},
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'orderflow', pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['*.password', '*.refreshToken', '*.accessToken', '*.authorization', '*.phone'],
      remove: true,
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
