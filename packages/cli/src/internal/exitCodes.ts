/**
 * The exit codes themselves and how an interruption ends, apart from {@link ExitCode}'s classification of
 * errors (which needs @effect/cli and the client's errors): the bin reads these before it has loaded any command.
 */
import * as Effect from "effect/Effect"

/**
 * @since 0.1.0
 * @category codes
 */
export const ok = 0
/**
 * @since 0.1.0
 * @category codes
 */
export const failure = 1
/**
 * @since 0.1.0
 * @category codes
 */
export const usage = 2
/**
 * @since 0.1.0
 * @category codes
 */
export const token = 3
/**
 * @since 0.1.0
 * @category codes
 */
export const gaveUp = 4
/**
 * Incomplete: the data changed while it was read, so records may be missing or repeated.
 *
 * @since 0.1.0
 * @category codes
 */
export const incomplete = 5
/**
 * Another `vppkit sync` holds the database: this run did nothing (a scheduler may simply try again later).
 *
 * @since 0.1.0
 * @category codes
 */
export const busy = 6
/**
 * Interrupted by SIGINT or SIGTERM (the shell's 128 + 2).
 *
 * @since 0.1.0
 * @category codes
 */
export const interrupted = 130

let stopEndsWithOk = false

/**
 * Marks the running command as one that runs until it is stopped (`mock-server`, once it serves): SIGINT or
 * SIGTERM then end it with {@link ok}, not {@link interrupted}: stopping a server on request is its normal end.
 *
 * @since 0.1.0
 * @category codes
 */
export const markStopAsSuccess: Effect.Effect<void> = Effect.sync(() => {
  stopEndsWithOk = true
})

/**
 * The exit code of a run ended by SIGINT or SIGTERM: {@link interrupted}, or {@link ok} for a command marked
 * with {@link markStopAsSuccess}.
 *
 * @since 0.1.0
 * @category codes
 */
export const ofInterruption = (): number => stopEndsWithOk ? ok : interrupted
