/** The pieces of a simple rule on their own: templates, conditions, clock times, weekdays. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextClockTime, parseWeekdays } from '../../src/rules/Clock';
import { asNumber, ChangeTracker, conditionHolds } from '../../src/rules/Condition';
import { PayloadView, parseValueSource } from '../../src/rules/MessageFields';
import type { Condition, ValueSource } from '../../src/rules/Rule';
import { compileTemplate, renderTemplate, type Template } from '../../src/rules/Template';

function template(text: string): Template {
  const t = compileTemplate(text);
  assert.notEqual(typeof t, 'string', String(t));
  return t as Template;
}

test('templates: levels, payload, JSON fields, client id and local time; JSON and a lone < stay literal; unknown names refused', () => {
  const now = new Date(2026, 0, 5, 7, 3, 9);
  const payload = new PayloadView(Buffer.from('{"t":{"v":21.5},"list":[3,4],"s":"x"}'));
  const ctx = { now, topic: 'tele/plug/SENSOR', levels: ['tele', 'plug', 'SENSOR'], payload, clientId: 'c1' };
  assert.equal(renderTemplate(template('home/<2>/<json.t.v>'), ctx), 'home/plug/21.5');
  assert.equal(renderTemplate(template('{"v":<json.t.v>,"at":"<date> <time>","l":<json.list>,"n":"<json.none>"}'), ctx), '{"v":21.5,"at":"2026-01-05 07:03:09","l":[3,4],"n":""}');
  assert.equal(renderTemplate(template('<topic> <clientid> <json.list.1> a < b <timestamp>'), ctx), `tele/plug/SENSOR c1 4 a < b ${Math.floor(now.getTime() / 1000)}`);
  assert.match(String(compileTemplate('<temperature>')), /unknown placeholder <temperature>/);
  assert.match(String(compileTemplate('<json.a..b>')), /bad JSON path/);
  assert.equal(template('<time>').needsMessage, false);
  assert.equal(template('<3>').maxLevel, 3);
});

test('conditions: numbers compare as numbers, text as text, contains, and changed per topic with the first value as baseline', () => {
  const field = (text: string): ValueSource => parseValueSource(text) as ValueSource;
  const holds = (c: Condition, payload: string, topic = 't', changes?: ChangeTracker): boolean => conditionHolds(c, new PayloadView(Buffer.from(payload)), topic, changes);
  const cond = (f: ValueSource, op: Condition['op'], value: string): Condition => ({ field: f, op, value, number: asNumber(value), bytes: Buffer.from(value) });
  const temp = field('json.T');
  assert.equal(holds(cond(temp, '>', '25'), '{"T":25.5}'), true);
  assert.equal(holds(cond(temp, '>', '25'), '{"T":"9"}'), false, '"9" is a number, not text after "25"');
  assert.equal(holds(cond(temp, '<', '25'), '{"T":"cold"}'), false, 'not a number: never matches');
  assert.equal(holds(cond(temp, '=', '25'), '{"T":25.0}'), true);
  assert.equal(holds(cond(temp, '!=', '25'), '{}'), false, 'an absent field matches nothing');
  assert.equal(holds(cond(field('payload'), '=', 'ON'), 'ON'), true);
  assert.equal(holds(cond(field('payload'), '=', 'ON'), 'ON '), false);
  assert.equal(holds(cond(field('payload'), '!=', 'ON'), 'OFF'), true);
  assert.equal(holds(cond(field('payload'), '=', 'é'), 'é'), true, 'UTF-8 text compares as its bytes');
  assert.equal(holds(cond(field('payload'), '=', '25'), '25.0'), true, 'numbers still compare as numbers');
  assert.equal(holds(cond(field('payload'), 'contains', 'open'), 'door opened'), true);
  const changes = new ChangeTracker();
  const changed: Condition = cond(field('json.POWER'), 'changed', '');
  assert.equal(holds(changed, '{"POWER":"ON"}', 'a', changes), false, 'first value: a baseline');
  assert.equal(holds(changed, '{"POWER":"ON"}', 'a', changes), false);
  assert.equal(holds(changed, '{"POWER":"OFF"}', 'a', changes), true);
  assert.equal(holds(changed, '{"POWER":"OFF"}', 'b', changes), false, 'each topic has its own baseline');
});

test('clock times: next HH:MM on the given weekdays in local time; weekday lists and ranges', () => {
  const mon0729 = new Date(2026, 10, 30, 7, 29).getTime(); // a Monday
  const weekdays = parseWeekdays('mon-fri') as Set<number>;
  assert.deepEqual([...weekdays].sort(), [1, 2, 3, 4, 5]);
  assert.equal(nextClockTime(7, 30, weekdays, mon0729), new Date(2026, 10, 30, 7, 30).getTime());
  const fri0731 = new Date(2026, 11, 4, 7, 31).getTime();
  assert.equal(nextClockTime(7, 30, weekdays, fri0731), new Date(2026, 11, 7, 7, 30).getTime(), 'Friday after 07:30: next Monday');
  assert.deepEqual([...(parseWeekdays('sat,sun') as Set<number>)].sort(), [0, 6]);
  assert.deepEqual([...(parseWeekdays('fri-mon') as Set<number>)].sort(), [0, 1, 5, 6]);
  assert.equal((parseWeekdays('') as Set<number>).size, 7);
  assert.match(String(parseWeekdays('mon funday')), /unknown weekday 'funday'/);
});
