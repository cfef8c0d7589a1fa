/**
 * The content token (sToken): a Base64-encoded JSON object `{ token, expDate, orgName }` that Apple
 * School/Business Manager issues per location. vppkit holds it as `Redacted` so it never reaches a log,
 * an error message, a span or a database; its expiry and organisation are readable offline.
 *
 * @since 0.1.0
 */
import * as Encoding from "effect/Encoding"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/**
 * A decoded sToken.
 *
 * @since 0.1.0
 * @category models
 */
export interface SToken {
  /** The whole Base64 string, exactly as it is sent to Apple. */
  readonly value: Redacted.Redacted<string>
  readonly orgName: string
  readonly expiresAt: Date
}

/**
 * The token text could not be read as an sToken. The message never quotes the token.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidTokenError extends Schema.TaggedError<InvalidTokenError>("@vppkit/core/InvalidTokenError")(
  "InvalidTokenError",
  { reason: Schema.String }
) {
  override get message(): string {
    return `the sToken is malformed: ${this.reason}`
  }
}

const TokenJson = Schema.Struct({
  token: Schema.String,
  expDate: Schema.String,
  orgName: Schema.String
})

const offsetDate = /^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?$/

/**
 * Parses Apple's token dates: `2030-11-08T22:33:22+0000`, `2014-08-15T18:13:52-0700`, and RFC 3339
 * (`…+00:00`, `…Z`). A date without an offset is read as UTC, as Apple shows every date in UTC.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseAppleDate = (text: string): Date | undefined => {
  const match = offsetDate.exec(text.trim())
  if (match === null) return undefined
  const local = match[1]!.replace(" ", "T")
  const zone = match[2] ?? "Z"
  const normalized = zone === "Z" ? "Z" : `${zone.slice(0, 3)}:${zone.slice(-2)}`
  const millis = Date.parse(`${local}${normalized}`)
  if (Number.isNaN(millis)) return undefined
  // Date.parse rolls impossible days over (2030-02-31 → March 3): the calendar date must survive the round trip.
  const [year, month, day] = local.slice(0, 10).split("-").map(Number) as [number, number, number]
  const calendar = new Date(Date.UTC(year, month - 1, day))
  if (calendar.getUTCFullYear() !== year || calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day) {
    return undefined
  }
  return new Date(millis)
}

const base64 = /^[A-Za-z0-9+/=\s]+$/

/**
 * Decodes an sToken (surrounding white space is ignored, as in a downloaded `.vpptoken` file).
 *
 * @since 0.1.0
 * @category parsing
 */
export const decode = (text: string): Either.Either<SToken, InvalidTokenError> => {
  const raw = text.trim()
  if (raw.length === 0) return Either.left(new InvalidTokenError({ reason: "it is empty" }))
  if (!base64.test(raw)) {
    return Either.left(new InvalidTokenError({ reason: "it is not Base64 text (is this the right file?)" }))
  }
  const decoded = Encoding.decodeBase64String(raw.replace(/\s+/g, ""))
  if (Either.isLeft(decoded)) return Either.left(new InvalidTokenError({ reason: "it is not valid Base64" }))
  let json: unknown
  try {
    json = JSON.parse(decoded.right)
  } catch {
    return Either.left(new InvalidTokenError({ reason: "its Base64 content is not JSON" }))
  }
  const fields = Schema.decodeUnknownEither(TokenJson)(json)
  if (Either.isLeft(fields)) {
    return Either.left(new InvalidTokenError({ reason: "it lacks the fields token, expDate and orgName" }))
  }
  const expiresAt = parseAppleDate(fields.right.expDate)
  if (expiresAt === undefined) {
    return Either.left(new InvalidTokenError({ reason: "its expDate is not a date" }))
  }
  return Either.right({ value: Redacted.make(raw), orgName: fields.right.orgName, expiresAt })
}

/**
 * Builds an sToken, e.g. for the simulator and tests. `expDate` is written in Apple's format.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: { readonly secret: string; readonly orgName: string; readonly expiresAt: Date }): SToken => {
  // Apple's format has whole seconds: the token made must agree with the token read back.
  const expiresAt = new Date(Math.floor(options.expiresAt.getTime() / 1000) * 1000)
  const expDate = expiresAt.toISOString().replace(/\.\d{3}Z$/, "+0000")
  const raw = Encoding.encodeBase64(JSON.stringify({ token: options.secret, expDate, orgName: options.orgName }))
  return { value: Redacted.make(raw), orgName: options.orgName, expiresAt }
}

/**
 * Whole days from `now` until the token expires (negative once expired).
 *
 * @since 0.1.0
 * @category getters
 */
export const daysLeft = (token: SToken, now: Date): number =>
  Math.floor((token.expiresAt.getTime() - now.getTime()) / 86_400_000)

/**
 * Whether the token has expired at `now`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isExpired = (token: SToken, now: Date): boolean => token.expiresAt.getTime() <= now.getTime()
