/**
 * A snapshot the broker handed over that the store format cannot represent (a QoS of 3, a
 * packet id of 0, ...). Refused before anything is written, so a file that was saved can
 * always be loaded back.
 */
export class SnapshotInvalidError extends Error {
  readonly code = 'ESNAPSHOT';

  constructor(
    /** Where in the snapshot, e.g. `sessions[2].queue[0].packetId`. */
    readonly field: string,
    readonly expected: string,
  ) {
    super(`${field}: expected ${expected}`);
    this.name = 'SnapshotInvalidError';
  }
}
