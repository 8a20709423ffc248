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
 * on OpenWrt), one long-lived process per priority in use.
 */
function syslogSink(): LogSink {
  const loggers = new Map<string, NodeJS.WritableStream>();
  return {
    write(level, line) {
      const priority = SYSLOG_PRIORITY[level];
      let out = loggers.get(priority);
      if (!out) {
        const { spawn } = require('node:child_process') as typeof import('node:child_process');
        const child = spawn('logger', ['-t', 'mqttd', '-p', `daemon.${priority}`], { stdio: ['pipe', 'ignore', 'ignore'] });
        child.on('error', () => loggers.delete(priority));
        child.unref();
        out = child.stdin;
        out.on('error', () => loggers.delete(priority));
        loggers.set(priority, out);
      }
      out.write(line + '\n');
    },
  };
}
