// Typed failures of the format layer. Callers map them to EIO, exit codes or fsck reports;
// they never carry key material.

/** Ciphertext failed authentication or is structurally invalid. */
export class CorruptError extends Error {
  constructor(
    message: string,
    /** Block number within the file, when the failure is tied to one block. */
    readonly block?: number,
  ) {
    super(message)
    this.name = 'CorruptError'
  }
}
