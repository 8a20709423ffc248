/**
 * Log lines in mosquitto's habit ("1700000000: New client connected from ..."), by type,
 * to the destinations the config names. Anything a client chose (client id, username,
 * topic) goes through `escape` so a hostile id cannot forge log lines.
 */

export type LogLevel = 'error' | 'warning' | 'notice' | 'information' | 'subscribe' | 'unsubscribe' | 'websockets' | 'debug';

/** Every log level, in mosquitto's order: what `log_type all` and `-v` turn on. */
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warning', 'notice', 'information', 'subscribe', 'unsubscribe', 'websockets', 'debug'];

export interface LogSink {
  write(level: LogLevel, line: string): void;
  /** Writes out what is buffered (log_dest file) and lets go of the destination. */
  close?(): Promise<void>;
}

export class Logger {
  private enabled: Set<LogLevel>;

  constructor(
    private sinks: LogSink[],
    levels: Iterable<LogLevel>,
    private timestamps = true,
  ) {
    this.enabled = new Set(levels);
  }

  /** Flushes and closes the sinks (at stop). Lines logged afterwards open them again. */
  async close(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close?.()));
  }

  configure(sinks: LogSink[], levels: Iterable<LogLevel>, timestamps: boolean): void {
    this.sinks = sinks;
    this.enabled = new Set(levels);
    this.timestamps = timestamps;
  }

  /** Call sites on busy paths check this first, so a line that is off costs no text. */
  isEnabled(level: LogLevel): boolean {
    return this.enabled.has(level);
  }

  log(level: LogLevel, message: string): void {
    if (!this.enabled.has(level)) return;
    const line = this.timestamps ? `${Math.floor(Date.now() / 1000)}: ${message}` : message;
    for (const sink of this.sinks) sink.write(level, line);
  }

  error(message: string): void {
    this.log('error', `Error: ${message}`);
  }

  warning(message: string): void {
    this.log('warning', `Warning: ${message}`);
  }

  notice(message: string): void {
    this.log('notice', message);
  }

  info(message: string): void {
    this.log('information', message);
  }

  debug(message: string): void {
    this.log('debug', message);
  }
}

/** Makes a client-chosen string safe to log: control characters and quotes are escaped. */
export function escape(value: string | undefined): string {
  if (value === undefined) return '(none)';
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u001f\u007f-\u009f\\"\u2028\u2029]/g, (c) => {
    if (c === '\\') return '\\\\';
    if (c === '"') return '\\"';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/** A logger that discards everything: the embedded library's default. */
export function silentLogger(): Logger {
  return new Logger([], []);
}

export const stderrSink: LogSink = { write: (_level, line) => void process.stderr.write(line + '\n') };
export const stdoutSink: LogSink = { write: (_level, line) => void process.stdout.write(line + '\n') };
