import { appendFileSync } from 'node:fs';
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

function fileSink(path: string, onError: (message: string) => void): LogSink {
  let failing = false;
  return {
    write(_level, line) {
      try {
        appendFileSync(path, line + '\n');
        failing = false;
      } catch (err) {
        if (!failing) onError(`cannot write log file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
        failing = true;
      }
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
