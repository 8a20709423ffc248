/**
 * mqttd_pub: publish one message (or one per stdin line) and exit, with mosquitto_pub 2.0's
 * flags, output and exit codes.
 */
import { readFileSync } from 'node:fs';
import type { MqttClient, PublishAck } from '../client/MqttClient';
import type { Result } from '../client/ClientError';
import { parseClientArgs, type ClientConfig } from './ClientConfig';
import { Console, connectFailure, createClient, exitWith } from './ClientSession';
import { pubUsage, versionLine } from './ClientUsage';
import { reasonString } from './ReasonStrings';

async function main(argv: string[]): Promise<number> {
  const parsed = parseClientArgs('pub', argv);
  if (parsed.kind === 'help') {
    process.stdout.write(pubUsage());
    return 1;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(versionLine('mqttd_pub'));
    return 1;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(parsed.message + "\nUse 'mqttd_pub --help' to see usage.\n");
    return 1;
  }
  const cfg = parsed.config;
  const console = new Console(cfg.quiet);
  if (cfg.topic === undefined || cfg.pubMode === 'none') {
    process.stderr.write('Error: Both topic and message must be supplied.\n');
    process.stdout.write(pubUsage());
    return 1;
  }
  if (cfg.pubMode === 'stdin-file') {
    try {
      cfg.message = readFileSync(0);
    } catch {
      console.err('Error loading input from stdin.\n');
      return 1;
    }
  } else if (cfg.pubMode === 'file') {
    try {
      cfg.message = readFileSync(cfg.fileInput as string);
    } catch {
      console.err(`Error: Unable to open file "${cfg.fileInput}".\n`);
      console.err(`Error loading input file "${cfg.fileInput}".\n`);
      return 1;
    }
  }

  const client = createClient(cfg, console);
  let lost = false;
  client.on('close', (error) => {
    if (error) lost = true;
  });
  const connected = await client.connect();
  if (!connected.ok) {
    const failure = connectFailure(cfg, connected.error);
    if (cfg.debug && failure.debug !== undefined) console.out(failure.debug);
    console.err(failure.lines);
    if (failure.refused) {
      console.err(
        cfg.protocolVersion === 5
          ? 'Error: A network protocol error occurred when communicating with the broker.\n'
          : 'Error: The connection was refused.\n',
      );
    }
    return failure.code;
  }

  const ok = cfg.pubMode === 'stdin-line' ? await publishLines(client, cfg, console) : await publishRepeated(client, cfg, console);
  if (!ok || lost) {
    console.err('Error: The connection was lost.\n');
    return 7;
  }
  await client.disconnect(0, cfg.properties.disconnect);
  return 0;
}

/** Reports a v5 publish refusal as mosquitto_pub's warning; false when the connection broke. */
function reportAck(result: Result<PublishAck>, console: Console): boolean {
  if (!result.ok) return false;
  const ack = result.value;
  if (ack.reasonCode > 127) {
    console.err(`Warning: Publish ${ack.messageId} failed: ${reasonString(ack.reasonCode)}.\n`);
    if (ack.reasonString !== undefined) console.err(`${ack.reasonString}\n`);
  }
  return true;
}

/** -m, -f, -s, -n: one payload, --repeat times, --repeat-delay apart. */
async function publishRepeated(client: MqttClient, cfg: ClientConfig, console: Console): Promise<boolean> {
  const payload = cfg.pubMode === 'null' ? Buffer.alloc(0) : (cfg.message ?? Buffer.alloc(0));
  for (let n = 0; n < cfg.repeatCount; n++) {
    if (n > 0 && cfg.repeatDelay > 0) await new Promise((r) => setTimeout(r, cfg.repeatDelay * 1000));
    const result = await client.publish(cfg.topic as string, payload, {
      qos: cfg.qos,
      retain: cfg.retain,
      properties: cfg.properties.publish,
    });
    if (!reportAck(result, console)) return false;
  }
  return true;
}

/**
 * -l: one message per line of stdin, sent as lines arrive over one connection; a last line
 * without a newline is still sent. Waits for every acknowledgement before disconnecting.
 */
async function publishLines(client: MqttClient, cfg: ClientConfig, console: Console): Promise<boolean> {
  const acks: Array<Promise<Result<PublishAck>>> = [];
  const send = (line: Buffer): void => {
    acks.push(client.publish(cfg.topic as string, line, { qos: cfg.qos, retain: cfg.retain, properties: cfg.properties.publish }));
  };
  let pending: Buffer = Buffer.alloc(0);
  let broken = false;
  client.on('close', (error) => {
    if (error) {
      broken = true;
      process.stdin.destroy();
    }
  });
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    pending = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    let start = 0;
    for (let nl = pending.indexOf(10, start); nl >= 0; nl = pending.indexOf(10, start)) {
      send(pending.subarray(start, nl));
      start = nl + 1;
    }
    pending = pending.subarray(start);
    if (broken) break;
  }
  if (pending.length > 0 && !broken) send(pending);
  let ok = !broken;
  for (const ack of acks) ok = reportAck(await ack, console) && ok;
  return ok;
}

main(process.argv.slice(2)).then(
  (code) => exitWith(code),
  (err: unknown) => {
    process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
    exitWith(1);
  },
);
