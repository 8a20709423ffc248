import type { FileError } from './FileError';

/** Every error found in a configuration (all lines, not just the first), for one report. */
export class ConfigErrors extends Error {
  readonly code = 'ECONFIG';

  constructor(readonly errors: FileError[]) {
    super(errors.map((e) => e.message).join('\n'));
    this.name = 'ConfigErrors';
  }
}
