/** Why a store could not be loaded or saved. Returned as a value: the broker logs it and runs on. */
export type StoreErrorCode =
  /** The store file exists but is not a valid store; it was set aside. */
  | 'ESTORECORRUPT'
  /** The store file exists but could not be read (EACCES, EIO, a directory, ...). */
  | 'ESTOREREAD'
  /** Writing the store failed (ENOSPC, EROFS, EACCES, ...); the previous store is unchanged. */
  | 'ESTOREWRITE'
  /** An unusable store could not be set aside, so saving is refused rather than overwrite it. */
  | 'ESTOREBLOCKED'
  /** The snapshot itself holds a value the format cannot represent; nothing was written. */
  | 'ESNAPSHOT';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    /** The store file concerned, when there is one. */
    readonly file?: string,
    /** Where an unusable store file was moved so that nothing is lost. */
    readonly setAsideAs?: string,
    /** The system error code behind it (ENOSPC, EROFS, ...), when there is one. */
    readonly errno?: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}
