import { assert, describe, it } from "@effect/vitest"
import * as SToken from "@vppkit/core/SToken"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { afterAll } from "vitest"
import { serve, temporaryDirectorySync, writeToken } from "./helpers/cli.js"
import { assertFailure, run, runBin } from "./support/bin.js"

const secret = "canary-secret-7e1d"
const days = (n: number) => new Date(Date.now() + n * 86_400_000)
const tokenFor = (expiresAt: Date, orgName = "Canary School") =>
  Redacted.value(SToken.make({ secret, orgName, expiresAt }).value)

const temp = temporaryDirectorySync()
afterAll(() => temp.remove())

describe("vppkit token: text and --json agree", () => {
  it("an expired token says how long ago, and --json gives the same days, negative", async () => {
    const expired = writeToken(temp.dir, tokenFor(days(-361.5)), "long-expired.token")
    const text = await runBin(["token", "--token-file", expired])
    assert.strictEqual(text.code, 3)
    assert.include(text.stdout, "expired       361 days ago")
    assert.notMatch(text.stdout, /days left/)
    const json = await runBin(["token", "--json", "--token-file", expired])
    assert.strictEqual(json.code, 3)
    const shown = JSON.parse(json.stdout) as { daysLeft: number; expired: boolean }
    assert.deepStrictEqual([shown.daysLeft, shown.expired], [-361, true])
  })

  it("a token that expired hours ago: less than a day ago, daysLeft 0", async () => {
    const expired = writeToken(temp.dir, tokenFor(days(-0.2)), "just-expired.token")
    const text = await runBin(["token", "--token-file", expired])
    assert.include(text.stdout, "expired       less than a day ago")
    const json = JSON.parse((await runBin(["token", "--json", "--token-file", expired])).stdout) as { daysLeft: number }
    assert.strictEqual(json.daysLeft, 0)
  })
})

describe("vppkit token --check", () => {
  it.scopedLive("asks Apple (client/config): location, uId, MDM and expiry; exit 0", () =>
    Effect.gen(function*() {
      const served = yield* serve({ orgName: "Check Academy", tokenExpiresAt: new Date("2031-02-03T04:05:06Z") })
      const text = yield* run(["token", "--check", ...served.connect])
      assert.strictEqual(text.code, 0, text.stderr)
      assert.include(text.stdout, "organisation  Check Academy")
      assert.include(text.stdout, "accepted      yes")
      assert.include(text.stdout, "location      Check Academy")
      assert.match(text.stdout, /uId {11}\d{16}\n/)
      assert.include(text.stdout, "MDM           none set")
      assert.include(text.stdout, "Apple expiry  2031-02-03T04:05:06Z")
      const json = yield* run(["token", "--check", "--json", ...served.connect])
      assert.strictEqual(json.code, 0, json.stderr)
      const shown = JSON.parse(json.stdout) as { check: Record<string, unknown> }
      assert.deepStrictEqual(Object.keys(shown.check).sort(), ["accepted", "locationName", "mdmInfo", "tokenExpirationDate", "uId"])
      assert.strictEqual(shown.check["locationName"], "Check Academy")
      assert.strictEqual(shown.check["mdmInfo"], null)
      const log = yield* served.simulator.log
      assert.deepStrictEqual(log.map((entry) => entry.path), ["/v2/client/config", "/v2/client/config"])
    }))

  it.scopedLive("a token Apple refuses (revoked): one line on stderr, exit 3", () =>
    Effect.gen(function*() {
      const served = yield* serve({ revoked: true })
      const args = ["token", "--check", ...served.connect]
      const result = yield* run(args)
      const line = assertFailure(result, 3, args)
      assert.include(line, "revoked")
      assert.include(result.stdout, "organisation")
    }))

  it.scopedLive("a token of another server (unknown to it): exit 3", () =>
    Effect.gen(function*() {
      const served = yield* serve({})
      const stranger = writeToken(temp.dir, tokenFor(days(100)), "stranger.token")
      const args = ["token", "--check", "--json", "--token-file", stranger, "--base-url", served.server.baseUrl]
      const result = yield* run(args)
      assertFailure(result, 3, args)
      assert.notProperty(JSON.parse(result.stdout), "check")
    }))

  it("without --check no request is made", async () => {
    const valid = writeToken(temp.dir, tokenFor(days(30)), "offline.token")
    const result = await runBin(["token", "--token-file", valid, "--base-url", "http://127.0.0.1:9/mdm"])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.notInclude(result.stdout, "accepted")
  })
})
