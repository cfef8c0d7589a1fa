import * as Either from "effect/Either"

/**
 * `--wizard` (a built-in option of @effect/cli, which cannot be turned off) asks its questions on the terminal.
 * Without one on stdin (closed, a file or a pipe, as in a script or CI) it would wait forever for answers: that
 * is a usage error at once. Arguments after `--` are left alone.
 */
export const checkWizard = (args: ReadonlyArray<string>, stdinIsTerminal: boolean): Either.Either<ReadonlyArray<string>, string> => {
  const end = args.indexOf("--")
  const options = end === -1 ? args : args.slice(0, end)
  return options.includes("--wizard") && !stdinIsTerminal
    ? Either.left("--wizard asks its questions on a terminal, and stdin is not one: give the command's options instead (vppkit --help)")
    : Either.right(args)
}
