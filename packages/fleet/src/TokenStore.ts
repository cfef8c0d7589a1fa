/**
 * The fleet's sTokens, kept encrypted at rest: each token is sealed with AES-256-GCM under the
 * {@link FleetKey.FleetKey} (a random 12-byte IV per token, the 16-byte authentication tag stored beside the
 * ciphertext, the token's fingerprint as additional authenticated data, so a sealed token moved to another row
 * does not open). Besides the sealed token a row holds what may be shown: the token's SHA-256 (its fingerprint,
 * as `location_tokens` of the sync store has it), an optional name, the location's `uId` when known, and the
 * organisation and expiry read from the token itself (an sToken carries them). Nothing here sends a token
 * anywhere or learns anything from the network.
 *
 * {@link layer} keeps them in SQL (SQLite or PostgreSQL, through `@effect/sql`) in {@link tokensTable}, created
 * and evolved by its own numbered migrations recorded in {@link migrationsTable}.
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as SToken from "@vppkit/core/SToken"
import * as SqlMigrations from "@vppkit/sync/SqlMigrations"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as crypto from "node:crypto"
import * as FleetKey from "./FleetKey.js"
import { addDefinitionColumn, createCoverageTable } from "./internal/coverage.js"
import { addRunnerColumn, createOutcomesTable } from "./internal/outcomesTable.js"

/**
 * A stored token as it may be shown: never the token.
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenInfo {
  /** The SHA-256 (hex) of the token, as `Sync.tokenFingerprint` computes it. */
  readonly fingerprint: string
  readonly name: string | undefined
  /** The location's library id (`uId`), when it was given. */
  readonly uId: string | undefined
  /** The organisation the token names. */
  readonly orgName: string
  /** The token's expiry, as the token states it. */
  readonly expiresAt: Date
  readonly addedAt: Date
}

/**
 * The stored tokens by location (`uId`; tokens stored without one name no location and are left out), each location
 * with its tokens and the latest of their expiries — the token a sync uses is the one that expires last
 * ({@link Service.forLocation}). In `uId` order.
 *
 * @since 0.1.0
 * @category models
 */
export const byLocation = (
  tokens: ReadonlyArray<TokenInfo>
): ReadonlyMap<string, { readonly tokens: ReadonlyArray<TokenInfo>; readonly expiresAt: Date }> => {
  const groups = new Map<string, Array<TokenInfo>>()
  for (const token of tokens) {
    if (token.uId === undefined) continue
    const group = groups.get(token.uId)
    if (group === undefined) groups.set(token.uId, [token])
    else group.push(token)
  }
  return new Map(
    [...groups.keys()].sort().map((uId) => {
      const group = groups.get(uId)!
      return [uId, { tokens: group, expiresAt: new Date(Math.max(...group.map((token) => token.expiresAt.getTime()))) }]
    })
  )
}

/**
 * Whole days left before `expiresAt` at `now` (milliseconds), rounded down: negative once it has passed.
 *
 * @since 0.1.0
 * @category models
 */
export const daysLeft = (expiresAt: Date, now: number): number => Math.floor((expiresAt.getTime() - now) / 86_400_000)

/**
 * What {@link Service.add} is given.
 *
 * @since 0.1.0
 * @category models
 */
export interface AddOptions {
  /** The token's text (a `.vpptoken` file's content: white space around it is ignored). */
  readonly token: Redacted.Redacted<string>
  readonly name?: string | undefined
  /** The location's library id, when the caller knows it (nothing is asked of Apple here). */
  readonly uId?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Seals and stores a token. A token stored already, or a name taken, is a {@link TokenConflictError}. */
  readonly add: (
    options: AddOptions
  ) => Effect.Effect<TokenInfo, SToken.InvalidTokenError | TokenConflictError | SqlError.SqlError>
  /** Removes the token a reference names (see {@link Service.token}); answers what it was. */
  readonly remove: (ref: string) => Effect.Effect<TokenInfo, TokenNotFoundError | SqlError.SqlError>
  /** Every stored token, by name, then fingerprint. */
  readonly list: Effect.Effect<ReadonlyArray<TokenInfo>, SqlError.SqlError>
  /**
   * The token a reference names: its name, else its fingerprint, else a unique fingerprint prefix of at least 8
   * hex digits. Opened with the key: one sealed under another key fails with a {@link TokenDecryptError}
   * (`wrong-key`), one altered with `tampered`.
   */
  readonly token: (ref: string) => Effect.Effect<SToken.SToken, TokenNotFoundError | TokenDecryptError | SqlError.SqlError>
  /** The token of a location (`uId`): of its tokens, the one that expires last. */
  readonly forLocation: (
    uId: string
  ) => Effect.Effect<SToken.SToken, TokenNotFoundError | TokenDecryptError | SqlError.SqlError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenStore extends Context.Tag("@vppkit/fleet/TokenStore")<TokenStore, Service>() {}

/**
 * The token is stored already (`token`: the same fingerprint), or another token has the name (`name`).
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenConflictError extends Schema.TaggedError<TokenConflictError>("@vppkit/fleet/TokenConflictError")(
  "TokenConflictError",
  { reason: Schema.Literal("token", "name"), fingerprint: Schema.String, name: Schema.optional(Schema.String) }
) {
  override get message(): string {
    return this.reason === "token"
      ? `the token ${this.fingerprint.slice(0, 12)} is stored already`
      : `another token is named ${JSON.stringify(this.name)}`
  }
}

/**
 * No stored token matches the reference (a name, a fingerprint or its prefix, or a location's `uId`), or a
 * fingerprint prefix matches several.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenNotFoundError extends Schema.TaggedError<TokenNotFoundError>("@vppkit/fleet/TokenNotFoundError")(
  "TokenNotFoundError",
  { ref: Schema.String, ambiguous: Schema.optionalWith(Schema.Boolean, { default: () => false }) }
) {
  override get message(): string {
    return this.ambiguous
      ? `${JSON.stringify(this.ref)} is the start of several tokens' fingerprints: give more of it`
      : `no stored token is ${JSON.stringify(this.ref)}`
  }
}

/**
 * A stored token cannot be opened: `wrong-key` (it was sealed under another key than the fleet's), `tampered`
 * (its row was altered: the authentication failed, or what it opened to is not the token it was).
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenDecryptError extends Schema.TaggedError<TokenDecryptError>("@vppkit/fleet/TokenDecryptError")(
  "TokenDecryptError",
  { reason: Schema.Literal("wrong-key", "tampered"), fingerprint: Schema.String }
) {
  override get message(): string {
    return this.reason === "wrong-key"
      ? `the token ${this.fingerprint.slice(0, 12)} was encrypted with another key than the one VPPKIT_FLEET_KEY_FILE names`
      : `the stored token ${this.fingerprint.slice(0, 12)} was altered: it does not authenticate`
  }
}

/**
 * The table of the tokens.
 *
 * @since 0.1.0
 * @category schema
 */
export const tokensTable = "vppkit_fleet_tokens"

/**
 * The table that records which of the fleet's migrations ran (apart from the sync store's and an application's).
 *
 * @since 0.1.0
 * @category schema
 */
export const migrationsTable = "vppkit_fleet_migrations"

const quote = (name: string) => `"${name.replace(/"/g, "\"\"")}"`

const migrations: Record<string, Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient>> = {
  "0001_tokens": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe(
      `CREATE TABLE IF NOT EXISTS ${quote(tokensTable)} (${
        [
          `${quote("fingerprint")} TEXT PRIMARY KEY`,
          `${quote("name")} TEXT UNIQUE`,
          `${quote("uid")} TEXT`,
          `${quote("org_name")} TEXT NOT NULL`,
          `${quote("expires_at")} TEXT NOT NULL`,
          `${quote("added_at")} TEXT NOT NULL`,
          `${quote("key_id")} TEXT NOT NULL`,
          `${quote("iv")} TEXT NOT NULL`,
          `${quote("ciphertext")} TEXT NOT NULL`,
          `${quote("auth_tag")} TEXT NOT NULL`
        ].join(", ")
      })`
    )),
  // The last run of each location (FleetStatus).
  "0002_outcomes": createOutcomesTable,
  // How far each schedule's ticks have covered (Schedules).
  "0003_schedules": createCoverageTable,
  // The runner of each last run (FleetStatus).
  "0004_runners": addRunnerColumn,
  // Each schedule's definition, for the next syncs fleet status tells (Schedules).
  "0005_schedule_definitions": addDefinitionColumn
}

/** The class of vppkit fleet's PostgreSQL advisory locks ("vpfl"). */
const advisoryClass = 0x7670666c

/**
 * Runs the migrations the database has not run yet; answers the ones it ran (`[id, name]`).
 *
 * @since 0.1.0
 * @category schema
 */
export const migrate: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError.SqlError,
  SqlClient.SqlClient
> = SqlMigrations.run({ table: migrationsTable, migrations, advisoryClass: advisoryClass, lock: "migrations" }).pipe(
  Effect.withSpan("TokenStore.migrate")
)

/** A row of {@link tokensTable}. */
type Row = {
  readonly fingerprint: string
  readonly name: string | null
  readonly uid: string | null
  readonly org_name: string
  readonly expires_at: string
  readonly added_at: string
  readonly key_id: string
  readonly iv: string
  readonly ciphertext: string
  readonly auth_tag: string
}

const infoOf = (row: Row): TokenInfo => ({
  fingerprint: row.fingerprint,
  name: row.name ?? undefined,
  uId: row.uid ?? undefined,
  orgName: row.org_name,
  expiresAt: new Date(row.expires_at),
  addedAt: new Date(row.added_at)
})

/**
 * The SHA-256 (hex) of a token's text (the same as `Sync.tokenFingerprint`).
 *
 * @since 0.1.0
 * @category encryption
 */
export const fingerprintOf = (token: SToken.SToken): string =>
  crypto.createHash("sha256").update(Redacted.value(token.value)).digest("hex")

const additionalData = (fingerprint: string) => Buffer.from(`vppkit-fleet-token\u0000${fingerprint}`)

/**
 * A token sealed under a key: AES-256-GCM, a random 12-byte IV, the fingerprint as additional data (Base64 text).
 *
 * @since 0.1.0
 * @category encryption
 */
export const seal = (key: FleetKey.Service, token: SToken.SToken, fingerprint: string) => {
  const iv = crypto.randomBytes(12)
  const cipher = crypto.createCipheriv("aes-256-gcm", Redacted.value(key.key), iv)
  cipher.setAAD(additionalData(fingerprint))
  const ciphertext = Buffer.concat([cipher.update(Redacted.value(token.value), "utf8"), cipher.final()])
  return {
    key_id: key.id,
    iv: iv.toString("base64"),
    ciphertext: ciphertext.toString("base64"),
    auth_tag: cipher.getAuthTag().toString("base64")
  }
}

/**
 * Opens a sealed token: it must authenticate under the key and open to a token of its fingerprint.
 *
 * @since 0.1.0
 * @category encryption
 */
export const open = (
  key: FleetKey.Service,
  sealed: Pick<Row, "fingerprint" | "key_id" | "iv" | "ciphertext" | "auth_tag">
): Effect.Effect<SToken.SToken, TokenDecryptError> => {
  const fail = (reason: TokenDecryptError["reason"]) =>
    Effect.fail(new TokenDecryptError({ reason, fingerprint: sealed.fingerprint }))
  if (sealed.key_id !== key.id) return fail("wrong-key")
  let text: string
  try {
    const iv = Buffer.from(sealed.iv, "base64")
    const tag = Buffer.from(sealed.auth_tag, "base64")
    if (iv.length !== 12 || tag.length !== 16) return fail("tampered")
    const decipher = crypto.createDecipheriv("aes-256-gcm", Redacted.value(key.key), iv, { authTagLength: 16 })
    decipher.setAAD(additionalData(sealed.fingerprint))
    decipher.setAuthTag(tag)
    text = Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, "base64")), decipher.final()]).toString("utf8")
  } catch {
    return fail("tampered")
  }
  const token = SToken.decode(text)
  if (Either.isLeft(token) || fingerprintOf(token.right) !== sealed.fingerprint) return fail("tampered")
  return Effect.succeed(token.right)
}

const hexPrefix = /^[0-9a-f]{8,64}$/

/**
 * The token store over SQL; its migrations run as it is built.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<
  Service,
  Migrator.MigrationError | SqlError.SqlError,
  SqlClient.SqlClient | FleetKey.FleetKey
> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const key = yield* FleetKey.FleetKey
  yield* migrate
  const table = sql(tokensTable)

  const resolve = (ref: string): Effect.Effect<Row, TokenNotFoundError | SqlError.SqlError> =>
    Effect.gen(function*() {
      const byName = yield* (sql<Row>`SELECT * FROM ${table} WHERE ${sql("name")} = ${ref}`)
      if (byName.length > 0) return byName[0]!
      const lower = ref.toLowerCase()
      if (!hexPrefix.test(lower)) return yield* new TokenNotFoundError({ ref })
      const byPrefix = yield* (
        sql<Row>`SELECT * FROM ${table} WHERE ${sql("fingerprint")} LIKE ${`${lower}%`}`
      )
      const exact = byPrefix.find((row) => row.fingerprint === lower)
      if (exact !== undefined) return exact
      if (byPrefix.length === 1) return byPrefix[0]!
      return yield* new TokenNotFoundError({ ref, ambiguous: byPrefix.length > 1 })
    })

  const add = Effect.fn("TokenStore.add")(function*(options: AddOptions) {
    const token = yield* SToken.decode(Redacted.value(options.token))
    const fingerprint = fingerprintOf(token)
    const name = options.name === undefined || options.name.trim() === "" ? undefined : options.name.trim()
    const uId = options.uId === undefined || options.uId === "" ? undefined : options.uId
    const addedAt = new Date(yield* Clock.currentTimeMillis)
    return yield* sql.withTransaction(Effect.gen(function*() {
      const same = yield* (sql<Row>`SELECT * FROM ${table} WHERE ${sql("fingerprint")} = ${fingerprint}`)
      if (same.length > 0) return yield* new TokenConflictError({ reason: "token", fingerprint })
      if (name !== undefined) {
        const named = yield* (sql<Row>`SELECT * FROM ${table} WHERE ${sql("name")} = ${name}`)
        if (named.length > 0) return yield* new TokenConflictError({ reason: "name", fingerprint, name })
      }
      const row: Row = {
        fingerprint,
        name: name ?? null,
        uid: uId ?? null,
        org_name: token.orgName,
        expires_at: token.expiresAt.toISOString(),
        added_at: addedAt.toISOString(),
        ...seal(key, token, fingerprint)
      }
      yield* sql`INSERT INTO ${table} ${sql.insert(row)}`
      return infoOf(row)
    }))
  })

  const remove = Effect.fn("TokenStore.remove")(function*(ref: string) {
    return yield* sql.withTransaction(Effect.gen(function*() {
      const row = yield* resolve(ref)
      yield* sql`DELETE FROM ${table} WHERE ${sql("fingerprint")} = ${row.fingerprint}`
      return infoOf(row)
    }))
  })

  const list = Effect.map(
    sql<Row>`SELECT * FROM ${table}`,
    (rows) =>
      rows.map(infoOf).sort((a, b) =>
        a.name === b.name
          ? a.fingerprint < b.fingerprint ? -1 : 1
          : a.name === undefined
          ? 1
          : b.name === undefined
          ? -1
          : a.name < b.name
          ? -1
          : 1
      )
  ).pipe(Effect.withSpan("TokenStore.list"))

  const token = Effect.fn("TokenStore.token")(function*(ref: string) {
    return yield* open(key, yield* resolve(ref))
  })

  const forLocation = Effect.fn("TokenStore.forLocation")(function*(uId: string) {
    const rows = yield* (sql<Row>`SELECT * FROM ${table} WHERE ${sql("uid")} = ${uId}`)
    if (rows.length === 0) return yield* new TokenNotFoundError({ ref: uId })
    const latest = rows.reduce((a, b) => (b.expires_at > a.expires_at ? b : a))
    return yield* open(key, latest)
  })

  return { add, remove, list, token, forLocation }
})

/**
 * The token store over the `SqlClient`, sealed with the {@link FleetKey.FleetKey}; its migrations run as it is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  TokenStore,
  Migrator.MigrationError | SqlError.SqlError,
  SqlClient.SqlClient | FleetKey.FleetKey
> = Layer.effect(TokenStore, make)
