import type { WriteStream } from 'node:fs';
import type { LogDestination } from '../config/BrokerConfig';
import { stderrSink, stdoutSink, type LogLevel, type LogSink } from '../log/Logger';

const SYSLOG_PRIORITY: Record<LogLevel, string> = {
  error: 'err',
  warning: 'warning',
  notice: 'notice',
  information: 'info',
  subscribe: 'info',
  unsubscribe: 'info',
  websockets: 'info',
  debug: 'debug',
};

/** The sinks for the config's log_dest lines. */
export function logSinks(destinations: LogDestination[], onFileError: (message: string) => void): LogSink[] {
  const sinks: LogSink[] = [];
  for (const d of destinations) {
    if (d === 'stdout') sinks.push(stdoutSink);
    else if (d === 'stderr') sinks.push(stderrSink);
    else if (d === 'syslog') sinks.push(syslogSink());
    else if (d === 'none') continue;
    else sinks.push(fileSink(d.file, onFileError));
  }
  return sinks;
}

/** Lines kept in memory while the file is slow (flash): beyond it they are counted and dropped. */
const FILE_BUFFER_BYTES = 256 * 1024;
/** After a write error, how long before the file is tried again. */
const FILE_RETRY_MS = 10_000;

/**
 * log_dest file: an append stream, so a line costs the event loop no file system call
 * (a flash write can block for tens of ms). An unwritable file is reported once, its lines
 * dropped, and opened again FILE_RETRY_MS later; lines that find the buffer full are
 * counted and the count written when the file catches up.
 */
export function fileSink(path: string, onError: (message: string) => void): LogSink {
  const { createWriteStream } = require('node:fs') as typeof import('node:fs');
  let out: WriteStream | undefined;
  let failedAt = 0;
  let dropped = 0;
  const open = (): WriteStream => {
    const stream = createWriteStream(path, { flags: 'a' });
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (out !== stream) return;
      out = undefined;
      failedAt = Date.now();
      onError(`cannot write log file ${path}: ${err.code ?? String(err)}`);
      stream.destroy();
    });
    return stream;
  };
  return {
    write(_level, line) {
      if (!out) {
        if (failedAt !== 0 && Date.now() - failedAt < FILE_RETRY_MS) return;
        out = open();
      }
      if (out.writableLength > FILE_BUFFER_BYTES) {
        dropped++;
        return;
      }
      if (dropped > 0) {
        out.write(`(${dropped} log lines dropped: the log file was not keeping up)\n`);
        dropped = 0;
      }
      out.write(line + '\n');
    },
    close() {
      const stream = out;
      out = undefined;
      if (!stream) return Promise.resolve();
      return new Promise<void>((resolve) => {
        stream.once('error', () => resolve());
        stream.end(() => resolve());
      });
    },
  };
}

/**
 * Node has no datagram socket for /dev/log, so lines go to the system's `logger` (busybox
 * on OpenWrt: it sends each line of its stdin to syslogd/logd), one long-lived process per
 * priority in use, tagged mqttd: `logread -e mqttd` finds them, LuCI's System Log shows each
 * at the broker's severity. Without a working `logger` the lines go to stderr, which procd
 * logs too.
 */
function syslogSink(): LogSink {
  /** One writer per priority: a line in, to its logger process. */
  const loggers = new Map<string, (level: LogLevel, line: string) => void>();
  let unavailable = false;
  const open = (priority: string): ((level: LogLevel, line: string) => void) => {
    const { spawn } = require('node:child_process') as typeof import('node:child_process');
    const child = spawn('logger', ['-t', 'mqttd', '-p', `daemon.${priority}`], { stdio: ['pipe', 'ignore', 'ignore'] });
    // Lines written before the logger is known to run are kept, so none is lost if it cannot.
    let unconfirmed: [LogLevel, string][] | undefined = [];
    child.once('spawn', () => (unconfirmed = undefined));
    child.on('error', () => {
      unavailable = true;
      loggers.delete(priority);
      for (const [level, line] of unconfirmed ?? []) stderrSink.write(level, line);
      unconfirmed = undefined;
    });
    // A logger that went away is started again for the next line.
    child.on('exit', () => loggers.delete(priority));
    child.unref();
    const out = child.stdin;
    out.on('error', () => loggers.delete(priority));
    (out as unknown as { unref?: () => void }).unref?.();
    const write = (level: LogLevel, line: string): void => {
      unconfirmed?.push([level, line]);
      out.write(line + '\n');
    };
    loggers.set(priority, write);
    return write;
  };
  return {
    write(level, line) {
      if (unavailable) {
        stderrSink.write(level, line);
        return;
      }
      const priority = SYSLOG_PRIORITY[level];
      (loggers.get(priority) ?? open(priority))(level, line);
    },
  };
}
