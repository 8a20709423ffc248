/**
 * The share of each turn of the event loop that the busy clients' input may take, all of
 * them together: TURN_MS. A client whose last read cost 64 units of Broker.work or more, or
 * ran out of time (a flood, a SUBSCRIBE of a hundred wildcards), is busy (Connection.busy); when it sends again after the turn's time is
 * spent, its read waits for the next turn, where the waiting clients go in the order they
 * stopped. Quiet clients (a sensor's one PUBLISH) are never held: they go first. Without this,
 * 50 clients subscribing at once made turns of 25 ms for everyone, though each was fair alone.
 */
export const TURN_MS = 4;

export class InputTurns {
  /** performance.now() when this turn's busy input began. */
  private startedAt = 0;
  /** A check-phase callback will end this turn. */
  private open = false;

  /** Before a busy client's read: false when this turn's time is spent (the read waits for the next). */
  mayRead(): boolean {
    if (!this.open) {
      this.open = true;
      this.startedAt = performance.now();
      setImmediate(endTurn, this);
      return true;
    }
    return performance.now() - this.startedAt < TURN_MS;
  }

  end(): void {
    this.open = false;
  }
}

function endTurn(turns: InputTurns): void {
  turns.end();
}
