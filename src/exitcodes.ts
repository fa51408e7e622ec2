// Exit codes of gocryptfs 2.3 (internal/exitcodes/exitcodes.go), so scripts written for
// gocryptfs keep working unchanged.
export const ExitCode = {
  Success: 0,
  Usage: 1,
  /** Not in exitcodes.go: Go's status after a panic, which -wpanic turns a warning into. */
  Panic: 2,
  CipherDir: 6,
  Init: 7,
  LoadConf: 8,
  ReadPassword: 9,
  MountPoint: 10,
  Other: 11,
  PasswordIncorrect: 12,
  ScryptParams: 13,
  MasterKey: 14,
  SigInt: 15,
  ForkChild: 17,
  FuseNewServer: 19,
  CtlSock: 20,
  PasswordEmpty: 22,
  OpenConf: 23,
  WriteConf: 24,
  FsckErrors: 26,
  DeprecatedFS: 27,
  ExcludeError: 29,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

/** An error meant for the user: one-line message plus the exit code gocryptfs would use. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
  ) {
    super(message)
    this.name = 'UserError'
  }
}
