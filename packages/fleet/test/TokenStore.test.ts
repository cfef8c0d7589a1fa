import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it, layer } from "@effect/vitest"
import * as SToken from "@vppkit/core/SToken"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as FleetKey from "../src/FleetKey.js"
import * as TokenStore from "../src/TokenStore.js"
import { backends, TestDatabase } from "../../node/test/support/postgres.js"

/**
 * The token store over SQLite and PostgreSQL (the same cases on both: a fresh database per test), and the fleet key
 * read from its file.
 */

const tokenOf = (secret: string, expiresAt: string, orgName = "Example School") =>
  SToken.make({ secret, orgName, expiresAt: new Date(expiresAt) })

const text = (token: SToken.SToken) => Redacted.value(token.value)

/** A token store over a fresh database of the backend, sealed with `key`; answers its `--db` value too. */
const storeLayer = (db: string, key: Uint8Array) =>
  TokenStore.layer.pipe(Layer.provideMerge(Layer.merge(NodeDatabase.layer(db), FleetKey.layer(key))))

const withStore = <A, E>(
  body: (db: string, key: Uint8Array) => Effect.Effect<A, E, TokenStore.TokenStore | SqlClient.SqlClient | FleetKey.FleetKey>
) =>
  Effect.gen(function*() {
    const db = yield* (yield* TestDatabase).fresh
    const key = crypto.randomBytes(32)
    return yield* body(db, key).pipe(Effect.provide(storeLayer(db, key)))
  })

/** Runs `effect` with another store over the same database, under `key`. */
const withKey = <A, E>(db: string, key: Uint8Array, effect: Effect.Effect<A, E, TokenStore.TokenStore | SqlClient.SqlClient>) =>
  Effect.provide(effect, storeLayer(db, key))

/** Every table of the database (SQLite's `sqlite_master`, PostgreSQL's current schema). */
const tables = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql.onDialectOrElse({
      pg: () =>
        sql<{ readonly name: string }>`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()`,
      orElse: () => sql<{ readonly name: string }>`SELECT ${sql("name")} FROM ${sql("sqlite_master")} WHERE ${sql("type")} = ${"table"}`
    }),
    (rows) => rows.map((row) => row.name)
  ))

const TokenStoreService = TokenStore.TokenStore

/** Sets a column of a token's row. */
const setColumn = (fingerprint: string, column: string, value: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`UPDATE ${sql(TokenStore.tokensTable)} SET ${sql(column)} = ${value} WHERE ${sql("fingerprint")} = ${fingerprint}`)

const columnOf = (fingerprint: string, column: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<Record<string, string>>`SELECT ${sql(column)} FROM ${sql(TokenStore.tokensTable)} WHERE ${sql("fingerprint")} = ${fingerprint}`,
      (rows) => rows[0]![column]!
    ))

/** Flips one bit of the Base64 value's `index`th byte. */
const flip = (base64: string, index = 0) => {
  const bytes = Buffer.from(base64, "base64")
  bytes[index] = bytes[index]! ^ 0x01
  return bytes.toString("base64")
}

const failureOf = <A, E>(effect: Effect.Effect<A, E, TokenStore.TokenStore>) => Effect.flip(effect)

// Declared before the backends' suites: @effect/vitest's `layer` patches the shared `it`.
describe("tokens by location", () => {
  it("groups by uId (in order), leaves out tokens naming no location, and takes the latest expiry; days left round down", () => {
    const info = (fingerprint: string, uId: string | undefined, expiresAt: string): TokenStore.TokenInfo => ({
      fingerprint,
      name: undefined,
      uId,
      orgName: "Example School",
      expiresAt: new Date(expiresAt),
      addedAt: new Date("2026-01-01T00:00:00Z")
    })
    const tokens = [
      info("a", "2049", "2026-12-10T00:00:00Z"),
      info("b", undefined, "2027-01-01T00:00:00Z"),
      info("c", "1001", "2026-12-08T00:00:00Z"),
      info("d", "2049", "2026-12-20T00:00:00Z")
    ]
    const locations = TokenStore.byLocation(tokens)
    assert.deepStrictEqual([...locations.keys()], ["1001", "2049"])
    assert.deepStrictEqual(locations.get("2049")!.tokens.map((t) => t.fingerprint), ["a", "d"])
    assert.strictEqual(locations.get("2049")!.expiresAt.toISOString(), "2026-12-20T00:00:00.000Z")
    const now = Date.parse("2026-12-05T12:00:00Z")
    assert.strictEqual(TokenStore.daysLeft(locations.get("1001")!.expiresAt, now), 2)
    assert.strictEqual(TokenStore.daysLeft(new Date("2026-12-05T00:00:00Z"), now), -1)
  })
})

describe("FleetKey", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vppkit-fleet-key-"))
  const write = (name: string, content: Uint8Array | string) => {
    const file = path.join(dir, name)
    fs.writeFileSync(file, content)
    return file
  }
  const load = (variable: string | undefined) =>
    Effect.flatMap(FleetKey.FleetKey, Effect.succeed).pipe(
      Effect.provide(FleetKey.layerConfig),
      Effect.provide(NodeFileSystem.layer),
      Effect.withConfigProvider(
        ConfigProvider.fromMap(new Map(variable === undefined ? [] : [[FleetKey.keyFileVariable, variable]]))
      )
    )

  it.effect("reads 32 bytes, 64 hex digits or Base64 of 32 bytes from VPPKIT_FLEET_KEY_FILE", () =>
    Effect.gen(function*() {
      const bytes = crypto.randomBytes(32)
      for (
        const file of [
          write("raw.key", bytes),
          write("hex.key", `${bytes.toString("hex")}\n`),
          write("b64.key", `  ${bytes.toString("base64")}\n`)
        ]
      ) {
        const key = yield* load(file)
        assert.deepStrictEqual(Buffer.from(Redacted.value(key.key)), bytes, file)
        assert.strictEqual(key.id, FleetKey.idOf(bytes))
        assert.notInclude(key.id, bytes.toString("hex").slice(0, 8))
      }
    }))

  it.effect("refuses to start without a key: unset, unreadable, or not 32 bytes, with a typed error naming why", () =>
    Effect.gen(function*() {
      const reasons: Array<[string | undefined, string]> = [
        [undefined, "missing"],
        ["", "missing"],
        [path.join(dir, "absent.key"), "unreadable"],
        [write("short.key", crypto.randomBytes(31)), "size"],
        [write("long.key", crypto.randomBytes(33)), "size"],
        [write("hex-short.key", crypto.randomBytes(31).toString("hex")), "size"],
        [write("b64-long.key", crypto.randomBytes(33).toString("base64")), "size"]
      ]
      for (const [file, reason] of reasons) {
        const error = yield* Effect.flip(load(file))
        assert.strictEqual(error._tag, "FleetKeyError")
        assert.strictEqual(error.reason, reason, String(file))
        assert.include(error.message, FleetKey.keyFileVariable)
      }
    }))
})

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`TokenStore (${backend.name})`, () => {
    layer(backend.layer, { excludeTestServices: true })((it) => {
      it.scoped("tokens round-trip: added, listed without the token, opened by name, fingerprint or location, removed", () =>
        withStore(() =>
          Effect.gen(function*() {
            const store = yield* TokenStoreService
            const a = tokenOf("secret-a-0123456789", "2031-01-02T03:04:05Z")
            const b = tokenOf("secret-b-0123456789", "2030-06-07T08:09:10Z", "Other District")
            const b2 = tokenOf("secret-b2-0123456789", "2032-06-07T08:09:10Z", "Other District")
            const infoA = yield* store.add({ token: a.value, name: "north" })
            const infoB = yield* store.add({ token: Redacted.make(`\n ${text(b)}\n`), uId: "2049025000431439" })
            yield* store.add({ token: b2.value, name: "b-new", uId: "2049025000431439" })

            assert.deepStrictEqual(infoA.fingerprint, crypto.createHash("sha256").update(text(a)).digest("hex"))
            assert.strictEqual(infoB.name, undefined)
            const listed = yield* store.list
            assert.deepStrictEqual(
              listed.map((info) => [info.name, info.uId, info.orgName, info.expiresAt.toISOString()]),
              [
                ["b-new", "2049025000431439", "Other District", "2032-06-07T08:09:10.000Z"],
                ["north", undefined, "Example School", "2031-01-02T03:04:05.000Z"],
                [undefined, "2049025000431439", "Other District", "2030-06-07T08:09:10.000Z"]
              ]
            )
            assert.isFalse(JSON.stringify(listed).includes(text(a)))

            assert.strictEqual(text(yield* store.token("north")), text(a))
            assert.strictEqual(text(yield* store.token(infoB.fingerprint)), text(b))
            assert.strictEqual(text(yield* store.token(infoB.fingerprint.slice(0, 10).toUpperCase())), text(b))
            // of a location's tokens, the one that expires last
            assert.strictEqual(text(yield* store.forLocation("2049025000431439")), text(b2))
            assert.strictEqual((yield* failureOf(store.forLocation("1")))._tag, "TokenNotFoundError")

            const again = yield* failureOf(store.add({ token: a.value }))
            assert.strictEqual(again._tag, "TokenConflictError")
            assert.strictEqual((again as TokenStore.TokenConflictError).reason, "token")
            const named = yield* failureOf(store.add({ token: tokenOf("secret-c", "2031-01-01T00:00:00Z").value, name: "north" }))
            assert.strictEqual((named as TokenStore.TokenConflictError).reason, "name")
            assert.strictEqual((yield* failureOf(store.add({ token: Redacted.make("not a token") })))._tag, "InvalidTokenError")
            assert.strictEqual((yield* failureOf(store.token("nobody")))._tag, "TokenNotFoundError")

            const removed = yield* store.remove("north")
            assert.strictEqual(removed.fingerprint, infoA.fingerprint)
            assert.deepStrictEqual((yield* store.list).map((info) => info.fingerprint).includes(infoA.fingerprint), false)
            assert.strictEqual((yield* failureOf(store.token("north")))._tag, "TokenNotFoundError")
            assert.strictEqual((yield* failureOf(store.remove("north")))._tag, "TokenNotFoundError")
            assert.strictEqual((yield* store.list).length, 2)
          })
        ))

      it.scoped("the database holds neither a token's text, nor its Base64, nor its secret, nor the key, in any column of any table", () =>
        withStore((db, key) =>
          Effect.gen(function*() {
            const store = yield* TokenStoreService
            const tokens = [
              tokenOf("a-very-recognisable-secret-0001", "2031-01-02T03:04:05Z"),
              tokenOf("a-very-recognisable-secret-0002", "2031-01-02T03:04:05Z")
            ]
            yield* store.add({ token: tokens[0]!.value, name: "one", uId: "111" })
            yield* store.add({ token: tokens[1]!.value })
            const needles = tokens.flatMap((token) => [
              text(token),
              text(token).slice(8, 40),
              Buffer.from(text(token)).toString("base64"),
              Buffer.from(text(token)).toString("hex"),
              token === tokens[0] ? "a-very-recognisable-secret-0001" : "a-very-recognisable-secret-0002"
            ]).concat([Buffer.from(key).toString("hex"), Buffer.from(key).toString("base64")])
            const sql = yield* SqlClient.SqlClient
            const names = yield* tables
            assert.include(names, TokenStore.tokensTable)
            assert.include(names, TokenStore.migrationsTable)
            let scanned = 0
            for (const table of names) {
              const rows = yield* sql<Record<string, unknown>>`SELECT * FROM ${sql(table)}`
              for (const row of rows) {
                for (const [column, value] of Object.entries(row)) {
                  scanned++
                  const shown = value instanceof Uint8Array ? Buffer.from(value).toString("latin1") : String(value)
                  for (const needle of needles) assert.isFalse(shown.includes(needle), `${table}.${column}`)
                }
              }
            }
            assert.isAtLeast(scanned, 2 * 10)
            // SQLite: nor the file or its WAL
            for (const file of [db, `${db}-wal`]) {
              if (fs.existsSync(file)) {
                const bytes = fs.readFileSync(file)
                for (const needle of needles) assert.strictEqual(bytes.indexOf(Buffer.from(needle)), -1, file)
              }
            }
            // and yet they open
            assert.strictEqual(text(yield* store.token("one")), text(tokens[0]!))
          })
        ))

      it.scoped("a token sealed under another key fails with a typed error, never opening to something else", () =>
        withStore((db) =>
          Effect.gen(function*() {
            const token = tokenOf("secret-under-key-one", "2031-01-02T03:04:05Z")
            const info = yield* (yield* TokenStoreService).add({ token: token.value, name: "one", uId: "42" })
            const other = crypto.randomBytes(32)
            const wrong = yield* withKey(db, other, Effect.flatMap(TokenStoreService, (store) => Effect.flip(store.token("one"))))
            assert.strictEqual(wrong._tag, "TokenDecryptError")
            assert.strictEqual((wrong as TokenStore.TokenDecryptError).reason, "wrong-key")
            assert.strictEqual(
              (yield* withKey(db, other, Effect.flatMap(TokenStoreService, (store) => Effect.flip(store.forLocation("42")))))._tag,
              "TokenDecryptError"
            )
            // the list needs no key
            assert.deepStrictEqual(
              (yield* withKey(db, other, Effect.flatMap(TokenStoreService, (store) => store.list))).map((i) => i.fingerprint),
              [info.fingerprint]
            )
            // with the other key's id written in, AES-GCM itself refuses the other key: no garbage comes out
            yield* setColumn(info.fingerprint, "key_id", FleetKey.idOf(other))
            const forged = yield* withKey(db, other, Effect.flatMap(TokenStoreService, (store) => Effect.flip(store.token("one"))))
            assert.strictEqual((forged as TokenStore.TokenDecryptError).reason, "tampered")
          })
        ))

      it.scoped("a sealed token altered in the database (ciphertext, tag, IV, moved to another row) fails as tampered", () =>
        withStore((_db, key) =>
          Effect.gen(function*() {
            const store = yield* TokenStoreService
            const one = yield* store.add({ token: tokenOf("secret-one", "2031-01-02T03:04:05Z").value, name: "one" })
            const two = yield* store.add({ token: tokenOf("secret-two", "2031-01-02T03:04:05Z").value, name: "two" })
            const expectTampered = Effect.gen(function*() {
              const error = yield* failureOf(store.token("one"))
              assert.strictEqual(error._tag, "TokenDecryptError")
              assert.strictEqual((error as TokenStore.TokenDecryptError).reason, "tampered")
            })
            const tokenOne = text(yield* store.token("one"))
            for (const column of ["ciphertext", "auth_tag", "iv"]) {
              const original = yield* columnOf(one.fingerprint, column)
              yield* setColumn(one.fingerprint, column, flip(original, 3))
              yield* expectTampered
              yield* setColumn(one.fingerprint, column, original)
              assert.strictEqual(text(yield* store.token("one")), tokenOne, column)
            }
            // the other row's sealed token, whole, in this row: the additional data (the fingerprint) refuses it
            for (const column of ["iv", "ciphertext", "auth_tag"]) {
              yield* setColumn(one.fingerprint, column, yield* columnOf(two.fingerprint, column))
            }
            yield* expectTampered
            // truncated values are refused too, not thrown
            yield* setColumn(one.fingerprint, "auth_tag", "AAAA")
            yield* expectTampered
            assert.strictEqual(key.length, 32)
          })
        ))
    })
  })
}
