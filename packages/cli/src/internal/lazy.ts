import * as Effect from "effect/Effect"
import { CommandError } from "../ExitCode.js"

/**
 * A module a command loads when it runs (`import()`: in the bundle, a chunk of its own, so that the command
 * line starts without compiling what other commands use; see scripts/bundle.mjs). A module that cannot be
 * loaded (a broken installation: a chunk missing) fails the command with a {@link CommandError} naming it.
 */
export const load = <A>(what: string, importer: () => Promise<A>): Effect.Effect<A, CommandError> =>
  Effect.tryPromise({
    try: importer,
    catch: (cause) =>
      new CommandError({
        message: `cannot load ${what} (is the installation complete?): ${
          cause instanceof Error ? cause.message.split("\n")[0] : String(cause)
        }`
      })
  })
