/**
 * The key that encrypts the fleet's sTokens at rest (AES-256-GCM, {@link TokenStore}): 32 bytes from the file that
 * `VPPKIT_FLEET_KEY_FILE` names. The file holds the 32 bytes themselves (`openssl rand 32 > fleet.key`), or them as
 * 64 hexadecimal digits or as Base64 (`openssl rand -base64 32 > fleet.key`); surrounding white space of a text
 * key is ignored. Anything else is refused with a {@link FleetKeyError}: the fleet does not start without its key.
 *
 * The key is held as `Redacted`; its {@link Service.id} (a digest that cannot be turned back into the key) is stored
 * beside each token, so that a token encrypted under another key is told apart from a token tampered with.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as crypto from "node:crypto"

/**
 * The environment variable that names the key file.
 *
 * @since 0.1.0
 * @category config
 */
export const keyFileVariable = "VPPKIT_FLEET_KEY_FILE"

/**
 * Bytes in a key (AES-256).
 *
 * @since 0.1.0
 * @category models
 */
export const keyBytes = 32

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The 32 bytes of the key. */
  readonly key: Redacted.Redacted<Uint8Array>
  /** The key's id: 16 hex digits of a SHA-256 over a label and the key (never the key). */
  readonly id: string
}

/**
 * @since 0.1.0
 * @category tags
 */
export class FleetKey extends Context.Tag("@vppkit/fleet/FleetKey")<FleetKey, Service>() {}

/**
 * The key cannot be had: `missing` (`VPPKIT_FLEET_KEY_FILE` unset or empty), `unreadable` (the file cannot be
 * read), `size` (its content is not a 32-byte key). The message names the file, never its content.
 *
 * @since 0.1.0
 * @category errors
 */
export class FleetKeyError extends Schema.TaggedError<FleetKeyError>("@vppkit/fleet/FleetKeyError")("FleetKeyError", {
  reason: Schema.Literal("missing", "unreadable", "size"),
  message: Schema.String
}) {}

/**
 * The key's id (see {@link Service.id}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const idOf = (key: Uint8Array): string =>
  crypto.createHash("sha256").update("vppkit-fleet-key-id\u0000").update(key).digest("hex").slice(0, 16)

/**
 * A key from its 32 bytes; any other length is a {@link FleetKeyError} (`size`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (key: Uint8Array): Effect.Effect<Service, FleetKeyError> =>
  key.length === keyBytes
    ? Effect.succeed({ key: Redacted.make(Uint8Array.from(key)), id: idOf(key) })
    : Effect.fail(
      new FleetKeyError({ reason: "size", message: `the fleet key has ${key.length} bytes, not ${keyBytes}` })
    )

const hex = /^[0-9a-fA-F]{64}$/
const base64 = /^[A-Za-z0-9+/]{43}=$/

/**
 * The key a key file's content holds: 32 bytes, or 64 hex digits, or Base64 of 32 bytes (white space around a
 * text key ignored). Answers `undefined` for anything else.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (content: Uint8Array): Uint8Array | undefined => {
  if (content.length === keyBytes) return content
  if (content.length > 128) return undefined
  const text = Buffer.from(content).toString("latin1").trim()
  if (hex.test(text)) return Uint8Array.from(Buffer.from(text, "hex"))
  if (base64.test(text)) {
    const bytes = Buffer.from(text, "base64")
    return bytes.length === keyBytes ? Uint8Array.from(bytes) : undefined
  }
  return undefined
}

/**
 * Reads the key from the file `path`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromFile = (path: string): Effect.Effect<Service, FleetKeyError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const content = yield* Effect.mapError(
      fs.readFile(path),
      (error) =>
        new FleetKeyError({
          reason: "unreadable",
          message: `${keyFileVariable}: cannot read ${path}: ${
            error._tag === "SystemError" ? error.reason : "not a readable file"
          }`
        })
    )
    const key = parse(content)
    if (key === undefined) {
      return yield* new FleetKeyError({
        reason: "size",
        message:
          `${keyFileVariable}: ${path} does not hold a ${keyBytes}-byte key (its ${keyBytes} bytes, 64 hex digits or Base64; make one with \`openssl rand 32 > ${path}\`)`
      })
    }
    return yield* make(key)
  }).pipe(Effect.withSpan("FleetKey.fromFile"))

/**
 * The key from the file `VPPKIT_FLEET_KEY_FILE` names (the current `ConfigProvider`, the environment by default),
 * read with the runtime's `FileSystem`. Fails with a {@link FleetKeyError} when the variable is unset or empty, the
 * file cannot be read, or it holds no 32-byte key.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<FleetKey, FleetKeyError, FileSystem.FileSystem> = Layer.effect(
  FleetKey,
  Effect.gen(function*() {
    const path = yield* Config.string(keyFileVariable).pipe(
      Config.withDefault(""),
      Effect.mapError((error) => new FleetKeyError({ reason: "missing", message: `${keyFileVariable}: ${error.message}` }))
    )
    if (path.trim() === "") {
      return yield* new FleetKeyError({
        reason: "missing",
        message:
          `${keyFileVariable} is not set: the fleet keeps its sTokens encrypted and does not start without its key (a file of ${keyBytes} random bytes: \`openssl rand 32 > fleet.key\`)`
      })
    }
    return yield* fromFile(path)
  })
)

/**
 * A key of the given 32 bytes (tests, or an application that keeps its key elsewhere).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (key: Uint8Array): Layer.Layer<FleetKey, FleetKeyError> => Layer.effect(FleetKey, make(key))
