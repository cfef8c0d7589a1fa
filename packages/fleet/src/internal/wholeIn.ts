import * as Either from "effect/Either"

/**
 * A check of a whole-number option: `check(name, value, min, max)` answers `value` when it is a whole number from
 * `min` to `max`, else `fail` of a reason naming the option (`the full pass's window … must be a whole number from 1
 * to 1440, not 0`).
 */
export const wholeIn = <E>(fail: (reason: string) => E) =>
(name: string, value: number, min: number, max: number): Either.Either<number, E> =>
  Number.isInteger(value) && value >= min && value <= max
    ? Either.right(value)
    : Either.left(fail(`${name} must be a whole number from ${min} to ${max}, not ${value}`))
