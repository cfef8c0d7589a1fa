import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Cursor from "../src/Cursor.js"
import * as Legacy from "../src/Legacy.js"
import * as PageIndex from "../src/PageIndex.js"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as SToken from "../src/SToken.js"
import type * as Traversal from "../src/Traversal.js"
import * as VppClient from "../src/VppClient.js"
import * as VppError from "../src/VppError.js"
import * as ScriptedHttp from "./utils/scriptedHttp.js"

/**
 * The sToken's lifecycle as a caller sees it: an expired (9621), a revoked (9625) and an invalid (9622, 9722)
 * token are distinct `AuthError` reasons with distinct messages, on v2 and legacy responses alike; and the
 * `tokenExpirationDate` Apple adds to v2 responses when the token expires within 15 days reaches the caller as
 * `Outcome.tokenExpiresAt`.
 */

const canary = SToken.make({ secret: "LIFECYCLE-CANARY", orgName: "Canary", expiresAt: new Date("2031-01-01T00:00:00Z") })

const day = 86_400_000

type Reason = VppError.AuthError["reason"]

/** The words a message of each reason must contain, and the ones it must not. */
const keyword: Record<"expired" | "revoked" | "invalid", string> = { expired: "expired", revoked: "revoked", invalid: "invalid" }

const assertMessage = (error: VppError.AuthError, reason: "expired" | "revoked" | "invalid") => {
  assert.include(error.message, keyword[reason])
  for (const other of Object.keys(keyword) as Array<keyof typeof keyword>) {
    if (other !== reason) assert.notInclude(error.message, keyword[other], `${reason}: ${error.message}`)
  }
  assert.notInclude(error.message, Redacted.value(canary.value))
}

const scripted: ReadonlyArray<{
  readonly name: string
  readonly reply: ScriptedHttp.Reply
  readonly legacy?: boolean
  readonly reason: "expired" | "revoked" | "invalid"
  readonly errorNumber: number
}> = [
  { name: "v2 401 + 9621", reply: { status: 401, body: ScriptedHttp.appleError(9621) }, reason: "expired", errorNumber: 9621 },
  { name: "v2 401 + 9625", reply: { status: 401, body: ScriptedHttp.appleError(9625) }, reason: "revoked", errorNumber: 9625 },
  { name: "v2 401 + 9622", reply: { status: 401, body: ScriptedHttp.appleError(9622) }, reason: "invalid", errorNumber: 9622 },
  { name: "v2 200 + 9622", reply: { status: 200, body: ScriptedHttp.appleError(9622) }, reason: "invalid", errorNumber: 9622 },
  { name: "v2 401 + 9722", reply: { status: 401, body: ScriptedHttp.appleError(9722) }, reason: "invalid", errorNumber: 9722 },
  ...([[9621, "expired"], [9625, "revoked"], [9622, "invalid"]] as const).map(([errorNumber, reason]) => ({
    name: `legacy 200 + status -1 + ${errorNumber}`,
    reply: { status: 200, body: { status: -1, ...ScriptedHttp.appleError(errorNumber) } },
    legacy: true,
    reason,
    errorNumber
  }))
]

const failWith = (reply: ScriptedHttp.Reply, legacy: boolean) =>
  Effect.gen(function*() {
    const http = ScriptedHttp.make([reply])
    const client = yield* VppClient.make({ token: canary, baseUrl: "https://vpp.test/mdm", maxRequestsPerSecond: Infinity }).pipe(
      Effect.provide(http.layer)
    )
    const request: VppClient.Request = legacy
      ? { _tag: "LegacyPost", path: "/getVPPUsersSrv", body: {} }
      : { _tag: "Get", path: "/v2/users", params: {} }
    const error = yield* Effect.flip(client.execute(request, Schema.Unknown))
    assert.strictEqual(http.count(), 1, "an auth error is never retried")
    assert.strictEqual(error._tag, "AuthError")
    return error as VppError.AuthError
  })

/** A client holding `token` (by default the simulator's own) on the in-memory simulator. */
const clientOn = (sim: Simulator.Service, token: SToken.SToken = sim.token) =>
  VppClient.layer({ token, baseUrl: Simulator.testBaseUrl, maxRequestsPerSecond: Infinity }).pipe(
    Layer.provide(Layer.succeed(HttpClient.HttpClient, Simulator.makeHttpClient(sim)))
  )

/** One traversal of each family (v2 page-index, v2 cursor, legacy v1). */
const families: Record<string, () => Traversal.Traversal<unknown>> = {
  "page-index": () => PageIndex.users() as Traversal.Traversal<unknown>,
  cursor: () => Cursor.subscriptions() as Traversal.Traversal<unknown>,
  legacy: () => Legacy.users() as Traversal.Traversal<unknown>
}

const authFailure = (sim: Simulator.Service, family: string, token?: SToken.SToken) =>
  Effect.flip(families[family]!().run()).pipe(
    Effect.provide(clientOn(sim, token)),
    Effect.map((error) => {
      assert.strictEqual(error._tag, "AuthError", `${family}: ${error.message}`)
      return error as VppError.AuthError
    })
  )

describe("token lifecycle", () => {
  describe("expired, revoked and invalid are told apart", () => {
    for (const { errorNumber, legacy, name, reason, reply } of scripted) {
      it.effect(`${name} is an AuthError "${reason}" that says so`, () =>
        Effect.gen(function*() {
          const error = yield* failWith(reply, legacy === true)
          assert.strictEqual(error.reason, reason)
          assert.strictEqual(error.errorNumber, errorNumber)
          assertMessage(error, reason)
        }))
    }

    it.effect("every reason has its own message, and 9722 (unreadable header) is not worded as 9622", () =>
      Effect.gen(function*() {
        const messages = new Map<string, string>()
        for (const { errorNumber, legacy, reply } of scripted) {
          const error = yield* failWith(reply, legacy === true)
          messages.set(`${error.reason}:${errorNumber}`, error.message.replace(/ \(HTTP .*$/, ""))
        }
        const expired = messages.get("expired:9621")!
        const revoked = messages.get("revoked:9625")!
        const invalid = messages.get("invalid:9622")!
        const unreadable = messages.get("invalid:9722")!
        assert.strictEqual(new Set([expired, revoked, invalid, unreadable]).size, 4)
        assert.include(unreadable, "Authorization header")
        const reasons: ReadonlyArray<Reason> = ["expired", "revoked", "invalid", "login-required", "forbidden"]
        const all = reasons.map((reason) => new VppError.AuthError({ endpoint: "/v2/users", status: 401, reason }).message)
        assert.strictEqual(new Set(all).size, reasons.length)
      }))

    for (const family of Object.keys(families)) {
      it.effect(`the simulator's expired, revoked and unknown tokens fail a ${family} traversal with their reason`, () =>
        Effect.gen(function*() {
          // The TestClock starts at 0: a token that expired at 0 is expired.
          const expired = yield* authFailure(yield* Simulator.make({ tokenExpiresAt: new Date(0) }), family)
          assert.strictEqual(expired.reason, "expired")
          assert.strictEqual(expired.errorNumber, 9621)
          assertMessage(expired, "expired")

          const revoked = yield* authFailure(yield* Simulator.make({ revoked: true }), family)
          assert.strictEqual(revoked.reason, "revoked")
          assert.strictEqual(revoked.errorNumber, 9625)
          assertMessage(revoked, "revoked")

          // Apple's v2 may answer an unknown token with 9622 in a 200 body; legacy always answers with 200.
          const unknown = yield* authFailure(yield* Simulator.make({ invalidTokenStatus: 200 }), family, canary)
          assert.strictEqual(unknown.reason, "invalid")
          assert.strictEqual(unknown.errorNumber, 9622)
          assert.strictEqual(unknown.status, 200)
          assertMessage(unknown, "invalid")
        }))
    }
  })

  describe("tokenExpirationDate reaches the caller as Outcome.tokenExpiresAt", () => {
    const runAll = (settings: Simulator.Settings) =>
      Effect.gen(function*() {
        const sim = yield* Simulator.make({ pageSize: 7, ...settings })
        const run = (traversal: Traversal.Traversal<unknown>) => Effect.provide(traversal.run(), clientOn(sim))
        return {
          sim,
          parallel: yield* run(PageIndex.assignments() as Traversal.Traversal<unknown>),
          sequential: yield* run(PageIndex.users({ mode: "sequential" }) as Traversal.Traversal<unknown>),
          delta: yield* run(PageIndex.users({ sinceVersionId: yield* sim.versionId("users") }) as Traversal.Traversal<unknown>),
          cursor: yield* run(Cursor.subscriptionAssignments() as Traversal.Traversal<unknown>),
          legacy: yield* run(Legacy.licenses({ filters: { assignedOnly: true } }) as Traversal.Traversal<unknown>)
        }
      })

    it.effect("within 15 days of expiry: page-index and cursor outcomes carry the expiry; legacy has none", () =>
      Effect.gen(function*() {
        // The TestClock starts at 0: the token expires ten days (and a few seconds) from now.
        const { cursor, delta, legacy, parallel, sequential, sim } = yield* runAll({
          tokenExpirationDate: "within-15-days",
          tokenExpiresAt: new Date(10 * day + 1234)
        })
        // Apple's date has whole seconds, like the token's own expDate.
        assert.strictEqual(sim.token.expiresAt.getTime(), 10 * day + 1000)
        for (const [name, outcome] of Object.entries({ parallel, sequential, delta, cursor })) {
          assert.isDefined(outcome.tokenExpiresAt, name)
          assert.strictEqual(outcome.tokenExpiresAt!.getTime(), sim.token.expiresAt.getTime(), name)
        }
        assert.isAbove(parallel.pages, 1)
        assert.strictEqual(delta.records, 0)
        assert.isUndefined(legacy.tokenExpiresAt)
        assert.isFalse("tokenExpiresAt" in legacy)
      }))

    it.effect("further from expiry, where Apple leaves the field out: no tokenExpiresAt", () =>
      Effect.gen(function*() {
        const outcomes = yield* runAll({ tokenExpirationDate: "within-15-days", tokenExpiresAt: new Date(16 * day) })
        for (const name of ["parallel", "sequential", "delta", "cursor", "legacy"] as const) {
          assert.isFalse("tokenExpiresAt" in outcomes[name], name)
        }
      }))

    it.effect("a server that sends the field on every response: the date is there, far or near", () =>
      Effect.gen(function*() {
        const { cursor, parallel, sim } = yield* runAll({ tokenExpirationDate: "always" })
        assert.strictEqual(parallel.tokenExpiresAt?.toISOString(), "2030-11-08T22:33:22.000Z")
        assert.strictEqual(cursor.tokenExpiresAt?.getTime(), sim.token.expiresAt.getTime())
      }))

    it.effect("an unreadable tokenExpirationDate is ignored, not fatal", () =>
      Effect.gen(function*() {
        const page = {
          assets: [],
          currentPageIndex: 0,
          totalPages: 1,
          versionId: "v1",
          tokenExpirationDate: "soon"
        }
        const http = ScriptedHttp.make([{ body: page }])
        const outcome = yield* PageIndex.assets().run().pipe(
          Effect.provide(VppClient.layer({ token: canary, baseUrl: "https://vpp.test/mdm", maxRequestsPerSecond: Infinity })),
          Effect.provide(http.layer)
        )
        assert.strictEqual(outcome.pages, 1)
        assert.isFalse("tokenExpiresAt" in outcome)
      }))
  })
})
