// mosquitto_sub and mqttd_sub, same invocations, same broker: same stdout and exit code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseCount, sideBySide } from './sideBySide';

sideBySide('sub');

test('the side-by-side table has at least 40 cases', () => {
  assert.ok(caseCount >= 40, `${caseCount} cases`);
});
