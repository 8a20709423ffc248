/**
 * A password-guessing storm as its own process, so the clients measuring latency do not
 * share a CPU thread with the attackers: `addresses` loopback addresses (127.0.x.y) each
 * send CONNECT with a wrong password, wait for the answer, close and start again, until
 * `seconds` have passed. Prints one JSON line: attempts, answers by CONNACK code ("closed":
 * none came) and the slowest answer in ms.
 *
 *   node build/test/hardening/guessStorm.js <port> <seconds> [addresses=200] [username=owner]
 *
 * Used by PasswordGuessing.test.ts; the soak harness can run it against any broker.
 */
import { tryConnect } from './overloadKit';

export interface StormResult {
  attempts: number;
  answers: Record<string, number>;
  slowestMs: number;
}

export async function guessStorm(port: number, seconds: number, addresses: number, username: string): Promise<StormResult> {
  const stopAt = Date.now() + seconds * 1000;
  const answers: Record<string, number> = {};
  let attempts = 0;
  let slowestMs = 0;
  const guesser = async (i: number) => {
    const localAddress = `127.0.${1 + (i >> 8)}.${1 + (i & 0xff)}`;
    for (let n = 0; Date.now() < stopAt; n++) {
      const r = await tryConnect(port, `bot-${i}-${n}`, { username, password: `guess-${n}`, localAddress });
      r.socket.destroy();
      attempts++;
      answers[String(r.outcome)] = (answers[String(r.outcome)] ?? 0) + 1;
      slowestMs = Math.max(slowestMs, r.ms);
    }
  };
  await Promise.all(Array.from({ length: addresses }, (_, i) => guesser(i)));
  return { attempts, answers, slowestMs };
}

if (require.main === module) {
  const [port, seconds, addresses = '200', username = 'owner'] = process.argv.slice(2);
  guessStorm(Number(port), Number(seconds), Number(addresses), username).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
