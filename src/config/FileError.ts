/**
 * A problem found in a file mqttd reads (config, passwd, ACL, UCI, persistence store).
 * It always names the file, and the line where there is one, so a user can go and fix it.
 */
export class FileError extends Error {
  readonly code = 'EFILE';

  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly reason: string,
  ) {
    super(line === undefined ? `${file}: ${reason}` : `${file}:${line}: ${reason}`);
    this.name = 'FileError';
  }
}
