/**
 * mqttd_sub: subscribe and print messages, with mosquitto_sub 2.0's flags, output format
 * language and exit codes (-C count, -W timeout = 27, CONNACK code on refusal).
 */
import { topicMatches } from './TopicMatch';
import type { Packet } from 'mqtt-packet';
import type { Message, PacketDirection } from '../client/MqttClient';
import { parseClientArgs } from './ClientConfig';
import { Console, connectFailure, createClient, exitWith } from './ClientSession';
import { subUsage, versionLine } from './ClientUsage';
import { printMessage } from './MessageFormat';

/** libmosquitto's MOSQ_ERR_TIMEOUT, mosquitto_sub's exit status for -W. */
const EXIT_TIMEOUT = 27;
/** MOSQ_ERR_CONN_LOST. */
const EXIT_CONN_LOST = 7;

async function main(argv: string[]): Promise<number> {
  const parsed = parseClientArgs('sub', argv);
  if (parsed.kind === 'help') {
    process.stdout.write(subUsage());
    return 1;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(versionLine('mqttd_sub'));
    return 1;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(parsed.message + "\nUse 'mqttd_sub --help' to see usage.\n");
    return 1;
  }
  const cfg = parsed.config;
  if (cfg.noRetain && cfg.retainedOnly) {
    process.stderr.write("\nError: Combining '-R' and '--retained-only' makes no sense.\n");
    return 1;
  }
  const console = new Console(cfg.quiet);
  const client = createClient(cfg, console);

  let timedOut = false;
  let connected = false;
  let processing = true;
  const stop = (): void => {
    if (!connected) exitWith(255);
    processing = false;
    // Like mosquitto_sub: leaving on a signal or -W asks the broker to send the will.
    void client.disconnect(4, cfg.properties.disconnect);
  };
  let timer: NodeJS.Timeout | undefined;
  if (cfg.timeout > 0) {
    timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, cfg.timeout * 1000);
  }
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  const closed = new Promise<boolean>((resolve) => client.once('close', (error) => resolve(error !== undefined)));

  const result = await client.connect();
  if (!result.ok) {
    const failure = connectFailure(cfg, result.error);
    if (cfg.debug && failure.debug !== undefined) console.out(failure.debug);
    console.err(failure.lines);
    return timedOut ? EXIT_TIMEOUT : failure.code;
  }
  connected = true;

  let received = 0;
  /** Outstanding --remove-retained clears; the last one's ack ends a -C run. */
  let clearing = 0;
  const finishIfDone = (): void => {
    if (!processing && clearing === 0) void client.disconnect(0, cfg.properties.disconnect);
  };

  client.on('message', (message: Message) => {
    if (!processing) return;
    if (cfg.retainedOnly && !message.retain) {
      processing = false;
      finishIfDone();
      return;
    }
    if (message.retain && cfg.noRetain) return;
    for (const filter of cfg.filterOuts) if (topicMatches(filter, message.topic)) return;
    if (cfg.removeRetained && message.retain) {
      clearing++;
      void client.publish(message.topic, Buffer.alloc(0), { qos: 1, retain: true }).then(() => {
        clearing--;
        finishIfDone();
      });
    }
    if (cfg.randomFilter >= 10000 || Math.floor(Math.random() * 10000) < cfg.randomFilter) {
      const printed = printMessage(cfg, message);
      if (printed.out.length > 0) console.out(printed.out);
      if (printed.error) console.err(printed.error);
    }
    if (cfg.msgCount > 0 && ++received === cfg.msgCount) {
      processing = false;
      finishIfDone();
    }
  });

  const subscriptions = cfg.topics.map((topic) => ({
    topic,
    qos: cfg.qos,
    ...(cfg.protocolVersion === 5 ? { nl: false, rap: cfg.retainAsPublished, rh: cfg.retainHandling } : {}),
  }));
  // mosquitto_sub's on_subscribe runs as the SUBACK is read, before a retained PUBLISH that
  // came in the same read: so this listens for the packet instead of awaiting subscribe().
  const onSuback = (direction: PacketDirection, packet: Packet): void => {
    if (direction !== 'in' || packet.cmd !== 'suback') return;
    client.off('packet', onSuback);
    const granted = packet.granted as number[];
    if (cfg.debug && !cfg.quiet) console.out(`Subscribed (mid: ${packet.messageId ?? 0}): ${granted.join(', ')}\n`);
    if (!granted.some((code) => code < 128)) {
      void client.disconnect(0, cfg.properties.disconnect);
      console.err('All subscription requests were denied.\n');
    }
    if (cfg.exitAfterSub) void client.disconnect(0, cfg.properties.disconnect);
  };
  client.on('packet', onSuback);
  void client.subscribe(subscriptions, cfg.properties.subscribe);
  for (const topic of cfg.unsubTopics) void client.unsubscribe([topic], cfg.properties.unsubscribe);

  const lost = await closed;
  if (timer) clearTimeout(timer);
  if (timedOut) {
    console.err('Timed out\n');
    return EXIT_TIMEOUT;
  }
  if (lost && !(cfg.msgCount > 0 && !processing)) {
    console.err('Error: The connection was lost.\n');
    return EXIT_CONN_LOST;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => exitWith(code),
  (err: unknown) => {
    process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
    exitWith(1);
  },
);
